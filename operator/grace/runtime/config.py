"""OperatorConfig: every knob of `grace run`, validated once at start-up.

The one source of the command line: each field is a flag of `grace run` (grace.cli.run_cmd
derives the flags, their types, choices, defaults and help from here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator


class OperatorConfig(BaseModel):
    namespaces: list[str] = Field(
        default_factory=list,
        description="watch this namespace (repeatable); default: every namespace",
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description="the Prometheus the signals are queried on"
    )
    prometheus_timeout: float = Field(
        default=5.0,
        gt=0,
        description="seconds a query may take; no answer in time makes the node Unknown",
    )
    policy_engine: Literal["embedded", "opa"] = Field(
        default="embedded", description="where policy is evaluated: in-process (regopy) or OPA"
    )
    opa_url: str = Field(default="http://127.0.0.1:8181", description="the OPA server (sidecar)")
    policy_dir: Path = Field(
        default=Path("policies"), description="the Rego policies (policies/grace/*.rego)"
    )
    policy_configmap: str = Field(
        default="grace-policy",
        description="ConfigMap in the operator namespace with the policy's data, reloaded live",
    )
    operator_namespace: str = Field(
        default="grace-system", description="where the operator's own objects (Leases) live"
    )
    ledger_backend: Literal["file", "configmap"] = Field(
        default="file", description="where the signed ledger is kept"
    )
    ledger_path: Path = Field(
        default=Path(".grace/ledger.jsonl"), description="the ledger file (backend file)"
    )
    ledger_namespace: str = Field(
        default="grace-system",
        description="namespace of the ledger ConfigMaps (backend configmap); checkpoints are "
        "also witnessed in <namespace>-witness",
    )
    signing_key: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs the ledger; a throwaway key when unset",
    )
    mission_tick: float = Field(default=2.0, gt=0, description="seconds between Mission reconciles")
    approval_ttl: float = Field(
        default=3600.0, gt=0, description="seconds before an ApprovalRequest expires"
    )
    mission_ttl: float = Field(
        default=7 * 24 * 3600.0,
        ge=0,
        description="seconds a finished automatic Mission is kept before it is deleted (like a "
        "Job's ttlSecondsAfterFinished; manual Missions are the user's and never deleted; the "
        "ledger keeps every record); 0 keeps them all",
    )
    metrics_port: int = Field(
        default=8080, ge=0, le=65535, description="port of /metrics and the probes; 0 disables"
    )
    metrics_address: str = Field(
        default="0.0.0.0",
        description="address /metrics listens on (a pod needs 0.0.0.0; 127.0.0.1 on a laptop)",
    )
    identity: str = Field(
        default="system:serviceaccount:grace-system:grace",
        description="the user automatic Missions are requested by (the operator's own)",
    )
    leader_elect: bool = Field(
        default=False,
        description="one of several replicas: act only while holding the grace-leader Lease",
    )
    webhook_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="port of the Alertmanager webhook receiver (POST /alerts); 0 disables it",
    )
    webhook_address: str = Field(
        default="0.0.0.0", description="address the Alertmanager webhook receiver listens on"
    )
    webhook_token_file: Path | None = Field(
        default=None,
        validate_default=True,
        description="file holding the bearer token Alertmanager must send (a mounted Secret); "
        "required with --webhook-port",
    )
    webhook_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="largest webhook body accepted; a bigger post is refused with 413",
    )
    alertmanager_url: str = Field(
        default="",
        description="Alertmanager that approval requests and Mission outcomes are posted to "
        "(POST /api/v2/alerts, routed by your receivers); empty: no notifications",
    )
    notify_interval: float = Field(
        default=5.0,
        gt=0,
        description="seconds between two looks for notifications due (failures back off to 60 s)",
    )
    notify_channels_file: Path | None = Field(
        default=None,
        description="YAML map of channel name -> apprise URL (a mounted Secret): direct "
        "notifications to Slack, Teams, PagerDuty, webhooks...",
    )
    notify_subscriptions_file: Path | None = Field(
        default=None,
        description="YAML `subscriptions:` list: which events of which namespaces/HealthNodes "
        "go to which channels (docs/alerts.md); without it every event goes to every channel",
    )

    @field_validator("webhook_token_file")
    @classmethod
    def _webhook_needs_a_token(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("webhook_port"):
            raise ValueError(
                "required with --webhook-port: the receiver never runs unauthenticated"
            )
        return value
