"""The producer SDK on a real nats-server: a server restart in the middle of publish_many, the
spool while NATS is down, and a producer process SIGKILLed between spooling and sending."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from producers.sdk import Producer, SyncProducer
from schemas import topology
from tests.support import caught_up, many_tickets, read_stream, small_district, stream_count, wait_for

pytestmark = pytest.mark.integration


def ids_of(msgs) -> list[str]:  # type: ignore[no-untyped-def]
    return [msgspec.json.decode(m.data)["event_id"] for m in msgs]


async def ledger_reaches(js, n: int, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    async def enough():
        return await stream_count(js, topology.LEDGER) >= n
    await wait_for(enough, timeout=timeout)


async def assert_ledger_holds_exactly(js, settings, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    """At the barrier (the ledger has processed all intake holds, the relay has published all the
    store holds), intake and the ledger hold each expected event once, in order, and nothing else."""
    await caught_up(settings, js, intake=len(expected))
    assert ids_of(await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS)) == expected, "intake: each event once"
    assert ids_of(await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)) == expected
    assert await stream_count(js, topology.REJECTED) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_publish_many_survives_a_nats_restart_mid_batch(js, pipeline, nats_server, settings):
    events = [event for event, _ in many_tickets(500).events]  # ~3,000 events
    restarted: list[asyncio.Task] = []
    acked = [0]

    def on_ack(n: int) -> None:
        acked[0] += n
        if not restarted and acked[0] >= len(events) // 3:
            nats_server.kill()  # SIGKILL, with hundreds of publishes in flight

            async def restart() -> None:  # once the producer has seen the outage, not after a guessed time
                await wait_for(lambda: _not(producer.connected), timeout=10, interval=0.01)
                await asyncio.to_thread(nats_server.start)
            restarted.append(asyncio.create_task(restart()))

    producer = await Producer.connect(settings.nats_url, retry_for=30)
    try:
        results = await producer.publish_many(events, max_in_flight=500, on_ack=on_ack)
    finally:
        await producer.close()
    await restarted[0]
    assert all(r.accepted for r in results), [r for r in results if not r.accepted][:3]
    assert [r.event_id for r in results] == [e.event_id for e in events]
    intake = ids_of(await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS))
    assert intake == [e.event_id for e in events], "intake holds each event once, in order"
    await assert_ledger_holds_exactly(js, settings, [e.event_id for e in events])


async def test_events_spooled_while_nats_is_down_are_delivered_in_order_when_it_is_back(js, pipeline, nats_server, settings, tmp_path):
    script = small_district(tickets=20)
    events = [event for event, _ in script.events]
    first, rest = events[:40], events[40:]
    producer = await Producer.connect(settings.nats_url, spool_path=tmp_path / "intake.spool", retry_for=2)
    try:
        assert all(r.accepted for r in await producer.publish_many(first))
        nats_server.kill()
        await wait_for(lambda: _not(producer.connected), timeout=10)
        results = await producer.publish_many(rest[:30])
        results += [await producer.publish(event) for event in rest[30:]]
        assert all(r.spooled and not r.accepted for r in results)
        assert producer.spooled == len(rest)
        lines = (tmp_path / "intake.spool").read_bytes().splitlines()
        assert [msgspec.json.decode(line)["id"] for line in lines] == [e.event_id for e in rest]
        await asyncio.to_thread(nats_server.start)
        assert await producer.flush(timeout=30)
        assert producer.spooled == 0
    finally:
        await producer.close()
    assert (tmp_path / "intake.spool").stat().st_size == 0, "an acked spool is compacted"
    await assert_ledger_holds_exactly(js, settings, [e.event_id for e in events])


async def _not(value: bool) -> bool:
    return not value


async def test_a_producer_started_while_nats_is_down_spools_and_routes_once_it_is_back(js, pipeline, nats_server, settings, tmp_path):
    events = [event for event, _ in small_district(tickets=10).events]
    orgs = [e for e in events if e.type == "OrgUnitRegistered"]
    async with await Producer.connect(settings.nats_url) as producer:
        assert all(r.accepted for r in await producer.publish_many(orgs))
    await ledger_reaches(js, len(orgs))  # the relay has put the tree in CIVIC_ORGS
    nats_server.kill()
    rest = events[len(orgs):]
    producer = await Producer.connect(settings.nats_url, spool_path=tmp_path / "p.spool", retry_for=2)
    try:
        assert not producer.connected
        assert all(r.spooled for r in await producer.publish_many(rest))
        # Offline and new, it did not know where the units are: the spool holds no subjects yet.
        lines = [msgspec.json.decode(line) for line in (tmp_path / "p.spool").read_bytes().splitlines()]
        assert {line["subject"] for line in lines} == {None}
        await asyncio.to_thread(nats_server.start)
        assert await producer.flush(timeout=30)
        assert producer.connected
    finally:
        await producer.close()
    await assert_ledger_holds_exactly(js, settings, [e.event_id for e in events])


async def test_the_benchmark_reports_both_rates() -> None:
    from bench.producers import measure

    figures = await measure(1200)
    assert figures["events"] == 1200 and figures["sdk"] > 0 and figures["raw"] > 0
    assert figures["ratio"] == pytest.approx(figures["sdk"] / figures["raw"])


SPOOLING_PRODUCER = textwrap.dedent("""
    import sys, time
    from producers.sdk import SyncProducer
    from tests.support import small_district

    url, spool, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    events = [e for e, _ in small_district(tickets=30).events][start:]
    producer = SyncProducer(url, spool_path=spool, retry_for=1)
    results = producer.publish_many(events)
    print("spooled" if all(r.spooled for r in results) else "sent", len(results), flush=True)
    time.sleep(600)  # killed here, before anything is sent
