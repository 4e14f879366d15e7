"""The eraser: after a PersonalDataErased reaches CIVIC_LEDGER, delete that resident's messages
from CIVIC_INTAKE and CIVIC_REJECTED (JetStream delete-msg, which overwrites the message on disk).

Its own process identity, `eraser` (adapters/bus.py connects it as such), the only one allowed
to delete messages there. A durable consumer on CIVIC_LEDGER filtered to the erasure subjects,
acked once an erasure is done, so a crash repeats an idempotent deletion, never skips one.

It deletes only intake messages at or below the ledger's stored position: deleting one the
ledger has not read would leave a hole it waits for. The rest (messages sent before the erasure
but not yet read) are deleted once the ledger has passed them. Messages sent after the erasure
are new data under a fresh key and stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from nats.js.errors import NotFoundError

from schemas import topology
from schemas.base import tag_of
from schemas.privacy import PersonalDataErased

from schemas.topology import ERASER_CONSUMER, INTAKE, LEDGER, REJECTED

log = logging.getLogger("civic.eraser")
ERASURE_SUBJECTS = topology.ledger_subject(tag_of(PersonalDataErased), [">"])


class _Person(msgspec.Struct):
    resident_id: str = ""


class _Mentions(msgspec.Struct):
    """The one thing read from an intake message: whose personal data it carries."""

    personal: list[_Person] = []


class _Erasure(msgspec.Struct):
    resident_id: str


_mentions = msgspec.json.Decoder(_Mentions).decode
_erasure = msgspec.json.Decoder(_Erasure).decode


def carries(data: bytes, resident_id: str) -> bool:
    try:
        return any(p.resident_id == resident_id for p in _mentions(data).personal)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False  # not an event: nothing in it can be attributed to a resident


@dataclass
class Pending:
    """One erasure being carried out."""

    resident_id: str
    intake_upto: int
    """The intake's last sequence when the erasure was first seen: later messages are new data."""
    rejected_upto: int
    intake_done: int = 0
    """Intake scanned (and the resident's messages deleted) up to here."""
    rejected_done: int = 0
    deleted: int = 0


class Eraser:
    def __init__(self, nc: nats.NATS, stored_position: Callable[[], int]):
        self.nc, self.js = nc, nc.jetstream()
        self.stored_position = stored_position
        """The ledger's stored intake position (the event store's tracking table)."""
        self.pending: dict[int, tuple[Pending, Msg]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        sub = None
        while not stop.is_set():
            try:
                if sub is None:
                    sub = await self._bind()
                try:
                    msgs = await sub.fetch(10, timeout=1.0)
                except TimeoutError:
                    msgs = []
                for msg in msgs:
                    key = msg.metadata.sequence.stream  # the erasure's ledger position; a redelivery keeps its job
                    if key not in self.pending:
                        self.pending[key] = (await self._start(_erasure(msg.data).resident_id), msg)
                await self._work()
            except nats.errors.Error as e:
                log.warning("eraser: NATS unavailable (%s); retrying", e or type(e).__name__)
                sub = None
                await asyncio.sleep(0.5)

    async def _bind(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(durable_name=ERASER_CONSUMER, filter_subject=ERASURE_SUBJECTS, ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.ALL, ack_wait=3600.0, max_ack_pending=1000)
        try:
            await self.js.consumer_info(LEDGER, ERASER_CONSUMER)
        except NotFoundError:
            await self.js.add_consumer(LEDGER, config)
        return await self.js.pull_subscribe_bind(ERASER_CONSUMER, LEDGER)

    async def _start(self, resident_id: str) -> Pending:
        intake, rejected = (await self.js.stream_info(INTAKE)).state, (await self.js.stream_info(REJECTED)).state
        return Pending(resident_id, intake.last_seq, rejected.last_seq)

    async def _work(self) -> None:
        for key, (job, msg) in list(self.pending.items()):
            if await self.erase(job):
                await msg.ack()
                del self.pending[key]
                log.info("erased resident %s from %s and %s: %d message(s) deleted", job.resident_id, INTAKE, REJECTED, job.deleted)

    async def erase(self, job: Pending) -> bool:
        """Delete what may be deleted now; True once nothing of the resident's is left to wait for."""
        position = await asyncio.to_thread(self.stored_position)
        intake_upto = min(job.intake_upto, position)
        if intake_upto > job.intake_done:
            job.deleted += await self._delete(INTAKE, topology.INTAKE_SUBJECTS, job.intake_done + 1, intake_upto, job.resident_id)
            job.intake_done = intake_upto
        if job.rejected_upto > job.rejected_done:
            job.deleted += await self._delete(REJECTED, topology.REJECTED_SUBJECTS, job.rejected_done + 1, job.rejected_upto, job.resident_id)
            job.rejected_done = job.rejected_upto
        return job.intake_done >= job.intake_upto

    async def _delete(self, stream: str, subjects: str, first: int, last: int, resident_id: str) -> int:
        """Scan stream sequences first..last (an ordered consumer) and delete the resident's."""
        state = (await self.js.stream_info(stream)).state
        first, last = max(first, state.first_seq), min(last, state.last_seq)
        if state.messages == 0 or first > last:
            return 0
        doomed = []
        sub = await self.js.subscribe(subjects, stream=stream, ordered_consumer=True, pending_msgs_limit=100_000,
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first))
        try:
            while True:
                try:
                    m = await sub.next_msg(timeout=2.0)
                except TimeoutError:
                    break  # the rest aged out or was deleted meanwhile
                seq = m.metadata.sequence.stream
                if seq > last:
                    break
                if carries(m.data, resident_id):
                    doomed.append(seq)
                if seq >= last:
                    break
        finally:
            await sub.unsubscribe()
        for seq in doomed:
            try:
                await self.js.delete_msg(stream, seq)
            except NotFoundError:
                pass  # deleted already (a repeat after a crash) or aged out
        return len(doomed)
