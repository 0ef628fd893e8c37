"""Batching a namespace's queries that differ in one label value: only where the split is exact."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from grace.api.healthnode import Signal
from grace.detect.batching import MAX_BATCH, Family, batched_query, families, split
from grace.detect.prometheus import PrometheusSource, interpret
from grace.detect.sample import NoData, Value

RATIO = (
    'sum(rate(http_requests_total{namespace="shop",app="%s",code=~"5.."}[1m])) '
    '/ sum(rate(http_requests_total{namespace="shop",app="%s"}[1m]))'
)


def family(query: str, label: str) -> tuple[Family, str]:
    return next((f, v) for f, v in families(query) if f.label == label)


def test_a_fleet_template_is_one_family_per_varying_label() -> None:
    checkout, _ = family(RATIO % ("checkout", "checkout"), "app")
    payments, value = family(RATIO % ("payments", "payments"), "app")
    assert checkout == payments and value == "payments"
    query = batched_query(checkout, ["payments", "checkout"])
    assert query == (
        'sum by(app)(rate(http_requests_total { namespace = "shop",app=~"checkout|payments",'
        'code =~ "5.." } [ 1m ])) / sum by(app)(rate(http_requests_total { namespace = "shop",'
        'app=~"checkout|payments" } [ 1m ]))'
    )


@pytest.mark.parametrize(
    ("query", "batched"),
    [
        ('x{app="a"}', 'x { app=~"a|b" }'),
        ('x{app="a"} > 0.5', 'x { app=~"a|b" } > 0.5'),
        (
            'histogram_quantile(0.95, sum by (le) (rate(h_bucket{app="a"}[5m])))',
            'histogram_quantile(0.95,sum by(app,le)(rate(h_bucket { app=~"a|b" } [ 5m ])))',
        ),
        ('sum by (app) (x{app="a"})', 'sum by(app)(x { app=~"a|b" })'),
        ('max(x{app="a"}) - min(x{app="a"})', 'max by(app)(x { app=~"a|b" }) - min by(app)(x { app=~"a|b" })'),
    ],
)  # fmt: skip
def test_what_is_batched_and_how(query: str, batched: str) -> None:
    fam, value = family(query, "app")
    assert value == "a"
    assert batched_query(fam, ["a", "b"]) == batched


@pytest.mark.parametrize(
    "query",
    [
        'sum(rate(x{app="a"}[1m])) / sum(rate(y[1m]))',  # a selector without the label
        'rate(x{app="a"}[1m]) / rate(y{app="a"}[1m])',  # matching on every label
        'topk(1, x{app="a"})',
        'sum without (b) (x{app="a"})',
        'sum(x{app="a"}) by (b)',
        'absent(x{app="a"})',
        'x{app="a"} offset 5m',
        'max_over_time(x{app="a"}[5m:1m])',
        'sum(x{app="a"}) / on() sum(y{app="a"})',
        'x{app="a"} and y{app="a"}',
        'x{app="a b"}',  # not a plain word: no regex alternation for it
        'x{app="a"} / x{app="b"}',  # two values: the label does not vary as one
        "x{app='a'}",
    ],
)
def test_what_is_never_batched(query: str) -> None:
    assert all(f.label != "app" for f, _ in families(query))


def test_the_split_gives_each_value_its_own_series() -> None:
    result = [
        {"metric": {"app": "a"}, "value": [1.0, "0.5"]},
        {"metric": {"app": "b", "x": "1"}, "value": [1.0, "1"]},
        {"metric": {"app": "b", "x": "2"}, "value": [1.0, "2"]},
    ]
    shares = split(result, "app", ["a", "b", "c"])
    assert interpret(shares["a"]) == Value(0.5)
    assert "2 series" in str(interpret(shares["b"]))  # as the node's own query would say
    assert interpret(shares["c"]) == NoData()


def test_a_batch_is_bounded() -> None:
    fam, _ = family('x{app="a"}', "app")
    with pytest.raises(ValueError):
        batched_query(fam, [f"v{i}" for i in range(MAX_BATCH + 1)])


class Shop:
    """Stands in for PrometheusConnect: answers `app=~"..."` batches and single queries."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def custom_query(self, query: str, params: Any = None, timeout: Any = None) -> Any:
        with self._lock:
            self.asked.append(query)
        if "=~" in query:
            wanted = query.split('app=~"')[1].split('"')[0].split("|")
        else:
            wanted = [query.split('app="')[1].split('"')[0]]
        return [
            {"metric": {"app": app}, "value": [1.0, str(self.values[app])]}
            for app in wanted
            if app in self.values
        ]


def test_the_source_batches_a_namespace_template_after_seeing_it_once() -> None:
    shop = Shop({"a": 0.1, "b": 0.2, "c": 0.3})
    src = PrometheusSource("http://prometheus.invalid:9090", connect=shop)  # type: ignore[arg-type]

    def node(app: str) -> list[Signal]:
        return [Signal(name="latency", query=f'latency{{namespace="shop",app="{app}"}}')]

    first = {app: src.sample(node(app), max_age=5.0, group="shop") for app in "abcd"}
    # the first round already batches whatever it has seen: a alone, then a+b, ...
    assert first["a"] == {"latency": Value(0.1)} and first["d"] == {"latency": NoData()}
    shop.asked.clear()
    src._answers.clear()  # the next round: nothing fresh any more
    second = {app: src.sample(node(app), max_age=5.0, group="shop") for app in "abcd"}
    assert second == first  # exactly the answers each node's own query gives
    assert shop.asked == ['latency { namespace = "shop",app=~"a|b|c|d" }']
    # the same text is the same answer anywhere; but another namespace's template is never
    # batched with this one's
    assert src.sample(node("a"), max_age=5.0, group="other") == first["a"]
    src.sample(node("e"), max_age=5.0, group="other")
    assert shop.asked[-1] == 'latency{namespace="shop",app="e"}'


def test_batches_keep_every_member_round_after_round(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("grace.detect.prometheus.time.monotonic", lambda: clock[0])
    shop = Shop({"a": 0.1, "b": 0.2, "c": 0.3})
    src = PrometheusSource("http://prometheus.invalid:9090", connect=shop)  # type: ignore[arg-type]
    query = 'latency{namespace="shop",app="%s"}'
    sent: list[int] = []
    for _ in range(6):  # six rounds of a 15 s interval
        before = len(shop.asked)
        for app in "abc":
            src.sample([Signal(name="l", query=query % app)], max_age=7.5, group="shop")
        sent.append(len(shop.asked) - before)
        clock[0] += 15.0
    # the first round asks as it learns; from then on one request per round, for good (members
    # answered from the batch stay members: a query need not ask itself to stay in)
    assert sent == [3, 1, 1, 1, 1, 1]
