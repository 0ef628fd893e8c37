"""The Prometheus edge without a server: result shapes, Prometheus's errors, no Prometheus."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException

from grace.api.healthnode import Signal
from grace.detect.prometheus import PrometheusSource, QueryRecord, interpret
from grace.detect.sample import Error, NoData, Unreachable, Value


def vector(*values: str) -> list[dict[str, Any]]:
    return [{"metric": {"i": str(i)}, "value": [1700000000.0, v]} for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (vector("0.25"), Value(0.25)),
        ([1700000000.0, "3"], Value(3.0)),  # scalar
        ([], NoData()),
        (vector("NaN"), NoData("query returned NaN")),
        (vector("+Inf"), NoData("query returned +Inf")),
        (vector("-Inf"), NoData("query returned -Inf")),
    ],
)
def test_interpret_values(result: Any, expected: object) -> None:
    assert interpret(result) == expected


def test_interpret_refuses_ambiguous_results() -> None:
    many = interpret(vector("1", "2"))
    assert isinstance(many, Error)
    assert "2 series, expected one" in many.message
    ranged = interpret([{"metric": {}, "values": [[1.0, "1"]]}])
    assert isinstance(ranged, Error)
    assert "range vector" in ranged.message
    text = interpret([1700000000.0, "hello"])
    assert isinstance(text, Error)
    assert "string" in text.message


class Refusing:
    """Stands in for PrometheusConnect exactly as it fails: a non-200 answer's body as a repr."""

    def __init__(self, code: int, body: bytes) -> None:
        self.message = f"HTTP Status Code {code} ({body!r})"

    def custom_query(self, query: str, params: Any = None, timeout: Any = None) -> Any:
        raise PrometheusApiClientException(self.message)


def source_with(fake: object) -> PrometheusSource:
    return PrometheusSource("http://prometheus.invalid:9090", connect=fake)  # type: ignore[arg-type]


def test_bad_query_gives_prometheus_own_message() -> None:
    body = json.dumps(
        {
            "status": "error",
            "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:4: parse error: unexpected end of input',
        }
    ).encode()
    result = source_with(Refusing(400, body)).query("up{")
    assert result == Error("1:4: parse error: unexpected end of input")


def test_execution_error_keeps_the_message() -> None:
    body = b'{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}'
    result = source_with(Refusing(503, body)).query("heavy")
    assert result == Error("query timed out in expression evaluation")


def test_non_prometheus_answer_is_unreachable() -> None:
    result = source_with(Refusing(502, b"<html>Bad Gateway</html>")).query("up")
    assert isinstance(result, Unreachable)
    assert "HTTP 502" in result.message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_closed_port_is_unreachable_fast_and_recorded() -> None:
    records: list[QueryRecord] = []
    src = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout=2, on_query=records.append)
    signals = [
        Signal.model_validate({"name": n, "query": "up", "critical": {"below": 1}})
        for n in ("a", "b", "c")
    ]
    samples = src.sample(signals)
    src.close()
    assert set(samples) == {"a", "b", "c"}
    first = samples["a"]
    assert isinstance(first, Unreachable)
    assert "Connection refused" in first.message
    assert " at 0x" not in first.message  # stable text: conditions do not churn
    assert samples["b"] == first and samples["c"] == first
    assert len(records) == 1  # the dead server was asked once, not once per signal
    assert records[0].seconds < 1.5  # no hidden retries with backoff
