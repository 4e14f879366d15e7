"""Reading the current version of a read model: one read-only connection per thread,
re-pointed within a second after a rebuild switches versions, and opened anew after the
database dropped it (a PostgreSQL restart).

Answers are remembered per read-model position. The position comes from the projector's
announcements (projections/projector.py, heard by the web: dashboards/app.py) while they are fresh,
and from the database otherwise, so a remembered answer costs no query under load."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date
from typing import Generic, TypeVar

from projections.casework import CaseworkQueries
from projections.deadline_queries import DeadlineQueries
from projections.facts import Clock
from projections.queries import Dashboard, DashboardQueries, Org, TicketQueries, TicketTimeline
from projections.service_requests import ServiceRequestQueries
from projections.store import Database, Versions
from schemas.status import ReadModelStatus


FRESH_SECONDS = 1.0
"""How long a known position is used without asking the database. The projector announces after
every commit, so under load the known position is milliseconds old and a remembered answer costs
no query; when it is idle the web asks at most once a second; when announcements stop (NATS down,
the projector gone) an answer is at most this far behind the database. A second is also how soon
a rebuild's new version is picked up (version()), and what a screen's live feed promises."""


V = TypeVar("V")


class NotBuilt(LookupError):
    """No version of the read model exists yet (the projector has not started)."""


class Upgrading(RuntimeError):
    """The current version is stored in an older layout, being rewritten in place (the projector
    does it once, at its start, after an upgrade: projections/layout.py bring_up_to_date, about
    9 s at 1M events, 50 s at 5M). Answers resume when the rewrite commits."""

    retry_after = 10
    """Seconds a client is asked to wait before asking again (Retry-After)."""


class Answers(Generic[V]):
    """Answers remembered by key (the read model's version and position, then the question), the
    least recently asked dropped first beyond `size`; shared by the web's worker threads. Written
    here rather than functools.lru_cache: the key of an answer is computed inside the read snapshot
    it was read in, not from the call's arguments, and an entry may be refused as stale (`fresh`)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, fresh: Callable[[V], bool] | None = None) -> V | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or fresh is not None and not fresh(hit):
                return None
            self._entries.move_to_end(key)
            return hit

    def put(self, key: Hashable, answer: V) -> None:
        with self._lock:
            self._entries[key] = answer
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class ReadSide:
    def __init__(self, versions: Versions, clock: Clock, monotonic: Callable[[], float] = time.monotonic,
                 upgrading: Callable[[Database], list[str]] | None = None):
        """upgrading: the read model's tables a version holds in an older layout (db())."""
        self.versions, self.clock = versions, clock
        self.upgrading = upgrading
        self._laid_out: set[int] = set()
        """Versions found in the current layout: a layout only moves forward, so asked once."""
        self.monotonic = monotonic
        self.local = threading.local()
        self._version: int | None = None
        self._checked = 0.0
        self._known: tuple[int, int, float] | None = None
        """The last known (version, position, monotonic time it was learned)."""
        self._known_lock = threading.Lock()
        self._prompted: int | None = None
        """The newer version last heard announced (announced()): asked about once."""
        self._opened: list[Database] = []
        """Every thread's open connection to a version (close())."""
        self._opened_lock = threading.Lock()
        self._answers: Answers[Dashboard] = Answers(256)
        self._timelines: Answers[tuple[TicketTimeline, int | None]] = Answers(1024)
        self._orgs: Answers[Org] = Answers(4096)
        self._prefixes: Answers[list[str]] = Answers(4096)

    def version(self) -> int | None:
        """The version `current` names, asked at most once per FRESH_SECONDS (sooner after the
        projector was heard writing a newer one: announced()). Asked, not only heard: the
        projector learns of a rebuild's switch by asking `current` once a second itself, so its
        announcement of the new version comes no sooner than this side's own question, and an
        announcement can be lost (NATS down, the projector stopped, the event index not announced
        at all). On PostgreSQL the question is one statement on a connection Versions keeps."""
        if self.monotonic() - self._checked > FRESH_SECONDS or self._version is None:
            self._version, self._checked = self.versions.current(), self.monotonic()
        return self._version

    def announced(self, status: ReadModelStatus) -> None:
        """The projector's announcement: this version holds this position, committed. One of
        another read model, or of a version this side does not read (the old one after a switch),
        says nothing about what it reads. One of a newer version than this side reads means the
        projector found `current` moved (it writes only what `current` names): version() asks
        at its next call rather than within the second. Asks, never takes the announced version
        on trust, and once per version heard, so a stream of them costs one question."""
        if status.name != self.versions.name:
            return
        if status.version == self._version:
            self._learn(status.version, status.position)
        elif self._version is not None and status.version > self._version and status.version != self._prompted:
            self._prompted = status.version
            self._checked = float("-inf")

    def close(self) -> None:
        """Close what this side holds open: the connections of the versions read (every
        thread's) and Versions' own. Reads after close() open them again."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self.versions.close()

    def _learn(self, version: int | None, position: int) -> None:
        """Remember a position read or heard now. Never backwards within a version: an
        announcement overtaken by a newer one, or a read that raced one, is older news. No
        version (none built yet): nothing to remember."""
        if version is None:
            return
        with self._known_lock:
            known = self._known
            if known is None or known[0] != version or known[1] <= position:
                self._known = (version, position, self.monotonic())

    def position(self) -> tuple[int | None, int]:
        """The current version and its position: the known one if learned within FRESH_SECONDS,
        else read from the database (one query) and remembered. The key of a remembered answer."""
        version = self.version()
        known = self._known
        if known is not None and known[0] == version and self.monotonic() - known[2] <= FRESH_SECONDS:
            return version, known[1]
        position = self.dashboards().position()
        self._learn(version, position)
        return version, position

    def db(self) -> Database:
        version = self.version()
        if version is None:
            raise NotBuilt(f"the {self.versions.name} read model is not built yet")
        cached = getattr(self.local, "db", None)
        now = time.monotonic()
        if cached is not None and cached[0] == version and now - getattr(self.local, "used", now) > 1.0:
            alive = getattr(cached[1], "alive", None)  # a server connection, idle a while: still there?
            if alive is not None and not alive():
                self._forget(cached[1])
                cached = None
        self.local.used = now
        if cached is None or cached[0] != version:
            if cached:
                self._forget(cached[1])
            opened = self.versions.open(version, readonly=True)
            with self._opened_lock:
                self._opened.append(opened)
            self.local.db = (version, opened)
        db: Database = self.local.db[1]
        if self.upgrading is not None and version not in self._laid_out:
            self._check_layout(version, db)
        return db

    def _check_layout(self, version: int, db: Database) -> None:
        """Raise Upgrading while `version` is stored in an older layout; note it once it is not.

        Asked of the catalog (the tables' primary keys) rather than caught as the error a query of
        the new layout meets in the old: that error is a different one on each database and for
        each change of layout, and on PostgreSQL there is none. There a reader's query waits on
        the rewrite's lock (ACCESS EXCLUSIVE), for the whole rewrite, and then reads the new table
        with the snapshot it took before it was filled: a read in snapshot() (the position first)
        answered nothing, as if the district had no tickets (tests/integration/
        test_read_model_upgrade.py). SQLite's readers keep reading the last committed state, where
        the old tables lack the new columns. The catalog answers at once on both, from the last
        committed state, without waiting on the rewrite: the old layout until the rewrite commits,
        the new one after. Only this version's first read pays it (one query per table), and
        every read while it is being upgraded; the layout never goes back, so a version found
        laid out stays so."""
        assert self.upgrading is not None
        if tables := self.upgrading(db):
            raise Upgrading(f"the {self.versions.name} read model is being upgraded: {', '.join(tables)} "
                            f"rewritten in place to the current layout (once, at the projector's start); answers resume when it commits")
        self._laid_out.add(version)

    def _forget(self, db: Database) -> None:
        with self._opened_lock:
            if db in self._opened:
                self._opened.remove(db)
        db.close()

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

    def _remembered(self, answers: Answers[V], question: tuple, read: Callable[[], V],
                    fresh: Callable[[V], bool] | None = None) -> V:
        """The answer to `question` as of the read model's position: remembered, or read (inside
        one read snapshot, with the position it is as of) and remembered under that position.

        A hit costs no query while the projector's announcements are fresh, else one: the position,
        read on its own (position()). On PostgreSQL a read transaction around it (BEGIN, SET
        TRANSACTION, the query, COMMIT) was four round trips and put the cached answer at 2.4-2.9 x
        /api/ping's p99 at 1M events, the query alone 2.16-2.26 x (docs/benchmarks.md). An answer
        is only ever stored under the position of the snapshot it was read in, so a hit is right
        for that position, at most FRESH_SECONDS old. An exception (NotFound) is never remembered."""
        hit = answers.get((*self.position(), *question), fresh)
        if hit is not None:
            return hit
        db = self.db()
        with db.snapshot():  # the position and the answer from one state of the read model
            version, position = self.version(), self.dashboards().position()
            answer = read()
        self._learn(version, position)  # a miss read the position in its snapshot: a reading of the database too
        answers.put((version, position, *question), answer)
        return answer

    def dashboard(self, org_id: str, start: date | None, end: date) -> Dashboard:
        """DashboardQueries.dashboard, remembered per read-model position: wall screens and pages
        ask the same questions again and again, and the answer can only change when the position
        moves. The memory is bounded; any new ledger event invalidates."""
        return self._remembered(self._answers, (org_id, start, end), lambda: self.dashboards().dashboard(org_id, start, end))

    def timeline(self, ticket_id: str, now: int, within: list[str] | None) -> TicketTimeline:
        """TicketQueries.timeline, remembered per read-model position like dashboard(): a ticket's
        page is read again and again between its events. The reader's scope (`within`) is part of
        the key, so an answer is only ever given to the scope it was read for, and one outside it
        (NotFound) is never remembered. An answer read before an open ticket's deadline is not
        given after it (`overdue` turns on with no new event)."""
        answer = self._remembered(self._timelines, ("timeline", ticket_id, None if within is None else tuple(within)),
                                  lambda: self.tickets().timeline_until(ticket_id, now, within),
                                  fresh=lambda hit: hit[1] is None or now <= hit[1])
        return answer[0]

    def org(self, org_id: str) -> Org:
        """DashboardQueries.org, remembered per position: every scoped read looks its unit up
        (dashboards/auth.py), and on PostgreSQL that round trip was most of a cached answer's cost.
        The org tree changes only with a ledger event, so with the position."""
        return self._remembered(self._orgs, (org_id,), lambda: self.dashboards().org(org_id))

    def prefixes(self, org_id: str) -> list[str]:
        """DashboardQueries.prefixes (the paths a unit has had: a reader's scope), remembered per
        position as org() is. The caller must not change the list: it is shared."""
        return self._remembered(self._prefixes, (org_id,), lambda: self.dashboards().prefixes(org_id))
