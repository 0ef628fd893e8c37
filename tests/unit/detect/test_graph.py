"""The health graph: root causes, cycles, missing dependencies, the likely-cause ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grace.api.healthnode import HealthNode, Phase
from grace.detect.graph import GraphNode, HealthGraph

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
H, D, C, U = Phase.HEALTHY, Phase.DEGRADED, Phase.CRITICAL, Phase.UNKNOWN


def node(name: str, phase: Phase, deps: tuple[str, ...] = (), at: int | None = None) -> GraphNode:
    since = T0 + timedelta(minutes=at) if at is not None else None
    return GraphNode(name=name, depends_on=deps, phase=phase, unhealthy_since=since)


def shop(db: Phase = C, cache: Phase = H) -> HealthGraph:
    """frontend -> checkout -> payments -> db, checkout -> cache."""
    return HealthGraph(
        [
            node("frontend", D, ("checkout",), at=3),
            node("checkout", C, ("payments", "cache"), at=2),
            node("payments", C, ("db",), at=1),
            node("db", db, at=0),
            node("cache", cache, at=4),
        ]
    )


def test_root_cause_is_the_deepest_unhealthy_dependency() -> None:
    g = shop()
    assert g.root_cause("frontend") == "db"
    assert g.root_cause("checkout") == "db"
    assert g.root_cause("payments") == "db"
    assert g.root_cause("db") is None  # itself the cause
    assert g.root_cause("cache") is None  # healthy


def test_root_cause_stops_at_healthy_nodes() -> None:
    g = shop(db=H)
    assert g.root_cause("frontend") == "payments"
    assert g.root_cause("payments") is None


def test_unknown_dependency_is_not_a_cause_but_an_unknown_node_can_have_one() -> None:
    g = shop(db=U)
    assert g.root_cause("checkout") == "payments"
    g2 = HealthGraph([node("api", U, ("db",)), node("db", C)])
    assert g2.root_cause("api") == "db"


def test_two_independent_causes_prefer_the_earliest() -> None:
    g = shop(cache=C)
    # db (t=0) and cache (t=4) are both leaves for checkout; cache is shallower, db deeper
    assert g.root_cause("checkout") == "db"
    g2 = HealthGraph([node("api", C, ("a", "b")), node("a", D, at=5), node("b", D, at=1)])
    assert g2.root_cause("api") == "b"


def test_cycle_is_reported_not_raised() -> None:
    g = HealthGraph([node("a", C, ("b",)), node("b", C, ("a",)), node("c", H, ("a",))])
    assert g.cycles == [("a", "b")]
    assert g.problems() == ["dependency cycle: a -> b -> a"]
    cond = g.condition("a")
    assert (cond.type, cond.status, cond.reason) == ("GraphValid", "False", "DependencyCycle")
    assert cond.message == "dependency cycle: a -> b -> a"
    assert g.condition("c").status == "True"
    assert g.root_cause("a") == "b"  # still answers inside an all-unhealthy cycle
    assert g.root_cause("c") is None


def test_longer_cycle_and_self_loop() -> None:
    g = HealthGraph([node("x", H, ("y",)), node("y", H, ("z",)), node("z", H, ("x",))])
    assert g.problems("y") == ["dependency cycle: x -> y -> z -> x"]
    self_loop = HealthGraph([node("s", H, ("s",))])
    assert self_loop.problems() == ["dependency cycle: s -> s"]


def test_missing_dependency_is_reported() -> None:
    g = HealthGraph([node("checkout", C, ("payments-db", "cache")), node("cache", H)])
    cond = g.condition("checkout", generation=4)
    assert (cond.status, cond.reason) == ("False", "MissingDependency")
    assert cond.message == "checkout: dependsOn names missing HealthNode payments-db"
    assert cond.observed_generation == 4
    assert g.root_cause("checkout") is None


def test_ranking_puts_upstream_and_earlier_first() -> None:
    ranking = shop(cache=D).ranking()
    names = [r.name for r in ranking]
    # roots first (db at t=0 before cache at t=4), then symptoms by onset
    assert names == ["db", "cache", "payments", "checkout", "frontend"]
    db = ranking[0]
    assert db.rank == 1 and db.is_root
    assert db.explains == ("checkout", "frontend", "payments")
    assert "no unhealthy dependency" in db.reason
    assert not ranking[2].is_root
    assert "depends on unhealthy db" in ranking[2].reason


def test_ranking_among_roots_prefers_earlier_then_wider_then_more_severe() -> None:
    g = HealthGraph(
        [
            node("late-wide", D, at=5),
            node("s1", D, ("late-wide",), at=6),
            node("s2", D, ("late-wide",), at=6),
            node("early", D, at=1),
            node("same-time-critical", C, at=1),
        ]
    )
    names = [r.name for r in g.ranking()]
    assert names[:3] == ["same-time-critical", "early", "late-wide"]
    assert [r.name for r in HealthGraph([node("ok", H)]).ranking()] == []


def test_from_healthnodes_uses_breach_start() -> None:
    body = {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "target": {"kind": "Deployment", "name": "checkout"},
            "dependsOn": ["db"],
            "signals": [{"name": "e", "query": "q", "critical": {"above": 1}}],
        },
        "status": {
            "phase": "Critical",
            "signals": [{"name": "e", "state": "Critical", "since": "2025-01-01T11:00:00Z"}],
        },
    }
    g = HealthGraph.of([HealthNode.model_validate(body)])
    n = g.nodes["checkout"]
    assert n.phase is C
    assert n.depends_on == ("db",)
    assert n.unhealthy_since == datetime(2025, 1, 1, 11, 0, tzinfo=UTC)
    assert g.with_phase("checkout", H, None).nodes["checkout"].phase is H
