"""The tickets, disputes and topics behind each figure of a unit's window: which items a count
counts, and which ones keep a rate below 100 % (for `civic audit diff`).

Membership comes from the same code that makes the figures (projections.facts.Contributions
applied to one item at a time), so an item is listed under a figure exactly when it is counted
in it. The items are read from the read model's entity tables (tickets, disputes, topics, trail).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from projections._scope import days, subtree
from projections.dashboard import DISPUTE_COLUMNS, TICKET_COLUMNS, TOPIC_COLUMNS
from projections.facts import DISPUTE_COUNTERS, TICKET_COUNTERS, TOPIC_COUNTERS, Clock, Contributions, TicketState
from projections.store import Database


class Cohort(msgspec.Struct):
    """Per figure name, the ids of the items it counts (tickets raised, disputes registered,
    topics proposed in the window, in the unit's subtree), in the order they were raised."""

    members: dict[str, list[str]] = {}
    """Figure names as in the dashboard (raised, resolved, ...), disputes_ and topics_ for those sections."""
    ever_dissatisfied: list[str] = []
    """Tickets rated dissatisfied at least once, whatever their latest rating."""

    def of(self, figure: str) -> list[str]:
        return self.members.get(figure, [])


class EvidenceQueries:
    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def cohort(self, prefixes: list[str], start: date | None, end: date) -> Cohort:
        """The items of the window [start, end] (whole days in the district's time zone) under prefixes, per figure."""
        out = Cohort()
        if not prefixes:
            return out
        where, params = subtree(prefixes)
        lo, hi = days(self.clock, start, end)
        tickets = [TicketState(*r) for r in self.db.query(
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets WHERE {where} AND raised_at >= ? AND raised_at < ? "
            f"ORDER BY raised_at, ticket_id", [*params, lo, hi])]
        for t in tickets:
            c = Contributions()
            c.ticket(t, self.clock, +1)
            _add(out, t.ticket_id, TICKET_COUNTERS, next(iter(c.tickets.values())), "")
        for d in self._rows("disputes", DISPUTE_COLUMNS, "registered_at", where, params, lo, hi):
            c = Contributions()
            c.dispute(d, self.clock, +1)
            _add(out, d["dispute_id"], DISPUTE_COUNTERS, next(iter(c.disputes.values())), "disputes_")
        for p in self._rows("topics", TOPIC_COLUMNS, "proposed_at", where, params, lo, hi):
            c = Contributions()
            c.topic(p, self.clock, +1)
            _add(out, p["topic_id"], TOPIC_COUNTERS, next(iter(c.topics.values())), "topics_")
        ids = {t.ticket_id for t in tickets}
        for entity, detail in self.db.query("SELECT entity_id, detail FROM trail WHERE kind='ticket' AND type='TicketRated' ORDER BY position"):
            if entity in ids and msgspec.json.decode(detail).get("satisfaction") == "dissatisfied" and entity not in out.ever_dissatisfied:
                out.ever_dissatisfied.append(entity)
        return out

    def _rows(self, table: str, columns: tuple[str, ...], at: str, where: str, params: list, lo: int, hi: int) -> list[dict[str, Any]]:
        rows = self.db.query(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} AND {at} >= ? AND {at} < ? "
                             f"ORDER BY {at}, {columns[0]}", [*params, lo, hi])
        return [dict(zip(columns, r)) for r in rows]


def _add(out: Cohort, item: str, counters: tuple[str, ...], flags: list[int], prefix: str) -> None:
    for name, flag in zip(counters, flags):
        if flag:
            out.members.setdefault(prefix + name, []).append(item)
