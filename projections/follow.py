"""Reading a stream (CIVIC_LEDGER by default) in order, in batches, from any position.

Live followers pull one batch at a time. Bulk reads (a rebuild) use an ordered consumer (push, flow-controlled; nats-py recreates it at the next sequence when it sees
a gap) whose callback only appends to a buffer: the reader takes whatever has accumulated, up to
a batch, so batches grow with the backlog and shrink to one message when idle. A full buffer
holds the callback, and flow control holds the server. Two to three times the rate of pull
fetches or next_msg(), which each pay an asyncio wait per call.

Exactly-once is the reader's job: it stores its position with its changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Coroutine
from typing import Any


import nats
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from schemas.topology import LEDGER, LEDGER_SUBJECTS

log = logging.getLogger("civic.follow")


async def follow(js: JetStreamContext, after: int, batch: int = 1000, until: int | None = None,
                 idle: float = 1.0, stream: str = LEDGER, subject: str = LEDGER_SUBJECTS,
                 headers_only: bool = False, push: bool = False, contiguous: bool = True) -> AsyncGenerator[list[Msg], None]:
    """Batches of the stream's messages with sequences after..until, each contiguous with the last
    (a jump is accepted only where a stream with an age limit no longer has the messages).

    With `until` None it follows forever, yielding an empty batch after each idle second (so the
    reader can look up from its loop); else it stops at `until`.

    push=False (followers of a live stream): an ephemeral pull consumer, asked for one batch at a
    time; the server never sends more than was asked, whatever the reader's pace. push=True (bulk
    reads: rebuild): the faster ordered push consumer above.

    contiguous=False (an auditor's reader): messages as the stream has them, a missing sequence
    passed on for the reader to report instead of read again.
    """
    position = after
    while until is None or position < until:
        try:
            async for msgs in (_pushed if push else _pulled)(js, position, batch, until, idle, stream, subject, headers_only):
                good: list[Msg] = []
                gap = False
                for m in msgs:
                    expected = (good[-1].metadata.sequence.stream if good else position) + 1
                    seq = m.metadata.sequence.stream
                    if seq < expected:
                        continue  # redelivered after a consumer reset: already had it
                    if seq != expected and contiguous and not await _aged_out(js, stream, expected, seq):
                        gap = True
                        break
                    good.append(m)
                if good:
                    position = good[-1].metadata.sequence.stream
                yield good
                if gap:
                    log.warning("%s skipped after %d; reading again from there", stream, position)
                    break
        except (nats.errors.Error, nats.js.errors.Error, OSError) as e:
            # A server restarting, a cluster electing a leader, a slow-consumer reset: read again.
            log.warning("%s unavailable (%s); reading again from %d", stream, e or type(e).__name__, position)
            await asyncio.sleep(0.5)


async def _pulled(js: JetStreamContext, position: int, batch: int, until: int | None, idle: float,
                  stream: str, subject: str, headers_only: bool) -> AsyncGenerator[list[Msg], None]:
    pull = await js.pull_subscribe(
        subject, stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                              opt_start_seq=position + 1, inactive_threshold=30.0, max_waiting=4,
                              headers_only=headers_only or None),
    )
    try:
        while until is None or position < until:
            want = batch if until is None else min(batch, until - position)
            try:
                msgs = await pull.fetch(want, timeout=idle)
            except TimeoutError:
                if until is not None and (await js.stream_info(stream)).state.last_seq <= position:
                    raise LookupError(f"{stream} ends before {until}") from None
                yield []
                continue
            if msgs:  # nats-py may answer a fetch with nothing rather than a timeout
                position = msgs[-1].metadata.sequence.stream
            yield msgs
    finally:
        try:
            await pull.unsubscribe()
        except Exception:  # the consumer may already be gone with the connection
            pass


async def _pushed(js: JetStreamContext, position: int, batch: int, until: int | None, idle: float,
                  stream: str, subject: str, headers_only: bool) -> AsyncGenerator[list[Msg], None]:
    """Stop and go: the callback only appends (it never blocks, so nats-py answers flow control
    and nothing is dropped); when the reader falls behind by `4 * batch` messages the consumer is
    dropped, and made anew after the last buffered message once the reader has caught up."""
    buffer: list[Msg] = []
    ready = asyncio.Event()

    async def take(msg: Msg) -> None:
        buffer.append(msg)
        ready.set()

    def subscribe(after: int) -> Coroutine[Any, Any, JetStreamContext.PushSubscription]:
        return js.subscribe(subject, stream=stream, ordered_consumer=True, cb=take, pending_msgs_limit=-1,
                            pending_bytes_limit=-1,
                            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1,
                                                  headers_only=headers_only or None))

    sub: JetStreamContext.PushSubscription | None = await subscribe(position)

    try:
        while until is None or position < until:
            if sub is None and len(buffer) < batch:
                sub = await subscribe(max(position, buffer[-1].metadata.sequence.stream if buffer else 0))
            try:
                await asyncio.wait_for(ready.wait(), idle)
            except TimeoutError:
                if until is not None and (await js.stream_info(stream)).state.last_seq <= position:
                    raise LookupError(f"{stream} ends before {until}") from None
                yield []
                continue
            msgs = buffer[:batch if until is None else min(batch, until - position)]
            del buffer[:len(msgs)]
            if not buffer:
                ready.clear()
            if sub is not None and len(buffer) > 4 * batch:
                await sub.unsubscribe()
                sub = None
            if msgs:
                position = max(position, msgs[-1].metadata.sequence.stream)
            yield msgs
    finally:
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may already be gone
                pass


async def _aged_out(js: JetStreamContext, stream: str, expected: int, seq: int) -> bool:
    """A jump is no gap when the messages in between are gone from a stream with an age limit
    (CIVIC_INTAKE, CIVIC_REJECTED keep 7 days): the stream now starts after them."""
    first = (await js.stream_info(stream)).state.first_seq
    if first > expected and seq == first:
        log.warning("%s %d..%d aged out before they were read", stream, expected, seq - 1)
        return True
    return False
