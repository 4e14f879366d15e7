"""schemas/export.py: one standalone JSON Schema per event type, and an AsyncAPI document."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import Actor, DisputeParty, PersonalData, Votes
from schemas.base import Event
from schemas.export import ASYNCAPI, export
from schemas.intake import CURRENT_VERSION, EVENTS_BY_TYPE, decode, encode
from schemas.rejected import REASONS

NEWER_KEYWORDS = ("prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas",
                  "$dynamicRef", "$dynamicAnchor", "$anchor", "minContains", "maxContains")
AT = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))

# The facts of each event type beyond the envelope: enough for one valid instance.
FACTS: dict[str, dict[str, Any]] = {
    "OrgUnitRegistered": {"kind": "grid", "name": "Grid 3", "parent_id": "c-1"},
    "OrgUnitRenamed": {"name": "Grid 3 (north)"},
    "OrgUnitMoved": {"new_parent_id": "c-2"},
    "GridWorkerAssigned": {"worker_id": "w-7"},
    "TicketRaised": {"ticket_id": "t-1", "category": "parking", "title": "Blocked lane", "channel": "hotline",
                     "personal": (PersonalData(resident_id="r-1", name="Li", phone="138"),)},
    "TicketDispatched": {"ticket_id": "t-1", "deadline": AT + timedelta(days=2), "to_worker": "w-7"},
    "TicketAccepted": {"ticket_id": "t-1"},
    "TicketReturned": {"ticket_id": "t-1", "reason": "Not our grid"},
    "TicketProgressNoted": {"ticket_id": "t-1", "note": "Owner contacted"},
    "TicketResolved": {"ticket_id": "t-1", "resolution": "Car moved", "evidence_ref": "photo-9"},
    "TicketRated": {"ticket_id": "t-1", "contacted": True, "resolved": True, "satisfaction": "satisfied"},
    "TicketReopened": {"ticket_id": "t-1", "reason": "Blocked again"},
    "TicketClosed": {"ticket_id": "t-1"},
    "TicketVoided": {"ticket_id": "t-2", "duplicate_of": "t-1"},
    "TicketRecategorised": {"ticket_id": "t-1", "category": "traffic"},
    "TicketTransferred": {"ticket_id": "t-1", "from_org_id": "g-3", "to_org_id": "g-4", "reason": "物业管辖 the property company's area"},
    "TicketContacted": {"ticket_id": "t-1", "how": "visit", "note": "Met at the gate"},
    "TicketExtensionRequested": {"ticket_id": "t-1", "until": AT + timedelta(days=9), "reason": "Part on order"},
    "TicketExtensionApproved": {"ticket_id": "t-1", "request_id": "ev-x", "until": AT + timedelta(days=8)},
    "TicketExtensionRefused": {"ticket_id": "t-1", "request_id": "ev-x", "reason": "Two days are enough"},
    "TicketPaused": {"ticket_id": "t-1", "reason": "Resident away"},
    "TicketResumed": {"ticket_id": "t-1"},
    "TicketTaskAccepted": {"ticket_id": "t-1", "unit": "g-4"},
    "TicketTaskCompleted": {"ticket_id": "t-1", "unit": "g-4", "result": "Lamp fixed"},
    **{tag: {"ticket_id": "t-1", "round": 1, "unit": "g-3", "unit_role": "lead", "stage": "resolve",
             "deadline": datetime(2026, 3, 3, 9, tzinfo=timezone.utc), **more}
       for tag, more in (("DeadlineNearing", {}), ("DeadlineBreached", {}), ("TicketChased", {"chased_by": "g-3"}),
                         ("TicketSupervised", {"escalated_to": "s-1"}))},
    "DisputeRegistered": {"dispute_id": "d-1", "category": "neighbours", "risk_grade": "yellow", "summary": "Noise",
                          "parties": (DisputeParty(resident_id="r-1", role="applicant"),
                                      DisputeParty(resident_id="r-2", role="respondent"))},
    "MediationSessionHeld": {"dispute_id": "d-1", "notes": "Both present"},
    "DisputeConcluded": {"dispute_id": "d-1", "outcome": "settled", "agreement": "Quiet after 22:00"},
    "TopicProposed": {"topic_id": "p-1", "title": "Bike shed"},
    "MeetingHeld": {"topic_id": "p-1", "attendees": 12},
    "TopicDecided": {"topic_id": "p-1", "decision": "Build it", "votes": Votes(in_favour=9, against=2, abstained=1)},
    "TopicImplemented": {"topic_id": "p-1", "report": "Built"},
    "PersonalDataErased": {"erasure_id": "e-1", "resident_id": "r-1", "reason": "Asked by the resident"},
    "IntakeGap": {"gap_id": "41", "first_sequence": 41, "last_sequence": 57},
    "IntakeGapAcknowledged": {"gap_id": "41", "reason": "the hotline re-sent its events of that day"},
}


def example(tag: str, **overrides: Any) -> Event:
    """One valid event of type `tag`, built through its class (so it is valid by construction)."""
    fields = {"event_id": f"ev-{tag}", "occurred_at": AT, "source": "hotline-12345",
              "actor": Actor(role="dispatcher", id="u-1"), "org_id": "g-3", **FACTS[tag], **overrides}
    return EVENTS_BY_TYPE[tag](**fields)


def as_json(event: Event) -> dict[str, Any]:
    return json.loads(encode(event))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    directory = tmp_path_factory.mktemp("contract")
    return directory, export(directory)


def schema_of(directory: Path, tag: str) -> dict[str, Any]:
    return json.loads((directory / f"{tag}.schema.json").read_text(encoding="utf-8"))


def refs_with_siblings(node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node and len(node) > 1:
            yield node
        node = list(node.values())
    for child in node if isinstance(node, list) else ():
        yield from refs_with_siblings(child)


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_factory_covers_every_event_type() -> None:
    assert set(FACTS) == set(EVENTS_BY_TYPE)


def test_one_schema_file_per_event_type_and_the_asyncapi_document(exported: tuple[Path, list[Path]]) -> None:
    directory, paths = exported
    assert sorted(p.name for p in paths) == sorted([f"{t}.schema.json" for t in EVENTS_BY_TYPE] + [ASYNCAPI])
    assert all(p.parent == directory and p.is_file() for p in paths)


@pytest.mark.parametrize("tag", list(EVENTS_BY_TYPE))
def test_each_schema_stands_alone_with_its_metadata(exported: tuple[Path, list[Path]], tag: str) -> None:
    schema = schema_of(exported[0], tag)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] == tag and schema["description"]
    assert schema["properties"]["type"] == {"enum": [tag]}
    assert schema["properties"]["schema_version"]["const"] == CURRENT_VERSION[tag]
    for ref in re.findall(r'"\$ref": "([^"]*)"', json.dumps(schema)):  # nothing outside the file
        assert ref.removeprefix("#/$defs/") in schema["$defs"]
    # asyncapi.json refers to the files in the default (draft-07 based) AsyncAPI schema format:
    # keep out keywords that draft-07 does not know.
    text = json.dumps(schema)
    assert not [k for k in NEWER_KEYWORDS if f'"{k}":' in text]
    assert not list(refs_with_siblings(schema))  # draft-07 would ignore the siblings
    cls_doc = EVENTS_BY_TYPE[tag].__doc__
    if cls_doc:
        assert schema["description"].split("\n")[0] == cls_doc.strip().split("\n")[0]


@pytest.mark.parametrize("tag", list(EVENTS_BY_TYPE))
def test_every_example_event_validates_against_its_schema(exported: tuple[Path, list[Path]], tag: str) -> None:
    event = example(tag)
    assert decode(encode(event)) == event  # the example is one the ledger itself accepts
    validator(schema_of(exported[0], tag)).validate(as_json(event))


@pytest.mark.parametrize(("tag", "change"), [
    ("TicketRaised", lambda o: o.pop("title")),                            # a required field missing
    ("TicketRaised", lambda o: o.update(org_id="a.b")),                    # not one subject token
    ("TicketRated", lambda o: o.update(satisfaction="thrilled")),          # not in the enum
    ("DisputeRegistered", lambda o: o.update(parties=o["parties"][:1])),   # too few parties
    ("TicketAccepted", lambda o: o.update(type="TicketClosed")),           # another type's tag
    ("TicketDispatched", lambda o: o.update(schema_version=1)),            # an older shape
    ("TicketDispatched", lambda o: o.pop("schema_version")),               # absent means v1
    ("OrgUnitRenamed", lambda o: o.update(actor={"role": "mayor", "id": "x"})),
])
def test_an_invalid_example_fails_validation(exported: tuple[Path, list[Path]], tag: str, change: Any) -> None:
    obj = as_json(example(tag))
    change(obj)
    errors = list(validator(schema_of(exported[0], tag)).iter_errors(obj))
    assert errors


def test_unknown_fields_are_allowed_as_the_decoder_ignores_them(exported: tuple[Path, list[Path]]) -> None:
    obj = {**as_json(example("TicketClosed")), "added_later": {"any": "thing"}}
    validator(schema_of(exported[0], "TicketClosed")).validate(obj)


def test_asyncapi_names_the_three_channels_and_a_message_per_event_type(exported: tuple[Path, list[Path]]) -> None:
    doc = json.loads((exported[0] / ASYNCAPI).read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    channels = doc["channels"]
    assert set(channels) == {"CIVIC_INTAKE", "CIVIC_LEDGER", "CIVIC_REJECTED"}
    assert channels["CIVIC_INTAKE"]["address"] == "civic.intake.{type}.{orgPath}"
    assert channels["CIVIC_LEDGER"]["address"] == "civic.ledger.{type}.{orgPath}"
    assert channels["CIVIC_REJECTED"]["address"] == "civic.rejected.>"

    messages = doc["components"]["messages"]
    for stage in ("CIVIC_INTAKE", "CIVIC_LEDGER"):
        assert len(channels[stage]["messages"]) == len(EVENTS_BY_TYPE)
        for tag in EVENTS_BY_TYPE:  # every channel message resolves to a component naming its schema file
            message = messages[channels[stage]["messages"][tag]["$ref"].rsplit("/", 1)[1]]
            assert message["name"] == tag
            assert message["payload"] == {"$ref": f"{tag}.schema.json"}
            assert (exported[0] / f"{tag}.schema.json").is_file()

    ledger_headers = messages["LedgerTicketRaised"]["headers"]["properties"]
    assert {"Civic-Position", "Civic-Hash", "Civic-Notification-Id", "Civic-Event-Id", "Nats-Msg-Id"} <= set(ledger_headers)
    assert "SHA-256" in channels["CIVIC_LEDGER"]["description"]

    reason = messages["Rejected"]["headers"]["properties"]["Civic-Reason"]
    assert reason["enum"] == list(REASONS)
    for r in REASONS.values():
        assert f"`{r.code}`: {r.sentence}" in reason["description"]
    for ref in (v["channel"]["$ref"] for v in doc["operations"].values()):
        assert ref.rsplit("/", 1)[1] in channels
