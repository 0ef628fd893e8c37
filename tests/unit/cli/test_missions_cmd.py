"""`grace missions`: the on-call list and the post-incident `show`, as a reader sees them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grace.api.mission import Mission
from grace.cli import missions_cmd as cmd
from grace.cli.main import main as grace_main

NOW = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """A time `seconds` after the Mission was created (it was created 150 s before NOW)."""
    return (NOW - timedelta(seconds=150) + timedelta(seconds=seconds)).isoformat()


ROLLED_BACK_RELEASE: dict[str, Any] = {
    "apiVersion": "grace.dev/v1alpha1",
    "kind": "Mission",
    "metadata": {
        "name": "checkout-06fe987c3b",
        "namespace": "shop",
        "uid": "a7f90ef9-806a-403a-8c21-b500a1dba157",
        "creationTimestamp": at(0),
    },
    "spec": {
        "healthNode": "checkout",
        "playbook": "rollback-bad-release",
        "trigger": "automatic",
        "reason": "checkout Critical (error-rate); chose rollback-bad-release",
        "requestedBy": "system:serviceaccount:grace-system:grace",
        "incident": "e2e28f90/20261121T075730Z",
    },
    "status": {
        "phase": "Succeeded",
        "progress": "1/1",
        "target": {"kind": "Deployment", "name": "checkout", "namespace": "shop"},
        "gitOps": {"tool": "none"},
        "decision": {
            "result": "require_approval",
            "tier": "approval",
            "reasons": ["learning confidence 0.5 is not above 0.8"],
            "engine": "embedded",
            "policyDigest": "sha256:bd194f1cbe34290ad8f409006cccb9eca6c01d3d2496aa8579bd6fa0743fbf86",
            "decidedAt": at(0.5),
        },
        "approval": {
            "request": "checkout-06fe987c3b-run",
            "purpose": "run",
            "state": "Approved",
            "decidedBy": "alice",
            "decidedAt": at(1.0),
        },
        "snapshot": {
            "kind": "Deployment",
            "name": "checkout",
            "namespace": "shop",
            "replicas": 3,
            "revision": "2",
            "containers": [{"name": "app", "image": "registry.example/shop/checkout:1.4.3-bad"}],
        },
        "baseline": {"error-rate": 0.177001},
        "steps": [
            {
                "name": "undo",
                "action": "rollback",
                "phase": "Succeeded",
                "startedAt": at(1.1),
                "finishedAt": at(1.3),
                "message": "rolled Deployment/checkout back from revision 2 to revision 1",
            }
        ],
        "verification": {
            "outcome": "Passed",
            "startedAt": at(1.3),
            "finishedAt": at(16.4),
            "failures": 1,
            "checks": [
                {"signal": "error-rate", "expected": "< 0.02", "observed": 0.0049, "passed": True}
            ],
            "message": "every check held for 3s: error-rate 0.0049 < 0.02",
        },
        "startedAt": at(1.0),
        "finishedAt": at(16.4),
        "message": "verified: every check held for 3s",
        "ledger": [
            {"seq": 40, "type": "mission.proposed", "hash": "acc20eeda47ab3ac" + "0" * 48},
            {"seq": 41, "type": "policy.decided", "hash": "1056b9b693e903bb" + "0" * 48},
            {"seq": 44, "type": "mission.finished", "hash": "bc1d20b228999f7d" + "0" * 48},
        ],
        "timeline": [
            {"time": at(0.4), "event": "Accepted", "message": "playbook rollback-bad-release"},
            {"time": at(0.5), "event": "Decided", "message": "policy: require_approval"},
            {"time": at(1.0), "event": "Approved", "message": "approved by alice"},
            {"time": at(1.1), "event": "StepStarted", "message": "step 1/1 undo: roll back"},
            {"time": at(16.4), "event": "Succeeded", "message": "verified"},
        ],
    },
}

REFUSED: dict[str, Any] = {
    "apiVersion": "grace.dev/v1alpha1",
    "kind": "Mission",
    "metadata": {"name": "scale-by-hand", "namespace": "shop", "creationTimestamp": at(-3600)},
    "spec": {
        "healthNode": "checkout",
        "playbook": "scale-within-bounds",
        "trigger": "manual",
        "parameters": {"replicas": 50},
    },
    "status": {
        "phase": "Failed",
        "message": "refused: parameter 'replicas' = 50 is above its maximum 5 (allowed: [1, 5])",
        "conditions": [
            {
                "type": "Refused",
                "status": "True",
                "reason": "ParameterOutOfBounds",
                "message": "parameter 'replicas' = 50 is above its maximum 5 (allowed: [1, 5])",
            }
        ],
        "finishedAt": at(-3599),
    },
}

SHADOW: dict[str, Any] = {
    "apiVersion": "grace.dev/v1alpha1",
    "kind": "Mission",
    "metadata": {"name": "payments-db-1", "namespace": "bank", "creationTimestamp": at(120)},
    "spec": {"healthNode": "payments-db", "playbook": "scale-out", "dryRun": True},
    "status": {
        "phase": "Running",
        "progress": "0/2",
        "decision": {"result": "allow", "tier": "observe"},
    },
}


def mission(raw: dict[str, Any]) -> Mission:
    return Mission.model_validate(copy.deepcopy(raw))


# ---------------------------------------------------------------- pure rendering


def test_the_list_has_one_line_per_mission_with_what_on_call_needs() -> None:
    text = cmd.render_list([mission(REFUSED), mission(ROLLED_BACK_RELEASE)], NOW, False)
    header, first, second = text.splitlines()
    assert header.split() == ["NAME", "NODE", "PLAYBOOK", "PHASE", "PROGRESS", "DECISION", "AGE"]
    assert first.split() == [
        "scale-by-hand", "checkout", "scale-within-bounds", "Failed", "-", "-", "62m",
    ]  # fmt: skip
    assert second.split() == [
        "checkout-06fe987c3b", "checkout", "rollback-bad-release", "Succeeded", "1/1",
        "require_approval/approval", "(approved", "by", "alice)", "2m30s",
    ]  # fmt: skip


def test_columns_line_up() -> None:
    lines = cmd.render_list([mission(REFUSED), mission(ROLLED_BACK_RELEASE)], NOW, False)
    starts = {line.index(word) for line, word in zip(
        lines.splitlines(), ("NODE", "checkout ", "checkout "), strict=True
    )}  # fmt: skip
    assert len(starts) == 1


def test_all_namespaces_adds_the_namespace_and_marks_dry_runs() -> None:
    text = cmd.render_list([mission(ROLLED_BACK_RELEASE), mission(SHADOW)], NOW, True)
    header, bank, shop = text.splitlines()
    assert header.split()[0] == "NAMESPACE"
    assert bank.split()[:2] == ["bank", "payments-db-1"]
    assert "Running (dry run)" in bank and "allow/observe" in bank
    assert shop.split()[0] == "shop"


def test_nothing_to_list_says_so() -> None:
    assert cmd.render_list([], NOW, False) == "No Missions found."


def test_show_tells_the_whole_story_in_reading_order() -> None:
    text = cmd.render_show(mission(ROLLED_BACK_RELEASE), NOW)
    order = [
        "Mission:     shop/checkout-06fe987c3b",
        "Trigger:     automatic by system:serviceaccount:grace-system:grace",
        "Phase:       Succeeded (1/1)",
        "Decision:    require_approval (tier approval)",
        "  - learning confidence 0.5 is not above 0.8",
        "Approval:    checkout-06fe987c3b-run (run): Approved by alice",
        "Safe-hold:   Deployment/checkout, replicas 3, images app=registry.example/shop/"
        "checkout:1.4.3-bad, revision 2",
        "Steps:",
        "Verification: Passed",
        "Timeline:",
        "Ledger:",
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions), text
    assert "Finished:    2026-11-21T07:57:46Z (16.4s after creation)" in text


def test_show_lists_steps_checks_timeline_and_ledger_refs() -> None:
    text = cmd.render_show(mission(ROLLED_BACK_RELEASE), NOW)
    lines = text.splitlines()
    step = next(line for line in lines if line.strip().startswith("1 "))
    assert step.split()[:5] == ["1", "undo", "rollback", "Succeeded", "2026-11-21T07:57:31Z"]
    assert "0.2s" in step and "rolled Deployment/checkout back" in step
    check = next(line for line in lines if line.strip().startswith("error-rate"))
    assert check.split() == ["error-rate", "<", "0.02", "0.0049", "-", "yes"]
    assert "failed samples 1" in text
    events = [line.split()[2] for line in lines if "+" in line and "Z   +" in line]
    assert events == ["Accepted", "Decided", "Approved", "StepStarted", "Succeeded"]
    assert [line.split()[1] for line in lines if line.endswith("Succeeded     verified")] == [
        "+16.4s"
    ]
    assert "engine embedded, policy bd194f1cbe34" in text
    refs = [line.split() for line in lines if line.strip()[:2] in ("40", "41", "44")]
    assert refs == [
        ["40", "mission.proposed", "acc20eeda47ab3ac"],
        ["41", "policy.decided", "1056b9b693e903bb"],
        ["44", "mission.finished", "bc1d20b228999f7d"],
    ]
    assert "grace ledger show LEDGER --mission checkout-06fe987c3b -n shop" in text


def test_show_says_why_a_mission_was_refused() -> None:
    text = cmd.render_show(mission(REFUSED), NOW)
    assert (
        "Refused:     ParameterOutOfBounds: parameter 'replicas' = 50 is above its maximum 5"
        in text
    )
    assert "Playbook:    scale-within-bounds (parameters replicas=50)" in text
    assert "(none: the Mission ended before any step)" in text
    assert "(no entries yet)" in text


def test_a_mission_not_picked_up_yet_shows_empty_sections() -> None:
    fresh = {k: v for k, v in REFUSED.items() if k != "status"}
    text = cmd.render_show(mission(fresh), NOW)
    assert "Phase:       Pending" in text
    assert "Steps:\n  (none yet)" in text
    assert "(nothing yet: the operator has not picked this Mission up)" in text


# ---------------------------------------------------------------- the command


class FixedMissions:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = [copy.deepcopy(o) for o in objects]
        self.asked: list[tuple[str, str | None]] = []

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        self.asked.append(("list", namespace))
        return [o for o in self.objects if namespace in (None, o["metadata"]["namespace"])]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked.append(("get", f"{namespace}/{name}"))
        return next(
            (
                o
                for o in self.objects
                if (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, name)
            ),
            None,
        )


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FixedMissions:
    fixed = FixedMissions(ROLLED_BACK_RELEASE, REFUSED, SHADOW)
    monkeypatch.setattr(cmd, "source", lambda args: fixed)
    monkeypatch.setattr(cmd, "current_namespace", lambda kubeconfig, context: "shop")
    return fixed


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = grace_main(["missions", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_missions_lists_the_context_namespace(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions
) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert cluster.asked == [("list", "shop")]
    assert [line.split()[0] for line in out.splitlines()] == [
        "NAME",
        "scale-by-hand",
        "checkout-06fe987c3b",
    ]


@pytest.mark.parametrize(
    "argv", [["-A"], ["list", "-A"], ["--all-namespaces", "list"]], ids=" ".join
)
def test_all_namespaces_either_side_of_list(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions, argv: list[str]
) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert cluster.asked == [("list", None)]
    assert {line.split()[0] for line in out.splitlines()[1:]} == {"bank", "shop"}


def test_an_empty_namespace_is_named(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions
) -> None:
    code, out, _ = run(capsys, "list", "-n", "quiet")
    assert (code, out.strip()) == (0, "No Missions found in namespace quiet.")


def test_json_rows_for_scripts(capsys: pytest.CaptureFixture[str], cluster: FixedMissions) -> None:
    code, out, _ = run(capsys, "-n", "bank", "-o", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["name"] == "payments-db-1" and rows[0]["phase"] == "Running (dry run)"


@pytest.mark.parametrize(
    "argv",
    [["show", "checkout-06fe987c3b"], ["show", "checkout-06fe987c3b", "-n", "shop"],
     ["-n", "shop", "show", "checkout-06fe987c3b"]],
    ids=["context-namespace", "namespace-after", "namespace-before"],
)  # fmt: skip
def test_show_finds_the_mission_wherever_the_namespace_flag_goes(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions, argv: list[str]
) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert cluster.asked == [("get", "shop/checkout-06fe987c3b")]
    assert out.startswith("Mission:     shop/checkout-06fe987c3b")


def test_show_of_an_unknown_mission_exits_1(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions
) -> None:
    code, out, err = run(capsys, "show", "nope", "-n", "bank")
    assert (code, out) == (1, "")
    assert err.strip() == "grace missions: error: Mission 'nope' not found in namespace bank"


def test_show_json_is_the_object_as_stored(
    capsys: pytest.CaptureFixture[str], cluster: FixedMissions
) -> None:
    code, out, _ = run(capsys, "show", "scale-by-hand", "-o", "json")
    assert code == 0
    assert json.loads(out) == REFUSED


def test_an_unreadable_mission_is_a_warning_not_a_crash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = copy.deepcopy(SHADOW)
    broken["metadata"]["name"] = "broken"
    broken["status"]["phase"] = "Exploded"
    monkeypatch.setattr(cmd, "source", lambda args: FixedMissions(SHADOW, broken))
    code, out, err = run(capsys, "-n", "bank")
    assert code == 0
    assert "payments-db-1" in out and "broken" not in out
    assert err.startswith("warning: bank/broken: unreadable Mission")


def test_cluster_trouble_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.client import ApiException
    from kubernetes.client.exceptions import ForbiddenException

    class Down:
        def list(self, namespace: str | None) -> list[dict[str, Any]]:
            raise ForbiddenException(status=403, reason="Forbidden")

        def get(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise ApiException(status=404, reason="Not Found")

    monkeypatch.setattr(cmd, "source", lambda args: Down())
    code, out, err = run(capsys, "-n", "shop")
    assert (code, out) == (1, "")
    assert err.strip() == (
        "grace missions: error: the API server answered 403 Forbidden; "
        "you lack the RBAC permission for this"
    )
    code, _, err = run(capsys, "show", "x", "-n", "shop")
    assert code == 1
    assert "404 Not Found; no such kind here: are GRACE's CRDs installed?" in err


def test_registers_as_a_grace_command() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="grace")
    cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["missions", "show", "x", "--context", "grace-local"])
    assert (args.command, args.missions_command, args.name, args.context) == (
        "missions",
        "show",
        "x",
        "grace-local",
    )
