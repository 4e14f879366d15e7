"""Reading CIVIC_LEDGER in order with a nats-py ordered consumer (FastStream has no bounded,
ordered replay): from a position up to the last message that existed when reading began.

Messages are taken in a subscription callback and handed over in batches: nats-py's next_msg()
costs an asyncio wait_for per message, which halves the read rate. Backpressure is the ordered
consumer's flow control: the server sends no more than the client has taken, and the callback
waits while the batch queue is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from consumers.streams import LEDGER


@dataclass(frozen=True, slots=True)
class LedgerMessage:
    position: int
    """The stream sequence: the ledger position."""
    subject: str
    data: bytes
    headers: dict[str, str]


async def last_position(js: JetStreamContext) -> int:
    return (await js.stream_info(LEDGER)).state.last_seq


async def read_batches(js: JetStreamContext, start: int = 1, stop: int | None = None, batch: int = 1000,
                       idle: float = 10.0) -> AsyncIterator[list[Msg]]:
    """Ledger messages start..stop (default: the current end), in order, in batches of up to `batch`.
    Raises TimeoutError if the server sends nothing for `idle` seconds."""
    end = stop if stop is not None else await last_position(js)
    if end < start:
        return
    queue: asyncio.Queue[list[Msg]] = asyncio.Queue(maxsize=4)
    pending: list[Msg] = []

    async def take(msg: Msg) -> None:
        pending.append(msg)
        if len(pending) >= batch or msg.metadata.sequence.stream >= end:
            await queue.put(pending.copy())
            pending.clear()

    sub = await js.subscribe(
        "civic.ledger.>", ordered_consumer=True, stream=LEDGER, cb=take,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1)),
        pending_msgs_limit=100_000,
    )
    try:
        while True:
            msgs = await asyncio.wait_for(queue.get(), idle)
            last = msgs[-1].metadata.sequence.stream
            if last >= end:
                yield [m for m in msgs if m.metadata.sequence.stream <= end]
                return
            yield msgs
    finally:
        await sub.unsubscribe()


async def read_ledger(js: JetStreamContext, start: int = 1, stop: int | None = None,
                      follow: bool = False) -> AsyncIterator[LedgerMessage]:
    """Ledger messages start..stop (default: the current end; with follow, forever)."""
    if follow:
        async for m in _follow(js, start):
            yield m
        return
    async for msgs in read_batches(js, start, stop):
        for msg in msgs:
            yield LedgerMessage(msg.metadata.sequence.stream, msg.subject, msg.data, dict(msg.headers or {}))


async def _follow(js: JetStreamContext, start: int) -> AsyncIterator[LedgerMessage]:
    """One message at a time, waiting for new ones: `civic ledger tail --follow`."""
    sub = await js.subscribe(
        "civic.ledger.>", ordered_consumer=True, stream=LEDGER,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1)),
    )
    try:
        while True:
            msg = await sub.next_msg(timeout=None)
            yield LedgerMessage(msg.metadata.sequence.stream, msg.subject, msg.data, dict(msg.headers or {}))
    finally:
        await sub.unsubscribe()
