"""How fast `civic audit replay` folds the ledger, beside the raw rate of reading it.

Both figures come from the same run on the same stream: the raw baseline reads CIVIC_LEDGER with
an ordered consumer and decodes each event with msgspec (the least any replay must do); the
replay is audit.replay.replay, which also folds every event into a scratch read model.

    python -m bench.replay nats://127.0.0.1:4222            # measure the ledger there
    python -m bench.replay --fill 1000000                   # on a fresh server, a ledger of 1M events

`--fill` writes a valid, hash-chained ledger straight into CIVIC_LEDGER (the district of
producers.script.many_tickets, personal data left out), skipping intake and the ledger worker:
what is measured is reading and folding, not how the ledger was written.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nats
from nats.js import JetStreamContext

from audit.reader import last_position, read_ledger
from audit.replay import replay
from adapters.bus import ensure_streams
from bench.cpu import Meter
from schemas import decode, encode
from schemas import ledger as wire
from schemas import topology
from schemas.base import Event


@dataclass(frozen=True)
class ReplayRates:
    events: int
    raw_read_decode: float
    """Events/s: ordered-consumer read + msgspec decode, nothing else."""
    replay: float
    """Events/s: the same read, plus folding into the dashboard read model."""

    @property
    def ratio(self) -> float:
        return self.replay / self.raw_read_decode if self.raw_read_decode else 0.0


async def raw_read_decode(js: JetStreamContext, end: int) -> float:
    start, n = time.perf_counter(), 0
    async for m in read_ledger(js, 1, end):
        decode(m.data, max_bytes=None)
        n += 1
    return n / (time.perf_counter() - start)


async def measure(js: JetStreamContext, meter: Meter | None = None) -> ReplayRates:
    """Both rates over the whole stream as it is now; with a meter, each one's CPU as a phase of
    its own ("replay raw read", "replay")."""
    meter = meter or Meter()
    end = await last_position(js)
    if end == 0:
        raise ValueError("the ledger is empty: nothing to measure")
    with meter.phase("replay raw read", own="raw read") as phase:
        raw = await raw_read_decode(js, end)
        phase.count = end
    with meter.phase("replay", own="replay") as phase:
        replayed = await replay(js)
        phase.count = replayed.events
    replayed.close()
    return ReplayRates(end, raw, replayed.events / replayed.seconds)


def chained(events: Iterable[tuple[Event, str]]) -> list[tuple[str, bytes, dict[str, str]]]:
    """(subject, stored bytes, headers) of a valid ledger holding these intake events in order,
    as the ledger and relay would have written them (org paths from their intake subjects)."""
    out, chain = [], wire.GENESIS
    for position, (event, intake_subject) in enumerate(events, 1):
        _, path = topology.parse_intake_subject(intake_subject)
        data = encode(msgspec.structs.replace(event, org_path=path, personal=()))
        chain = wire.chain_hash(chain, position, data)
        out.append((topology.ledger_subject(event.type, path), data,
                    {topology.POSITION_HEADER: str(position), topology.HASH_HEADER: chain.hex(), topology.NOTIFICATION_ID_HEADER: str(position),
                     topology.EVENT_ID_HEADER: event.event_id}))
    return out


async def publish_ledger(js: JetStreamContext, messages: Iterable[tuple[str, bytes, dict[str, str]]], window: int = 2000) -> None:
    """Acked publishes into CIVIC_LEDGER, in order, `window` in flight."""
    pending = []
    for subject, data, headers in messages:
        pending.append(await js.publish_async(subject, data, headers=headers))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def main(url: str | None, fill: int) -> None:
    server = None
    if url is None:
        from adapters.natsserver import NatsServer, fixture_password
        from producers.script import many_tickets

        server = NatsServer(Path(tempfile.mkdtemp(prefix="civic-bench-replay-")) / "nats", password=fixture_password()).start()
        url = server.url
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    if server is not None:
        await ensure_streams(js)
        await publish_ledger(js, chained(many_tickets(max(1, fill // 6)).events[:fill]))
    rates = await measure(js)
    await nc.close()
    if server is not None:
        server.stop()
    print(f"{rates.events:,} events: raw ordered read + decode {rates.raw_read_decode:,.0f} events/s; "
          f"replay {rates.replay:,.0f} events/s ({rates.ratio:.2f} of raw)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay")
    parser.add_argument("url", nargs="?", help=f"A NATS server holding {topology.LEDGER} (default: a fresh one, filled)")
    parser.add_argument("--fill", type=int, default=100_000, help="Events to write into the fresh server's ledger")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.fill))
