"""The I/O edge to Prometheus: PromQL instant queries in, Value | NoData | Error | Unreachable out.

Wraps prometheus-api-client's PrometheusConnect. Two of its defaults are wrong for a detector
and are overridden here: it retries a failed connection three times with backoff (so a dead
Prometheus would stall every evaluation for seconds — the next interval is our retry), and it
raises one exception type for every non-200 answer with the body only as a bytes repr (so the
body is decoded back to Prometheus's own `error` text, e.g. "1:5: parse error: ...").

Never raises for a query: a bad query is an Error the user must fix, no answer at all is
Unreachable (a distinct outcome: the node is Unknown, nothing is Prometheus's verdict).
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from grace.api.healthnode import Signal
from grace.detect.alerts import promql_of
from grace.detect.sample import Error, NoData, Sample, Unreachable, Value, sample_of


@dataclass(frozen=True)
class QueryRecord:
    """One query as it went: for the operator's detection-latency metric and logs."""

    query: str
    sample: Sample
    seconds: float


_STATUS_BODY = re.compile(r"^HTTP Status Code (\d+) \((b(['\"]).*\3)\)$", re.DOTALL)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


class PrometheusSource:
    """Instant queries against one Prometheus, with a timeout and no hidden retries."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        disable_ssl: bool = False,
        on_query: Callable[[QueryRecord], None] | None = None,
        connect: PrometheusConnect | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.on_query = on_query
        self.last_query: QueryRecord | None = None
        self._connect = connect or PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            disable_ssl=disable_ssl,
            retry=Retry(total=0),
            timeout=_seconds(timeout),
        )

    def close(self) -> None:
        self._connect.close()

    def query(self, promql: str) -> Sample:
        """One instant query; the time it took is reported to `on_query` and `last_query`."""
        started = time.monotonic()
        sample = self._query(promql)
        record = QueryRecord(promql, sample, time.monotonic() - started)
        self.last_query = record
        if self.on_query is not None:
            self.on_query(record)
        return sample

    def sample(self, signals: Sequence[Signal]) -> dict[str, Sample]:
        """One round for a HealthNode: every signal's query, by signal name.

        Once Prometheus is unreachable the remaining signals are not tried: they share the
        verdict, and a dead server costs one timeout per round, not one per signal.
        """
        out: dict[str, Sample] = {}
        down: Unreachable | None = None
        for sig in signals:
            if down is not None:
                out[sig.name] = down
                continue
            result = self.query(promql_of(sig))
            out[sig.name] = result
            if isinstance(result, Unreachable):
                down = result
        return out

    def history(
        self, promql: str, duration: timedelta, step_seconds: float, end: datetime | None = None
    ) -> list[tuple[float, float]]:
        """(unix time, value) of a single-series query over the last `duration`, to warm up
        the anomaly detector and forecaster after a restart; [] when anything goes wrong."""
        end = end or datetime.now(UTC)
        try:
            result = self._connect.custom_query_range(
                promql,
                start_time=end - duration,
                end_time=end,
                step=f"{step_seconds:g}",  # float seconds: Prometheus durations take no fractions
                timeout=_seconds(self.timeout),
            )
        except (PrometheusApiClientException, requests.RequestException, ValueError):
            return []
        if not isinstance(result, list) or len(result) != 1 or not isinstance(result[0], dict):
            return []
        out: list[tuple[float, float]] = []
        for point in result[0].get("values", []):
            s = sample_of(_to_float(point[1]))
            if isinstance(s, Value):
                out.append((float(point[0]), s.value))
        return out

    def _query(self, promql: str) -> Sample:
        # Prometheus's own evaluation timeout, a little under ours so that its message ("query
        # timed out ...") arrives before our client gives up; its durations take no fractions.
        params = {"timeout": f"{max(100, round(self.timeout * 900))}ms"}
        try:
            result: Any = self._connect.custom_query(
                promql, params=params, timeout=_seconds(self.timeout)
            )
        except PrometheusApiClientException as e:
            return self._refused(str(e))
        except requests.Timeout:
            return Unreachable(f"no answer from {self.url} within {self.timeout:g}s")
        except requests.ConnectionError as e:
            return Unreachable(f"cannot connect to {self.url}: {_reason(e)}")
        except requests.RequestException as e:
            return Unreachable(f"request to {self.url} failed: {_reason(e)}")
        except (ValueError, KeyError, TypeError):
            return Unreachable(f"{self.url} answered, but not as a Prometheus query API")
        return interpret(result)

    def _refused(self, text: str) -> Sample:
        """A non-200 answer: Prometheus's own error, or Unreachable if it is not Prometheus."""
        m = _STATUS_BODY.match(text)
        if m is None:
            return Unreachable(f"{self.url}: {_ADDRESS.sub('', text)}")
        code = int(m.group(1))
        try:
            body = json.loads(ast.literal_eval(m.group(2)))
        except (ValueError, SyntaxError):
            body = None
        if isinstance(body, dict) and body.get("status") == "error" and body.get("error"):
            return Error(_strip_param_prefix(str(body["error"])))
        return Unreachable(f"{self.url} answered HTTP {code}, not as a Prometheus query API")


def interpret(result: Any) -> Sample:
    """The `data.result` of an instant query as one sample (a health signal is one number)."""
    if not isinstance(result, list) or not result:
        return NoData()
    if not isinstance(result[0], dict):  # scalar or string: [unix time, "text"]
        if len(result) != 2:
            return Error(f"unexpected query result: {result!r}"[:300])
        number = _to_float(result[1])
        if number is None:
            return Error(f"query returned a string, not a number: {result[1]!r}"[:300])
        return sample_of(number)
    if len(result) > 1:
        return Error(
            f"query returned {len(result)} series, expected one: aggregate it "
            "(e.g. sum(...), max(...)) or select a single series"
        )
    series = result[0]
    if "values" in series:
        return Error("query returned a range vector: use an instant vector (e.g. rate(x[1m]))")
    value = series.get("value")
    if not isinstance(value, list) or len(value) != 2:
        return Error(f"unexpected query result: {series!r}"[:300])
    number = _to_float(value[1])
    if number is None:
        return Error(f"query returned a non-number: {value[1]!r}"[:300])
    return sample_of(number)


def _seconds(timeout: float) -> int:
    """The client annotates timeouts as int but hands them to requests, which takes float."""
    return cast(int, timeout)


def _to_float(text: object) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def _strip_param_prefix(message: str) -> str:
    """'invalid parameter "query": 1:5: parse error: ...' -> '1:5: parse error: ...'."""
    prefix = 'invalid parameter "query": '
    return message[len(prefix) :] if message.startswith(prefix) else message


def _reason(e: Exception) -> str:
    """A stable, short reason: no object addresses, so conditions do not churn."""
    text = str(e)
    m = _ERRNO.search(text)
    if m:
        return m.group(1).strip()
    return _ADDRESS.sub("", text)[:300] or type(e).__name__
