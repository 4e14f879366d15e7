"""Reading CIVIC_LEDGER in order, in batches, from any position: an ephemeral pull consumer with
no acks, recreated from the last position whenever a sequence is missing. Bounded memory (one
batch at a time), and exactly-once is the reader's job: it stores its position with its changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from consumers.streams import LEDGER

log = logging.getLogger("civic.follow")


async def follow(js: JetStreamContext, after: int, batch: int = 1000, until: int | None = None,
                 idle: float = 1.0) -> AsyncIterator[list[Msg]]:
    """Batches of ledger messages with positions after..until, each contiguous with the last.

    With `until` None it follows forever, yielding an empty batch after each idle second (so the
    reader can look up from its loop); else it stops at `until`.
    """
    position = after
    while until is None or position < until:
        pull = await js.pull_subscribe(
            "civic.ledger.>", stream=LEDGER,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                  opt_start_seq=position + 1, inactive_threshold=30.0, max_waiting=4),
        )
        try:
            while until is None or position < until:
                want = batch if until is None else min(batch, until - position)
                try:
                    msgs = await pull.fetch(want, timeout=idle)
                except TimeoutError:
                    if until is None:
                        yield []
                        continue
                    info = await js.stream_info(LEDGER)
                    if info.state.last_seq <= position:
                        raise LookupError(f"the ledger ends at {info.state.last_seq}, before {until}") from None
                    continue
                good = []
                for m in msgs:
                    if m.metadata.sequence.stream != position + len(good) + 1:
                        break
                    good.append(m)
                if good:
                    position += len(good)
                    yield good
                if len(good) < len(msgs):
                    log.warning("ledger read skipped after %d; re-reading from there", position)
                    break
        finally:
            try:
                await pull.unsubscribe()
            except Exception:  # the consumer may already be gone with the connection
                pass
        await asyncio.sleep(0)
