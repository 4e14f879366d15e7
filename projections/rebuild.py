"""`civic projections rebuild`: a new version of a read model built from the whole ledger beside
the live one (blue/green). Dashboards keep answering from the live version until the new one has
caught up with the ledger; then `current` moves to it in one atomic step, and the projector
follows it from there."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path

from nats.js import JetStreamContext

from adapters.bus import connect
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from config import Settings
from schemas.topology import LEDGER
from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.facts import Clock
from projections.follow import follow
from projections.projector import decode_batch
from projections.store import SQLiteDatabase, Versions
from schemas import decode
from schemas.base import Event
from schemas.families import FAMILY_OF_TYPE


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
    shares: int = 1
    """How many processes folded the ledger as it stood at the start (the tail since, one)."""

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

    def shares_readable(self, end: int) -> bool:
        from adapters.eventstore import shares_readable

        return shares_readable(self.recorder, end)

    def read_share(self, after: int, until: int, share: int, shares: int) -> list[tuple[int, Event]]:
        """The events at positions after+1..until in share `share` of `shares` (the org tree's in
        every share), in order; `shares_readable(until)` first."""
        from adapters.eventstore import select_share

        rows = select_share(self.recorder, after, until, share, shares, ORG_TREE)
        self.position = self.notification = until  # read up to there: an id is its position here
        return [(position, decode(state, max_bytes=None)) for position, state in rows]

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
                  batch: int = REBUILD_BATCH, from_store: bool = True, shares: int | None = None) -> Rebuilt:
    """`shares`: how many processes fold the ledger as it is when the rebuild starts (default: one
    per core this process may run on, from SHARED_FROM events); one on PostgreSQL or without the
    event store."""
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
                end = (await js.stream_info(LEDGER)).state.last_seq
                wanted = shares or (len(os.sched_getaffinity(0)) if end >= SHARED_FROM else 1)
                # The ids' scan (shares_readable) only where shares would serve.
                shares = wanted if wanted > 1 and store is not None and db.dialect == "sqlite" and store.shares_readable(end) else 1
                if shares > 1:
                    assert store is not None
                    applied = await _fold_in_shares(settings, versions, version, projection, store, end, shares, batch, show_progress)
                applied += await _catch_up(projection, store, js, name, version, batch, show_progress, start)
        finally:
            if store is not None:
                store.close()
            await nc.close()
        seconds = time.perf_counter() - start
        if switch:
            versions.switch(version)
            for old in range(1, (previous or 0)):  # keep the version just replaced, for comparison or rollback
                versions.drop(old)
        return Rebuilt(name, version, previous, applied, seconds, shares)


# -- shares -----------------------------------------------------------------------------------
#
# One process folds about 11,000 events a second on this machine's cores (90 µs of CPU each at a
# million events: the library's read, the decode, the fold and SQLite's writes), so a rebuild used
# one core of however many there are. The items are split between `shares` processes by aggregate
# (the event store's originator id): a ticket's, a dispute's or a topic's events are all in one
# share, folded in order as ever, into a file of its own; then the shares are added into the
# version (DashboardProjection.add_share: counters added, other rows copied), and the ledger's
# tail since the start is folded as before. The org tree is every share's: its events place the
# items (paths, moves, transfers), so each share folds them all. What each share pays beyond its
# items: SQLite stepping over the others' rows (adapters/eventstore.py select_share) and the org
# tree's events.
# PostgreSQL keeps one folder: there the server does the writes, and shares would be schemas
# merged by it (not built).

SHARED_FROM = 50_000
"""Events from which a rebuild folds in shares by default. A share's process takes a third of a
second to start (a spawned interpreter importing the fold) and its file is added in afterwards;
below some five seconds of folding, what it saves is not worth another process."""
ORG_TREE = frozenset(t for t, family in FAMILY_OF_TYPE.items() if family.name == "org")
"""The event types every share folds."""


def fold_share(projection: DashboardProjection, store: StoreReader, share: int, shares: int, end: int, batch: int) -> None:
    """Fold share `share` of `shares` of the ledger's positions 1..end into `projection`, about
    `batch` events per commit."""
    after = projection.position()
    while after < end:
        until = min(end, after + batch * shares)  # a share holds about one in `shares` of them
        events = store.read_share(after, until, share, shares)
        if events:
            projection.apply(events)
        after = until


def fold_share_file(settings: Settings, path: Path, share: int, shares: int, end: int, batch: int) -> None:
    """A share folded in a process of its own, into the file `path` (written as a version being
    built: it is thrown away once added, or with the build)."""
    db = SQLiteDatabase(path, building=True)
    store = StoreReader(settings)
    try:
        create_schema(db)
        fold_share(DashboardProjection(db, Clock(settings.timezone)), store, share, shares, end, batch)
    finally:
        store.close()
        db.close()


async def _fold_in_shares(settings: Settings, versions: Versions, version: int, projection: DashboardProjection,
                          store: StoreReader, end: int, shares: int, batch: int, show_progress: bool,
                          share_process: Callable[..., None] = fold_share_file) -> int:
    """Positions 1..end folded in `shares` processes, this one folding the first share into the
    version itself, the others each by `share_process` (fold_share_file's arguments) into a file
    added into it. Returns `end`."""
    others = [versions.beside(version, f"share{k}") for k in range(1, shares)]
    # spawn, not fork: this process holds a NATS connection, an event loop and SQLite handles.
    # Processes rather than a pool: a share that fails stops the others at once (terminate).
    context = multiprocessing.get_context("spawn")
    folding = [context.Process(target=share_process, args=(settings, path, k, shares, end, batch),
                               name=f"rebuild share {k + 1} of {shares}", daemon=True) for k, path in enumerate(others, 1)]
    for process in folding:
        process.start()
    try:
        with Progress(TextColumn(f"rebuild {versions.name} v{version} in {shares} shares"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), disable=not show_progress) as progress:
            task = progress.add_task("shares", total=end)
            own = asyncio.ensure_future(asyncio.to_thread(fold_share, projection, store, 0, shares, end, batch))
            while not own.done():  # the first share's reader stands where every share about does
                progress.update(task, completed=store.position)
                await asyncio.wait([own], timeout=0.5)
            await own
            for process in folding:
                await asyncio.to_thread(process.join)
                if process.exitcode != 0:
                    raise RuntimeError(f"{process.name} failed (exit code {process.exitcode}; its error is above)")
    finally:
        for process in folding:  # never leave a share writing
            if process.is_alive():
                process.terminate()
                process.join()
    for path in others:
        await asyncio.to_thread(projection.add_share, path, end)
    return end


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
