"""Prometheus alerts as signals: the PromQL that reads them, and which nodes a webhook wakes.

Pure. The value of an alert signal comes only from Prometheus' own `ALERTS` series (pull): the
number of matching series whose alertstate is "firing", 0 when none fires. An Alertmanager
webhook (payload version 4) is parsed here too, but all it can do is name the HealthNodes worth
evaluating now: a forged or replayed post makes GRACE look, never act.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from grace.api.healthnode import AlertRef, HealthNode, Signal


def promql_string(text: str) -> str:
    """A PromQL double-quoted string literal (Go escapes; JSON's are a subset of them)."""
    return json.dumps(text, ensure_ascii=False)


def alert_promql(alert: AlertRef) -> str:
    """How many series of this alert fire now; `or vector(0)` so that "not firing" is 0, a
    value, not NoData (which would make the node Unknown whenever all is well)."""
    matchers = [f"alertname={promql_string(alert.name)}", 'alertstate="firing"']
    matchers += [f"{k}={promql_string(v)}" for k, v in sorted(alert.labels.items())]
    return f"count(ALERTS{{{','.join(matchers)}}}) or vector(0)"


def promql_of(signal: Signal) -> str:
    """The instant query that gives a signal its value, whether it names a query or an alert."""
    if signal.alert is not None:
        return alert_promql(signal.alert)
    if signal.query is None:  # the model refuses this; kept for the type checker
        raise ValueError(f"signal {signal.name} has neither a query nor an alert")
    return signal.query


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WebhookAlert(_Payload):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    fingerprint: str = ""


class WebhookPayload(_Payload):
    """Alertmanager's webhook body (https://prometheus.io/docs/alerting/latest/configuration/
    #webhook_config); only version 4 exists, and another one is refused rather than guessed."""

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[WebhookAlert] = Field(max_length=10_000)


def alert_matches(ref: AlertRef, labels: Mapping[str, str]) -> bool:
    """Whether an alert with these labels is one the reference names (its labels a subset)."""
    if labels.get("alertname") != ref.name:
        return False
    return all(labels.get(k) == v for k, v in ref.labels.items())


def nodes_to_wake(
    nodes: Iterable[HealthNode], alerts: Iterable[WebhookAlert]
) -> list[tuple[str, str]]:
    """(namespace, name) of the nodes with an alert signal matching any posted alert, firing or
    resolved (a resolved alert is as much news: the node may be healthy again)."""
    posted = [a.labels for a in alerts]
    out: list[tuple[str, str]] = []
    for node in nodes:
        refs = [s.alert for s in node.spec.signals if s.alert is not None]
        if any(alert_matches(ref, labels) for ref in refs for labels in posted):
            out.append((node.metadata.namespace, node.metadata.name))
    return out
