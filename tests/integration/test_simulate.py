"""`civic simulate` against the real pipeline: every event accepted; --rate caps the flow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from producers.feed import feed
from producers.sdk import Producer
from producers.simulator import Plan, simulate
from schemas import topology
from tests.support import caught_up, read_stream, stream_count

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


async def test_every_simulated_event_is_accepted_by_the_pipeline(js, pipeline, settings):
    expected = [e.event_id for e in simulate(Plan(seed=11, tickets=300))]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}, "CIVIC_NATS_URL": settings.nats_url}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "civic.cli", "simulate", "--seed", "11",
                                                    "--tickets", "300"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(expected)} events" in done.stdout and f"{len(expected)} new" in done.stdout

    await caught_up(settings, js, intake=len(expected))
    assert await stream_count(js, topology.INTAKE) == len(expected)
    assert await stream_count(js, topology.REJECTED) == 0
    ledger = await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    assert [msgspec.json.decode(m.data)["event_id"] for m in ledger] == expected


async def test_rate_caps_events_per_second(js, nats_server):
    events = list(simulate(Plan(seed=2, tickets=0)))[:200]
    async with await Producer.connect(nats_server.url) as producer:
        started = time.perf_counter()
        fed = await feed(producer, events, rate=400)
        elapsed = time.perf_counter() - started
    assert fed.events == fed.new == 200
    assert 0.4 <= elapsed < 5.0, elapsed  # 200 events at 400/s: the last chunk waits until 0.45 s
