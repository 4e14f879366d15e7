"""The relay: follows the event store's notification log, in order, into CIVIC_LEDGER.

nats-py directly: this is a poller and an ordered publisher, not a subscriber, and it needs
`Nats-Expected-Last-Sequence` so that the stream sequence always equals the ledger position
whatever the duplicate window. The SQLite recorder has no subscribe(): the relay polls
select_notifications, woken by the ledger's core-NATS nudge after each commit.

Each message carries its position and chain hash (schemas/ledger.py). On start the relay
resumes from the last message in CIVIC_LEDGER: its position, hash and notification id.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
import nats
from eventsourcing.persistence import ApplicationRecorder, Notification
from nats.aio.msg import Msg
from nats.js.errors import APIError

from adapters.bus import ensure_org_directory
from schemas import ledger as wire
from schemas import topology
from schemas.families import PARENT_FIELD
from schemas.topology import LEDGER, LEDGER_NUDGE

log = logging.getLogger("civic.relay")
ACK_TIMEOUT = 10.0
"""Seconds to wait for a batch's publish acks before asking the stream what it holds."""


class _Route(msgspec.Struct):
    """The few fields the relay reads from a stored event (msgspec skips the rest)."""

    type: str
    event_id: str
    org_id: str
    org_path: list[str]
    parent_id: str | None = None
    new_parent_id: str | None = None


_route = msgspec.json.Decoder(_Route).decode


class Relay:
    def __init__(self, nc: nats.NATS, recorder: ApplicationRecorder, batch: int = 1000, replicas: int = 1):
        self.nc, self.js = nc, nc.jetstream(publish_async_max_pending=batch * 2)
        self.recorder = recorder
        self.batch = batch
        self.position, self.hash, self.notification = 0, wire.GENESIS, 0
        self.wake = asyncio.Event()
        self.replicas = replicas

    async def resume(self) -> None:
        info = await self.js.stream_info(LEDGER)
        last = info.state.last_seq
        if last == 0:
            self.position, self.hash, self.notification = 0, wire.GENESIS, 0
        else:
            msg = await self.js.get_msg(LEDGER, seq=last)
            headers = msg.headers or {}
            self.position = last
            self.hash = bytes.fromhex(headers[topology.HASH_HEADER])
            self.notification = int(headers[topology.NOTIFICATION_ID_HEADER])
        log.info("relay resumes after ledger position %d (notification %d)", self.position, self.notification)

    async def run(self, stop: asyncio.Event) -> None:
        self.orgs = await ensure_org_directory(self.js, self.replicas)
        await self.nc.subscribe(LEDGER_NUDGE, cb=self._nudged)
        await self.resume()
        while not stop.is_set():
            try:
                sent = await self.publish_pending()
            except Exception:
                log.exception("relay step failed; resuming from the stream")
                await asyncio.sleep(0.5)
                await self.resume()
                continue
            if sent < self.batch:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def _nudged(self, _msg: Msg) -> None:
        self.wake.set()

    async def publish_pending(self) -> int:
        notes = await asyncio.to_thread(self._select)
        if not notes:
            return 0
        position, chain = self.position, self.hash
        routes = [_route(note.state) for note in notes]
        await self._update_directory(routes)
        futures = []
        for note, route in zip(notes, routes):
            position += 1
            chain = wire.chain_hash(chain, position, note.state)
            futures.append(await self.js.publish_async(
                topology.ledger_subject(route.type, route.org_path),
                note.state,
                headers={
                    "Nats-Expected-Last-Sequence": str(position - 1),
                    topology.POSITION_HEADER: str(position),
                    topology.HASH_HEADER: chain.hex(),
                    topology.NOTIFICATION_ID_HEADER: str(note.id),
                    topology.EVENT_ID_HEADER: route.event_id,
                },
            ))
        try:
            # Bounded: after a disconnect nats-py may never resolve some acks; the stream then says
            # what was stored, and Nats-Expected-Last-Sequence keeps the retry from duplicating it.
            await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT)
        except (APIError, TimeoutError) as e:
            # Someone else moved the stream on (another relay, a retried publish) or acks were lost:
            # trust the stream.
            log.warning("ledger publish not confirmed (%s); resuming from the stream", e or type(e).__name__)
            for future in futures:
                future.cancel()
            await asyncio.gather(*futures, return_exceptions=True)
            await self.resume()
            return 0
        self.position, self.hash, self.notification = position, chain, notes[-1].id
        return len(notes)

    def _select(self) -> list[Notification]:
        return list(self.recorder.select_notifications(start=self.notification + 1, limit=self.batch))

    async def _update_directory(self, routes: list[_Route]) -> None:
        """The batch's org changes into the org directory, all in flight at once, acked before the
        batch goes to the ledger stream: a crash in between repeats an idempotent put, never skips one."""
        puts = []
        for route in routes:
            if field := PARENT_FIELD.get(route.type):
                parent = getattr(route, field)
                puts.append(await self.js.publish_async(topology.org_directory_key(route.org_id), (parent or "").encode()))
        if puts:
            await asyncio.wait_for(asyncio.gather(*puts), ACK_TIMEOUT)
