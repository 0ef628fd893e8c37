"""The input document, the digest that names a policy, and what a Decision records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from grace.govern import (
    ChangeWindow,
    EmbeddedEngine,
    PolicyBundle,
    PolicyData,
    PolicyInput,
    policy_digest,
)
from tests.unit.govern.corpus import CASES

BASE = CASES[0].raw_input


def test_now_is_sent_as_utc_rfc3339() -> None:
    paris = timezone(timedelta(hours=1))
    policy_input = PolicyInput.model_validate(
        BASE | {"now": datetime(2025, 1, 6, 10, 0, 0, tzinfo=paris)}
    )
    assert policy_input.wire()["now"] == "2025-01-06T09:00:00+00:00"


def test_now_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError):
        PolicyInput.model_validate(BASE | {"now": datetime(2025, 1, 6, 10)})


def test_input_is_camel_case_on_the_wire() -> None:
    wire = PolicyInput.model_validate(BASE).wire()
    assert set(wire) == {
        "mission",
        "playbook",
        "healthNode",
        "target",
        "mode",
        "now",
        "changeWindows",
        "counts",
        "learning",
        "facts",
    }
    assert wire["target"]["gitOpsOwner"] == "none"
    assert wire["playbook"]["requireApprovalForGitOps"] is True
    assert wire["facts"] == {"duplicateOf": None, "cooldownRemainingSeconds": 0}


def test_confidence_is_rounded_so_every_engine_prints_it_alike() -> None:
    learning = BASE["learning"] | {"confidence": 2 / 3}
    policy_input = PolicyInput.model_validate(BASE | {"learning": learning})
    assert policy_input.learning.confidence == 0.6667


def test_unknown_risk_or_mode_is_refused_before_the_policy() -> None:
    with pytest.raises(ValidationError):
        PolicyInput.model_validate(BASE | {"mode": "yolo"})
    with pytest.raises(ValidationError):
        PolicyInput.model_validate(BASE | {"playbook": BASE["playbook"] | {"risk": "extreme"}})


def test_window_accepts_24_00_as_end_of_day_only() -> None:
    assert ChangeWindow(days=["Sun"], start="00:00", end="24:00").end == "24:00"
    with pytest.raises(ValidationError):
        ChangeWindow(days=["Sun"], start="24:00", end="01:00")


def test_digest_names_policy_and_data() -> None:
    bundle = PolicyBundle.load()
    digest = bundle.digest(PolicyData())
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert bundle.digest(PolicyData()) == digest
    assert bundle.digest(PolicyData(max_concurrent_cluster=6)) != digest
    edited = PolicyBundle(modules={**bundle.modules, "grace/extra.rego": "package grace\n"})
    assert edited.digest(PolicyData()) != digest


def test_digest_does_not_depend_on_file_names() -> None:
    bundle = PolicyBundle.load()
    renamed = PolicyBundle(
        modules={f"/etc/opa/{i}.rego": s for i, s in enumerate(bundle.modules.values())}
    )
    assert renamed.digest(PolicyData()) == bundle.digest(PolicyData())
    assert policy_digest(bundle.modules.values(), PolicyData().wire()) == bundle.digest(
        PolicyData()
    )


def test_bundle_holds_decision_modules_not_tests(tmp_path: Path) -> None:
    bundle = PolicyBundle.load()
    assert "grace/decision.rego" in bundle.modules
    assert not [p for p in bundle.modules if p.endswith("_test.rego")]
    with pytest.raises(FileNotFoundError):
        PolicyBundle.load(tmp_path)


def test_decision_records_engine_and_digest_for_the_mission() -> None:
    engine = EmbeddedEngine()
    decision = engine.decide(PolicyInput.model_validate(BASE))
    status = decision.wire()
    assert status == {
        "result": "allow",
        "tier": "auto",
        "reasons": decision.reasons,
        "engine": "embedded",
        "policyDigest": engine.digest,
    }
