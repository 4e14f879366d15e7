"""The disputes and deliberation topics of a unit, one row each, for the pages' lists.

The dashboard figures count them (docs/kpis.md#disputes, #deliberation); these lists name them.
Same scope and window as the figures: an item belongs to the subtree it was registered (proposed)
in, and the window selects the cohort registered (proposed) on those days. Read-only queries on
the dashboard read model's `disputes` and `topics` tables, which hold no personal data (the
parties of a dispute are sealed in the ledger and never projected).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from dashboards.api import ReadSide, not_found, window
from projections.queries import NotFound, subtree

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


class Casework:
    def __init__(self, read: ReadSide):
        self.read = read

    def _scope(self, org_id: str, start: str | None, end: str | None, column: str) -> tuple[str, list]:
        boards = self.read.dashboards()
        try:
            prefixes = boards.prefixes(boards.org(org_id).org_id)
        except NotFound as e:
            raise not_found(e) from None
        lo, hi = window(self.read, start, end)
        where, params = subtree(prefixes) if prefixes else ("(1 = 0)", [])
        clock = self.read.clock
        # Whole days in the district's time zone, both included: the same cohort as the figures.
        params += [clock.start_of(lo) if lo else -2**62, clock.start_of(hi + timedelta(days=1))]
        return f"{where} AND {column} >= ? AND {column} < ?", params

    def _iso(self, instant: int) -> str:
        return datetime.fromtimestamp(instant, self.read.clock.tz).isoformat()

    def disputes(self, org_id: str, start: str | None, end: str | None) -> DisputeList:
        where, params = self._scope(org_id, start, end, "registered_at")
        db = self.read.db()
        total = db.query(f"SELECT COUNT(*) FROM disputes WHERE {where}", params)[0][0]
        rows = db.query("SELECT dispute_id, path, category, risk_grade, registered_at, sessions, outcome, summary FROM disputes "
                        f"WHERE {where} ORDER BY registered_at DESC, dispute_id LIMIT ?", [*params, LIMIT])
        return DisputeList(total, [DisputeRow(d, _org_of(p), c, g, self._iso(at), n, o, s) for d, p, c, g, at, n, o, s in rows])

    def topics(self, org_id: str, start: str | None, end: str | None) -> TopicList:
        where, params = self._scope(org_id, start, end, "proposed_at")
        db = self.read.db()
        total = db.query(f"SELECT COUNT(*) FROM topics WHERE {where}", params)[0][0]
        rows = db.query("SELECT topic_id, path, title, proposed_at, stage, decision, votes_for, votes_against, votes_abstained "
                        f"FROM topics WHERE {where} ORDER BY proposed_at DESC, topic_id LIMIT ?", [*params, LIMIT])
        return TopicList(total, [TopicRow(t, _org_of(p), title, self._iso(at), st, dec, vf, va, vab)
                                 for t, p, title, at, st, dec, vf, va, vab in rows])


From = Annotated[str | None, QueryParameter(name="from", description="First day, YYYY-MM-DD (default: the beginning)")]
To = Annotated[str | None, QueryParameter(name="to", description="Last day, YYYY-MM-DD, inclusive (default: today)")]


class CaseworkController(Controller):
    path = "/api/orgs"
    tags = ["dashboards"]

    @get("/{org_id:str}/disputes", sync_to_thread=True, summary="Disputes registered in the unit's subtree in the window, newest first")
    def disputes(self, read: NamedDependency[ReadSide], org_id: FromPath[str], start: From = None, end: To = None) -> DisputeList:
        return Casework(read).disputes(org_id, start, end)

    @get("/{org_id:str}/topics", sync_to_thread=True, summary="Deliberation topics proposed in the unit's subtree in the window, newest first")
    def topics(self, read: NamedDependency[ReadSide], org_id: FromPath[str], start: From = None, end: To = None) -> TopicList:
        return Casework(read).topics(org_id, start, end)

