"""`grace missions [list|show NAME]`: what GRACE did, is doing and is waiting for, from the cluster.

The list is the on-call view (one line per Mission: node, playbook, phase, progress, decision,
age); `show` is the post-incident view (the timeline in order, each step with its intent and
duration, every verification check with expected and observed values, and the ledger entries
an auditor can look up with `grace ledger show`). Rendering is pure over `Mission` models;
the only I/O is reading the custom objects through the current kubeconfig.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from grace.api.common import find_condition
from grace.api.mission import TERMINAL_PHASES, CheckResult, Mission, StepStatus, Verification
from grace.cli.errors import CommandError
from grace.cli.status_cmd import current_namespace
from grace.cli.table import human_age, render
from grace.run.snapshot import summary

if TYPE_CHECKING:
    from grace.runtime.kube import Kube

EXIT_OK = 0
REFUSED_CONDITION = "Refused"

Command = Callable[[argparse.Namespace], int]


class MissionSource(Protocol):
    """Where Missions come from: the cluster in real use, a fixed list in tests."""

    def list(self, namespace: str | None) -> list[dict[str, Any]]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...


# ---------------------------------------------------------------- pure rendering


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds():.1f}s"


def _clock(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "-"


def decision_text(m: Mission) -> str:
    """What governance said, and who acted on it, in one cell."""
    d = m.status.decision
    if d is None:
        return "-"
    text = d.result + (f"/{d.tier}" if d.tier else "")
    a = m.status.approval
    if a is not None and a.purpose == "run":
        by = f" by {a.decided_by}" if a.decided_by else ""
        text += f" ({a.state.lower()}{by})"
    return text


@dataclass(frozen=True)
class MissionRow:
    namespace: str
    name: str
    node: str
    playbook: str
    phase: str
    progress: str
    decision: str
    age: str

    @classmethod
    def of(cls, m: Mission, now: datetime) -> MissionRow:
        created = m.metadata.creation_timestamp
        phase = m.status.phase.value + (" (dry run)" if m.spec.dry_run else "")
        return cls(
            namespace=m.metadata.namespace,
            name=m.metadata.name,
            node=m.spec.health_node,
            playbook=m.spec.playbook,
            phase=phase,
            progress=m.status.progress or "-",
            decision=decision_text(m),
            age=human_age((now - created).total_seconds()) if created else "-",
        )


COLUMNS = ("NAME", "NODE", "PLAYBOOK", "PHASE", "PROGRESS", "DECISION", "AGE")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return render([list(header), *(list(r) for r in rows)]).rstrip("\n")


def render_list(missions: Sequence[Mission], now: datetime, all_namespaces: bool) -> str:
    """`kubectl get`-style table, oldest first (the order things happened in)."""
    if not missions:
        return "No Missions found."
    ordered = sorted(
        missions,
        key=lambda m: (
            m.metadata.namespace if all_namespaces else "",
            m.metadata.creation_timestamp or now,
            m.metadata.name,
        ),
    )
    rows = [MissionRow.of(m, now) for m in ordered]
    header = (("NAMESPACE",) if all_namespaces else ()) + COLUMNS
    cells = [
        ((r.namespace,) if all_namespaces else ())
        + (r.name, r.node, r.playbook, r.phase, r.progress, r.decision, r.age)
        for r in rows
    ]
    return _table(header, cells)


def _step_lines(steps: Sequence[StepStatus], over: bool) -> list[str]:
    if not steps:
        return ["  (none: the Mission ended before any step)" if over else "  (none yet)"]
    rows = [
        (
            str(i + 1),
            s.name,
            s.action,
            s.phase.value,
            _clock(s.started_at) if s.started_at else "-",
            _seconds(s.started_at, s.finished_at) or "-",
            s.message or "",
        )
        for i, s in enumerate(steps)
    ]
    table = _table(("#", "STEP", "ACTION", "PHASE", "STARTED", "TOOK", "MESSAGE"), rows)
    return ["  " + line for line in table.splitlines()]


def _check_cells(c: CheckResult) -> tuple[str, ...]:
    observed = "no data" if c.observed is None else f"{c.observed:.6g}"
    baseline = "-" if c.baseline is None else f"{c.baseline:.6g}"
    passed = {True: "yes", False: "NO", None: "-"}[c.passed]
    return (c.signal, c.expected, observed, baseline, passed)


def _verification_lines(title: str, v: Verification) -> list[str]:
    outcome = v.outcome.value if v.outcome else "in progress"
    lines = [f"{title}: {outcome}"]
    took = _seconds(v.started_at, v.finished_at)
    lines.append(
        f"  started {_clock(v.started_at)}"
        + (f", finished {_clock(v.finished_at)} ({took})" if v.finished_at else "")
        + (f", failed samples {v.failures}" if v.failures else "")
    )
    if v.message:
        lines.append(f"  {v.message}")
    if v.checks:
        table = _table(
            ("CHECK", "EXPECTED", "OBSERVED", "BASELINE", "PASSED"),
            [_check_cells(c) for c in v.checks],
        )
        lines += ["  " + line for line in table.splitlines()]
    return lines


def render_show(m: Mission, now: datetime) -> str:
    """Everything a post-incident review asks about one Mission, in reading order."""
    st, spec = m.status, m.spec
    created = m.metadata.creation_timestamp
    out = [
        f"Mission:     {m.metadata.namespace}/{m.metadata.name}",
        f"HealthNode:  {spec.health_node}",
        f"Playbook:    {spec.playbook}"
        + (
            f" (parameters {', '.join(f'{k}={v}' for k, v in sorted(spec.parameters.items()))})"
            if spec.parameters
            else ""
        ),
        f"Trigger:     {spec.trigger.value}"
        + (f" by {spec.requested_by}" if spec.requested_by else "")
        + (" [dry run]" if spec.dry_run else ""),
    ]
    if spec.reason:
        out.append(f"Reason:      {spec.reason}")
    if spec.incident:
        out.append(f"Incident:    {spec.incident}")
    out.append(f"Phase:       {st.phase.value}" + (f" ({st.progress})" if st.progress else ""))
    if st.message:
        out.append(f"Message:     {st.message}")
    refused = find_condition(st.conditions, REFUSED_CONDITION)
    if refused is not None and refused.status == "True":
        out.append(f"Refused:     {refused.reason}: {refused.message}")
    when = f"Created:     {_clock(created)}" + (
        f" ({human_age((now - created).total_seconds())} ago)" if created else ""
    )
    out.append(when)
    if st.started_at:
        out.append(f"Started:     {_clock(st.started_at)}")
    if st.finished_at:
        took = _seconds(created, st.finished_at)
        out.append(
            f"Finished:    {_clock(st.finished_at)}" + (f" ({took} after creation)" if took else "")
        )
    if st.target:
        t = st.target
        owner = st.gitops.tool if st.gitops else "unknown"
        detail = f" {st.gitops.detail}" if st.gitops and st.gitops.detail else ""
        out.append(f"Target:      {t.get('kind')}/{t.get('name')} (GitOps owner: {owner}{detail})")
    d = st.decision
    if d is not None:
        out += ["", f"Decision:    {d.result}" + (f" (tier {d.tier})" if d.tier else "")]
        out.append(
            f"  engine {d.engine or '-'}, policy {d.policy_digest.removeprefix('sha256:')[:12] or '-'}"
            + (f", at {_clock(d.decided_at)}" if d.decided_at else "")
        )
        out += [f"  - {r}" for r in d.reasons]
    a = st.approval
    if a is not None:
        out.append(
            f"Approval:    {a.request} ({a.purpose}): {a.state}"
            + (f" by {a.decided_by}" if a.decided_by else "")
            + (f" at {_clock(a.decided_at)}" if a.decided_at else "")
            + (f": {a.reason}" if a.reason else "")
        )
    if st.snapshot:
        out.append(f"Safe-hold:   {summary(st.snapshot)}")
    if st.baseline:
        out.append(
            "Baseline:    " + ", ".join(f"{k}={v:.6g}" for k, v in sorted(st.baseline.items()))
        )
    out += ["", "Steps:", *_step_lines(st.steps, st.phase in TERMINAL_PHASES)]
    if st.verification is not None:
        out += ["", *_verification_lines("Verification", st.verification)]
    if st.rollback is not None:
        out += ["", *_verification_lines("Rollback", st.rollback)]
    out += ["", "Timeline:"]
    if st.timeline:
        origin = created or st.timeline[0].time
        rows = [
            (_clock(e.time), f"+{(e.time - origin).total_seconds():.1f}s", e.event, e.message)
            for e in st.timeline
        ]
        out += [
            "  " + line for line in _table(("TIME", "AFTER", "EVENT", "MESSAGE"), rows).splitlines()
        ]
    else:
        out.append("  (nothing yet: the operator has not picked this Mission up)")
    out += ["", "Ledger:"]
    if st.ledger:
        refs = [(str(r.seq), r.type, r.hash[:16]) for r in st.ledger]
        out += ["  " + line for line in _table(("SEQ", "TYPE", "HASH"), refs).splitlines()]
        out.append(
            f"  (read them: grace ledger show LEDGER --mission {m.metadata.name}"
            f" -n {m.metadata.namespace})"
        )
    else:
        out.append("  (no entries yet)")
    return "\n".join(out)


def parse_missions(raw: Iterable[dict[str, Any]]) -> tuple[list[Mission], list[str]]:
    """Valid Missions, and a note for each object that is not one (never a crash on bad data)."""
    missions: list[Mission] = []
    problems: list[str] = []
    for obj in raw:
        try:
            missions.append(Mission.model_validate(obj))
        except ValidationError as e:
            meta = obj.get("metadata") or {}
            where = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
            problems.append(f"{where}: unreadable Mission ({e.errors()[0]['msg']})")
    return missions, problems


# ---------------------------------------------------------------- the cluster edge


class ClusterMissions:
    """Missions through the kubeconfig (or `--kubeconfig`/`--context`)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        return self.kube.list("Mission", namespace)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get("Mission", namespace, name)


