"""Reading the current version of a read model: one read-only connection per thread,
re-pointed within a second after a rebuild switches versions."""

from __future__ import annotations

import threading
import time

from projections.facts import Clock
from projections.queries import DashboardQueries, TicketQueries
from projections.store import Database, Versions


class NotBuilt(LookupError):
    """No version of the read model exists yet (the projector has not started)."""


class ReadSide:
    def __init__(self, versions: Versions, clock: Clock):
        self.versions, self.clock = versions, clock
        self.local = threading.local()
        self._version: int | None = None
        self._checked = 0.0

    def version(self) -> int | None:
        if time.monotonic() - self._checked > 1.0 or self._version is None:
            self._version, self._checked = self.versions.current(), time.monotonic()
        return self._version

    def db(self) -> Database:
        version = self.version()
        if version is None:
            raise NotBuilt(f"the {self.versions.name} read model is not built yet")
        cached = getattr(self.local, "db", None)
        if cached is None or cached[0] != version:
            if cached:
                cached[1].close()
            self.local.db = (version, self.versions.open(version, readonly=True))
        return self.local.db[1]

    def dashboards(self) -> DashboardQueries:
        return DashboardQueries(self.db(), self.clock, str(self.clock.tz))

    def tickets(self) -> TicketQueries:
        return TicketQueries(self.db(), self.clock)
