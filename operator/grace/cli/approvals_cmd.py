"""`kubectl grace approvals|approve|deny`: decide ApprovalRequests as yourself, from a terminal.

A decision is two annotations on the ApprovalRequest. The plugin asks the API server who you
are (a SelfSubjectReview, what `kubectl auth whoami` does) and writes that name into
`grace.dev/decided-by`; the chart's ValidatingAdmissionPolicy refuses any other name, and
refuses an approval by the user who requested the Mission. The plugin adds convenience, never
authority: everything it does is one `kubectl annotate` away.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from grace.api.approval import (
    DECIDED_BY_ANNOTATION,
    DECISION_ANNOTATION,
    REASON_ANNOTATION,
    ApprovalPurpose,
    ApprovalState,
)
from grace.cli.errors import CommandError, UsageError
from grace.cli.table import human_age, render

if TYPE_CHECKING:
    from grace.runtime.kube import Kube

EXIT_OK = 0
KIND = "ApprovalRequest"
REASONS_WIDTH = 60
"""The REASONS column is cut to this many characters unless `-o wide`."""

Verdict = Literal["approve", "deny"]

KUBECTL_LIST = """\
plain kubectl equivalent:
  kubectl get approvalrequests -n NAMESPACE      (short name: ar; -A for every namespace)
  kubectl get ar NAME -o yaml                    (the question, the reasons, spec.expiresAt)
"""

KUBECTL_DECIDE = """\
plain kubectl equivalent (the API server checks decided-by is you):
  kubectl annotate approvalrequest NAME -n NAMESPACE \\
    grace.dev/decision={verdict} \\
    grace.dev/decided-by="$(kubectl auth whoami -o jsonpath='{{.status.userInfo.username}}')" \\
    grace.dev/reason="why"
"""


# ---- pure: rows, table, patches, messages --------------------------------------------------


@dataclass(frozen=True)
class ApprovalRow:
    """One ApprovalRequest as a person deciding it needs to see it."""

    namespace: str
    name: str
    mission: str
    purpose: str
    risk: str
    requested_by: str
    state: str
    reasons: tuple[str, ...]
    question: str
    created: datetime | None
    expires: datetime | None
    decided_by: str
    decision: str


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def row_of(obj: Mapping[str, Any]) -> ApprovalRow:
    """Read an ApprovalRequest leniently: a listing must not die on one odd object."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    return ApprovalRow(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        mission=str(spec.get("mission", "")),
        purpose=str(spec.get("purpose", ApprovalPurpose.RUN.value)),
        risk=str(spec.get("risk", "")),
        requested_by=str(spec.get("requestedBy") or ""),
        state=str(status.get("state") or ApprovalState.PENDING.value),
        reasons=tuple(str(r) for r in spec.get("reasons") or ()),
        question=str(spec.get("question", "")),
        created=_time(meta.get("creationTimestamp")),
        expires=_time(spec.get("expiresAt")),
        decided_by=str(status.get("decidedBy") or annotations.get(DECIDED_BY_ANNOTATION) or ""),
        decision=str(annotations.get(DECISION_ANNOTATION, "")),
    )


def is_open(row: ApprovalRow, now: datetime) -> bool:
    """Still waiting for a human: Pending, not yet annotated, not past its expiry."""
    if row.state != ApprovalState.PENDING.value or row.decision:
        return False
    return row.expires is None or now < row.expires


def expires_in(row: ApprovalRow, now: datetime) -> str:
    if row.expires is None:
        return "<none>"
    if now >= row.expires:
        return "expired"
    return human_age((row.expires - now).total_seconds())


