"""The projector role: follows CIVIC_LEDGER and keeps the current dashboard version up to date,
and keeps the event index (what became of each event_id) up with intake, ledger and rejections.

If a rebuild switches `current` to a new version, the projector moves over to it at its next
batch and carries on from that version's own stored position.

After each commit into the dashboard read model (and at start) it announces the version and
position on the status bucket (schemas/status.py ReadModelStatus): the web remembers its answers
per position and, hearing them, need not ask the database where the read model is.
"""

from __future__ import annotations

import asyncio
import logging
import time

import nats
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from adapters.status import announce_read_model
from projections import event_index
from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.event_index import EventIndex
from projections.facts import Clock
from projections.follow import follow
from projections.store import Versions
from schemas import decode
from schemas.base import Event
from schemas.status import ReadModelStatus
from schemas.topology import DASHBOARD_STATUS_KEY


log = logging.getLogger("civic.projector")


def open_current(versions: Versions, clock: Clock) -> tuple[int, DashboardProjection]:
    version = versions.current()
    if version is None:
        version = versions.next_version()
        create_schema(versions.open(version))
        versions.switch(version)
    db = versions.open(version)
    create_schema(db)
    return version, DashboardProjection(db, clock)


def decode_batch(msgs: list[Msg]) -> list[tuple[int, Event]]:
    return [(m.metadata.sequence.stream, decode(m.data, max_bytes=None)) for m in msgs]


class Projector:
    def __init__(self, js: JetStreamContext, versions: Versions, clock: Clock, batch: int = 1000, nc: nats.NATS | None = None):
        self.js, self.versions, self.clock, self.batch = js, versions, clock, batch
        self.nc = nc
        """Where the position is announced (None: nowhere; the web then reads it from the database)."""
        self.applied = 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                version, projection = await asyncio.to_thread(open_current, self.versions, self.clock)
                position = projection.position()
                log.info("projecting into %s v%d from ledger position %d", NAME, version, position)
                await self._announce(version, position)
                switched = await self._follow(projection, version, position, stop)
                projection.db.close()
                if not switched:
                    return
        finally:
            self.versions.close()

    async def _follow(self, projection: DashboardProjection, version: int, position: int, stop: asyncio.Event) -> bool:
        """Apply batches until stopped (False) or until `current` moves to another version (True)."""
        checked = time.monotonic()
        stream = follow(self.js, position, self.batch)
        try:
            async for msgs in stream:
                if stop.is_set():
                    break
                if msgs:
                    batch = decode_batch(msgs)
                    if applied := await asyncio.to_thread(projection.apply, batch):
                        self.applied += applied
                        # apply() stores the batch's last position when it applies any of it (the
                        # ledger's order: ascending), so this is the committed position, unread.
                        position = max(position, batch[-1][0])
                        await self._announce(version, position)
                if time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    if await asyncio.to_thread(self.versions.current) != version:
                        return True
        finally:
            await stream.aclose()
        return False

    async def _announce(self, version: int, position: int) -> None:
        if self.nc is not None:
            await announce_read_model(self.nc, DASHBOARD_STATUS_KEY, ReadModelStatus(name=NAME, version=version, position=position))


class EventIndexer:
    """Keeps the event index (projections/event_index.py) up with intake, ledger and rejections."""

    def __init__(self, js: JetStreamContext, versions: Versions, batch: int = 1000):
        self.js, self.versions, self.batch = js, versions, batch
        self.lock = asyncio.Lock()  # one store, one writer connection: the three followers take turns

    def _open(self) -> EventIndex:
        version = self.versions.current()
        if version is None:
            version = 1
            event_index.create_schema(self.versions.open(version))
            self.versions.switch(version)
        db = self.versions.open(version)
        event_index.create_schema(db)
        return EventIndex(db)

    async def run(self, stop: asyncio.Event) -> None:
        index = await asyncio.to_thread(self._open)
        try:
            await asyncio.gather(*(self._follow(index, stream, subject, stop) for stream, subject in event_index.STREAMS.items()))
        finally:
            index.db.close()
            self.versions.close()

    async def _follow(self, index: EventIndex, stream: str, subject: str, stop: asyncio.Event) -> None:
        # Intake holds personal data in clear and the index needs only its ids: headers only.
        reader = follow(self.js, index.position(stream), self.batch, stream=stream, subject=subject,
                        headers_only=stream != event_index.LEDGER)  # intake and rejections: ids and reasons, never the clear bodies
        try:
            async for msgs in reader:
                if stop.is_set():
                    return
                if msgs:
                    if stream == event_index.INTAKE:
                        await self._bodies_for_ids(msgs)
                    async with self.lock:
                        await asyncio.to_thread(index.apply, stream, msgs)
        finally:
            await reader.aclose()

    async def _bodies_for_ids(self, msgs: list[Msg]) -> None:
        """An intake message published without Nats-Msg-Id (a producer outside the SDK) names its
        event only in its body, which a headers-only read leaves out: read that one body, by its
        sequence, so GET /v1/events/{id} can say "pending". Only its event id is ever kept."""
        for m in msgs:
            if event_index.needs_body(m):
                try:
                    m.data = (await self.js.get_msg(event_index.INTAKE, m.metadata.sequence.stream)).data or b""
                except nats.js.errors.NotFoundError:
                    pass  # erased or aged out since: no id to index
