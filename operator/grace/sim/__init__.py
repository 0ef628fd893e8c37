"""A simulated shop whose metrics follow the real state of its Deployments (tests, demo, bench)."""

from __future__ import annotations

from grace.sim.cli import main
from grace.sim.exporter import SHOP_SELECTOR, Scope, ShopExporter
from grace.sim.model import DEFAULT_PROFILE, SHOP_PROFILES, AppProfile
from grace.sim.observe import LOAD_ANNOTATION
from grace.sim.webhook import AlertWebhook, ReceivedAlert

__all__ = [
    "DEFAULT_PROFILE",
    "LOAD_ANNOTATION",
    "SHOP_PROFILES",
    "SHOP_SELECTOR",
    "AlertWebhook",
    "AppProfile",
    "ReceivedAlert",
    "Scope",
    "ShopExporter",
    "main",
]
