"""Prometheus metrics of the operator itself, served on /metrics."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

DETECTION_LATENCY = Histogram(
    "grace_detection_evaluation_seconds",
    "Time to evaluate one HealthNode (queries + models + decision).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PROMQL_LATENCY = Histogram(
    "grace_promql_query_seconds",
    "Latency of one PromQL instant query.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
PROMQL_ERRORS = Counter(
    "grace_promql_errors_total", "PromQL queries that failed, by kind.", ["kind"]
)
NODE_PHASE = Gauge(
    "grace_healthnode_phase",
    "1 for the current phase of each HealthNode.",
    ["namespace", "healthnode", "phase"],
)
STATUS_WRITES = Counter(
    "grace_status_writes_total", "Status patches written to the API server, by kind.", ["kind"]
)
MISSIONS = Counter(
    "grace_missions_total", "Missions that reached a terminal phase, by phase.", ["phase"]
)
TIME_TO_RECOVERY = Histogram(
    "grace_time_to_recovery_seconds",
    "From a Mission's creation to its verified success.",
    buckets=(5, 10, 30, 60, 120, 300, 600, 1800),
)
POLICY_DECISIONS = Counter(
    "grace_policy_decisions_total", "Policy decisions by result and engine.", ["result", "engine"]
)
POLICY_DATA = Gauge(
    "grace_policy_data_info",
    "1 for the digest (grace.govern.policy.data_digest) of the policy data in force: the "
    "ConfigMap's, or the defaults. Changes within seconds of an edit of the ConfigMap.",
    ["digest"],
)
APPROVALS_PENDING = Gauge("grace_approvals_pending", "ApprovalRequests waiting for a human.")
APPROVALS = Counter(
    "grace_approvals_total",
    "ApprovalRequests settled, by outcome (Approved, Denied, Expired).",
    ["state"],
)
SCHEDULER = Counter(
    "grace_scheduler_total",
    "Scheduling outcomes: proposed; skip (with a reason: cooldown, budget, duplicate, symptom, "
    "...); backoff (waiting: target-busy, policy-engine-unavailable).",
    ["outcome", "reason"],
)


def guard_reason(reasons: list[str]) -> str:
    """The budget/guard family a policy deny belongs to, as a counter label."""
    text = " ".join(reasons).lower()
    for needle, label in (
        ("blast radius", "budget"),
        ("budget", "budget"),
        ("cooldown", "cooldown"),
        ("duplicate", "duplicate"),
        ("protected", "protected-namespace"),
        ("unknown", "unknown"),
    ):
        if needle in text:
            return label
    return "policy"


LEDGER_SIZE = Gauge("grace_ledger_entries", "Entries in the ledger.")
LEDGER_APPEND_FAILURES = Counter(
    "grace_ledger_append_failures_total",
    "Ledger appends that failed (the Mission holds: nothing acts without its record).",
)
LEDGER_WITNESS_OK = Gauge(
    "grace_ledger_witness_ok",
    "1 while the ledger's checkpoint witness can be written, 0 when it cannot.",
    ["witness"],
)
LEDGER_WITNESS_FAILURES = Gauge(
    "grace_ledger_witness_failures",
    "Checkpoints a witness refused since the operator started (each also logs one line).",
)
SIGNAL_QUERY_ERRORS = Gauge(
    "grace_signal_query_errors",
    "1 for each HealthNode signal whose query currently fails (the node is Unknown).",
    ["namespace", "healthnode", "signal"],
)

ALERT_WEBHOOK_POSTS = Counter(
    "grace_alert_webhook_posts_total",
    "Posts to the Alertmanager webhook receiver, by outcome (accepted, unauthorized, "
    "malformed, too-large, no-token).",
    ["outcome"],
)
ALERT_WEBHOOK_WAKES = Counter(
    "grace_alert_webhook_wakes_total",
    "HealthNodes a webhook post woke for an immediate evaluation (never an action by itself).",
)

NOTIFICATIONS = Counter(
    "grace_notifications_total",
    "Notifications delivered, by receiver and event (approval.opened, approval.settled, "
    "mission.finished).",
    ["receiver", "event"],
)
NOTIFICATION_FAILURES = Counter(
    "grace_notification_failures_total",
    "Deliveries a receiver refused or did not answer (retried with backoff).",
    ["receiver"],
)
NOTIFICATION_RECEIVER_UP = Gauge(
    "grace_notification_receiver_up",
    "1 when the last delivery to the receiver worked, 0 when it failed.",
    ["receiver"],
)


def forget(metric: Gauge, *labels: str) -> None:
    """Drop one labelled series (a deleted HealthNode's), if it exists."""
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
