"""A simulated shop whose metrics follow the real state of its Deployments (tests, demo, bench)."""

from __future__ import annotations

from grace_lab.sim.cli import main
from grace_lab.sim.exporter import SHOP_SELECTOR, Scope, ShopExporter
from grace_lab.sim.leak import GradualFault, Leak, gradual_faults
from grace_lab.sim.model import DEFAULT_PROFILE, SHOP_PROFILES, AppProfile
from grace_lab.sim.observe import LOAD_ANNOTATION
from grace_lab.sim.webhook import AlertWebhook, ReceivedAlert

__all__ = [
    "DEFAULT_PROFILE",
    "LOAD_ANNOTATION",
    "SHOP_PROFILES",
    "SHOP_SELECTOR",
    "AlertWebhook",
    "AppProfile",
    "GradualFault",
    "Leak",
    "ReceivedAlert",
    "Scope",
    "ShopExporter",
    "gradual_faults",
    "main",
]
