"""The wire contract: every event type round-trips; every decode failure has its code and field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

import schemas as s
from civic_kit import LI_HUA, WANG_FANG, make, tag
from schemas.intake import CURRENT_VERSION, MAX_EVENT_BYTES
from schemas.rejected import REASONS

# Optional fields set to non-default values, so the round trip covers them too.
RICH: dict[str, dict[str, Any]] = {
    "OrgUnitRegistered": dict(kind="town", parent_id="d1"),
    "TicketRaised": dict(description="every evening since May", channel="hotline", personal=(LI_HUA,)),
    "TicketDispatched": dict(to_unit="c1", to_worker="w-7"),
    "TicketResolved": dict(evidence_ref="photo-0042"),
    "TicketRated": dict(contacted=False, resolved=False, satisfaction="basically_satisfied", comment="slow"),
    "DisputeRegistered": dict(risk_grade="red", personal=(LI_HUA, WANG_FANG)),
    "MediationSessionHeld": dict(notes="both parties present"),
    "DisputeConcluded": dict(outcome="failed", agreement="none reached"),
    "TopicProposed": dict(body="six lights on the main path"),
    "MeetingHeld": dict(minutes="long debate"),
    "TopicDecided": dict(votes=s.Votes(in_favour=15, against=3, abstained=5)),
}

ALL_TAGS = sorted(s.EVENTS_BY_TYPE)


def example(name: str) -> s.Event:
    return make(name, 1, **RICH.get(name, {}))


def obj(event: s.Event) -> dict[str, Any]:
    return json.loads(s.encode(event))


def raw(o: dict[str, Any]) -> bytes:
    return json.dumps(o).encode()


def failure(data: bytes, **kw: Any) -> s.DecodeFailure:
    with pytest.raises(s.DecodeFailure) as info:
        s.decode(data, **kw)
    assert info.value.code in REASONS
    return info.value


# -- the contract's shape --------------------------------------------------------------------


def test_the_contract_has_exactly_these_event_types() -> None:
    assert ALL_TAGS == sorted([
        "OrgUnitRegistered", "OrgUnitRenamed", "OrgUnitMoved", "GridWorkerAssigned",
        "TicketRaised", "TicketDispatched", "TicketAccepted", "TicketReturned", "TicketProgressNoted",
        "TicketResolved", "TicketRated", "TicketReopened", "TicketClosed", "TicketVoided", "TicketRecategorised",
        "TicketTransferred",
        "DisputeRegistered", "MediationSessionHeld", "DisputeConcluded",
        "TopicProposed", "MeetingHeld", "TopicDecided", "TopicImplemented",
        "PersonalDataErased",
        "IntakeGap", "IntakeGapAcknowledged",
    ])
    assert len(s.EVENT_TYPES) == len(ALL_TAGS)


def test_current_versions() -> None:
    assert CURRENT_VERSION == {t: (2 if t in ("TicketDispatched", "TicketRaised") else 1) for t in ALL_TAGS}


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_TAGS)
def test_every_event_type_round_trips(name: str) -> None:
    event = example(name)
    data = s.encode(event)
    back = s.decode(data)
    assert type(back) is s.EVENTS_BY_TYPE[name]
    assert back == event
    assert s.encode(back) == data  # byte-stable
    o = json.loads(data)
    assert o["type"] == name
    # The current version is always written out: an absent schema_version means 1.
    assert o["schema_version"] == CURRENT_VERSION[name]
    for f in ("event_id", "occurred_at", "source", "actor", "org_id", "personal", "sealed", "org_path"):
        assert f in o


@pytest.mark.parametrize("name", ALL_TAGS)
def test_minimal_events_round_trip_with_their_defaults(name: str) -> None:
    event = make(name, 3)
    assert s.decode(s.encode(event)) == event


def test_offset_of_occurred_at_survives_the_round_trip() -> None:
    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    back = s.decode(s.encode(make("TicketClosed", at=at)))
    assert back.occurred_at == at
    assert back.occurred_at.utcoffset() == timedelta(hours=-5, minutes=-30)


def test_stored_form_with_sealed_data_and_org_path_round_trips() -> None:
    sealed = s.SealedPersonalData(resident_id="r1", key_id="00", nonce="bm9uY2U=", ciphertext="Y2lwaGVy", mac="bWFj")
    event = msgspec.structs.replace(make("TicketRaised"), sealed=(sealed,), org_path=("d1", "t1", "c1"))
    assert s.decode(s.encode(event), max_bytes=None) == event


# -- decode failures ---------------------------------------------------------------------------


def test_exactly_64_kib_is_accepted_one_byte_more_is_oversize() -> None:
    base = obj(make("TicketClosed"))
    base["padding"] = ""  # an unknown field: ignored, so the size is all that matters
    pad = MAX_EVENT_BYTES - len(raw(base))
    base["padding"] = "x" * pad
    data = raw(base)
    assert len(data) == MAX_EVENT_BYTES == 64 * 1024
    assert s.decode(data).type == "TicketClosed"

    base["padding"] += "x"
    f = failure(raw(base))
    assert f.code == "oversize"
    # Stored ledger events (sealing may grow them) are read without the limit.
    assert s.decode(raw(base), max_bytes=None).type == "TicketClosed"


def test_oversize_is_checked_before_anything_else() -> None:
    assert failure(b"\xff" * (MAX_EVENT_BYTES + 1)).code == "oversize"


@pytest.mark.parametrize("data", [
    s.encode(make("TicketRaised")).replace(b"cars block the gate", b"cars \xff\xfe the gate"),
    b"\xff" + s.encode(make("TicketRaised")),
    b'{"type": "TicketRaised", "title": "caf\xc3"}',
])
def test_invalid_utf8(data: bytes) -> None:
    assert failure(data).code == "invalid_utf8"


@pytest.mark.parametrize("data", [
    b"",
    b"{",
    s.encode(make("TicketClosed"))[:-1],
    b'{"type": "TicketClosed",}',
    s.encode(make("TicketClosed")) + b"}",
    b"not json at all",
])
def test_malformed_json(data: bytes) -> None:
    assert failure(data).code == "malformed_json"


def test_unknown_type() -> None:
    o = obj(make("TicketClosed"))
    o["type"] = "TicketEaten"
    f = failure(raw(o))
    assert (f.code, f.field) == ("unknown_type", "type")
    assert "TicketEaten" in f.detail


def _without(path: str) -> Any:
    def mutate(o: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            o = o[p]
        del o[last]
    return mutate


def _set(path: str, value: Any) -> Any:
    def mutate(o: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            o = o[int(p)] if isinstance(o, list) else o[p]
        o[last] = value
    return mutate


INVALID = [
    # (event type, mutation, the field reported)
    ("TicketRaised", _without("title"), "title"),
    ("TicketRaised", _without("event_id"), "event_id"),
    ("TicketRaised", _without("occurred_at"), "occurred_at"),
    ("TicketRaised", _without("actor.id"), "actor.id"),
    ("TicketRaised", _set("title", 5), "title"),
    ("TicketRaised", _set("title", ""), "title"),
    ("TicketRaised", _set("ticket_id", ["T1"]), "ticket_id"),
    ("TicketRaised", _set("org_id", "t1.c1"), "org_id"),
    ("TicketRaised", _set("org_id", "c*"), "org_id"),
    ("TicketRaised", _set("ticket_id", "T.1"), "ticket_id"),
    ("TicketRaised", _set("event_id", "ev 1"), "event_id"),
    ("TicketRaised", _set("occurred_at", "2026-03-01T09:00:00"), "occurred_at"),
    ("TicketRaised", _set("occurred_at", "yesterday"), "occurred_at"),
    ("TicketRaised", _set("source", "Hotline 12345"), "source"),
    ("TicketRaised", _set("category", "Parking"), "category"),
    ("TicketRaised", _set("channel", "carrier_pigeon"), "channel"),
    ("TicketRaised", _set("actor.role", "mayor"), "actor.role"),
    ("TicketRaised", _set("personal", [{"resident_id": "r1", "name": 5}]), "personal[0].name"),
    ("TicketRaised", _set("schema_version", "1"), "schema_version"),
    ("TicketDispatched", _set("deadline", "2026-03-03T09:00:00"), "deadline"),
    ("TicketDispatched", _set("to_unit", "t1.c1"), "to_unit"),
    ("TicketRated", _set("satisfaction", "meh"), "satisfaction"),
    ("TicketRated", _set("contacted", "yes"), "contacted"),
    ("OrgUnitRegistered", _set("kind", "kingdom"), "kind"),
    ("OrgUnitRegistered", _set("parent_id", "d1.t1"), "parent_id"),
    ("DisputeRegistered", _set("parties", [{"resident_id": "r1"}]), "parties"),
    ("DisputeRegistered", _set("risk_grade", "green"), "risk_grade"),
    ("MeetingHeld", _set("attendees", -1), "attendees"),
    ("TopicDecided", _set("votes", {"in_favour": 1, "against": -2}), "votes.against"),
]


@pytest.mark.parametrize(("name", "mutate", "field"), INVALID, ids=[f"{n}-{f}-{i}" for i, (n, _, f) in enumerate(INVALID)])
def test_invalid_field_names_the_field(name: str, mutate: Any, field: str) -> None:
    o = obj(make(name, **({"votes": s.Votes(in_favour=1, against=0)} if name == "TopicDecided" else {})))
    mutate(o)
    f = failure(raw(o))
    assert (f.code, f.field) == ("invalid_field", field), f.detail


@pytest.mark.parametrize("data", [b"[]", b'"TicketClosed"', b"42", b"null", b'{"type": 5}', b"{}"])
def test_json_that_is_not_an_event_object_is_invalid(data: bytes) -> None:
    assert failure(data).code == "invalid_field"


def test_missing_type_is_reported_on_type() -> None:
    o = obj(make("TicketClosed"))
    del o["type"]
    f = failure(raw(o))
    assert (f.code, f.field) == ("invalid_field", "type")


@pytest.mark.parametrize(("name", "version"), [("TicketRaised", 3), ("TicketDispatched", 3), ("TopicProposed", 99)])
def test_unsupported_version(name: str, version: int) -> None:
    o = obj(make(name))
    o["schema_version"] = version
    f = failure(raw(o))
    assert (f.code, f.field) == ("unsupported_version", "schema_version")
    assert REASONS["unsupported_version"].resend_may_help is False


def test_a_version_older_than_any_upcaster_is_invalid_not_a_crash() -> None:
    o = obj(make("TicketRaised"))
    o["schema_version"] = 0
    assert failure(raw(o)).code == "invalid_field"


def test_unknown_fields_are_tolerated_and_ignored() -> None:
    event = example("TicketRaised")
    o = obj(event)
    o["priority"] = "high"
    o["nested_future"] = {"a": [1, 2, {"b": None}]}
    o["actor"]["department"] = "hotline"
    o["personal"][0]["wechat"] = "lihua88"
    back = s.decode(raw(o))
    assert back == event
    assert b"priority" not in s.encode(back) and b"wechat" not in s.encode(back)


# -- upcasting -----------------------------------------------------------------------------------


def dispatched_v1(**changes: Any) -> dict[str, Any]:
    o = obj(make("TicketDispatched", at=datetime(2026, 3, 1, 9, tzinfo=timezone(timedelta(hours=8)))))
    del o["deadline"]
    o.update(schema_version=1, deadline_hours=48)
    o.update(changes)
    return {k: v for k, v in o.items() if v is not ...}


@pytest.mark.parametrize(("hours", "deadline"), [
    (48, datetime(2026, 3, 3, 9, tzinfo=timezone(timedelta(hours=8)))),
    (1.5, datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=8)))),
])
def test_dispatch_v1_is_upcast_to_an_absolute_deadline(hours: float, deadline: datetime) -> None:
    event = s.decode(raw(dispatched_v1(deadline_hours=hours)))
    assert isinstance(event, s.TicketDispatched)
    assert event.schema_version == 2
    assert event.deadline == deadline == event.occurred_at + timedelta(hours=hours)
    assert event.deadline.utcoffset() == timedelta(hours=8)
    assert (event.ticket_id, event.to_unit) == ("T1", "c1")
    # Re-encoded it is a plain v2 event.
    o = json.loads(s.encode(event))
    assert o["schema_version"] == 2 and "deadline_hours" not in o
    assert s.decode(s.encode(event)) == event


def test_absent_schema_version_means_v1() -> None:
    event = s.decode(raw(dispatched_v1(schema_version=...)))
    assert event.schema_version == 2
    assert event.deadline == event.occurred_at + timedelta(hours=48)


def test_v2_without_schema_version_is_read_as_v1_and_refused() -> None:
    o = obj(make("TicketDispatched"))
    del o["schema_version"]
    assert failure(raw(o)).code == "invalid_field"


@pytest.mark.parametrize("hours", [-1, 0, -0.5, True, "48", None, ...])
def test_bad_v1_dispatch_is_invalid_field(hours: Any) -> None:
    assert failure(raw(dispatched_v1(deadline_hours=hours))).code == "invalid_field"


def test_v1_dispatch_with_naive_occurred_at_is_invalid_field() -> None:
    f = failure(raw(dispatched_v1(occurred_at="2026-03-01T09:00:00")))
    assert (f.code, f.field) == ("invalid_field", "occurred_at")


def test_v1_dispatch_other_fields_are_still_validated() -> None:
    f = failure(raw(dispatched_v1(to_unit="t1.c1")))
    assert (f.code, f.field) == ("invalid_field", "to_unit")


def test_decode_failure_carries_code_detail_and_field() -> None:
    e = s.DecodeFailure("invalid_field", "bad", "title")
    assert (e.code, e.detail, e.field) == ("invalid_field", "bad", "title")
    assert str(e) == "invalid_field: bad"


@pytest.mark.parametrize("name", ALL_TAGS)
def test_tag_matches_class(name: str) -> None:
    assert tag(s.EVENTS_BY_TYPE[name]) == name == example(name).type


def test_deep_nesting_is_malformed_json_never_a_recursion_error() -> None:
    from schemas.intake import MAX_DEPTH, nesting

    inside = b'{"type":"TicketRaised","x":' + b"[" * 5000 + b"]" * 5000 + b"}"  # 10 KB, as in issue 12
    for data in (inside, b"[" * 5000 + b"]" * 5000, b"[" * 5000, b'{"a":' * 40 + b"1" + b"}" * 40):
        assert failure(data).code == "malformed_json"
    assert nesting(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) <= MAX_DEPTH
    assert nesting(b"[]" * 100) == 1  # many openers, shallow
    assert nesting(b"[" * 40 + b"]" * 40) == MAX_DEPTH + 1  # the walk stops past the limit
    assert nesting(b'{"title":"' + b"[" * 100 + b'"}') == 1  # brackets inside a string do not nest
    assert nesting(b'{"t":"a\\"' + b"[" * 100 + b'"}') == 1  # nor after an escaped quote
