"""The operator as users run it, for the tests: re-exported from grace_lab.localcluster."""

from __future__ import annotations

from grace_lab.localcluster.graceprocess import OperatorProcess
from grace_lab.localcluster.install import (
    OPEN_POLICY,
    OPERATOR_NAMESPACE,
    ensure_policy_configmap,
    grant,
)

__all__ = [
    "OPEN_POLICY",
    "OPERATOR_NAMESPACE",
    "OperatorProcess",
    "ensure_policy_configmap",
    "grant",
]
