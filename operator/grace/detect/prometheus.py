"""The I/O edge to Prometheus: PromQL instant queries in, Value | NoData | Error | Unreachable out.

Wraps prometheus-api-client's PrometheusConnect. Two of its defaults are wrong for a detector
and are overridden here: it retries a failed connection three times with backoff (so a dead
Prometheus would stall every evaluation for seconds — the next interval is our retry), and it
raises one exception type for every non-200 answer with the body only as a bytes repr (so the
body is decoded back to Prometheus's own `error` text, e.g. "1:5: parse error: ...").

Never raises for a query: a bad query is an Error the user must fix, no answer at all is
Unreachable (a distinct outcome: the node is Unknown, nothing is Prometheus's verdict).

Identical queries asked within a short window (`max_age`, see `grace.detect.sharing`) are sent
once: the first asker's request serves everyone who asks the same text meanwhile or while it is
in flight. Queries of one namespace that differ only in one label's value (a fleet template,
see `grace.detect.batching`) are asked as one query and split by that label: each node gets
exactly its own answer. Only real requests reach `on_query` (and the operator's PromQL metrics).
"""

from __future__ import annotations

import ast
import json
import re
import threading
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
from grace.detect.batching import MAX_BATCH, Family, batched_query, families, split
from grace.detect.sample import Error, NoData, Sample, Unreachable, Value, sample_of
from grace.detect.sharing import MAX_SHARE_SECONDS, Fetched, normalized, reusable


@dataclass(frozen=True)
class QueryRecord:
    """One query as it went: for the operator's detection-latency metric and logs."""

    query: str
    sample: Sample
    seconds: float


