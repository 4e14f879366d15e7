"""Reading CIVIC_LEDGER in order, in batches, from any position: an ephemeral pull consumer with
no acks, recreated from the last position whenever a sequence is missing. Bounded memory (one
batch at a time), and exactly-once is the reader's job: it stores its position with its changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import nats
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from consumers.streams import LEDGER

log = logging.getLogger("civic.follow")


async def follow(js: JetStreamContext, after: int, batch: int = 1000, until: int | None = None,
                 idle: float = 1.0, stream: str = LEDGER, subject: str = "civic.ledger.>") -> AsyncIterator[list[Msg]]:
    """Batches of a stream's messages (CIVIC_LEDGER by default) with sequences after..until, each
    contiguous with the last.

    With `until` None it follows forever, yielding an empty batch after each idle second (so the
    reader can look up from its loop); else it stops at `until`.
    """
    position = after
    while until is None or position < until:
        try:
            pull = await js.pull_subscribe(
                subject, stream=stream,
                config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                      opt_start_seq=position + 1, inactive_threshold=30.0, max_waiting=4),
            )
        except (nats.errors.Error, nats.js.errors.Error) as e:  # a server restarting, a cluster electing a leader
            log.warning("%s unavailable (%s); retrying from %d", stream, e or type(e).__name__, position)
            await asyncio.sleep(0.5)
            continue
        try:
            while until is None or position < until:
                want = batch if until is None else min(batch, until - position)
                try:
                    msgs = await pull.fetch(want, timeout=idle)
                except TimeoutError:
                    if until is None:
                        yield []
                        continue
                    info = await js.stream_info(stream)
                    if info.state.last_seq <= position:
                        raise LookupError(f"{stream} ends at {info.state.last_seq}, before {until}") from None
                    continue
                except (nats.errors.Error, nats.js.errors.Error) as e:
                    log.warning("%s unavailable (%s); reading again from %d", stream, e or type(e).__name__, position)
                    await asyncio.sleep(0.5)
                    break
                good: list[Msg] = []
                for m in msgs:
                    expected = (good[-1].metadata.sequence.stream if good else position) + 1
                    seq = m.metadata.sequence.stream
                    if seq != expected and not await _aged_out(js, stream, expected, seq):
                        break
                    good.append(m)
                if good:
                    position = good[-1].metadata.sequence.stream
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



async def _aged_out(js: JetStreamContext, stream: str, expected: int, seq: int) -> bool:
    """A jump is no gap when the messages in between are gone from a stream with an age limit
    (CIVIC_INTAKE, CIVIC_REJECTED keep 7 days): the stream now starts after them."""
    first = (await js.stream_info(stream)).state.first_seq
    if first > expected and seq == first:
        log.warning("%s %d..%d aged out before they were read", stream, expected, seq - 1)
        return True
    return False
