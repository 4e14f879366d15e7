"""Schema evolution (docs/schema-evolution.md): upcasting, unknown fields, added optional fields."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from schemas import TicketDispatched, TicketRaised
from schemas.evolution import UPCASTERS, upcast
from schemas.intake import CURRENT_VERSION, EVENTS_BY_TYPE, DecodeFailure, decode, encode

AT = "2025-03-01T09:30:00+08:00"
ENVELOPE = {"event_id": "ev-1", "occurred_at": AT, "source": "grid-app", "actor": {"role": "dispatcher", "id": "u-1"},
            "org_id": "g-3"}


def dispatched_v1(**changes: Any) -> dict[str, Any]:
    """A TicketDispatched as the first grid-worker app sent it: hours from occurred_at, no deadline."""
    return {"type": "TicketDispatched", "schema_version": 1, **ENVELOPE, "ticket_id": "t-1", "deadline_hours": 48,
            "to_worker": "w-7", **changes}


def raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


# One stored object per registered upcaster, at the version it upcasts from. Registering an
# upcaster without adding its sample here fails test_every_upcaster_steps_one_version_up.
def raised_v1(description: str = "电动车堵住消防通道\n地点 Location: 22.81,108.37") -> dict[str, Any]:
    """A TicketRaised as the Open311 POST wrote it before v2: the place folded into the description."""
    return {"type": "TicketRaised", "schema_version": 1, **ENVELOPE, "ticket_id": "o311-1", "category": "parking",
            "title": "电动车堵住消防通道", "description": description, "channel": "other"}


OLD_SAMPLES: dict[tuple[str, int], dict[str, Any]] = {("TicketDispatched", 1): dispatched_v1(), ("TicketRaised", 1): raised_v1()}


# (a) an old version is upcast on read -------------------------------------------------------

def test_a_v1_ticket_dispatched_decodes_to_v2_with_an_absolute_deadline() -> None:
    event = decode(raw(dispatched_v1()))
    assert isinstance(event, TicketDispatched)
    assert event.schema_version == 2 == CURRENT_VERSION["TicketDispatched"]
    occurred = datetime.fromisoformat(AT)
    assert event.deadline == occurred + timedelta(hours=48)
    assert event.deadline.utcoffset() == timedelta(hours=8)  # the producer's offset is kept
    assert (event.ticket_id, event.to_worker, event.occurred_at) == ("t-1", "w-7", occurred)


def test_a_missing_schema_version_means_1_and_is_upcast_too() -> None:
    obj = dispatched_v1(deadline_hours=1.5)
    del obj["schema_version"]
    event = decode(raw(obj))
    assert event.deadline == datetime.fromisoformat(AT) + timedelta(minutes=90)  # type: ignore[attr-defined]


@pytest.mark.parametrize("hours", [0, -3, True, "48", None])
def test_a_v1_dispatch_with_a_bad_deadline_hours_is_an_invalid_field(hours: Any) -> None:
    with pytest.raises(DecodeFailure) as failure:
        decode(raw(dispatched_v1(deadline_hours=hours)))
    assert failure.value.code == "invalid_field"


def test_a_v2_dispatch_is_read_as_it_is_and_reencodes_with_its_version() -> None:
    event = decode(raw(dispatched_v1()))
    again = json.loads(encode(event))
    assert again["schema_version"] == 2 and "deadline_hours" not in again
    assert decode(encode(event)) == event


def test_a_version_newer_than_the_ledger_knows_is_refused() -> None:
    obj = {**json.loads(encode(decode(raw(dispatched_v1())))), "schema_version": 3}
    with pytest.raises(DecodeFailure) as failure:
        decode(raw(obj))
    assert failure.value.code == "unsupported_version"


# (b) unknown fields are ignored ---------------------------------------------------------------

def test_an_event_with_an_unknown_field_decodes() -> None:
    known = {"type": "TicketRaised", "schema_version": 1, **ENVELOPE, "ticket_id": "t-1", "category": "parking",
             "title": "Blocked lane"}
    event = decode(raw({**known, "urgency": "high", "extra": {"nested": [1, 2]}}))
    assert isinstance(event, TicketRaised)
    assert event == decode(raw(known))
    assert "urgency" not in json.loads(encode(event))  # and it is not carried further


# (c) an optional field with a default is a compatible change ---------------------------------

class NoteV1(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="Note"):
    event_id: str
    text: str
    schema_version: int = 1


class NoteV2(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="Note"):
    """NoteV1 plus an optional field with a default: same schema_version, no upcaster."""

    event_id: str
    text: str
    schema_version: int = 1
    language: str = "zh"


def test_adding_a_field_with_a_default_keeps_old_payloads_decodable() -> None:
    old = msgspec.json.encode(NoteV1(event_id="n-1", text="hello"))
    new = msgspec.json.decode(old, type=NoteV2)
    assert new == NoteV2(event_id="n-1", text="hello", language="zh")
    assert new.schema_version == 1


def test_an_old_reader_still_reads_the_new_payload() -> None:
    payload = msgspec.json.encode(NoteV2(event_id="n-2", text="hi", language="en"))
    assert msgspec.json.decode(payload, type=NoteV1) == NoteV1(event_id="n-2", text="hi")


def test_adding_a_required_field_would_break_old_payloads() -> None:
    class NoteBroken(NoteV1, tag="Note"):
        language: str  # no default: the incompatible change the rules forbid without a version bump

    with pytest.raises(msgspec.ValidationError, match="language"):
        msgspec.json.decode(msgspec.json.encode(NoteV1(event_id="n-3", text="x")), type=NoteBroken)


def test_the_contracts_own_optional_fields_may_be_left_out() -> None:
    minimal = {"type": "TicketRaised", **ENVELOPE, "ticket_id": "t-1", "category": "parking", "title": "Lane"}
    event = decode(raw(minimal))  # no schema_version: v1, upcast to today's v2 with nothing to move
    assert isinstance(event, TicketRaised)
    assert (event.description, event.channel, event.schema_version, event.personal) == ("", "other", 2, ())
    assert (event.lat, event.long, event.address_id) == (None, None, None)


# A v1 TicketRaised from the Open311 POST: the place moves out of the description -----------

def test_a_v1_open311_point_becomes_lat_and_long() -> None:
    event = decode(raw(raised_v1()))
    assert isinstance(event, TicketRaised) and event.schema_version == 2
    assert (event.lat, event.long, event.address_id, event.description) == (22.81, 108.37, None, "电动车堵住消防通道")


@pytest.mark.parametrize(("folded", "address_id"), [("yn-addr-0042", "yn-addr-0042"),
                                                    ("见报告人的密封信息 in the reporter's sealed details", None)])
def test_a_v1_open311_address_id_or_sealed_pointer_leaves_the_description(folded: str, address_id: str | None) -> None:
    event = decode(raw(raised_v1(f"路灯不亮\n地点 Location: {folded}")))
    assert isinstance(event, TicketRaised)
    assert (event.lat, event.long, event.address_id, event.description) == (None, None, address_id, "路灯不亮")


@pytest.mark.parametrize("description", ["", "on the corner", "地点 Location: 22.81,108.37 (not a last line of its own)",
                                         "x\n地点 Location: 95.0,108.37"])
def test_a_v1_description_without_a_folded_place_is_kept(description: str) -> None:
    event = decode(raw(raised_v1(description)))
    assert isinstance(event, TicketRaised)
    assert (event.description, event.lat, event.long, event.address_id) == (description, None, None, None)


# (d) the upcaster registry is consistent -----------------------------------------------------

@pytest.mark.parametrize(("event_type", "version"), sorted(UPCASTERS))
def test_every_upcaster_is_below_its_types_current_version(event_type: str, version: int) -> None:
    assert event_type in EVENTS_BY_TYPE
    assert 1 <= version < CURRENT_VERSION[event_type]


@pytest.mark.parametrize("event_type", sorted(EVENTS_BY_TYPE))
def test_the_upcaster_chain_reaches_the_current_version(event_type: str) -> None:
    current = CURRENT_VERSION[event_type]
    assert current >= 1
    steps = sorted(v for t, v in UPCASTERS if t == event_type)
    assert steps == list(range(1, current)), f"{event_type}: upcasters from {steps}, need 1..{current - 1}"


@pytest.mark.parametrize(("event_type", "version"), sorted(UPCASTERS))
def test_every_upcaster_steps_one_version_up(event_type: str, version: int) -> None:
    assert (event_type, version) in OLD_SAMPLES, "add a stored sample of this version to OLD_SAMPLES"
    sample = OLD_SAMPLES[(event_type, version)]
    before = json.dumps(sample)
    assert UPCASTERS[(event_type, version)](sample)["schema_version"] == version + 1
    assert json.dumps(sample) == before  # pure: the stored object is not modified
    current = upcast(sample, CURRENT_VERSION[event_type])
    assert current["schema_version"] == CURRENT_VERSION[event_type]
    assert isinstance(msgspec.convert(current, EVENTS_BY_TYPE[event_type]), EVENTS_BY_TYPE[event_type])

