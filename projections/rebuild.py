"""`civic projections rebuild`: a new version of a read model built from the whole ledger beside
the live one (blue/green). Dashboards keep answering from the live version until the new one has
caught up with the ledger; then `current` moves to it in one atomic step, and the projector
follows it from there."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from nats.js import JetStreamContext

from adapters.bus import connect
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from config import Settings
from schemas.topology import LEDGER
from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.facts import Clock
from projections.follow import follow
from projections.projector import decode_batch
from projections.store import Versions
from schemas import decode
from schemas.base import Event


log = logging.getLogger("civic.rebuild")

READ_MODELS = (NAME,)

REBUILD_BATCH = 5000
"""Events a rebuild folds per transaction: each batch's counter rows, ticket rows and deadline tasks
are read once, changed in memory and written back once, so the pages a batch writes are spread over
more events the larger it is (`civic bench --growth` measures the rebuild's fold at this batch).
10,000 or 20,000 were not clearly cheaper at 100k, 1M and 5M events of history, and take more
memory (docs/benchmarks.md "The rebuild's batch")."""


@dataclass
class Rebuilt:
    name: str
    version: int
    previous: int | None
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class StoreReader:
    """The ledger's events read from the event store, the system of record, in notification order:
    the n-th notification is ledger position n (the relay publishes each, in order, once). Several
    times faster than reading the stream; `civic audit verify` proves the two hold the same bytes."""

    def __init__(self, settings: Settings):
        from adapters.eventstore import open_recorder

        self.recorder = open_recorder(settings)
        self.position, self.notification = 0, 0

    def read(self, after: int, until: int, batch: int) -> list[tuple[int, Event]]:
        while self.position < after:  # skip to `after` (a rebuild that resumes)
            notes = self.recorder.select_notifications(start=self.notification + 1, limit=min(batch, after - self.position))
            self.position, self.notification = self.position + len(notes), notes[-1].id
        notes = self.recorder.select_notifications(start=self.notification + 1, limit=min(batch, until - self.position))
        out = []
        for note in notes:
            self.position += 1
            out.append((self.position, decode(note.state, max_bytes=None)))
        if notes:
            self.notification = notes[-1].id
        return out

    def close(self) -> None:
        # Not on the abstract ApplicationRecorder: the SQLite and PostgreSQL recorders keep a datastore to close.
        datastore = getattr(self.recorder, "datastore", None)
        close = getattr(self.recorder, "close", None) or getattr(datastore, "close", None)
        if close:
            close()


def open_store(settings: Settings) -> StoreReader | None:
    """The event store, where this process can reach it (not on an auditor's machine)."""
    try:
        reader = StoreReader(settings)
        reader.recorder.max_notification_id()
        return reader
    except Exception as e:
        log.info("the event store is out of reach (%s); rebuilding from CIVIC_LEDGER", e)
        return None


async def ledger_batches(store: StoreReader | None, js: JetStreamContext, after: int, until: int,
                         batch: int) -> AsyncGenerator[list[tuple[int, Event]], None]:
    """(position, event) batches after..until: from the event store if given, else from CIVIC_LEDGER."""
    if store is None:
        async for msgs in follow(js, after, batch, until=until, push=True):
            if msgs:
                yield decode_batch(msgs)
        return
    position = after
    while position < until:
        events = await asyncio.to_thread(store.read, position, until, batch)
        if not events:
            raise LookupError(f"the event store ends at {position}, before {until}")
        position = events[-1][0]
        yield events


async def rebuild(settings: Settings, name: str = NAME, switch: bool = True, show_progress: bool = True,
                  batch: int = REBUILD_BATCH, from_store: bool = True) -> Rebuilt:
    if name not in READ_MODELS:
        raise SystemExit(f"no read model {name!r}; there is: {', '.join(READ_MODELS)}")
    with Versions(name, settings.data_dir, settings.database_url) as versions:
        previous, version = versions.current(), versions.next_version()
        nc = await connect(settings, "projector")
        js = nc.jetstream()
        store = open_store(settings) if from_store else None
        start, applied = time.perf_counter(), 0
        try:
            # Nobody reads the new version until the switch, and a rebuild that fails or dies is
            # started again from the ledger: it is written as a version being built (no journal, no
            # syncs) and made durable once, at the end of this block (Versions.building).
            with versions.building(version) as db:
                create_schema(db)
                projection = DashboardProjection(db, Clock(settings.timezone))
                applied = await _catch_up(projection, store, js, name, version, batch, show_progress, start)
        finally:
            if store is not None:
                store.close()
            await nc.close()
        seconds = time.perf_counter() - start
        if switch:
            versions.switch(version)
            for old in range(1, (previous or 0)):  # keep the version just replaced, for comparison or rollback
                versions.drop(old)
        return Rebuilt(name, version, previous, applied, seconds)


async def _catch_up(projection: DashboardProjection, store: StoreReader | None, js: JetStreamContext, name: str,
                    version: int, batch: int, show_progress: bool, start: float) -> int:
    """Fold the ledger into `projection` until it has caught up with the ledger as it is now,
    then again until nothing new came meanwhile. Returns how many events it applied."""
    applied = 0
    with Progress(TextColumn(f"rebuild {name} v{version}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>9,.0f} events/s"), TimeRemainingColumn(),
                  disable=not show_progress) as progress:
        task = progress.add_task("rebuild", total=None, rate=0.0)
        while True:
            end = (await js.stream_info(LEDGER)).state.last_seq
            if projection.position() >= end:
                return applied
            progress.update(task, total=end)
            # Each batch is applied in a worker thread while the next one is read and decoded.
            applying: asyncio.Future[int] | None = None
            try:
                async for decoded in ledger_batches(store, js, projection.position(), end, batch):
                    if applying is not None:
                        applied += await applying
                        progress.update(task, completed=applied, rate=applied / (time.perf_counter() - start))
                    applying = asyncio.ensure_future(asyncio.to_thread(projection.apply, decoded))
            except BaseException:
                if applying is not None:  # the version is thrown away: not while a thread still writes to it
                    await asyncio.gather(applying, return_exceptions=True)
                raise
            if applying is not None:
                applied += await applying
