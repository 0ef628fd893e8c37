"""Any engine failure is a deny whose reason says the policy engine is unavailable."""

from __future__ import annotations

import time

import pytest

from grace.govern import (
    UNAVAILABLE,
    Decision,
    EmbeddedEngine,
    FailClosed,
    Governor,
    OpaServerEngine,
    PolicyBundle,
    PolicyData,
    PolicyEngineError,
    PolicyInput,
    make_engine,
)
from grace_lab.localcluster.opa import free_port
from tests.unit.govern.corpus import CASES

ALLOWED = next(c for c in CASES if c.name == "medium-risk-high-criticality-confident-runs-alone")


def bundle_of(source: str) -> PolicyBundle:
    return PolicyBundle(modules={"grace/broken.rego": source})


def assert_unavailable(decision: Decision, *fragments: str) -> None:
    assert decision.result == "deny"
    assert decision.tier == "none"
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith(f"{UNAVAILABLE}: ")
    for fragment in fragments:
        assert fragment in decision.reasons[0]


def test_the_same_input_is_allowed_by_a_healthy_engine() -> None:
    assert Governor(EmbeddedEngine()).decide(ALLOWED.input).result == "allow"


def test_undefined_decision_denies() -> None:
    engine = EmbeddedEngine(bundle=bundle_of("package grace\n\nsomething_else := 1\n"))
    assert_unavailable(Governor(engine).decide(ALLOWED.input), "data.grace.decision is undefined")


def test_malformed_decision_denies() -> None:
    source = 'package grace\n\ndecision := {"result": "maybe", "tier": "auto", "reasons": ["x"]}\n'
    decision = Governor(EmbeddedEngine(bundle=bundle_of(source))).decide(ALLOWED.input)
    assert_unavailable(decision, "malformed answer")


def test_decision_without_reasons_denies() -> None:
    source = 'package grace\n\ndecision := {"result": "allow", "tier": "auto", "reasons": []}\n'
    decision = Governor(EmbeddedEngine(bundle=bundle_of(source))).decide(ALLOWED.input)
    assert_unavailable(decision, "malformed answer")


def test_policy_that_does_not_compile_is_refused_at_start() -> None:
    with pytest.raises(PolicyEngineError, match="does not compile"):
        EmbeddedEngine(bundle=bundle_of("package grace\n\ndecision := {\n"))


def test_unreachable_opa_server_denies_as_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    decision = Governor(OpaServerEngine(url, timeout=0.5)).decide(ALLOWED.input)
    assert_unavailable(decision, f"OPA server {url}: cannot connect")
    assert decision.engine == "opa-server"
    assert decision.policy_digest.startswith("sha256:")


class SlowEngine:
    """An engine that answers too late, like a hung sidecar."""

    name = "slow"
    digest = "sha256:slow"

    def decide(self, policy_input: PolicyInput) -> Decision:
        time.sleep(0.5)
        return Decision(
            result="allow", tier="auto", reasons=["late"], engine="slow", policy_digest="x"
        )

    def set_data(self, data: PolicyData) -> None:
        pass


class BrokenEngine(SlowEngine):
    name = "broken"

    def decide(self, policy_input: PolicyInput) -> Decision:
        raise RuntimeError("segfault in the evaluator")


def test_deadline_turns_a_late_answer_into_deny() -> None:
    decision = Governor(SlowEngine(), deadline=0.05).decide(ALLOWED.input)
    assert_unavailable(decision, "slow: no answer within 0.05s")
    assert decision.engine == "slow"


def test_any_exception_denies_and_names_it() -> None:
    decision = FailClosed(BrokenEngine()).decide(ALLOWED.input)
    assert_unavailable(decision, "RuntimeError: segfault in the evaluator")


def test_engine_flag_selects_the_engine() -> None:
    assert make_engine("embedded").name == "embedded"
    assert make_engine("opa", opa_url="http://127.0.0.1:8181").name == "opa-server"
    with pytest.raises(ValueError, match="needs an OPA server URL"):
        make_engine("opa")
    with pytest.raises(ValueError, match="unknown policy engine"):
        make_engine("wasm")
