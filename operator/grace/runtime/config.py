"""OperatorConfig: every knob of `grace run`, validated once at start-up.

The one source of the command line: each field is a flag of `grace run` (grace.cli.run_cmd
derives the flags, their types, choices, defaults and help from here).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

FLAGS: dict[str, tuple[str, ...]] = {"namespaces": ("-n", "--namespace")}
"""Fields whose flag is not simply --field-name."""


def flags_of(field: str) -> tuple[str, ...]:
    """The `grace run` flags that set `field`, long form last."""
    return FLAGS.get(field, (f"--{field.replace('_', '-')}",))


class ConfigError(Exception):
    """A `grace run` setting that cannot work where the operator starts (a key file that is
    not a private key, a port in use): names the flag, says what to do."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{flags_of(field)[-1]}: {problem}")


def http_url_problem(value: str) -> str | None:
    """Why `value` is not an http(s) URL with a host, or None when it is one."""
    example = "e.g. http://prometheus.monitoring:9090"
    if not value.strip():
        return f"empty; give an http(s) URL, {example}"
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018  (a port out of range or not a number raises here)
    except ValueError as e:
        return f"{value!r} is not a URL ({e}); give an http(s) URL, {example}"
    if parts.scheme not in ("http", "https"):
        return f"{value!r} is not an http:// or https:// URL; {example}"
    if not parts.hostname or re.search(r"\s", value):
        return f"{value!r} names no host; {example}"
    return None


def _http_url(value: str) -> str:
    problem = http_url_problem(value)
    if problem:
        raise PydanticCustomError("http_url", problem)
    return value


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_NAMESPACE_PATTERN = re.compile(r"!?[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?")
"""A namespace name, or a kopf glob over them (`team-*`, `!kube-system`)."""


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise PydanticCustomError("name", f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _DNS_SUBDOMAIN.fullmatch(value):
            raise PydanticCustomError(
                "address", f"{value!r} is not an IP address or host name (0.0.0.0, 127.0.0.1, ::)"
            ) from None
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""A URL string the operator can query: http or https, with a host (kept as typed)."""
Namespace = Annotated[str, _matching(_DNS_LABEL, "a namespace name (lowercase DNS label)")]
NamespacePattern = Annotated[
    str, _matching(_NAMESPACE_PATTERN, "a namespace name or glob (lowercase, e.g. shop, team-*)")
]
ObjectName = Annotated[str, _matching(_DNS_SUBDOMAIN, "an object name (lowercase DNS subdomain)")]


class OperatorConfig(BaseModel):
    namespaces: list[NamespacePattern] = Field(
        default_factory=list,
        description="watch this namespace (repeatable); default: every namespace",
    )
    prometheus_url: HttpUrl = Field(
        default="http://127.0.0.1:9090", description="the Prometheus the signals are queried on"
    )
    prometheus_timeout: float = Field(
        default=5.0,
        gt=0,
        description="seconds a query may take; no answer in time makes the node Unknown",
    )
    no_query_sharing: bool = Field(
        default=False,
        description="send every HealthNode's queries itself; by default identical PromQL "
        "queries of several nodes go once per interval and share the answer (same text, same "
        "moment: exact)",
    )
    policy_engine: Literal["embedded", "opa"] = Field(
        default="embedded", description="where policy is evaluated: in-process (regopy) or OPA"
    )
    opa_url: HttpUrl = Field(
        default="http://127.0.0.1:8181", description="the OPA server (sidecar)"
    )
    policy_dir: Path = Field(
        default=Path("policies"), description="the Rego policies (policies/grace/*.rego)"
    )
    policy_configmap: ObjectName = Field(
        default="grace-policy",
        description="ConfigMap in the operator namespace with the policy's data, reloaded live",
    )
    operator_namespace: Namespace = Field(
        default="grace-system", description="where the operator's own objects (Leases) live"
    )
    ledger_backend: Literal["file", "configmap"] = Field(
        default="file", description="where the signed ledger is kept"
    )
    ledger_path: Path = Field(
        default=Path(".grace/ledger.jsonl"), description="the ledger file (backend file)"
    )
    ledger_namespace: Namespace = Field(
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
    metrics_address: Annotated[str, AfterValidator(_address)] = Field(
        default="0.0.0.0",
        description="address /metrics listens on (a pod needs 0.0.0.0; 127.0.0.1 on a laptop)",
    )
    identity: str = Field(
        default="system:serviceaccount:grace-system:grace",
        min_length=1,
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
