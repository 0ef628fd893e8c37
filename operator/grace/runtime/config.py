"""OperatorConfig: every knob of `grace run`, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class OperatorConfig(BaseModel):
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means cluster-wide."
    )
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout: float = Field(default=5.0, gt=0)
    policy_engine: Literal["embedded", "opa"] = "embedded"
    opa_url: str = "http://127.0.0.1:8181"
    policy_dir: Path = Path("policies")
    policy_configmap: str = Field(
        default="grace-policy",
        description="ConfigMap (in the operator namespace) with policy data.",
    )
    operator_namespace: str = "grace-system"
    ledger_backend: Literal["file", "configmap"] = "file"
    ledger_path: Path = Path(".grace/ledger.jsonl")
    ledger_namespace: str = "grace-system"
    signing_key: Path | None = Field(
        default=None, description="Ed25519 private key (PEM); a throwaway key is made when unset."
    )
    mission_tick: float = Field(
        default=2.0, gt=0, description="Seconds between Mission reconciles."
    )
    approval_ttl: float = Field(
        default=3600.0, gt=0, description="Seconds before a request expires."
    )
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    identity: str = Field(
        default="system:serviceaccount:grace-system:grace",
        description="Who automatic Missions are requested by (the operator's own user).",
    )
    leader_elect: bool = Field(
        default=False,
        description="Run as one of several replicas: only the holder of the grace-leader Lease acts.",
    )
