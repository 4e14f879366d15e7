"""`civic projections rebuild`: a new version of a read model built from the whole ledger beside
the live one (blue/green). Dashboards keep answering from the live version until the new one has
caught up with the ledger; then `current` moves to it in one atomic step, and the projector
follows it from there."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import nats
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from civic.settings import Settings
from consumers.streams import LEDGER
from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.facts import Clock
from projections.follow import follow
from projections.projector import decode_batch
from projections.store import Versions

READ_MODELS = (NAME,)


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


async def rebuild(settings: Settings, name: str = NAME, switch: bool = True, show_progress: bool = True,
                  batch: int = 5000) -> Rebuilt:
    if name not in READ_MODELS:
        raise SystemExit(f"no read model {name!r}; there is: {', '.join(READ_MODELS)}")
    versions = Versions(name, settings.data_dir, settings.database_url)
    previous, version = versions.current(), versions.next_version()
    db = versions.open(version)
    create_schema(db)
    projection = DashboardProjection(db, Clock(settings.timezone))
    nc = await nats.connect(settings.nats_servers())
    js = nc.jetstream()
    start, applied = time.perf_counter(), 0
    with Progress(TextColumn(f"rebuild {name} v{version}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>9,.0f} events/s"), TimeRemainingColumn(),
                  disable=not show_progress) as progress:
        task = progress.add_task("rebuild", total=None, rate=0.0)
        while True:  # catch up with the ledger as it is now, then again until nothing new came meanwhile
            end = (await js.stream_info(LEDGER)).state.last_seq
            if projection.position() >= end:
                break
            progress.update(task, total=end)
            # Each batch is applied in a worker thread while the next one is read and decoded.
            applying: asyncio.Future[int] | None = None
            async for msgs in follow(js, projection.position(), batch, until=end, push=True):
                decoded = decode_batch(msgs)
                if applying is not None:
                    applied += await applying
                    progress.update(task, completed=applied, rate=applied / (time.perf_counter() - start))
                applying = asyncio.ensure_future(asyncio.to_thread(projection.apply, decoded))
            if applying is not None:
                applied += await applying
    seconds = time.perf_counter() - start
    await nc.close()
    if switch:
        versions.switch(version)
        for old in range(1, (previous or 0)):  # keep the version just replaced, for comparison or rollback
            versions.drop(old)
    db.close()
    return Rebuilt(name, version, previous, applied, seconds)
