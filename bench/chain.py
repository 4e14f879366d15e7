"""The raw baseline: a plain nats-py chain of the same hops as the pipeline, doing no work.

acked publish -> stream BENCH_IN -> (this process) consume + acked republish -> stream
BENCH_OUT. Run as `python -m bench.chain URL`; it stops after `count` messages.
"""

from __future__ import annotations

import asyncio
import sys

import nats
from nats.js import JetStreamContext

from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

IN, OUT = "BENCH_IN", "BENCH_OUT"


async def setup(js: JetStreamContext) -> None:
    for name in (IN, OUT):
        try:
            await js.delete_stream(name)
        except Exception:
            pass
        await js.add_stream(StreamConfig(name=name, subjects=[f"bench.{name.lower()}.>"]))
    await js.add_consumer(IN, ConsumerConfig(durable_name="hop", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4000))


async def hop(url: str, count: int, batch: int = 1000) -> None:
    """Consume BENCH_IN in batches, republish each message to BENCH_OUT with acks, ack the batch."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=batch * 2)
    pull = await js.pull_subscribe_bind("hop", IN)
    done = 0
    while done < count:
        try:
            msgs = await pull.fetch(batch, timeout=1.0)
        except TimeoutError:
            continue
        futures = [await js.publish_async("bench.bench_out." + m.subject.split(".", 2)[2], m.data) for m in msgs]
        await asyncio.gather(*futures)
        await asyncio.gather(*(m.ack() for m in msgs))
        done += len(msgs)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(hop(sys.argv[1], int(sys.argv[2])))
