"""Reading the current version of a read model: one read-only connection per thread,
re-pointed within a second after a rebuild switches versions, and opened anew after the
database dropped it (a PostgreSQL restart)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import date

from projections.casework import CaseworkQueries
from projections.deadline_queries import DeadlineQueries
from projections.facts import Clock
from projections.queries import Dashboard, DashboardQueries, TicketQueries, TicketTimeline
from projections.service_requests import ServiceRequestQueries
from projections.store import Database, Versions


class NotBuilt(LookupError):
    """No version of the read model exists yet (the projector has not started)."""


class ReadSide:
    def __init__(self, versions: Versions, clock: Clock):
        self.versions, self.clock = versions, clock
        self.local = threading.local()
        self._version: int | None = None
        self._checked = 0.0
        self._answers: OrderedDict[tuple, Dashboard] = OrderedDict()
        self._timelines: OrderedDict[tuple, tuple[TicketTimeline, int | None]] = OrderedDict()
        self._answers_lock = threading.Lock()

    def version(self) -> int | None:
        if time.monotonic() - self._checked > 1.0 or self._version is None:
            self._version, self._checked = self.versions.current(), time.monotonic()
        return self._version

    def db(self) -> Database:
        version = self.version()
        if version is None:
            raise NotBuilt(f"the {self.versions.name} read model is not built yet")
        cached = getattr(self.local, "db", None)
        now = time.monotonic()
        if cached is not None and cached[0] == version and now - getattr(self.local, "used", now) > 1.0:
            alive = getattr(cached[1], "alive", None)  # a server connection, idle a while: still there?
            if alive is not None and not alive():
                cached = None
        self.local.used = now
        if cached is None or cached[0] != version:
            if cached:
                cached[1].close()
            self.local.db = (version, self.versions.open(version, readonly=True))
        return self.local.db[1]

    def dashboards(self) -> DashboardQueries:
        return DashboardQueries(self.db(), self.clock, str(self.clock.tz))

    def tickets(self) -> TicketQueries:
        return TicketQueries(self.db(), self.clock)

    def deadlines(self) -> DeadlineQueries:
        return DeadlineQueries(self.db(), self.clock, str(self.clock.tz))

    def casework(self) -> CaseworkQueries:
        return CaseworkQueries(self.db(), self.clock)

    def service_requests(self) -> ServiceRequestQueries:
        return ServiceRequestQueries(self.db(), self.clock)

    def dashboard(self, org_id: str, start: date | None, end: date, cache_size: int = 256) -> Dashboard:
        """DashboardQueries.dashboard, remembered per read-model position: wall screens and pages
        ask the same questions again and again, and the answer can only change when the position
        moves (one cheap query decides). The cache is bounded; any new ledger event invalidates."""
        queries = self.dashboards()
        # A hit costs one query: the position, read on its own. On PostgreSQL a read transaction
        # around it (BEGIN, SET TRANSACTION, the query, COMMIT) was four round trips and put the
        # cached answer at 2.4-2.9 x /api/ping's p99 at 1M events (docs/benchmarks.md). An answer
        # is only ever stored under the position of the snapshot it was read in, so a hit is right.
        seen = (self.version(), queries.position(), org_id, start, end)
        with self._answers_lock:
            hit = self._answers.get(seen)
            if hit is not None:
                self._answers.move_to_end(seen)
                return hit
        with queries.db.snapshot():  # the position and every figure from one state of the read model
            key = (self.version(), queries.position(), org_id, start, end)
            answer = queries.dashboard(org_id, start, end)
        with self._answers_lock:
            self._answers[key] = answer
            while len(self._answers) > cache_size:
                self._answers.popitem(last=False)
        return answer

    def timeline(self, ticket_id: str, now: int, within: list[str] | None, cache_size: int = 1024) -> TicketTimeline:
        """TicketQueries.timeline, remembered per read-model position like dashboard(): a ticket's
        page is read again and again between its events. The reader's scope (`within`) is part of
        the key, so an answer is only ever given to the scope it was read for, and one outside it
        (NotFound) is never remembered. An answer read before an open ticket's deadline is not
        given after it (`overdue` turns on with no new event)."""
        queries, scope = self.tickets(), None if within is None else tuple(within)
        seen = (self.version(), self.dashboards().position(), ticket_id, scope)  # a hit costs this one query
        with self._answers_lock:
            hit = self._timelines.get(seen)
            if hit is not None and (hit[1] is None or now <= hit[1]):
                self._timelines.move_to_end(seen)
                return hit[0]
        with queries.db.snapshot():  # the position and the rows from one state of the read model
            key = (self.version(), self.dashboards().position(), ticket_id, scope)
            answer = queries.timeline_until(ticket_id, now, within)
        with self._answers_lock:
            self._timelines[key] = answer
            while len(self._timelines) > cache_size:
                self._timelines.popitem(last=False)
        return answer[0]
