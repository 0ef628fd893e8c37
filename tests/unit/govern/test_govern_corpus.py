"""Every decision case in cases.yaml, through the embedded (default) engine."""

from __future__ import annotations

import pytest

from grace.govern import EmbeddedEngine, PolicyData
from tests.unit.govern.corpus import CASES, Case

_engines: dict[str, EmbeddedEngine] = {}


def engine_for(data: PolicyData) -> EmbeddedEngine:
    key = data.model_dump_json()
    if key not in _engines:
        _engines[key] = EmbeddedEngine(data=data)
    return _engines[key]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_embedded_engine_decides_as_the_policy_says(case: Case) -> None:
    engine = engine_for(case.data)
    decision = engine.decide(case.input)
    assert (decision.result, decision.tier) == (case.result, case.tier)
    if case.reasons is not None:
        assert tuple(decision.reasons) == case.reasons
    assert decision.reasons, "every decision explains itself"
    assert decision.engine == "embedded"
    assert decision.policy_digest == engine.digest


def test_corpus_covers_every_result_and_the_window_edges() -> None:
    results = {c.result for c in CASES}
    assert results == {"allow", "require_approval", "deny"}
    names = {c.name for c in CASES}
    for edge in (
        "window-start-is-inside",
        "window-one-second-before-start-is-outside",
        "window-end-is-outside",
        "window-one-second-before-end-is-inside",
        "window-one-second-after-end-is-outside",
    ):
        assert edge in names
