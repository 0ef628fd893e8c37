"""Sharing identical PromQL queries: when an answer may be handed out again, and the edge that
does it (one request for many nodes, never for verification)."""

from __future__ import annotations

import threading
import time
from typing import Any

from grace.api.healthnode import Signal
from grace.detect.prometheus import PrometheusSource
from grace.detect.sample import NoData, Value
from grace.detect.sharing import (
    Fetched,
    normalized,
    requests_per_round,
    reusable,
    share_age,
    share_window,
    until_next_tick,
)


def test_an_answer_is_reused_only_within_its_window() -> None:
    fetched = Fetched(Value(1.0), asked_at=100.0)
    assert reusable(fetched, 100.0, 5.0)
    assert reusable(fetched, 105.0, 5.0)
    assert not reusable(fetched, 105.1, 5.0)
    assert not reusable(fetched, 100.0, 0.0)  # verification asks fresh
    assert not reusable(None, 100.0, 5.0)
    assert not reusable(fetched, 99.0, 5.0)  # a clock that went back: ask again


def test_the_window_is_half_an_interval_and_never_long() -> None:
    assert share_window(1.0) == 0.5
    assert share_window(15.0) == 7.5
    assert share_window(300.0) == 10.0


def test_a_woken_evaluation_shares_no_answer() -> None:
    """A webhook wakes a node because its alert changed: its own answer from the last tick,
    seconds old, is what the news made stale."""
    assert share_age(15.0, woken=False) == share_window(15.0)
    assert share_age(15.0, woken=True) == 0.0
    fetched = Fetched(Value(0.0), asked_at=100.0)
    assert reusable(fetched, 104.0, share_age(15.0, woken=False))
    assert not reusable(fetched, 104.0, share_age(15.0, woken=True))


def test_loops_meet_on_the_grid_of_their_interval() -> None:
    assert until_next_tick(1000.0, 15.0) == 5.0  # 1005 is a multiple of 15
    assert until_next_tick(1005.0, 15.0) == 15.0  # on a tick: the next one, not now
    assert abs(until_next_tick(1004.99, 15.0) - 15.01) < 1e-9  # too close: the one after
    # two loops started apart wake at the same instant
    assert 1003.0 + until_next_tick(1003.0, 15.0) == 1001.0 + until_next_tick(1001.0, 15.0)


def test_identical_queries_meet_under_one_key() -> None:
    query = 'sum(rate(x{app="a"}[1m]))'
    assert normalized(f"  {query}\n") == query
    assert normalized('x{app="a b"}') != normalized('x{app="ab"}')
    assert requests_per_round([query, query + " ", 'up{job="a"}', query]) == (4, 2)


class Counting:
    """Stands in for PrometheusConnect: counts requests, answers slowly (like a busy server)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.asked: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def custom_query(self, query: str, params: Any = None, timeout: Any = None) -> Any:
        with self._lock:
            self.asked.append(query)
        time.sleep(self.delay)
        if "missing" in query:
            return []
        return [{"metric": {}, "value": [1700000000.0, "0.25"]}]


def signals(*queries: str) -> list[Signal]:
    return [Signal(name=f"s{i}", query=q) for i, q in enumerate(queries)]


def test_many_nodes_asking_the_same_send_one_request() -> None:
    fake = Counting(delay=0.05)
    src = PrometheusSource("http://prometheus.invalid:9090", connect=fake)  # type: ignore[arg-type]
    nodes = [signals("sum(rate(err[1m]))", "missing_metric") for _ in range(20)]
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda s=s: results.append(src.sample(s, max_age=5.0)))
        for s in nodes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fake.asked) == ["missing_metric", "sum(rate(err[1m]))"]  # in flight: joined
    assert all(r == {"s0": Value(0.25), "s1": NoData()} for r in results)
    assert src.shared == 38


def test_verification_and_a_disabled_sharing_always_ask() -> None:
    fake = Counting()
    src = PrometheusSource("http://prometheus.invalid:9090", connect=fake)  # type: ignore[arg-type]
    src.sample(signals("up"), max_age=5.0)
    src.sample(signals("up"))  # max_age 0: a Mission's verification wants a fresh answer
    assert len(fake.asked) == 2
    off = PrometheusSource(
        "http://prometheus.invalid:9090",
        connect=fake,  # type: ignore[arg-type]
        sharing=False,
    )
    off.sample(signals("up"), max_age=5.0)
    off.sample(signals("up"), max_age=5.0)
    assert len(fake.asked) == 4 and off.shared == 0
