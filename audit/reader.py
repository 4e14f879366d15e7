"""Reading CIVIC_LEDGER in order with a nats-py ordered consumer (FastStream has no bounded,
ordered replay): from a position up to the last message that existed when reading began."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

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


async def read_ledger(js: JetStreamContext, start: int = 1, stop: int | None = None,
                      follow: bool = False) -> AsyncIterator[LedgerMessage]:
    """Ledger messages start..stop (default: the current end; with follow, forever)."""
    end = stop if stop is not None else await last_position(js)
    if not follow and end < start:
        return
    sub = await js.subscribe(
        "civic.ledger.>", ordered_consumer=True, stream=LEDGER,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1)),
        pending_msgs_limit=100_000,
    )
    try:
        while True:
            msg = await sub.next_msg(timeout=None if follow else 10.0)
            seq = msg.metadata.sequence.stream
            yield LedgerMessage(seq, msg.subject, msg.data, dict(msg.headers or {}))
            if not follow and seq >= end:
                return
    finally:
        await sub.unsubscribe()
