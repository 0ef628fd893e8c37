"""Selecting entries by Mission, type and time: what `grace ledger show` and `prove` ask for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

from grace.ledger.entry import LedgerEntry

MISSION_KIND = "Mission"
MISSION_DATA_KEY = "mission"
"""Entries whose subject is not the Mission (an ApprovalRequest, say) name it in `data.mission`."""


def mission_of(entry: LedgerEntry) -> str | None:
    if entry.subject.kind == MISSION_KIND:
        return entry.subject.name
    value = entry.data.get(MISSION_DATA_KEY)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class EntryFilter:
    mission: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = field(default_factory=tuple)
    """Exact types or shell patterns (`step.*`); any of them matches."""
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: LedgerEntry) -> bool:
        if self.mission is not None and mission_of(entry) != self.mission:
            return False
        if self.namespace is not None and entry.subject.namespace != self.namespace:
            return False
        if self.types and not any(fnmatchcase(entry.type, t) for t in self.types):
            return False
        if self.since is not None or self.until is not None:
            moment = entry.parsed_time()
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True


def select(entries: Iterable[LedgerEntry], where: EntryFilter) -> list[LedgerEntry]:
    return [entry for entry in entries if where.matches(entry)]
