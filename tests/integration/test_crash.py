"""Invariant 1 under fire: SIGKILL the ledger and the relay at random points, restart
nats-server once, and prove the ledger still holds every acked event exactly once, in order."""

from __future__ import annotations

import asyncio
import random

import msgspec
import nats
import pytest
from nats.errors import ConnectionClosedError, NoRespondersError, TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError

import schemas as s
from audit.reader import read_ledger
from audit.verify import store_states, verify
from adapters.eventstore import open_recorder
from schemas import topology
from tests.conftest import RoleProcess
from tests.support import many_tickets, read_stream, stream_count, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RETRYABLE = (NatsTimeout, NoRespondersError, ServiceUnavailableError, ConnectionClosedError, TimeoutError)


async def produce(js, events, progress: list[int]) -> None:
    """Acked publishes, retried through outages with the same Nats-Msg-Id, spread over seconds."""
    for i, (event, subject) in enumerate(events):
        while True:
            try:
                await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id}, timeout=2)
                break
            except RETRYABLE:
                await asyncio.sleep(0.2)
        progress[0] = i + 1
        if i % 40 == 39:
            await asyncio.sleep(0.05)


async def test_sigkill_anywhere_loses_nothing_and_duplicates_nothing(tmp_path, nats_server, settings, role_processes):
    settings.data_dir.mkdir(parents=True)
    rng = random.Random(20261126)
    script = many_tickets(550)  # ~3,300 events
    roles = {name: RoleProcess(name, settings, tmp_path / f"{name}.log").start() for name in ("ledger", "relay")}
    role_processes.extend(roles.values())
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await wait_for(lambda: _has_streams(js), timeout=20)

    progress = [0]
    producer = asyncio.create_task(produce(js, script.events, progress))
    kills = {"ledger": 0, "relay": 0, "nats": 0}
    while not producer.done():
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        if kills["nats"] == 0 and progress[0] > len(script.events) // 2:
            nats_server.kill()
            kills["nats"] += 1
            await asyncio.sleep(0.5)
            nats_server.start()
            continue
        name = rng.choice(["ledger", "relay"])
        roles[name].kill()
        kills[name] += 1
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        roles[name].start()
    await producer
    assert kills["ledger"] >= 3 and kills["relay"] >= 3 and kills["nats"] == 1, kills

    async def all_in_ledger():
        return await stream_count(js, topology.LEDGER) >= len(script.events)
    await wait_for(all_in_ledger, timeout=90)
    await asyncio.sleep(1.0)  # anything extra (a duplicate) would show up now

    intake = await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS)
    ledger = await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    expected = [e.event_id for e, _ in script.events]
    assert [msgspec.json.decode(m.data)["event_id"] for m in intake] == expected
    assert [msgspec.json.decode(m.data)["event_id"] for m in ledger] == expected
    assert await stream_count(js, topology.REJECTED) == 0
    report = await verify(read_ledger(js), store_states(open_recorder(settings)))
    assert report.ok and report.events == len(expected) and report.unrelayed == 0, report.summary()

    for role in roles.values():
        role.stop()
    await nc.close()


async def _has_streams(js) -> bool:
    try:
        await js.stream_info(topology.LEDGER)
        await js.consumer_info(topology.INTAKE, "ledger")
        return True
    except Exception:
        return False
