"""Tickets as service requests: the read side of Open311 (dashboards/open311.py renders them).

A request is open while its ticket has work outstanding (lifecycle.OPEN) and closed once resolved,
closed or merged; its notes are the latest resolution or return reason, or the ticket it was
merged into. Read from the dashboard read model's `tickets`, `orgs` and `trail` tables; the
trail's details hold no personal data (it is sealed before projection).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from projections.facts import Clock
from projections.store import Database
from schemas import lifecycle

LIMIT = 1000


class ServiceRequest(msgspec.Struct, frozen=True):
    ticket_id: str
    open: bool
    """Work outstanding: its stage is one of lifecycle.OPEN."""
    stage: str
    category: str
    """The category code (the Open311 service_code)."""
    description: str
    """The description it was raised with, else its title."""
    status_notes: str | None
    """"merged into <ticket>" once voided as a duplicate; else the latest resolution or return reason."""
    agency: str | None
    """The name of the unit it was last dispatched to."""
    raised_at: str
    updated_at: str | None
    deadline: str | None
    """The deadline of its latest dispatch."""
    path: str = ""
    """The org path it was raised under (whose subtrees it belongs to)."""
    lat: float | None = None
    """Where the problem is, as raised (TicketRaised v2; v1 events are upcast): public."""
    long: float | None = None
    address_id: str | None = None


_SELECT = (
    "SELECT t.ticket_id, t.stage, t.category, t.title, t.raised_at, t.updated_at, t.deadline, t.duplicate_of, "
    "u.name, (SELECT detail FROM trail WHERE kind='ticket' AND entity_id=t.ticket_id AND type='TicketRaised'), "
    "(SELECT detail FROM trail WHERE kind='ticket' AND entity_id=t.ticket_id AND type IN ('TicketResolved', 'TicketReturned') "
    " ORDER BY position DESC LIMIT 1), t.path "
    "FROM tickets t LEFT JOIN orgs u ON u.org_id = t.to_unit WHERE {where} "
    "ORDER BY t.raised_at DESC, t.ticket_id LIMIT ?"
)


def _marks(values: tuple | list) -> str:
    return ", ".join("?" * len(values))


class ServiceRequestQueries:
    """Tickets by id, or by when they were raised, their category and whether they are open."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def by_ids(self, ids: list[str], limit: int = LIMIT) -> list[ServiceRequest]:
        """The tickets with these ids (unknown ids are left out), newest first, at most `limit`."""
        if not ids:
            return []
        return self._select(f"t.ticket_id IN ({_marks(ids)})", ids, limit)

    def raised_between(self, start: int, end: int, categories: list[str] | None = None, open_: bool | None = None,
                       limit: int = LIMIT) -> list[ServiceRequest]:
        """Tickets raised at instants start..end (both included), of these categories (all without),
        only open ones (open_=True) or only the others (False), newest first, at most `limit`."""
        where: list[str] = ["t.raised_at >= ? AND t.raised_at <= ?"]
        args: list[int | str] = [start, end]
        if categories:
            where.append(f"t.category IN ({_marks(categories)})")
            args += categories
        if open_ is not None:
            where.append(f"t.stage {'' if open_ else 'NOT '}IN ({_marks(lifecycle.OPEN)})")
            args += lifecycle.OPEN
        return self._select(" AND ".join(where), args, limit)

    def _select(self, where: str, args: list[int | str] | list[str], limit: int) -> list[ServiceRequest]:
        out = []
        for tid, stage, code, title, raised, updated, deadline, duplicate_of, agency, raised_detail, last_detail, path in \
                self.db.query(_SELECT.format(where=where), [*args, limit]):
            raised_fields = msgspec.json.decode(raised_detail) if raised_detail else {}
            note = msgspec.json.decode(last_detail) if last_detail else {}
            notes = f"merged into {duplicate_of}" if stage == "voided" else note.get("resolution") or note.get("reason")
            out.append(ServiceRequest(tid, stage in lifecycle.OPEN, stage, code, raised_fields.get("description") or title, notes,
                                      agency, self._when(raised), self._iso(updated), self._iso(deadline), path,
                                      raised_fields.get("lat"), raised_fields.get("long"), raised_fields.get("address_id")))
        return out

    def _when(self, instant: int) -> str:
        return datetime.fromtimestamp(instant, self.clock.tz).isoformat()

    def _iso(self, instant: int | None) -> str | None:
        return None if instant is None else self._when(instant)
