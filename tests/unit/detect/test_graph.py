"""The health graph: root causes, cycles, missing dependencies, the likely-cause ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grace.api.healthnode import HealthNode, Phase
from grace.detect.graph import GraphNode, HealthGraph, analysis_status

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


def ev(
    name: str,
    phase: Phase,
    deps: tuple[str, ...] = (),
    bad_at: int | None = None,
    departed_at: int | None = None,
    deviation: float = 0.0,
) -> GraphNode:
    """A node with the detector's evidence; times in seconds after T0."""
    return GraphNode(
        name=name,
        depends_on=deps,
        phase=phase,
        unhealthy_since=T0 + timedelta(seconds=bad_at) if bad_at is not None else None,
        departed_since=T0 + timedelta(seconds=departed_at) if departed_at is not None else None,
        deviation=deviation,
    )


def test_a_cause_departing_first_wins_even_when_its_symptom_crossed_first() -> None:
    # checkout's tight threshold fired at t=30; payments-db has been moving since t=5 and only
    # crossed its loose threshold at t=50
    g = HealthGraph(
        [
            ev("checkout", D, ("payments-db",), bad_at=30, departed_at=25, deviation=3),
            ev("payments-db", D, bad_at=50, departed_at=5, deviation=20),
        ]
    )
    a = g.analyze("checkout")
    assert a.cause is not None and a.cause.node == "payments-db"
    assert a.root_cause == "payments-db"
    assert a.cause.confidence > 0.9
    assert "first to depart from its baseline (2025-01-01T12:00:05Z)" in a.cause.evidence
    # the cause's own analysis: itself, its symptom is not a candidate
    own = g.analyze("payments-db")
    assert [c.node for c in own.candidates] == ["payments-db"] and own.self_confidence == 1.0


def test_a_dependency_departing_but_not_yet_unhealthy_is_the_likely_cause_not_root_cause() -> None:
    g = HealthGraph(
        [
            ev("checkout", C, ("payments-db",), bad_at=30, departed_at=25, deviation=5),
            ev("payments-db", H, departed_at=5, deviation=20),
        ]
    )
    a = g.analyze("checkout")
    assert a.cause is not None and a.cause.node == "payments-db"
    assert a.root_cause is None  # only a known-bad node makes checkout a skipped symptom
    assert a.self_confidence is not None and a.self_confidence < 0.5


def test_a_forgotten_dependson_edge_is_suspected_from_onset_and_deviation() -> None:
    # frontend -> checkout declared; checkout -> payments-db forgotten
    g = HealthGraph(
        [
            ev("frontend", C, ("checkout",), bad_at=40, departed_at=35, deviation=8),
            ev("checkout", C, bad_at=30, departed_at=20, deviation=10),
            ev("payments-db", C, bad_at=10, departed_at=5, deviation=30),
        ]
    )
    a = g.analyze("frontend")
    assert a.cause is not None and a.cause.node == "payments-db"
    assert a.cause.evidence[1] == (
        "departed 15s before checkout, with no dependsOn between them (an edge may be missing)"
    )
    assert g.likely_causes()[0][0] == "payments-db"


def test_an_unrelated_noisy_node_that_went_bad_first_is_not_the_namespace_cause() -> None:
    # recommendations flaps (small deviation from its own noisy past) and went bad first;
    # db is the real fault, which checkout and frontend follow
    g = HealthGraph(
        [
            ev(
                "frontend",
                C,
                ("checkout", "recommendations"),
                bad_at=40,
                departed_at=35,
                deviation=8,
            ),
            ev("checkout", C, ("db",), bad_at=30, departed_at=20, deviation=10),
            ev("db", C, bad_at=10, departed_at=5, deviation=30),
            ev("recommendations", D, bad_at=-40, departed_at=-45, deviation=1.5),
        ]
    )
    assert [name for name, _ in g.likely_causes()][:2] == ["db", "recommendations"]
    assert g.analyze("recommendations").root_cause is None  # its own trouble: itself


def test_the_status_view_of_an_analysis_is_rounded_and_bounded() -> None:
    g = HealthGraph(
        [
            ev("checkout", D, ("payments-db",), bad_at=30, departed_at=25, deviation=3),
            ev("payments-db", D, bad_at=50, departed_at=5, deviation=20),
        ]
    )
    status = analysis_status(g.analyze("checkout"))
    assert status is not None and status.cause == "payments-db"
    assert status.confidence == round(status.confidence, 2)
    assert [c.node for c in status.candidates] == ["payments-db", "checkout"]
    assert status.confidence_of("checkout") == status.candidates[1].confidence
    assert analysis_status(HealthGraph([node("ok", H)]).analyze("ok")) is None
