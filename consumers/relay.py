"""The relay: follows the event store's notification log, in order, into CIVIC_LEDGER.

nats-py directly: this is a poller and an ordered publisher, not a subscriber, and it needs
`Nats-Expected-Last-Sequence` so that the stream sequence always equals the ledger position
whatever the duplicate window. The SQLite recorder has no subscribe(): the relay polls
select_notifications, woken by the ledger's core-NATS nudge after each commit.

Each message carries its position and chain hash (schemas/ledger.py). On start the relay
resumes from the last message in CIVIC_LEDGER: its position, hash and notification id, but only
after checking that message against the event store: it may republish a missing tail (a
nats-server that lost its last writes) only when the stream's last message carries the store's
chain hash at that position. A missing or emptied stream, a message it did not write, or a hash
that disagrees is an alarm (adapters/alarm.py): it logs one line, writes the alarm file that
/healthz reads, and publishes nothing until `civic ledger recover` clears it. History is never
rebuilt silently.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import nats
from eventsourcing.persistence import ApplicationRecorder, Notification
from nats.aio.msg import Msg
from nats.js.errors import APIError, NotFoundError

from adapters.alarm import Alarm, HighWater, raise_alarm, read_alarm, read_high_water, write_high_water
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


class LedgerAlarm(Exception):
    def __init__(self, alarm: Alarm):
        super().__init__(alarm.problem)
        self.alarm = alarm


class Relay:
    def __init__(self, nc: nats.NATS, recorder: ApplicationRecorder, batch: int = 1000, replicas: int = 1,
                 alarm_path: Path | None = None, state_path: Path | None = None):
        self.nc, self.js = nc, nc.jetstream(publish_async_max_pending=batch * 2)
        self.recorder = recorder
        self.batch = batch
        self.position, self.hash, self.notification = 0, wire.GENESIS, 0
        self.wake = asyncio.Event()
        self.replicas = replicas
        self.alarm_path, self.state_path = alarm_path, state_path
        """Settings.ledger_alarm_path and relay_state_path; None only in tests that need no alarm."""
        self.alarms = 0
        """Alarms raised by this process (a metric for tests and logs)."""

    async def resume(self) -> None:
        """Take up from the stream's last message once it is proven to be the store's; LedgerAlarm if not."""
        known = (read_high_water(self.state_path) if self.state_path else None) or HighWater(0, wire.GENESIS.hex(), 0)
        try:
            info = await self.js.stream_info(LEDGER)
        except NotFoundError:
            raise LedgerAlarm(Alarm("ledger_stream_missing", f"{LEDGER} does not exist (deleted?); "
                                    f"the relay had published up to position {known.position}", known.position)) from None
        last = info.state.last_seq
        if last == 0:
            if known.position > 0:
                raise LedgerAlarm(Alarm("ledger_stream_emptied", f"{LEDGER} is empty but the relay had published up to "
                                        f"position {known.position} (deleted and re-created, or lost)", known.position))
            self.position, self.hash, self.notification = 0, wire.GENESIS, 0
        else:
            msg = await self.js.get_msg(LEDGER, seq=last)
            headers = msg.headers or {}
            recorded, note = headers.get(topology.HASH_HEADER, ""), headers.get(topology.NOTIFICATION_ID_HEADER, "")
            if headers.get(topology.POSITION_HEADER) != str(last) or len(recorded) != 64 or not note.isdigit():
                raise LedgerAlarm(Alarm("ledger_foreign_message", f"position {last} of {LEDGER} was not written by the relay "
                                        f"(no valid {topology.HASH_HEADER}/{topology.POSITION_HEADER})", last))
            ours = await asyncio.to_thread(self._store_chain_at, last, known)
            if ours is None:
                raise LedgerAlarm(Alarm("ledger_ahead_of_store", f"{LEDGER} holds {last} messages, the event store fewer", last))
            if ours != (recorded, int(note)):
                raise LedgerAlarm(Alarm("ledger_disagrees", f"position {last}: the stream's hash {recorded[:16]}… "
                                        f"(notification {note}) is not the store's {ours[0][:16]}… (notification {ours[1]})", last))
            self.position, self.hash, self.notification = last, bytes.fromhex(recorded), int(note)
            if last < known.position:
                log.warning("%s ends at %d, the relay had published up to %d: its last message carries the store's hash, "
                            "so the missing tail is republished from the store", LEDGER, last, known.position)
        self._save()
        log.info("relay resumes after ledger position %d (notification %d)", self.position, self.notification)

    def _store_chain_at(self, position: int, known: HighWater) -> tuple[str, int] | None:
        """The store's (chain hash, notification id) at `position`; None if it holds fewer events.
        From the high-water mark when it lies at or before `position`, else from the start."""
        if 0 < known.position <= position:
            at, chain, start = known.position, bytes.fromhex(known.hash), known.notification + 1
        else:
            at, chain, start = 0, wire.GENESIS, 1
        note = known.notification if at else 0
        while at < position:
            notes = self.recorder.select_notifications(start=start, limit=min(5000, position - at))
            if not notes:
                return None
            for n in notes:
                at += 1
                chain, note = wire.chain_hash(chain, at, n.state), n.id
            start = notes[-1].id + 1
        return chain.hex(), note

    def _save(self) -> None:
        if self.state_path:
            write_high_water(self.state_path, HighWater(self.position, self.hash.hex(), self.notification))

    async def _alarmed(self, found: Alarm, stop: asyncio.Event) -> None:
        """Raise the alarm once, then wait for the operator to clear it."""
        self.alarms += 1
        alarm = raise_alarm(self.alarm_path, found) if self.alarm_path else found
        log.error(alarm.line())
        while not stop.is_set() and self.alarm_path and read_alarm(self.alarm_path) is not None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
        if not self.alarm_path:
            await stop.wait()  # nowhere to clear it: stay stopped
        log.info("ledger alarm cleared; the relay checks the stream again")

    async def _resume_or_alarm(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pending = read_alarm(self.alarm_path) if self.alarm_path else None
            try:
                if pending is not None:
                    raise LedgerAlarm(pending)  # still raised by an earlier run: wait for recover
                await self.resume()
                return
            except LedgerAlarm as e:
                await self._alarmed(e.alarm, stop)
            except Exception:
                log.exception("relay cannot read %s; retrying", LEDGER)
                await asyncio.sleep(0.5)

    async def run(self, stop: asyncio.Event) -> None:
        self.orgs = await ensure_org_directory(self.js, self.replicas)
        await self.nc.subscribe(LEDGER_NUDGE, cb=self._nudged)
        await self._resume_or_alarm(stop)
        while not stop.is_set():
            try:
                sent = await self.publish_pending()
            except LedgerAlarm as e:
                await self._alarmed(e.alarm, stop)
                await self._resume_or_alarm(stop)
                continue
            except Exception:
                log.exception("relay step failed; resuming from the stream")
                await asyncio.sleep(0.5)
                await self._resume_or_alarm(stop)
                continue
            if sent < self.batch:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=1.0)
                except TimeoutError:
                    await self._check_idle_stream(stop)

    async def _check_idle_stream(self, stop: asyncio.Event) -> None:
        """While idle, once a second: a stream that moved without us (a message someone else wrote)
        or vanished is found now, not at the next event."""
        try:
            moved = (await self.js.stream_info(LEDGER)).state.last_seq != self.position
        except NotFoundError:
            moved = True
        except Exception:
            return  # NATS away: the next publish finds out
        if moved:
            await self._resume_or_alarm(stop)

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
        self._save()
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