def _cut(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def render_table(
    rows: Sequence[ApprovalRow],
    now: datetime,
    *,
    all_namespaces: bool = False,
    show_state: bool = False,
    wide: bool = False,
) -> str:
    """kubectl-style columns: what a person needs to decide, oldest request first."""
    header = ["NAME", "MISSION", "PURPOSE", "RISK", "REQUESTED-BY", "AGE", "EXPIRES"]
    if show_state:
        header[2:2] = ["STATE", "DECIDED-BY"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    header.append("REASONS")
    body: list[list[str]] = []
    ordered = sorted(rows, key=lambda r: (r.created or now, r.namespace, r.name))
    for r in ordered:
        line = [
            r.name,
            r.mission,
            r.purpose,
            r.risk or "<none>",
            r.requested_by or "<none>",
            human_age((now - r.created).total_seconds()) if r.created else "<unknown>",
            expires_in(r, now) if r.state == ApprovalState.PENDING.value else "-",
        ]
        if show_state:
            line[2:2] = [shown_state(r), r.decided_by or "-"]
        if all_namespaces:
            line.insert(0, r.namespace)
        line.append(
            _cut("; ".join(r.reasons) or r.question or "-", None if wide else REASONS_WIDTH)
        )
        body.append(line)
    return render([header, *body]).rstrip("\n")


def row_json(row: ApprovalRow) -> dict[str, Any]:
    out = asdict(row)
    out["reasons"] = list(row.reasons)
    for key in ("created", "expires"):
        value = out[key]
        out[key] = value.isoformat().replace("+00:00", "Z") if value else None
    return out


def decision_patch(verdict: Verdict, user: str, reason: str | None) -> dict[str, Any]:
    """The merge patch `kubectl annotate` would send: decision and decider in one request."""
    annotations = {DECISION_ANNOTATION: verdict, DECIDED_BY_ANNOTATION: user}
    if reason:
        annotations[REASON_ANNOTATION] = reason
    return {"metadata": {"annotations": annotations}}


def not_decidable(row: ApprovalRow, now: datetime) -> str | None:
    """Why this request can no longer be decided, or None when it can."""
    where = f"ApprovalRequest {row.name}"
    if row.decision:
        by = f" by {row.decided_by}" if row.decided_by else ""
        return f"{where} was already decided ({row.decision}{by}): a decision is final"
    if row.state != ApprovalState.PENDING.value:
        by = f" by {row.decided_by}" if row.decided_by else ""
        return f"{where} is already {row.state}{by}: there is nothing left to decide"
    if row.expires is not None and now >= row.expires:
        return f"{where} expired at {row.expires.isoformat()}: its Mission ends Expired"
    return None


def outcome(row: ApprovalRow, verdict: Verdict) -> str:
    """What the decision means for the Mission, in the words of its purpose."""
    if row.purpose == ApprovalPurpose.KEEP.value:
        return (
            f"Mission {row.mission} keeps its change"
            if verdict == "approve"
            else f"Mission {row.mission} rolls back to its safe-hold"
        )
    return (
        f"Mission {row.mission} may run"
        if verdict == "approve"
        else f"Mission {row.mission} will not run"
    )


def api_message(status: int | None, body: Any, reason: str | None = None) -> str:
    """The API server's own words for a refused request (the admission policy's message)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    if isinstance(text, str) and text:
        try:
            message = json.loads(text).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return policy_refusal(str(message))
        return text.strip()
    return f"HTTP {status}: {reason or 'no message'}"


def policy_refusal(message: str) -> str:
    """Put an admission policy's own sentence first and name the policy after it."""
    match = _POLICY_DENIAL.search(message)
    if match is None:
        return message
    return f"{match['why']} (ValidatingAdmissionPolicy {match['policy']})"


_POLICY_DENIAL = re.compile(
    r"ValidatingAdmissionPolicy '(?P<policy>[^']+)' with binding '[^']*' denied request: "
    r"(?P<why>.+)$",
    re.DOTALL,
)


def shown_state(row: ApprovalRow) -> str:
    """The state column: a decision written but not yet taken up by the operator shows too."""
    if row.state == ApprovalState.PENDING.value and row.decision:
        return f"{row.decision} (being applied)"
    return row.state


# ---- edges: the kube client -------------------------------------------------------------------


@dataclass
class Session:
    """A client for the chosen kube context and the namespace commands default to."""

    kube: Kube
    namespace: str

    def whoami(self) -> str:
        """The user name the API server knows us by (`kubectl auth whoami`)."""
        username = self.kube.whoami()
        if not username:
            raise CommandError("the API server did not say who you are (SelfSubjectReview)")
        return username


def connect(
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    impersonate: str | None = None,
    group: str | None = None,
) -> Session:
    """The chosen context's client; `impersonate` acts as another user, like `kubectl --as`."""
    from grace.runtime.kube import Kube, context_namespace

    kube = Kube.connect(kubeconfig, context, impersonate=impersonate, impersonate_group=group)
    return Session(kube, namespace or context_namespace(kubeconfig, context))


def _call(what: str, fn: Callable[[], Any], *, missing_ok: bool = False) -> Any:
    """Run one API call; a refusal becomes a CommandError carrying the API server's words."""
    from kubernetes import client

    from grace.runtime.kube import connection_problem

    try:
        return fn()
    except client.ApiException as e:
        if missing_ok and e.status == 404:
            return None
        raise CommandError(f"{what}: {api_message(e.status, e.body, e.reason)}") from e
    except CommandError:
        raise
    except Exception as e:  # connection refused, TLS, DNS: not the user's request at fault
        raise CommandError(f"{what}: {connection_problem(e)}") from e


def _list(session: Session, all_namespaces: bool) -> list[ApprovalRow]:
    where = None if all_namespaces else session.namespace
    found: list[dict[str, Any]] = _call(
        "listing approvalrequests" + (f" in namespace {where}" if where else ""),
        lambda: session.kube.list(KIND, where),
    )
    return [row_of(item) for item in found]


def _get(session: Session, kind: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = _call(
        f"reading {kind.lower()} {name}",
        lambda: session.kube.get(kind, session.namespace, name),
        missing_ok=True,
    )
    return found


def _find(session: Session, name: str) -> dict[str, Any]:
    """The request called `name`, or else the one a Mission called `name` is waiting on."""
    found = _get(session, KIND, name)
    if found is not None:
        return found
    try:
        mission = _get(session, "Mission", name) or {}
    except CommandError:  # e.g. no right to read Missions: then NAME simply names no request
        mission = {}
    request = ((mission.get("status") or {}).get("approval") or {}).get("request")
    found = _get(session, KIND, request) if request else None
    if found is None:
        raise CommandError(f'approvalrequest "{name}" not found in namespace {session.namespace}')
    return found


# ---- commands ---------------------------------------------------------------------------------


def _connection_args(p: argparse.ArgumentParser, listing: bool = False) -> None:
    p.add_argument("-n", "--namespace", help="namespace (default: the context's namespace)")
    if listing:
        p.add_argument(
            "-A", "--all-namespaces", action="store_true", help="list in every namespace"
        )
    p.add_argument("--context", help="kube context to use (default: the current context)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--as", dest="as_user", metavar="USER", help="act as USER (impersonation)")
    p.add_argument("--as-group", metavar="GROUP", help="a group to impersonate with --as")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    listing = sub.add_parser(
        "approvals",
        help="list pending ApprovalRequests: mission, risk, reasons, age",
        description="ApprovalRequests still waiting for a human (Pending, undecided, unexpired).",
        epilog=KUBECTL_LIST,
        formatter_class=raw,
    )
    _connection_args(listing, listing=True)
    listing.add_argument(
        "--all", action="store_true", help="also show decided and expired requests"
    )
    listing.add_argument(
        "-o", "--output", choices=["table", "wide", "json"], default="table", help="format"
    )
    listing.set_defaults(func=_approvals)

    for verdict, what in (
        ("approve", "approve an ApprovalRequest (or the one a Mission NAME waits on)"),
        ("deny", "deny an ApprovalRequest (or the one a Mission NAME waits on); needs --reason"),
    ):
        p = sub.add_parser(
            verdict,
            help=what,
            description=what.capitalize()
            + ". The decision is signed with your own user name, from a SelfSubjectReview.",
            epilog=KUBECTL_DECIDE.format(verdict=verdict),
            formatter_class=raw,
        )
        p.add_argument("name", metavar="NAME", help="ApprovalRequest (or Mission) name")
        p.add_argument(
            "--reason",
            required=verdict == "deny",
            help="why (recorded on the request, the Mission and the ledger)",
        )
        _connection_args(p)
        p.set_defaults(func=_decide, verdict=verdict)


def _approvals(args: argparse.Namespace) -> int:
    session = connect(args.kubeconfig, args.context, args.namespace, args.as_user, args.as_group)
    now = datetime.now(UTC)
    rows = _list(session, args.all_namespaces)
    shown = rows if args.all else [r for r in rows if is_open(r, now)]
    if args.output == "json":
        print(json.dumps([row_json(r) for r in shown], indent=2))
        return EXIT_OK
    if not shown:
        where = "any namespace" if args.all_namespaces else f"namespace {session.namespace}"
        kind = "ApprovalRequests" if args.all else "pending ApprovalRequests"
        print(f"No {kind} in {where}.")
        return EXIT_OK
    print(
        render_table(
            shown,
            now,
            all_namespaces=args.all_namespaces,
            show_state=args.all,
            wide=args.output == "wide",
        )
    )
    return EXIT_OK


def _decide(args: argparse.Namespace) -> int:
    verdict: Verdict = args.verdict
    reason = (args.reason or "").strip() or None
    if verdict == "deny" and not reason:
        raise UsageError("deny needs --reason: say why, it is recorded")
    session = connect(args.kubeconfig, args.context, args.namespace, args.as_user, args.as_group)
    user = _call("asking the API server who you are", session.whoami)
    row = row_of(_find(session, args.name))
    blocked = not_decidable(row, datetime.now(UTC))
    if blocked:
        raise CommandError(blocked)
    _call(
        f"{verdict} approvalrequest {row.name} refused by the API server",
        lambda: session.kube.patch_meta(
            KIND, session.namespace, row.name, decision_patch(verdict, user, reason)["metadata"]
        ),
    )
    past = "approved" if verdict == "approve" else "denied"
    print(f"approvalrequest/{row.name} {past} by {user}: {outcome(row, verdict)}")
    return EXIT_OK
