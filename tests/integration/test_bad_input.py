"""Bad input never stalls good input, and intake's holes are events: on a real nats-server.

Each test waits on positions (the ledger's stored intake position, stream sequences), not sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys

import msgspec
import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from adapters.eventstore import open_recorder
from audit.reader import read_ledger
from audit.verify import store_states, verify
from civic.web import create_app
from domain.ticket import Ticket
from schemas import topology
from tests.conftest import running_pipeline
from tests.support import T0, bearer, publish_all, read_stream, small_district, stream_count, wait_for

pytestmark = pytest.mark.integration
LX = "civic.intake.TicketRaised.yn.pm.lx"


def ticket(n: int) -> s.TicketRaised:
    return s.TicketRaised(event_id=f"bx-{n}", occurred_at=T0, source="t", actor=s.Actor(role="resident", id=f"r{n}"),
                          org_id="lx", ticket_id=f"BX{n}", category="roads", title="lamp out")


async def publish_tickets(js, numbers) -> list[int]:  # type: ignore[no-untyped-def]
    return [(await js.publish(LX, s.encode(ticket(n)), headers={"Nats-Msg-Id": f"bx-{n}"})).seq for n in numbers]


async def rejected_codes(js) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(m.headers[topology.REASON_HEADER], int(m.headers[topology.INTAKE_SEQUENCE_HEADER]))
            for m in await read_stream(js, topology.REJECTED, topology.REJECTED_SUBJECTS)]


async def test_deep_nesting_is_malformed_json_at_once_and_the_events_behind_go_on(js, pipeline):
    script = small_district(tickets=2)
    await publish_all(js, script.events)
    nested = b'{"type":"TicketRaised","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    bad = [(await js.publish(LX, nested)).seq, (await js.publish(LX, b"[" * 5000 + b"]" * 5000)).seq]
    after = await publish_tickets(js, range(5))

    async def committed():
        return pipeline.ledger.position() >= after[-1]
    await wait_for(committed, timeout=10)
    assert await rejected_codes(js) == [("malformed_json", seq) for seq in bad]
    assert await stream_count(js, topology.LEDGER) == len(script.events) + 5


async def test_a_message_the_ledger_fails_on_is_poison_after_its_tries_and_the_rest_go_on(js, settings, monkeypatch):
    original = Ticket.decide

    def decide(self, event):  # type: ignore[no-untyped-def]
        if event.event_id == "explodes":
            raise RuntimeError("a bug, not a rule")
        original(self, event)

    monkeypatch.setattr(Ticket, "decide", decide)
    monkeypatch.setattr("consumers.ledger.RETRY_PAUSE", 0.01)
    script = small_district(tickets=3)
    await publish_all(js, script.events)
    await publish_tickets(js, range(10))
    dispatched = s.TicketDispatched(event_id="explodes", occurred_at=T0, source="t", actor=s.Actor(role="dispatcher", id="d"),
                                    org_id="lx", ticket_id="BX3", to_unit="lx", deadline=T0.replace(year=2027))
    bad = (await js.publish("civic.intake.TicketDispatched.yn.pm.lx", s.encode(dispatched))).seq
    after = await publish_tickets(js, range(10, 20))
    async with running_pipeline(settings) as running:  # everything already waiting: one batch holds the bad message
        async def committed():
            return running.ledger.position() >= after[-1]
        await wait_for(committed, timeout=10)
        assert await rejected_codes(js) == [("poison", bad)]
        async def relayed():
            return await stream_count(js, topology.LEDGER) >= len(script.events) + 20
        await wait_for(relayed, timeout=10)
    ids = [msgspec.json.decode(m.data)["event_id"] for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
    assert ids[len(script.events):] == [f"bx-{n}" for n in range(20)]


async def test_messages_intake_dropped_unread_are_an_intake_gap_until_acknowledged(js, settings, nats_server):
    script = small_district(tickets=2)
    async with running_pipeline(settings, projector=True) as running:
        await publish_all(js, script.events)
        stored = (await publish_tickets(js, [0]))[-1]

        async def caught_up():
            return running.ledger.position() >= stored
        await wait_for(caught_up, timeout=10)
    # The ledger is stopped; intake keeps only its last 3 messages, so 7 go unread.
    info = await js.stream_info(topology.INTAKE)
    await js.update_stream(dataclasses.replace(info.config, max_msgs=3))
    sequences = await publish_tickets(js, range(1, 11))
    assert (await js.stream_info(topology.INTAKE)).state.first_seq == sequences[-3]

    async with running_pipeline(settings, projector=True) as running:
        async def past_it():
            return running.ledger.position() >= sequences[-1]
        await wait_for(past_it, timeout=10)
        events = [s.decode(m.data, max_bytes=None) for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
        gaps = [e for e in events if isinstance(e, s.IntakeGap)]
        assert [(g.gap_id, g.first_sequence, g.last_sequence) for g in gaps] == [(str(sequences[0]), sequences[0], sequences[-4])]
        assert [e.event_id for e in events[-3:]] == ["bx-8", "bx-9", "bx-10"]
        report = await verify(read_ledger(js), store_states(open_recorder(settings)))
        assert report.ok, report.summary()  # the gap is in the chain like any event

        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))  # a machine token: health with its details
            async def health(want):  # type: ignore[no-untyped-def]
                async def reached():
                    answer = await client.get("/healthz")
                    body = answer.json()
                    return (answer.status_code, body) if body["status"] == want else None
                return await wait_for(reached, timeout=20)

            code, body = await health("faulty")
            assert code == 503 and "intake_gap" in body["reasons"]
            assert [(g["gap_id"], g["first_sequence"], g["last_sequence"]) for g in body["intake_gaps"]] == [
                (str(sequences[0]), sequences[0], sequences[-4])]

            ack = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from civic.cli import app; app()", "ops", "ack-gap", str(sequences[0]),
                "--reason", "the hotline re-sent them", "--data", str(settings.data_dir),
                env={**os.environ, "CIVIC_NATS_URL": nats_server.url}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await ack.communicate()
            assert ack.returncode == 0, out.decode()
            code, body = await health("ok")
            assert code == 200 and body["reasons"] == [] and body["intake_gaps"] == []
        acks = [s.decode(m.data, max_bytes=None) for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
        assert [(a.gap_id, a.reason) for a in acks if isinstance(a, s.IntakeGapAcknowledged)] == [
            (str(sequences[0]), "the hotline re-sent them")]