""")

DRAINING_PRODUCER = textwrap.dedent("""
    import sys, time
    from producers.sdk import SyncProducer

    producer = SyncProducer(sys.argv[1], spool_path=sys.argv[2], max_in_flight=20, drain_chunk=20)
    print("draining", producer.spooled, flush=True)
    producer.flush()
    print("drained", flush=True)
    time.sleep(600)
""")


def run_script(code: str, *args: str) -> subprocess.Popen[str]:
    root = Path(__file__).parents[2]
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=root, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})


async def test_a_producer_killed_between_spooling_and_sending_loses_nothing_and_sends_nothing_twice(
        js, pipeline, settings, tmp_path):
    events = [e for e, _ in small_district(tickets=30).events]
    spool = tmp_path / "intake.spool"
    # 1. NATS is "down" for this producer (nobody listens on its port): it spools, then dies.
    dead_url = f"nats://127.0.0.1:{free_port()}"
    child = run_script(SPOOLING_PRODUCER, dead_url, str(spool), "0")
    assert (await asyncio.to_thread(child.stdout.readline)).split() == ["spooled", str(len(events))]  # type: ignore[union-attr]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert await stream_count(js, topology.INTAKE) == 0

    # 2. A second process drains it and is SIGKILLed in the middle of sending (some lines acked,
    #    perhaps some sent whose offset was not yet recorded).
    child = run_script(DRAINING_PRODUCER, settings.nats_url, str(spool))
    assert (await asyncio.to_thread(child.stdout.readline)).split() == ["draining", str(len(events))]  # type: ignore[union-attr]

    async def some_sent():
        return await stream_count(js, topology.INTAKE) > 0
    await wait_for(some_sent, interval=0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()

    # 3. A new producer on the same spool sends the rest, in order, each event once.
    with SyncProducer(settings.nats_url, spool_path=spool) as producer:
        assert producer.flush(timeout=30)
        assert producer.spooled == 0
    await assert_ledger_holds_exactly(js, settings, [e.event_id for e in events])
    stored = ids_of(await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS))
    assert stored == [e.event_id for e in events], "intake too: nothing stored twice"
