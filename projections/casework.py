"""The disputes and deliberation topics of a unit, one row each, for the pages' lists.

The dashboard figures count them (docs/kpis.md#disputes, #deliberation); these lists name them.
Same scope and window as the figures: an item belongs to the subtree it was registered (proposed)
in, and the window selects the cohort registered (proposed) on those days. Read from the
dashboard read model's `disputes` and `topics` tables, which hold no personal data (the parties
of a dispute are sealed in the ledger and never projected).
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from projections._scope import days, subtree
from projections.facts import Clock
from projections.store import Database

LIMIT = 200
"""Newest first, at most this many: a list on a page, not an export."""


class DisputeRow(msgspec.Struct):
    dispute_id: str
    org_id: str
    """The unit it was registered at."""
    category: str
    risk_grade: str
    registered_at: str
    sessions: int
    """Mediation sessions held so far."""
    outcome: str | None
    """settled or failed once concluded; None while still in mediation."""
    summary: str


class TopicRow(msgspec.Struct):
    topic_id: str
    org_id: str
    """The council or deliberation group's unit."""
    title: str
    proposed_at: str
    stage: str
    """proposed, discussed, decided or implemented."""
    decision: str | None
    votes_for: int | None
    votes_against: int | None
    votes_abstained: int | None


class DisputeList(msgspec.Struct):
    total: int
    """All in scope; `items` holds the newest LIMIT of them."""
    items: list[DisputeRow]


class TopicList(msgspec.Struct):
    total: int
    """All in scope; `items` holds the newest LIMIT of them."""
    items: list[TopicRow]


def _org_of(path: str) -> str:
    return path.rstrip(".").rsplit(".", 1)[-1]


class CaseworkQueries:
    """Lists of the disputes and topics behind a unit's figures."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def _scope(self, prefixes: list[str], start: date | None, end: date, column: str) -> tuple[str, list]:
        where, params = subtree(prefixes)
        return f"{where} AND {column} >= ? AND {column} < ?", [*params, *days(self.clock, start, end)]

    def _iso(self, instant: int) -> str:
        return datetime.fromtimestamp(instant, self.clock.tz).isoformat()

    def disputes(self, prefixes: list[str], start: date | None, end: date, limit: int = LIMIT) -> DisputeList:
        """Disputes registered under the prefixes on the days start..end, newest first, at most `limit`."""
        where, params = self._scope(prefixes, start, end, "registered_at")
        total = self.db.query(f"SELECT COUNT(*) FROM disputes WHERE {where}", params)[0][0]
        rows = self.db.query("SELECT dispute_id, path, category, risk_grade, registered_at, sessions, outcome, summary FROM disputes "
                             f"WHERE {where} ORDER BY registered_at DESC, dispute_id LIMIT ?", [*params, limit])
        return DisputeList(total, [DisputeRow(d, _org_of(p), c, g, self._iso(at), n, o, s) for d, p, c, g, at, n, o, s in rows])

    def topics(self, prefixes: list[str], start: date | None, end: date, limit: int = LIMIT) -> TopicList:
        """Deliberation topics proposed under the prefixes on the days start..end, newest first, at most `limit`."""
        where, params = self._scope(prefixes, start, end, "proposed_at")
        total = self.db.query(f"SELECT COUNT(*) FROM topics WHERE {where}", params)[0][0]
        rows = self.db.query("SELECT topic_id, path, title, proposed_at, stage, decision, votes_for, votes_against, votes_abstained "
                             f"FROM topics WHERE {where} ORDER BY proposed_at DESC, topic_id LIMIT ?", [*params, limit])
        return TopicList(total, [TopicRow(t, _org_of(p), title, self._iso(at), st, dec, vf, va, vab)
                                 for t, p, title, at, st, dec, vf, va, vab in rows])