def source(args: argparse.Namespace) -> MissionSource:
    """The Missions the command reads; tests replace this with a fixed list."""
    from grace.runtime.kube import Kube

    return ClusterMissions(Kube.connect(_kubeconfig(args), getattr(args, "context", None)))


# ---------------------------------------------------------------- commands


def _scope_args(p: argparse.ArgumentParser, suppress: bool) -> None:
    """-n/-A/--context/-o on `missions` and again on each subcommand, as kubectl takes them."""
    default: Any = argparse.SUPPRESS if suppress else None
    p.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")
    p.add_argument("--context", default=default, help="kubeconfig context")
    p.add_argument("--kubeconfig", default=default, help="kubeconfig file (default: $KUBECONFIG)")
    p.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default=argparse.SUPPRESS if suppress else "text",
        help="text (default) or json",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "missions",
        help="list Missions, or show one Mission's timeline, steps, checks and ledger entries",
        description="Missions are GRACE's runs of a Playbook against a HealthNode. Without a "
        "subcommand, lists them like `grace missions list`.",
    )
    _scope_args(p, suppress=False)
    p.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list Missions of every namespace"
    )
    p.set_defaults(func=_list)
    cmds = p.add_subparsers(dest="missions_command", metavar="SUBCOMMAND")
    lst = cmds.add_parser("list", help="one line per Mission (the default)")
    _scope_args(lst, suppress=True)
    lst.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        default=argparse.SUPPRESS,
        help="list Missions of every namespace",
    )
    lst.set_defaults(func=_list)
    show = cmds.add_parser(
        "show", help="one Mission in full: timeline, steps, verification checks, ledger refs"
    )
    show.add_argument("name", metavar="NAME")
    _scope_args(show, suppress=True)
    show.set_defaults(func=_show)


