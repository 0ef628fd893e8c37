"""How the commands print, the way kubectl does: aligned columns and short ages."""

from __future__ import annotations

from collections.abc import Sequence


def render(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, three spaces apart, no trailing blanks: kubectl's table style."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def human_age(delta_seconds: float) -> str:
    """kubectl's AGE format (k8s.io/apimachinery duration.HumanDuration): 45s, 3m12s, 25m,
    2h30m, 9h, 3d4h, 30d, 2y70d, 9y."""
    seconds = max(int(delta_seconds), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d{h}h" if h else f"{hours // 24}d"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        d = days % 365
        return f"{days // 365}y{d}d" if d else f"{days // 365}y"
    return f"{days // 365}y"
