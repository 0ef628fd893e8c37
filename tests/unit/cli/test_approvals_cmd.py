"""`kubectl grace approvals|approve|deny`: what a deciding human sees and what gets written."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grace.cli import approvals_cmd as cmd

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DENIAL = (
    'approvalrequests.grace.dev "m0-run" is forbidden: ValidatingAdmissionPolicy '
    "'grace-approval-decisions' with binding 'grace-approval-decisions' denied request: "
    '"bob" requested Mission m0 (spec.requestedBy) and may not approve it: another approver '
    "must decide"
)


def request(
    name: str = "checkout-1a2b-run",
    *,
    namespace: str = "shop",
    age: timedelta = timedelta(minutes=5),
    ttl: timedelta = timedelta(minutes=55),
    state: str | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    created = NOW - age
    body: dict[str, Any] = {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "ApprovalRequest",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created.isoformat().replace("+00:00", "Z"),
            "annotations": annotations or {},
        },
        "spec": {
            "mission": name.removesuffix("-run"),
            "purpose": "run",
            "risk": "medium",
            "requestedBy": "bob",
            "reasons": ["medium risk on a high-criticality service needs a human"],
            "expiresAt": (created + ttl).isoformat().replace("+00:00", "Z"),
            **spec,
        },
    }
    if state:
        body["status"] = {"state": state, "decidedBy": "alice"}
    return body


def test_a_request_reads_as_the_row_a_person_decides_on() -> None:
    row = cmd.row_of(request())
    assert (row.namespace, row.name, row.mission) == ("shop", "checkout-1a2b-run", "checkout-1a2b")
    assert (row.purpose, row.risk, row.requested_by, row.state) == (
        "run",
        "medium",
        "bob",
        "Pending",
    )
    assert row.reasons == ("medium risk on a high-criticality service needs a human",)
    assert row.created == NOW - timedelta(minutes=5)
    assert row.expires == NOW + timedelta(minutes=50)


def test_an_odd_object_still_lists_instead_of_crashing() -> None:
    row = cmd.row_of({"metadata": {"name": "x"}, "spec": {"expiresAt": "not a time"}})
    assert row.name == "x"
    assert row.state == "Pending"
    assert row.expires is None and row.created is None
    assert cmd.is_open(row, NOW)


def test_only_requests_still_waiting_for_a_human_are_open() -> None:
    assert cmd.is_open(cmd.row_of(request()), NOW)
    assert not cmd.is_open(cmd.row_of(request(ttl=timedelta(minutes=5))), NOW)
    assert not cmd.is_open(cmd.row_of(request(state="Approved")), NOW)
    decided = request(annotations={"grace.dev/decision": "approve", "grace.dev/decided-by": "al"})
    assert not cmd.is_open(cmd.row_of(decided), NOW)


def test_the_table_shows_mission_risk_requester_age_expiry_and_reasons_oldest_first() -> None:
    rows = [
        cmd.row_of(request("new-run", age=timedelta(seconds=30))),
        cmd.row_of(request("old-run", age=timedelta(hours=2), ttl=timedelta(hours=3))),
    ]
    lines = cmd.render_table(rows, NOW).splitlines()
    assert lines[0].split() == [
        "NAME",
        "MISSION",
        "PURPOSE",
        "RISK",
        "REQUESTED-BY",
        "AGE",
        "EXPIRES",
        "REASONS",
    ]
    assert lines[1].split()[:7] == ["old-run", "old", "run", "medium", "bob", "120m", "60m"]
    assert lines[2].split()[:7] == ["new-run", "new", "run", "medium", "bob", "30s", "54m"]
    assert lines[1].endswith("medium risk on a high-criticality service needs a human")
    assert len({line.index("medium") for line in lines[1:]}) == 1, "columns are aligned"


def test_long_reasons_are_cut_unless_wide_and_all_namespaces_adds_the_namespace() -> None:
    long = [f"reason number {i} that explains a great deal" for i in range(4)]
    row = cmd.row_of(request(reasons=long, requestedBy=None))
    narrow = cmd.render_table([row], NOW, all_namespaces=True).splitlines()
    assert narrow[0].startswith("NAMESPACE")
    assert narrow[1].startswith("shop")
    assert "<none>" in narrow[1], "a request without a requester says so"
    assert narrow[1].endswith("...")
    wide = cmd.render_table([row], NOW, wide=True).splitlines()
    assert wide[1].endswith("; ".join(long))


def test_listing_everything_shows_state_and_who_decided() -> None:
    rows = [
        cmd.row_of(request("a-run", state="Approved")),
        cmd.row_of(
            request(
                "b-run",
                age=timedelta(minutes=1),
                annotations={"grace.dev/decision": "deny", "grace.dev/decided-by": "carol"},
            )
        ),
    ]
    lines = cmd.render_table(rows, NOW, show_state=True).splitlines()
    assert lines[0].split()[:4] == ["NAME", "MISSION", "STATE", "DECIDED-BY"]
    assert lines[1].split()[:4] == ["a-run", "a", "Approved", "alice"]
    assert "deny (being applied)" in lines[2]
    assert "carol" in lines[2]
    assert lines[1].split()[8] == "-", "a decided request no longer expires"


def test_json_output_is_plain_data() -> None:
    data = json.loads(json.dumps(cmd.row_json(cmd.row_of(request()))))
    assert data["mission"] == "checkout-1a2b"
    assert data["expires"] == "2025-06-01T12:50:00Z"
    assert data["reasons"] == ["medium risk on a high-criticality service needs a human"]


def test_a_decision_writes_decision_and_decider_in_one_patch() -> None:
    assert cmd.decision_patch("approve", "alice", None) == {
        "metadata": {
            "annotations": {"grace.dev/decision": "approve", "grace.dev/decided-by": "alice"}
        }
    }
    denied = cmd.decision_patch("deny", "alice", "wrong target")
    assert denied["metadata"]["annotations"]["grace.dev/reason"] == "wrong target"


def test_a_settled_or_expired_request_is_not_decided_again() -> None:
    assert cmd.not_decidable(cmd.row_of(request()), NOW) is None
    annotated = request(annotations={"grace.dev/decision": "deny", "grace.dev/decided-by": "bo"})
    assert "already decided (deny by bo)" in str(cmd.not_decidable(cmd.row_of(annotated), NOW))
    approved = cmd.not_decidable(cmd.row_of(request(state="Approved")), NOW)
    assert approved == (
        "ApprovalRequest checkout-1a2b-run is already Approved by alice: "
        "there is nothing left to decide"
    )
    expired = cmd.not_decidable(cmd.row_of(request(ttl=timedelta(minutes=1))), NOW)
    assert expired is not None and "expired at" in expired and "Expired" in expired


def test_the_outcome_is_said_in_the_words_of_the_request_purpose() -> None:
    run = cmd.row_of(request())
    keep = cmd.row_of(request(purpose="keepOrRollback"))
    assert cmd.outcome(run, "approve") == "Mission checkout-1a2b may run"
    assert cmd.outcome(run, "deny") == "Mission checkout-1a2b will not run"
    assert cmd.outcome(keep, "approve") == "Mission checkout-1a2b keeps its change"
    assert cmd.outcome(keep, "deny") == "Mission checkout-1a2b rolls back to its safe-hold"


def test_a_refusal_puts_the_policy_sentence_first() -> None:
    body = json.dumps({"kind": "Status", "message": DENIAL, "code": 403})
    assert cmd.api_message(403, body) == (
        '"bob" requested Mission m0 (spec.requestedBy) and may not approve it: another '
        "approver must decide (ValidatingAdmissionPolicy grace-approval-decisions)"
    )
    rbac = 'approvalrequests.grace.dev "x" is forbidden: User "carol" cannot get resource'
    assert cmd.api_message(403, json.dumps({"message": rbac}).encode()) == rbac
    assert cmd.api_message(502, "") == "HTTP 502: no message"
    assert cmd.api_message(500, "gateway exploded") == "gateway exploded"


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubectl grace")
    cmd.register(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def test_deny_needs_a_reason_and_approve_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        parse("deny", "checkout-1a2b-run")
    assert refused.value.code == 2
    assert "--reason" in capsys.readouterr().err
    args = parse("approve", "checkout-1a2b-run", "-n", "shop", "--context", "prod")
    assert (args.verdict, args.name, args.namespace, args.context) == (
        "approve",
        "checkout-1a2b-run",
        "shop",
        "prod",
    )
    assert args.reason is None
    listing = parse("approvals", "-A", "-o", "wide")
    assert listing.all_namespaces and listing.output == "wide"


def test_help_gives_the_plain_kubectl_equivalent(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("approve", "--help")
    text = capsys.readouterr().out
    assert "kubectl annotate approvalrequest NAME" in text
    assert "grace.dev/decision=approve" in text
    assert "kubectl auth whoami" in text
    with pytest.raises(SystemExit):
        parse("approvals", "--help")
    assert "kubectl get approvalrequests" in capsys.readouterr().out
