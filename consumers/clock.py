"""The deadline clock: CIVIC_LEDGER -> each ticket's deadlines -> clock events into intake, and
notifications to the units. A FastStream app, its own role under `civic up` (identity `clock`).

Reads: a durable JetStream consumer on CIVIC_LEDGER (one per clock instance, `clock-<name>`),
explicit acks, made anew at start from the position the clock stored, so its SQLite state is the
truth (consumers/clock_state.py). Each message is folded and stored with its position in one
transaction, then acked: a crash before the commit redelivers it; after it, the stored position
makes the redelivery a no-op.

Subscription mode: push, not pull. FastStream 0.7.8's pull loops (PullSub, batch or not) catch
only nats.errors.TimeoutError around `fetch`, while nats-py 2.16's fetch also raises a bare
asyncio.TimeoutError (when an idle fetch's deadline is spent between its two requests), which ends
the consume task: the subscriber stops receiving (tests/unit/test_clock_subscription.py;
consumers/ledger.py keeps nats-py for the same reason). A push consumer has no fetch: the
server delivers into the subscription's callback, and idle heartbeats keep it honest. Messages
come one at a time, in order (max_workers 1), which the clock needs: a ticket's events fold in order.

Writes: every tick, it reads the ledger's last sequence (a mark), and records each step whose
rule has fired by the instant the ledger is known complete up to (ClockState.settled_until),
a closed or voided ticket's too while it owes steps dated before it finished (ClockState.due);
the event's bytes and id depend only on the ledger's facts, so two instances, a restart or a
redelivery publish the same event and the ledger keeps one. A step sent at a path its unit has
since left is sent again at the new one, with the steps after it (ClockState.due); its Nats-Msg-Id
is the event id at that path (topology.clock_message_id). "Now" is an input (`now`): the role
reads the wall clock, tests drive a simulated one.

Notifications: each clock event read back from the ledger (so only accepted ones) is published on
core NATS to `civic.notify.<unit>` (supervision also to the unit escalated to), and POSTed to the
unit's webhook if one is configured (consumers/webhooks.py). At least once: a second clock instance
notifies again; the header Civic-Event-Id lets a receiver drop the second copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import WithJsonSchema

from faststream import AckPolicy, FastStream
from faststream.nats import JStream, NatsBroker, NatsMessage
from nats.js.api import AckPolicy as NatsAck, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from consumers.clock_state import ClockState, EscalationFor
from consumers.webhooks import Webhooks
from schemas import topology
from schemas.base import tag_of
from schemas.clock import CLOCK_EVENTS, DeadlineEvent, TicketSupervised
from schemas.export import event_schema
from schemas.intake import EVENTS_BY_TYPE, decode, encode

log = logging.getLogger("civic.clock")
Now = Callable[[], datetime]
ACK_WAIT = 30.0


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


CLOCK_TYPES = tuple(tag_of(cls) for cls in CLOCK_EVENTS)
READ_TYPES = tuple(t for t, cls in EVENTS_BY_TYPE.items() if cls.family.name in ("ticket", "org"))
"""The ledger's event types the clock folds (the rest it reads past)."""
def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """An event's JSON Schema (schemas/export.py) with its `$defs` written in place: FastStream builds
    AsyncAPI payloads with pydantic, which resolves only the references it made itself."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk({**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: walk(v) for k, v in node.items() if k not in ("$defs", "$schema", "$id")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    out: dict[str, Any] = walk(schema)
    return out


LedgerBody = Annotated[bytes, WithJsonSchema({"anyOf": [inlined(event_schema(t)) for t in READ_TYPES],
                                              "description": "A CIVIC_LEDGER message: the event's stored bytes."})]


async def _raw(msg: NatsMessage) -> bytes:
    return msg.body


@dataclass
class ClockConfig:
    name: str
    """This instance's name: its consumer is clock-<name>, its state DIR/clock-<name>.sqlite."""
    escalation: EscalationFor
    tick: float = 1.0
    """Seconds between two looks at the ledger's last sequence and what is due."""
    quiet: float = 5.0
    """Seconds without a new ledger message after which the ledger counts as quiet (ClockState.settled_until)."""
    notify_within: timedelta = timedelta(days=1)
    """Clock events older than this when read (catching up on history) are not notified."""
    interested: frozenset[str] = field(default_factory=lambda: frozenset(READ_TYPES))


def consumer_name(name: str) -> str:
    return topology.clock_consumer(name)


class Clock:
    """The clock's behaviour, apart from how messages reach it (FastStream, or a test)."""

    def __init__(self, state: ClockState, config: ClockConfig, now: Now = wall_clock):
        self.state, self.config, self.now = state, config, now
        self.published = 0
        self.notified = 0
        self.until: datetime | None = None
        """The instant the ledger read so far is complete up to, as of the last tick."""
        self.seen_seq = 0
        """CIVIC_LEDGER's last sequence at the last tick."""
        self.notify: Callable[[DeadlineEvent], Awaitable[None]] | None = None
        self.publish: Callable[[str, bytes, str], Awaitable[None]] | None = None
        self.deliveries: set[asyncio.Task[bool]] = set()

    async def on_ledger(self, seq: int, subject: str, data: bytes) -> bool:
        """Fold one ledger message; False if it is not the next one (it will come again)."""
        if seq <= self.state.position:
            return True
        if seq != self.state.position + 1:  # a redelivery overtook its predecessor: wait for it
            return False
        event_type = subject.split(".")[2] if subject.count(".") >= 2 else ""
        event = decode(data, max_bytes=None) if event_type in self.config.interested else None
        # In the loop's thread, as the ticks' writes are: one SQLite connection, one writer at a time
        # (a commit in WAL mode with synchronous=NORMAL takes tens of microseconds).
        recorded = self.state.read(seq, event)
        for e in recorded:
            if self.notify is not None and self.now() - e.occurred_at <= self.config.notify_within:
                await self.notify(e)
        return True

    async def tick(self, last_seq: int) -> int:
        """Mark the ledger's last sequence as of now and publish what is due; returns how many."""
        assert self.publish is not None, "build() sets how the clock publishes"
        self.state.mark(self.now(), last_seq, quiet=self.config.quiet)
        until = self.until = self.state.settled_until(self.config.quiet)
        self.seen_seq = last_seq
        n = 0
        for due in list(self.state.due(until, self.config.escalation)):
            await self.publish(topology.intake_subject(due.event, due.path), encode(due.event), due.message_id)
            self.state.sent(due.clock, due.message_id)
            n += 1
        self.published += n
        self.state.forget_finished(self.config.escalation)
        return n

    def ticks_after(self, seq: int) -> bool:
        """Whether the last tick saw the ledger at `seq` or later and had read that far."""
        return self.seen_seq >= seq and self.state.position >= seq


