"""Notifications out: what a human should be told, as Alertmanager alerts.

Layering: `events` is pure (stored state + what was already sent -> what is due); `alertmanager`
is the only module doing I/O. Imports `grace.api` only; the runtime's Notifier loop drives it.
"""

from __future__ import annotations

from grace.notify.alertmanager import AlertmanagerReceiver, DeliveryError
from grace.notify.events import (
    AutonomyChanged,
    LedgerEpisode,
    Notification,
    approval_notifications,
    autonomy_notification,
    ledger_due,
    ledger_notification,
    mission_notifications,
)

__all__ = [
    "AlertmanagerReceiver",
    "AutonomyChanged",
    "DeliveryError",
    "LedgerEpisode",
    "Notification",
    "approval_notifications",
    "autonomy_notification",
    "ledger_due",
    "ledger_notification",
    "mission_notifications",
]
