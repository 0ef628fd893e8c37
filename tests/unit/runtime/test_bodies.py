"""Objects the operator creates are built from the api models: only what was set, no status."""

from __future__ import annotations

from datetime import UTC, datetime

from grace.api.approval import ApprovalRequest, ApprovalRequestSpec
from grace.api.common import ObjectMeta, OwnerReference, new_object
from grace.api.playbook import Risk
from grace.runtime.approvals import risk_of


def test_a_creation_body_has_kind_version_and_only_the_fields_set() -> None:
    request = ApprovalRequest(
        metadata=ObjectMeta(
            name="m-run",
            labels={"grace.dev/mission": "m"},
            owner_references=[
                OwnerReference(
                    api_version="grace.dev/v1alpha1",
                    kind="Mission",
                    name="m",
                    uid="u1",
                    controller=True,
                )
            ],
        ),
        spec=ApprovalRequestSpec(
            mission="m",
            risk=Risk.HIGH,
            requested_by=None,
            expires_at=datetime(2026, 12, 4, 13, 0, tzinfo=UTC),
        ),
    )
    body = new_object(request)
    assert body["apiVersion"] == "grace.dev/v1alpha1" and body["kind"] == "ApprovalRequest"
    assert "status" not in body
    assert body["metadata"] == {
        "name": "m-run",
        "labels": {"grace.dev/mission": "m"},
        "ownerReferences": [
            {
                "apiVersion": "grace.dev/v1alpha1",
                "kind": "Mission",
                "name": "m",
                "uid": "u1",
                "controller": True,
            }
        ],
    }
    assert body["spec"] == {"mission": "m", "risk": "high", "expiresAt": "2026-12-04T13:00:00Z"}
    assert ApprovalRequest.model_validate(body).spec.risk is Risk.HIGH


def test_the_risk_of_a_missing_or_odd_playbook_is_medium() -> None:
    assert risk_of({"spec": {"risk": "critical"}}) is Risk.CRITICAL
    assert risk_of(None) is Risk.MEDIUM
    assert risk_of({"spec": {"risk": "yolo"}}) is Risk.MEDIUM
