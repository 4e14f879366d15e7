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
from tests.support import caught_up, many_tickets, read_stream, stream_count, until, wait_for

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
    # Kill points are positions, not moments: the ledger when its stored position reaches one, the
    # relay when CIVIC_LEDGER does, nats-server once when the producer is half way. Each role is
    # restarted at once (its start-up is the outage), so kills land anywhere in the flow.
    total = len(script.events)
    plan = sorted([(rng.randint(total // 20, total * 9 // 10), name) for name in ("ledger", "relay") for _ in range(4)]
                  + [(total // 2, "nats")])
    kills = {"ledger": 0, "relay": 0, "nats": 0}
    for target, name in plan:
        if name == "nats":
            await wait_for(lambda: _at_least(progress, target), timeout=90, interval=0.005)
            nats_server.kill()
            nats_server.start()
        else:
            reached = (lambda p: p.ledger >= target) if name == "ledger" else (lambda p: p.relayed >= target)
            await until(settings, js, reached, f"the {name} to reach position {target}", timeout=90, interval=0.005)
            roles[name].kill()
            roles[name].start()
        kills[name] += 1
    await producer
    assert kills == {"ledger": 4, "relay": 4, "nats": 1}, kills
    await caught_up(settings, js, intake=total, timeout=90)

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


async def _at_least(progress: list[int], n: int) -> bool:
    return progress[0] >= n


async def _has_streams(js) -> bool:
    try:
        await js.stream_info(topology.LEDGER)
        await js.consumer_info(topology.INTAKE, "ledger")
        return True
    except Exception:
        return False
