"""Two engines, one answer: every corpus case through the OPA server and the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.govern import EmbeddedEngine, OpaServerEngine, PolicyData
from grace_lab.localcluster.opa import OpaServer
from tests.unit.govern.corpus import CASES, Case


class EnginePair:
    """Both engines on the same data; the data is pushed only when a case needs other data."""

    def __init__(self, url: str) -> None:
        self.embedded = EmbeddedEngine()
        self.opa = OpaServerEngine(url, timeout=2.0)
        self.data = PolicyData()

    def use(self, data: PolicyData) -> None:
        if data != self.data:
            self.embedded.set_data(data)
            self.opa.set_data(data)
            self.data = data


@pytest.fixture(scope="module")
def engines(opa_server: OpaServer) -> Iterator[EnginePair]:
    yield EnginePair(opa_server.url)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_engines_give_the_same_decision(engines: EnginePair, case: Case) -> None:
    engines.use(case.data)
    embedded = engines.embedded.decide(case.input)
    server = engines.opa.decide(case.input)
    assert server.verdict == embedded.verdict
    assert server.policy_digest == embedded.policy_digest
    assert (server.result, server.tier) == (case.result, case.tier)
    if case.reasons is not None:
        assert tuple(server.reasons) == case.reasons
    assert (embedded.engine, server.engine) == ("embedded", "opa-server")


def test_server_holds_exactly_the_policy_and_data_we_decide_with(engines: EnginePair) -> None:
    engines.use(PolicyData(protected_namespaces=["kube-system", "payments"]))
    assert engines.opa.server_digest() == engines.opa.digest == engines.embedded.digest
