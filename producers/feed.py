"""Feeding a stream of events to intake through the SDK: in chunks, optionally capped at a rate
(the simulator as a load generator), with a progress bar. Used by `civic simulate` and `civic demo`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.sdk import Producer, Result
from schemas.base import Event

CHUNK = 2000


@dataclass
class Fed:
    events: int = 0
    new: int = 0
    duplicates: int = 0
    spooled: int = 0
    refused: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    last_sequence: int = 0
    """The highest intake sequence among the events stored (the ledger has decided them all once
    its stored intake position reaches it)."""

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        text = (f"{self.events} events in {self.seconds:.1f}s ({rate:,.0f}/s): {self.new} new, "
                f"{self.duplicates} already in intake")
        if self.spooled:
            text += f", {self.spooled} spooled"
        return text + (f", {len(self.refused)} refused" if self.refused else "")


async def feed(producer: Producer, events: Iterable[Event], *, rate: float | None = None,
               on_progress: Callable[[int], None] | None = None) -> Fed:
    """Publish in order. With `rate`, event k is not sent before start + k / rate: the average
    never exceeds it, in chunks small enough (1/20 s of events) to keep the flow smooth."""
    fed = Fed()
    size = CHUNK if not rate else max(1, min(CHUNK, int(rate / 20)))
    start = time.perf_counter()
    iterator = iter(events)
    while batch := list(itertools.islice(iterator, size)):
        if rate:
            wait = start + fed.events / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        results = await producer.publish_many(batch)
        fed.events += len(batch)
        for r in results:
            if r.accepted:
                fed.last_sequence = max(fed.last_sequence, r.sequence or 0)
                fed.duplicates += r.duplicate
                fed.new += not r.duplicate
            elif r.spooled:
                fed.spooled += 1
            else:
                fed.refused.append(r)
        if on_progress is not None:
            on_progress(len(batch))
    fed.seconds = time.perf_counter() - start
    return fed


async def feed_url(url: str, events: Iterable[Event], *, total: int | None = None, rate: float | None = None,
                   spool_path: Path | None = None, progress: bool = True, label: str = "publishing", **options: Any) -> Fed:
    """Connect, feed, wait for anything spooled, close; with a progress bar on stderr."""
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("events"), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=not progress)
    task = bar.add_task(label, total=total)
    producer = await Producer.connect(url, spool_path, **options)
    try:
        with bar:
            fed = await feed(producer, events, rate=rate, on_progress=lambda n: bar.advance(task, n))
        if producer.spooled:
            await producer.flush(timeout=60)
    finally:
        await producer.close()
    return fed