def _namespace(args: argparse.Namespace) -> str:
    ns: str | None = getattr(args, "namespace", None)
    return ns or current_namespace(_kubeconfig(args), getattr(args, "context", None))


def _kubeconfig(args: argparse.Namespace) -> str | None:
    path: str | None = getattr(args, "kubeconfig", None)
    return path


def _list(args: argparse.Namespace) -> int:
    all_ns = bool(getattr(args, "all_namespaces", False))
    namespace = None if all_ns else _namespace(args)
    missions, problems = parse_missions(source(args).list(namespace))
    now = datetime.now(UTC)
    if getattr(args, "output", "text") == "json":
        rows = [MissionRow.of(m, now).__dict__ for m in missions]
        print(json.dumps(rows, indent=2))
    else:
        text = render_list(missions, now, all_ns)
        if text == "No Missions found." and namespace:
            text = f"No Missions found in namespace {namespace}."
        print(text)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    namespace = _namespace(args)
    raw = source(args).get(namespace, args.name)
    if raw is None:
        raise CommandError(f"Mission {args.name!r} not found in namespace {namespace}")
    if getattr(args, "output", "text") == "json":
        print(json.dumps(raw, indent=2, sort_keys=True))
        return EXIT_OK
    missions, problems = parse_missions([raw])
    if problems:
        raise CommandError(problems[0])
    print(render_show(missions[0], datetime.now(UTC)))
    return EXIT_OK