def units_to_notify(event: DeadlineEvent) -> tuple[str, ...]:
    return (event.unit, event.escalated_to) if isinstance(event, TicketSupervised) else (event.unit,)


def build(broker: NatsBroker, clock: Clock, start_after: int, webhooks: Webhooks | None = None) -> FastStream:
    """The FastStream app: the durable push subscriber on CIVIC_LEDGER and the intake publisher."""
    name = consumer_name(clock.config.name)
    start = (dict(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_after + 1) if start_after
             else dict(deliver_policy=DeliverPolicy.ALL))
    config = ConsumerConfig(durable_name=name, ack_policy=NatsAck.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=256,
                            max_deliver=-1, flow_control=True, idle_heartbeat=5.0, **start)
    ledger = JStream(topology.LEDGER, declare=False)
    intake = JStream(topology.INTAKE, declare=False)
    # One publisher per clock event type, on exactly the subjects the clock identity may publish to;
    # their payload schemas are the contract's (schemas/export.py), so FastStream's AsyncAPI
    # description says what the project's does (tests/unit/test_clock_asyncapi.py compares them).
    publishers = {tag: broker.publisher(topology.subject("intake", tag, [">"]), stream=intake, title=f"intake:{tag}",
                                        description=f"{tag} into intake, as the system.",
                                        schema=Annotated[bytes, WithJsonSchema(inlined(event_schema(tag)))])
                  for tag in CLOCK_TYPES}

    with warnings.catch_warnings():
        # FastStream warns that a durable push consumer does not scale across instances: on purpose,
        # each clock instance has its own consumer and reads the whole ledger (ClockState is per instance).
        warnings.filterwarnings("ignore", "The JetStream Push consumer with the `durable` option", RuntimeWarning)
        subscriber = broker.subscriber(
            topology.LEDGER_SUBJECTS, stream=ledger, durable=name, config=config, deliver_policy=config.deliver_policy,
            ack_policy=AckPolicy.MANUAL, title="ledger", description="Every accepted event, in order.",
            decoder=_raw)  # the body as stored: the clock decodes it once, with msgspec

    @subscriber
    async def on_ledger(body: LedgerBody, msg: NatsMessage) -> None:
        raw = msg.raw_message
        seq = raw.metadata.sequence.stream
        if await clock.on_ledger(seq, raw.subject, raw.data):
            await msg.ack()
        else:
            await msg.nack(delay=0.2)

    async def publish(subject: str, data: bytes, message_id: str) -> None:
        event_type = topology.parse_intake_subject(subject)[0]
        await publishers[event_type].publish(data, subject, headers={"Nats-Msg-Id": message_id}, stream=topology.INTAKE)

    async def notify(event: DeadlineEvent) -> None:
        data = encode(event)
        for unit in units_to_notify(event):
            await broker.publish(data, topology.notification_subject(unit), headers={topology.EVENT_ID_HEADER: event.event_id})
            if webhooks is not None:  # in the background: a slow endpoint never holds up the ledger's reading
                task = asyncio.create_task(webhooks.deliver(unit, event.event_id, data))
                clock.deliveries.add(task)
                task.add_done_callback(clock.deliveries.discard)
        clock.notified += 1

    clock.notify, clock.publish = notify, publish
    return FastStream(broker)


async def fresh_consumer(broker: NatsBroker, name: str) -> None:
    """The stored position is the truth: the consumer is made anew from it at start."""
    js = broker.connection.jetstream()
    try:
        await js.delete_consumer(topology.LEDGER, consumer_name(name))
    except NotFoundError:
        pass


async def run(broker: NatsBroker, clock: Clock, stop: asyncio.Event, webhooks: Webhooks | None = None) -> None:
    """Start the subscriber from the stored position, then tick until `stop`."""
    build(broker, clock, clock.state.position, webhooks)
    await broker.connect()
    await fresh_consumer(broker, clock.config.name)
    await broker.start()
    js = broker.connection.jetstream()
    started = time.monotonic()
    log.info("clock %s starts at ledger position %d", clock.config.name, clock.state.position)
    try:
        while not stop.is_set():
            try:
                info = await js.stream_info(topology.LEDGER)
                await clock.tick(info.state.last_seq)
            except Exception as e:  # the bus restarting: the next tick tries again
                log.warning("tick failed (%s: %s)", type(e).__name__, e)
            try:
                await asyncio.wait_for(stop.wait(), clock.config.tick)
            except TimeoutError:
                pass
    finally:
        log.info("clock %s stops at %d after %.0fs", clock.config.name, clock.state.position, time.monotonic() - started)
        await broker.stop()
        if webhooks is not None:
            await asyncio.gather(*clock.deliveries, return_exceptions=True)
            await webhooks.close()
