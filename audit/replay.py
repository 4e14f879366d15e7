"""`civic audit replay --as-of`: every KPI rebuilt from the ledger alone, as it stood at an instant.

"As it stood" is decided by when the ledger stored each event (the NATS storage time of its
CIVIC_LEDGER message), not by the events' own `occurred_at`: a late-recorded event from last week
was not on the dashboards yesterday. The replay folds ledger positions 1.. into a scratch copy of
the dashboard read model, stopping at the first message stored after the instant, then asks it
the dashboard question for that day, exactly as GET /api/orgs/{id}/dashboard would have.

Reading and folding overlap: an ordered consumer fetches the next batches while a thread applies
the last (SQLite releases the GIL while it writes).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date, datetime, time as clock_time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from audit.kpi import Definitions, KpiQueries, definitions as kpi_definitions
from audit.reader import last_position, read_batches
from projections.facts import Clock
from projections.deadline_queries import DeadlineBoard
from projections.queries import Dashboard
from projections.store import SQLiteDatabase
from schemas import DecodeFailure, decode
from schemas.base import Event


Progress = Callable[[int, int, float], None]
"""(position reached, ledger end, events/s so far)."""


class ReplayFailed(RuntimeError):
    pass


class BadInstant(ValueError):
    pass


def parse_instant(text: str, tz: str) -> datetime:
    """ISO 8601; without an offset, in the district's time zone; a bare date means the end of
    that day (everything stored on it)."""
    zone = ZoneInfo(tz)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), clock_time(), zone) - timedelta(microseconds=1)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise BadInstant(f"{text!r} is not a date or date-time (e.g. 2026-03-09 or 2026-03-09T18:00+08:00)") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=zone)


@dataclass
class Replayed:
    """A scratch read model folded from ledger positions 1..position."""

    db: SQLiteDatabase
    definitions: Definitions
    timezone: str
    as_of: datetime | None
    ledger_end: int
    """The ledger's last position when the replay began."""
    folder: Path
    """The scratch folder, removed by close()."""
    position: int = 0
    events: int = 0
    seconds: float = 0.0
    last_stored: datetime | None = None
    """When the ledger stored the last event folded in."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def day(self) -> date:
        """The dashboards' `to`: the as-of date (today without one) in the district's time zone."""
        return (self.as_of or datetime.now(timezone.utc)).astimezone(ZoneInfo(self.timezone)).date()

    def queries(self) -> KpiQueries:
        return self.definitions.queries(self.db, Clock(self.timezone), self.timezone)

    def roots(self) -> list[str]:
        return [o.org_id for o in self.queries().orgs() if o.parent_id is None]

    def dashboard(self, org_id: str, start: date | None = None, end: date | None = None) -> Dashboard:
        """The dashboard of org_id (and its children) over [start, end], by default the whole ledger
        up to the as-of day, as GET /api/orgs/{org_id}/dashboard answered then."""
        return self.queries().dashboard(org_id, start, end or self.day)

    def deadlines(self, org_id: str, start: date | None = None, end: date | None = None) -> DeadlineBoard:
        """The deadline figures of org_id over [start, end] (by default every deadline up to the
        as-of day), with overdue now as of the replayed position: GET /api/orgs/{org_id}/deadlines then."""
        queries = self.definitions.deadlines(self.db, Clock(self.timezone), self.timezone)
        board: DeadlineBoard = queries.board(org_id, start, end or self.day)
        return board

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _events(msgs: list[Msg]) -> list[tuple[int, Event]]:
    out = []
    for m in msgs:
        try:
            out.append((m.metadata.sequence.stream, decode(m.data, max_bytes=None)))
        except DecodeFailure as e:
            raise ReplayFailed(f"position {m.metadata.sequence.stream} does not decode ({e.code}); "
                               f"run `civic audit verify`") from None
    return out


async def replay(js: JetStreamContext, as_of: datetime | None = None, kpi_version: int | None = None,
                 tz: str = "Asia/Shanghai", batch: int = 2000, progress: Progress | None = None) -> Replayed:
    """Fold the ledger, up to the last event stored at or before `as_of` (all of it without one),
    into a scratch read model computed with the KPI definitions of `kpi_version`."""
    defs = kpi_definitions(kpi_version)
    folder = Path(tempfile.mkdtemp(prefix="civic-replay-"))
    # A scratch copy, read only by this replay and removed with it: a version being built that is
    # never finished (no journal, no syncs: projections/store.py SQLiteDatabase `building`).
    db = SQLiteDatabase(folder / "dashboard.sqlite", building=True)
    defs.create_schema(db)
    projection = defs.projection(db, Clock(tz))
    result = Replayed(db, defs, tz, as_of, await last_position(js), folder)
    queue: asyncio.Queue = asyncio.Queue(maxsize=4)

    async def read() -> None:
        try:
            async with aclosing(read_batches(js, 1, result.ledger_end, batch)) as batches:
                async for msgs in batches:
                    keep = msgs if as_of is None else _stored_by(msgs, as_of)
                    if keep:
                        await queue.put(keep)
                    if len(keep) < len(msgs):
                        return  # the first event stored after the instant: stop here
        finally:
            await queue.put(None)

    start = time.perf_counter()
    reader = asyncio.create_task(read())
    try:
        while (msgs := await queue.get()) is not None:
            result.events += await asyncio.to_thread(lambda: projection.apply(_events(msgs)))
            result.position, result.last_stored = msgs[-1].metadata.sequence.stream, msgs[-1].metadata.timestamp
            result.seconds = time.perf_counter() - start
            if progress:
                progress(result.position, result.ledger_end, result.rate)
        await reader
    except BaseException:
        reader.cancel()
        result.close()
        raise
    result.seconds = time.perf_counter() - start
    return result


def _stored_by(msgs: list[Msg], as_of: datetime) -> list[Msg]:

    for i, m in enumerate(msgs):
        if m.metadata.timestamp > as_of:
            return msgs[:i]
    return msgs
