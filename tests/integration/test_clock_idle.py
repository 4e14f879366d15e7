"""The clock's subscription mode on a real nats-server: a durable push consumer keeps receiving after
idling longer than a pull loop's fetch timeout (it has no fetch). tests/unit/test_clock_subscription.py
shows why not pull: FastStream 0.7.8's pull loop ends on the bare asyncio.TimeoutError that nats-py
2.16's fetch raises when its deadline is spent."""

from __future__ import annotations

import asyncio
import logging

import nats
import pytest
from faststream.nats import JStream, NatsBroker
from nats.js.api import StreamConfig

pytestmark = pytest.mark.integration
FETCH_TIMEOUT = 0.3
IDLE = 1.0
"""Longer than a pull loop's fetch timeout (FETCH_TIMEOUT here; FastStream's PullSub waits 5 s by default)."""


async def received_after_idling(url: str) -> list[bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="IDLE", subjects=["idle.>"]))
    broker = NatsBroker(url, logger=logging.getLogger("idle"), log_level=logging.DEBUG)
    got: list[bytes] = []

    @broker.subscriber("idle.>", stream=JStream("IDLE", declare=False), durable="pushed")
    async def on(body: bytes) -> None:
        got.append(body)

    await broker.start()
    try:
        await js.publish("idle.a", b"before")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(IDLE)  # idle: no message for longer than a fetch waits
        await js.publish("idle.a", b"after")
        for _ in range(50):
            if len(got) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await broker.stop()
        await nc.close()
    return got


async def test_the_clocks_push_consumer_receives_after_idling(nats_server) -> None:  # type: ignore[no-untyped-def]
    assert await received_after_idling(nats_server.url) == [b"before", b"after"]