@dataclass
class _Batch:
    """One request that answers several nodes' queries: what to send, and whom it answers."""

    query: str
    family: tuple[str, Family]
    """(group, family): refused once by Prometheus, never batched again"""
    members: dict[str, str]
    """label value -> the member query's key"""


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
        sharing: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.on_query = on_query
        self.last_query: QueryRecord | None = None
        self.sharing = sharing
        self.shared = 0
        """Answers handed out again instead of asking Prometheus (a counter)."""
        self._answers: dict[str, Fetched] = {}
        self._in_flight: dict[str, threading.Event] = {}
        self._answers_lock = threading.Lock()
        self._inserts = 0
        self.batched = 0
        """Requests that answered several different queries at once (a counter)."""
        self._families: dict[str, list[tuple[Family, str]]] = {}
        self._members: dict[tuple[str, Family], dict[str, tuple[str, float]]] = {}
        self._refused_batches: set[tuple[str, Family]] = set()
        self._connect = connect or PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            disable_ssl=disable_ssl,
            retry=Retry(total=0),
            timeout=_seconds(timeout),
        )

    def close(self) -> None:
        self._connect.close()

    def query(self, promql: str, max_age: float = 0.0, group: str = "") -> Sample:
        """One instant query; an identical one asked at most `max_age` seconds ago (or still in
        flight) is shared instead of sent again, and queries of one `group` (namespace) that
        differ only in a label value are batched. 0 asks fresh."""
        if max_age <= 0 or not self.sharing:
            return self._ask(promql)
        key = normalized(promql)
        while True:
            with self._answers_lock:
                fetched = self._answers.get(key)
                now = time.monotonic()
                self._register(key, group, now)
                if reusable(fetched, now, max_age):
                    assert fetched is not None
                    self.shared += 1
                    return fetched.sample
                flight = self._in_flight.get(key)
                if flight is None:
                    batch = self._plan_batch(key, group, now, max_age)
                    flight = threading.Event()
                    for member in batch.members.values() if batch else [key]:
                        self._in_flight[member] = flight
                    break
            # another thread is asking the same right now: wait for its answer, then look again
            flight.wait(self.timeout + 1.0)
        asked_at = time.monotonic()
        answers: dict[str, Sample] = {}
        try:
            if batch is not None:
                answers = self._ask_batch(batch)
            if key not in answers:  # not batched, or the batch failed: ask alone
                answers[key] = self._ask(promql)
        finally:
            with self._answers_lock:
                for member, sample in answers.items():
                    self._answers[member] = Fetched(sample, asked_at)
                for member in batch.members.values() if batch else [key]:
                    self._in_flight.pop(member, None)
                self._forget_old(asked_at)
            flight.set()
        return answers[key]

    def _register(self, key: str, group: str, now: float) -> None:
        """Note that `key` was asked in `group` now (answered or shared): a live member of its
        families, for the batches of the next round (hold the lock)."""
        if key not in self._families:
            self._families[key] = families(key)
        for family, value in self._families[key]:
            self._members.setdefault((group, family), {})[value] = (key, now)

    def _plan_batch(self, key: str, group: str, now: float, max_age: float) -> _Batch | None:
        """The batch that answers `key` and the most other live members of one family (hold
        the lock). Members are queries asked in this group within the last two intervals that
        nobody is asking right now and that have no fresh answer."""
        live = max(4 * max_age, 1.0)
        best: tuple[Family, dict[str, str]] | None = None
        for family, _ in self._families[key]:
            if (group, family) in self._refused_batches:
                continue
            seen = self._members[(group, family)]
            members = {
                v: k
                for v, (k, at) in seen.items()
                if now - at <= live
                and (k == key or (k not in self._in_flight and not self._fresh(k, now, max_age)))
            }
            if len(members) >= 2 and (best is None or len(members) > len(best[1])):
                best = (family, members)
        if best is None:
            return None
        family, members = best
        chosen = dict(sorted(members.items())[: MAX_BATCH - 1])
        chosen[next(v for v, k in members.items() if k == key)] = key
        return _Batch(batched_query(family, sorted(chosen)), (group, family), chosen)

    def _fresh(self, key: str, now: float, max_age: float) -> bool:
        return reusable(self._answers.get(key), now, max_age)

    def _ask_batch(self, batch: _Batch) -> dict[str, Sample]:
        """Each member's answer, split from one request; {} when the batch itself failed."""
        started = time.monotonic()
        raw = self._request(batch.query)
        # a batch's record counts one request; its "value" is how many queries it answered
        self._record(
            batch.query, raw if isinstance(raw, Sample) else Value(len(batch.members)), started
        )
        if isinstance(raw, Error):  # e.g. a limit of this Prometheus: ask one by one from now
            self._refused_batches.add(batch.family)
        if isinstance(raw, Sample):
            return {}
        self.batched += 1
        shares = split(raw, batch.family[1].label, batch.members)
        return {key: interpret(shares[value]) for value, key in batch.members.items()}

    def _forget_old(self, now: float) -> None:
        """Drop answers nobody can reuse and members nobody asked for a minute (queries of
        deleted nodes), now and then (hold the lock)."""
        self._inserts += 1
        if self._inserts % 1024:
            return
        for key in [k for k, f in self._answers.items() if now - f.asked_at > MAX_SHARE_SECONDS]:
            del self._answers[key]
        for family, seen in list(self._members.items()):
            for value in [v for v, (_, at) in seen.items() if now - at > 6 * MAX_SHARE_SECONDS]:
                del seen[value]
            if not seen:
                del self._members[family]

    def _ask(self, promql: str) -> Sample:
        """One real request; the time it took is reported to `on_query` and `last_query`."""
        started = time.monotonic()
        sample = self._query(promql)
        self._record(promql, sample, started)
        return sample

    def _record(self, promql: str, sample: Sample, started: float) -> None:
        record = QueryRecord(promql, sample, time.monotonic() - started)
        self.last_query = record
        if self.on_query is not None:
            self.on_query(record)

    def sample(
        self, signals: Sequence[Signal], max_age: float = 0.0, group: str = ""
    ) -> dict[str, Sample]:
        """One round for a HealthNode: every signal's query, by signal name.

        Once Prometheus is unreachable the remaining signals are not tried: they share the
        verdict, and a dead server costs one timeout per round, not one per signal. `max_age`
        lets queries of other nodes (of `group`, for batching) be shared (see `query`).
        """
        out: dict[str, Sample] = {}
        down: Unreachable | None = None
        for sig in signals:
            if down is not None:
                out[sig.name] = down
                continue
            result = self.query(promql_of(sig), max_age, group)
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
        raw = self._request(promql)
        return raw if isinstance(raw, Sample) else interpret(raw)

    def _request(self, promql: str) -> Any:
        """The query's `data.result`, or the Sample (Error, Unreachable) that says why not."""
        # Prometheus's own evaluation timeout, a little under ours so that its message ("query
        # timed out ...") arrives before our client gives up; its durations take no fractions.
        params = {"timeout": f"{max(100, round(self.timeout * 900))}ms"}
        try:
            return self._connect.custom_query(promql, params=params, timeout=_seconds(self.timeout))
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
