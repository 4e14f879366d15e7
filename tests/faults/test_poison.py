"""A poison message among valid ones: a body nested 5,000 levels deep (it once raised RecursionError
in the decoder, was retried as a whole batch and held the events behind it for the ack wait) is
set aside as malformed_json on first sight, and the valid events behind it go on within seconds."""

from __future__ import annotations

import asyncio

import nats

from schemas import topology
from tests.faults.stack import _as, assert_recovered, feed, wait_until
from tests.support import read_stream

BOMB = b'{"type":"TicketRaised","x":' + b"[" * 5000 + b"]" * 5000 + b"}"


async def _publish_bomb(stack, subject: str) -> None:  # type: ignore[no-untyped-def]
    nc = await nats.connect(**_as(stack, "emit"))
    try:
        await nc.jetstream().publish(subject, BOMB, headers={"Nats-Msg-Id": "poison-1"})
    finally:
        await nc.close()


async def _rejection_reasons(stack) -> list[str]:  # type: ignore[no-untyped-def]
    nc = await nats.connect(**_as(stack, "admin"))  # only the admin reads the rejections whole
    try:
        messages = await read_stream(nc.jetstream(), topology.REJECTED, topology.REJECTED_SUBJECTS)
        return [m.headers[topology.REASON_HEADER] for m in messages]
    finally:
        await nc.close()


def test_a_poison_message_among_valid_ones_is_set_aside_and_the_rest_go_on(stack, events):
    up = stack().ready()
    half = len(events) // 2
    acked = feed(up, events[:half])
    asyncio.run(_publish_bomb(up, events[half][1]))  # a real intake subject of the district
    acked += feed(up, events[half:])

    # Within seconds, not after an ack wait: every valid event, the ones behind the bomb too, in the ledger.
    wait_until(lambda: (h := up.health()) and h["streams"][1]["last_sequence"] >= len(acked), 15,
               "the valid events behind the poison message to reach CIVIC_LEDGER")
    assert asyncio.run(_rejection_reasons(up)) == ["malformed_json"]
    assert_recovered(up, acked)
