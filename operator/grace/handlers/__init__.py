"""The table of contents of what the operator reacts to: one module per kind, each handler thin."""

from __future__ import annotations

from grace.handlers import healthnode, mission, startup  # noqa: F401
