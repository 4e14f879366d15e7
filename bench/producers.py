"""The producer SDK's publish rate next to raw nats-py on the same server and the same messages.

    python -m bench.producers [N]        # or measure() from Python

Both publish the same N events of a district (org units, then tickets through the four orders)
to CIVIC_INTAKE with Nats-Msg-Id = event_id, with the same number of acked publishes in flight:
- raw: nats-py js.publish_async with precomputed subjects and bytes, acks gathered per window;
- sdk: Producer.publish_many(events): local validation (encode + decode), subject from the org
  directory, ordered window with retries.
CIVIC_INTAKE is recreated before each run, so neither meets the other's duplicates.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js import JetStreamContext

from adapters.natsserver import NatsServer, fixture_password
from adapters.bus import ensure_streams
from schemas.topology import INTAKE
from producers.script import many_tickets
from producers.sdk import Producer
from schemas import encode
from schemas.base import Event


WINDOW = 1000


async def _fresh_intake(js: JetStreamContext) -> None:
    await js.delete_stream(INTAKE)
    await ensure_streams(js)


async def raw_rate(url: str, messages: list[tuple[str, bytes, str]], window: int = WINDOW) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=window * 2)
    await _fresh_intake(js)
    start = time.perf_counter()
    pending = []
    for subject, data, event_id in messages:
        pending.append(await js.publish_async(subject, data, headers={"Nats-Msg-Id": event_id}))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    assert (await js.stream_info(INTAKE)).state.messages == len(messages)
    await nc.close()
    return len(messages) / elapsed


async def sdk_rate(url: str, events: list[Event], window: int = WINDOW) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await _fresh_intake(js)
    producer = await Producer.connect(url, max_in_flight=window)
    start = time.perf_counter()
    results = await producer.publish_many(events)
    elapsed = time.perf_counter() - start
    await producer.close()
    assert all(r.accepted and not r.duplicate for r in results)
    assert (await js.stream_info(INTAKE)).state.messages == len(events)
    await nc.close()
    return len(events) / elapsed


async def measure(n_events: int = 30_000, url: str | None = None) -> dict[str, float]:
    """{"sdk": events/s, "raw": events/s, "ratio": sdk/raw} on `url` or a fresh nats-server.
    Needs a server of its own: CIVIC_INTAKE is deleted and recreated."""
    script = many_tickets(max(1, n_events // 6)).events[:n_events]
    events = [event for event, _ in script]
    messages = [(subject, encode(event), event.event_id) for event, subject in script]
    with tempfile.TemporaryDirectory(prefix="civic-bench-producers-") as tmp:
        server = None
        if url is None:
            server = NatsServer(Path(tmp) / "nats", password=fixture_password()).start()
            url = server.url
        try:
            nc = await nats.connect(url)
            await ensure_streams(nc.jetstream())
            await nc.close()
            raw, sdk = [], []
            for _ in range(2):  # interleaved, best of two: less noise from the machine
                raw.append(await raw_rate(url, messages))
                sdk.append(await sdk_rate(url, events))
        finally:
            if server is not None:
                server.stop()
    return {"events": len(events), "sdk": max(sdk), "raw": max(raw), "ratio": max(sdk) / max(raw)}


if __name__ == "__main__":
    figures = asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000))
    print(f"{figures['events']:,} events: SDK publish_many {figures['sdk']:,.0f} events/s, "
          f"raw nats-py publish_async {figures['raw']:,.0f} events/s, ratio {figures['ratio']:.2f}")
