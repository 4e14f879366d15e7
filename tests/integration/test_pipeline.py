"""Intake -> ledger -> CIVIC_LEDGER on a real nats-server and SQLite: order, chain, rejections."""

from __future__ import annotations

import msgspec
import pytest

import schemas as s
from audit.reader import read_ledger
from audit.verify import store_states, verify
from adapters.eventstore import open_recorder
from schemas import ledger as wire
from schemas import topology
from tests.support import T0, caught_up, publish_all, read_stream, small_district, stream_count

pytestmark = pytest.mark.integration


async def ledger_has(pipeline, js, n: int):  # type: ignore[no-untyped-def]
    """At the barrier (everything intake holds processed, everything stored relayed), the ledger holds exactly n."""
    await caught_up(pipeline.settings, js)
    assert await stream_count(js, topology.LEDGER) == n


async def test_accepted_events_come_out_ordered_and_chained(js, pipeline, settings):
    script = small_district(tickets=12)
    await publish_all(js, script.events)
    await ledger_has(pipeline, js, len(script.events))

    msgs = await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    assert [msgspec.json.decode(m.data)["event_id"] for m in msgs] == [e.event_id for e, _ in script.events]
    chain = wire.GENESIS
    for position, m in enumerate(msgs, 1):
        chain = wire.chain_hash(chain, position, m.data)
        assert m.metadata.sequence.stream == position
        assert m.headers[topology.POSITION_HEADER] == str(position)
        assert m.headers[topology.HASH_HEADER] == chain.hex()
        event = s.decode(m.data, max_bytes=None)
        assert m.subject == topology.ledger_subject(event.type, event.org_path)
        assert event.org_path[-1] == event.org_id and not event.personal
    # Personal data never reaches the ledger stream in clear.
    assert not any(b"Resident Name" in m.data or b"13800000000" in m.data for m in msgs)
    assert any(event.sealed for event in (s.decode(m.data, max_bytes=None) for m in msgs))

    report = await verify(read_ledger(js), store_states(open_recorder(settings)))
    assert report.ok, report.summary()
    assert report.events == len(script.events)


async def test_ledger_stream_refuses_delete_and_purge(js, pipeline):
    script = small_district(tickets=1)
    await publish_all(js, script.events)
    await ledger_has(pipeline, js, len(script.events))
    with pytest.raises(Exception, match="delete|purge|not allowed|denied|10052|10050"):
        await js.delete_msg(topology.LEDGER, 1)
    with pytest.raises(Exception):
        await js.purge_stream(topology.LEDGER)
    assert await stream_count(js, topology.LEDGER) == len(script.events)


def _raw(**fields) -> bytes:
    base = dict(type="TicketRaised", event_id="bad", occurred_at=T0.isoformat(), source="test",
                actor={"role": "resident", "id": "r1"}, org_id="lx", ticket_id="TX", category="parking", title="x")
    base.update(fields)
    return msgspec.json.encode({k: v for k, v in base.items() if v is not None})


async def test_bad_input_is_rejected_with_a_reason_and_the_pipeline_keeps_going(js, pipeline):
    script = small_district(tickets=2)
    await publish_all(js, script.events)
    lx = "civic.intake.TicketRaised.yn.pm.lx"
    first = script.events[0][0]
    rated_early = s.TicketRated(event_id="early", occurred_at=T0, source="t", actor=s.Actor(role="resident", id="r"),
                                org_id="lx", ticket_id="NEW1", contacted=True, resolved=True, satisfaction="satisfied")
    bad: list[tuple[str, bytes, str]] = [
        (lx, b'{"type": "TicketRaised", ', "malformed_json"),
        (lx, b'{"type": "TicketRaised", "title": "\xff\xfe"}', "invalid_utf8"),
        ("civic.intake.Gossip.yn.pm.lx", _raw(type="Gossip", event_id="b1"), "unknown_type"),
        (lx, _raw(event_id="b2", category=None), "invalid_field"),
        (lx, _raw(event_id="b3", title=42), "invalid_field"),
        (lx, _raw(event_id="b4", description="x" * 70_000), "oversize"),
        (lx, _raw(event_id="b5", schema_version=99), "unsupported_version"),
        ("civic.intake.TicketRaised.nowhere", _raw(event_id="b6", org_id="nowhere"), "unknown_org"),
        ("civic.intake.TicketRaised.yn.pm.nk", _raw(event_id="b7"), "subject_mismatch"),
        ("civic.intake.TicketRated.yn.pm.lx", s.encode(rated_early), "unknown_ticket"),
        ("civic.intake.OrgUnitRegistered.yn", msgspec.json.encode({**msgspec.to_builtins(first), "name": "Other name"}), "conflicting_duplicate"),
        (lx, _raw(event_id="b8", sealed=[{"resident_id": "r", "key_id": "00", "nonce": "", "ciphertext": "", "mac": ""}]), "sealed_by_producer"),
    ]
    for subject, data, _ in bad:
        await js.publish(subject, data)
    # A valid event after all of them is still accepted, promptly.
    good = s.TicketRaised(event_id="after-bad", occurred_at=T0, source="t", actor=s.Actor(role="resident", id="r9"),
                          org_id="lx", ticket_id="GOOD", category="roads", title="lamp out")
    await js.publish(lx, s.encode(good), headers={"Nats-Msg-Id": good.event_id})
    await ledger_has(pipeline, js, len(script.events) + 1)

    assert await stream_count(js, topology.REJECTED) == len(bad), "each published before its batch was stored"
    rejections = await read_stream(js, topology.REJECTED, topology.REJECTED_SUBJECTS)
    assert [m.headers[topology.REASON_HEADER] for m in rejections] == [code for *_, code in bad]
    for m, (subject, data, code) in zip(rejections, bad):
        assert m.data == data, "the original bytes are kept"
        assert m.headers[topology.INTAKE_SUBJECT_HEADER] == subject
        assert m.headers[topology.REASON_TEXT_HEADER]
        assert m.subject.startswith(f"{topology.REJECTED_PREFIX}{code}.")
    assert {m.headers.get(topology.FIELD_HEADER) for m in rejections[3:5]} == {"category", "title"}
    ledger = await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    assert msgspec.json.decode(ledger[-1].data)["event_id"] == "after-bad"


async def test_a_resent_event_is_a_silent_no_op_long_after_the_duplicate_window(js, pipeline):
    script = small_district(tickets=1)
    await publish_all(js, script.events)
    await ledger_has(pipeline, js, len(script.events))
    # Published again without Nats-Msg-Id: JetStream cannot dedupe, the aggregates must.
    for event, subject in script.events[:5]:
        await js.publish(subject, s.encode(event))
    marker = s.TicketRaised(event_id="marker", occurred_at=T0, source="t", actor=s.Actor(role="resident", id="r9"),
                            org_id="lx", ticket_id="M", category="roads", title="marker")
    await js.publish("civic.intake.TicketRaised.yn.pm.lx", s.encode(marker))
    await ledger_has(pipeline, js, len(script.events) + 1)
    assert await stream_count(js, topology.LEDGER) == len(script.events) + 1
    assert await stream_count(js, topology.REJECTED) == 0
