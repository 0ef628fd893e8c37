"""A witness namespace that is missing is said once at start (log line and gauge), for real."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client

from grace.runtime import metrics
from grace.runtime.preflight import check_witness


def gauge(namespace: str) -> float:
    return float(metrics.LEDGER_WITNESS_OK.labels(witness=namespace)._value.get())


def test_a_missing_witness_namespace_is_reported_once_not_on_every_checkpoint(
    api: Any, namespace: str, witness_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    core = client.CoreV1Api(api)
    with caplog.at_level(logging.ERROR, logger="grace"):
        assert check_witness(core, f"{namespace}-typo") is False
    assert gauge(f"{namespace}-typo") == 0
    [record] = [r for r in caplog.records if "witness unavailable" in r.getMessage()]
    assert f"namespace {namespace}-typo does not exist" in record.getMessage()
    assert record.exc_info is None, "one line, no traceback"

    assert check_witness(core, witness_namespace) is True
    assert gauge(witness_namespace) == 1
    left = [c.metadata.name for c in core.list_namespaced_config_map(witness_namespace).items]
    assert not [n for n in left if n.startswith("grace-witness-probe")], "a dry run writes nothing"
