"""Reading CIVIC_LEDGER in order with a nats-py ordered consumer (FastStream has no bounded,
ordered replay): from a position up to the last message that existed when reading began.

Batches come from projections.follow's ordered push reader: a callback that only appends, and a
consumer dropped while the reader is far behind and made anew after the last buffered message
(a blocking callback let the server outrun a slow reader into dropped messages at a million).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from projections.follow import follow
from schemas.topology import LEDGER, LEDGER_SUBJECTS


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
                       idle: float = 10.0) -> AsyncGenerator[list[Msg], None]:
    """Ledger messages start..stop (default: the current end), in order, in batches of up to `batch`
    (projections.follow's ordered push reader: stop-and-go, nothing dropped, gaps re-read)."""
    end = stop if stop is not None else await last_position(js)
    if end < start:
        return
    async for msgs in follow(js, start - 1, batch, until=end, idle=idle, push=True, contiguous=False):
        if msgs:
            yield msgs


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
        LEDGER_SUBJECTS, ordered_consumer=True, stream=LEDGER,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1)),
    )
    try:
        while True:
            msg = await sub.next_msg(timeout=None)
            yield LedgerMessage(msg.metadata.sequence.stream, msg.subject, msg.data, dict(msg.headers or {}))
    finally:
        await sub.unsubscribe()
