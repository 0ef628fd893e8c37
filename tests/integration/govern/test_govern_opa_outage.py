"""The OPA server stops mid-operation: nothing runs, Missions say why, and work resumes."""

from __future__ import annotations

from grace.govern import UNAVAILABLE, Governor, OpaServerEngine, PolicyData, PolicyDataReloader
from grace_lab.localcluster.opa import OpaServer
from tests.unit.govern.corpus import CASES

ALLOWED = next(c for c in CASES if c.name == "medium-risk-high-criticality-confident-runs-alone")


def test_outage_denies_then_work_resumes(opa_server: OpaServer) -> None:
    governor = Governor(OpaServerEngine(opa_server.url, timeout=1.0))
    assert governor.decide(ALLOWED.input).result == "allow"

    opa_server.stop()
    during = governor.decide(ALLOWED.input)
    assert during.result == "deny"
    assert during.tier == "none"
    assert during.reasons == [f"{UNAVAILABLE}: OPA server {opa_server.url}: cannot connect"]
    assert during.engine == "opa-server"

    opa_server.start()
    after = governor.decide(ALLOWED.input)
    assert after.result == "allow"
    assert after.verdict == Governor(OpaServerEngine(opa_server.url)).decide(ALLOWED.input).verdict


def test_configmap_data_survives_an_opa_restart(opa_server: OpaServer) -> None:
    governor = Governor(OpaServerEngine(opa_server.url, timeout=1.0))
    PolicyDataReloader(governor).apply({"protectedNamespaces": "shop"})
    protected = ["namespace shop is protected: GRACE never acts there"]
    assert governor.decide(ALLOWED.input).reasons == protected

    # A restarted OPA has only the shipped data.json; the engine pushes the ConfigMap's data
    # again before it decides, so the restart never loosens the policy.
    opa_server.stop()
    assert governor.decide(ALLOWED.input).reasons[0].startswith(UNAVAILABLE)
    opa_server.start()
    assert governor.decide(ALLOWED.input).reasons == protected
    governor.set_data(PolicyData())
    assert governor.decide(ALLOWED.input).result == "allow"


def test_a_restart_nobody_noticed_is_caught_by_the_resync(opa_server: OpaServer) -> None:
    engine = OpaServerEngine(opa_server.url, timeout=1.0, resync_seconds=0.0)
    engine.set_data(PolicyData(protected_namespaces=["shop"]))
    opa_server.stop()
    opa_server.start()  # between two decisions: no failed request tells the engine
    decision = Governor(engine).decide(ALLOWED.input)
    assert decision.reasons == ["namespace shop is protected: GRACE never acts there"]
