"""Event families (schemas/families.py): declared once on the event classes, every lookup derived."""

from __future__ import annotations

from typing import ClassVar

import msgspec
import pytest

import schemas as s
from audit import trail
from consumers.relay import _Route
from application.ledger import AGGREGATE_OF_TYPE, AGGREGATES
from schemas.base import Event, Family
from schemas.families import (
    CREATING_TYPES, ENTITY_ID_FIELDS, ENVELOPE, FAMILIES, FAMILY_OF_TYPE, ID_FIELDS, PARENT_FIELD, derive, entity_of,
)
from schemas.intake import EVENT_TYPES, EVENTS_BY_TYPE
from schemas.rejected import REASONS


def test_every_event_type_is_in_one_family() -> None:
    assert set(FAMILY_OF_TYPE) == set(EVENTS_BY_TYPE)
    assert sum(len(m.types) for m in FAMILIES.values()) == len(EVENT_TYPES)
    assert list(FAMILIES) == ["org", "ticket", "dispute", "topic", "erasure", "gap"]


def test_the_declared_families() -> None:
    """The names are aggregate-id namespaces: changing one would orphan every stored aggregate."""
    got = {name: (m.family.id_field, m.creates) for name, m in FAMILIES.items()}
    assert got == {
        "org": ("org_id", s.OrgUnitRegistered), "ticket": ("ticket_id", s.TicketRaised),
        "dispute": ("dispute_id", s.DisputeRegistered), "topic": ("topic_id", s.TopicProposed),
        "erasure": ("erasure_id", s.PersonalDataErased), "gap": ("gap_id", s.IntakeGap),
    }
    assert CREATING_TYPES == {"OrgUnitRegistered", "TicketRaised", "DisputeRegistered", "TopicProposed", "PersonalDataErased",
                              "IntakeGap"}
    assert ID_FIELDS == ("org_id", "ticket_id", "dispute_id", "topic_id", "erasure_id", "gap_id")
    assert ENTITY_ID_FIELDS == ("ticket_id", "dispute_id", "topic_id", "erasure_id", "gap_id")


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_every_type_carries_its_family_id_field(cls: type[Event]) -> None:
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    assert cls.family.id_field in fields
    assert fields[cls.family.id_field].required


def test_family_reason_codes_are_declared_reasons() -> None:
    for m in FAMILIES.values():
        unknown, exists = REASONS[m.family.unknown_code], REASONS[m.family.exists_code]
        assert (unknown.sentence, unknown.resend_may_help) == (m.family.unknown, False)
        assert (exists.sentence, exists.resend_may_help) == (m.family.exists, True)
    assert {"unknown_org", "org_exists", "unknown_ticket", "ticket_exists", "unknown_dispute", "dispute_exists",
            "unknown_topic", "topic_exists"} <= set(REASONS)


def test_aggregates_cover_the_families() -> None:
    assert sorted(a.family for a in AGGREGATES) == sorted(FAMILIES)
    for name, agg in AGGREGATE_OF_TYPE.items():
        assert agg.family == FAMILY_OF_TYPE[name].name
        assert agg.events in EVENTS_BY_TYPE[name].__mro__
    for agg in AGGREGATES:
        assert agg.creators, agg.__name__


def test_envelope_is_the_base_fields_and_the_entity_ids() -> None:
    assert ENVELOPE == {"type", "event_id", "occurred_at", "source", "actor", "org_id", "schema_version", "personal",
                        "sealed", "org_path", "ticket_id", "dispute_id", "topic_id", "erasure_id", "gap_id"}


def test_entity_of() -> None:
    from civic_kit import make

    assert entity_of(make("TicketAccepted", ticket_id="T7")) == ("ticket", "T7")
    assert entity_of(make("MeetingHeld")) == ("topic", "P1")
    assert entity_of(make("GridWorkerAssigned", org="g1")) == ("org", "g1")


def test_parent_fields_and_the_relay_reads_them() -> None:
    assert PARENT_FIELD == {"OrgUnitRegistered": "parent_id", "OrgUnitMoved": "new_parent_id"}
    assert set(PARENT_FIELD.values()) <= set(_Route.__struct_fields__)


def test_trail_knows_every_entity_family() -> None:
    assert trail.ID_FIELD == {"ticket": "ticket_id", "dispute": "dispute_id", "topic": "topic_id", "erasure": "erasure_id",
                              "gap": "gap_id"}
    assert set(trail.STAGES) | {"ticket"} == set(trail.ID_FIELD)
    ids = trail._ids(b'{"type": "MeetingHeld", "topic_id": "P1", "attendees": 3}')
    assert (ids.topic_id, ids.ticket_id) == ("P1", None)


# -- the derivation refuses what would make the lookups ambiguous ------------------------------

FAM = Family("thing", "thing_id", unknown="No thing.", exists="A thing exists.")


class ThingEvent(Event):
    family: ClassVar[Family] = FAM
    thing_id: str


class ThingMade(ThingEvent, tag=True):
    creates: ClassVar[bool] = True


class ThingRemade(ThingEvent, tag=True):
    creates: ClassVar[bool] = True


class ThingUsed(ThingEvent, tag=True):
    pass


class Stray(Event, tag=True):
    pass


def test_derive() -> None:
    assert derive((ThingMade, ThingUsed))["thing"].creates is ThingMade
    with pytest.raises(ValueError, match="2 creating"):
        derive((ThingMade, ThingRemade))
    with pytest.raises(ValueError, match="0 creating"):
        derive((ThingUsed,))
    with pytest.raises(ValueError, match="declares no family"):
        derive((Stray,))


@pytest.mark.parametrize("cls", [c for c in EVENT_TYPES if c.org_refs], ids=lambda c: c.__name__)
def test_org_refs_name_fields_of_the_type(cls: type[Event]) -> None:
    fields = {f.name for f in msgspec.structs.fields(cls)}
    assert set(cls.org_refs) <= fields
    assert cls.family.name != "org"  # the ledger checks references on the other families' events


def test_declared_org_refs() -> None:
    assert {c.__name__: c.org_refs for c in EVENT_TYPES if c.org_refs} == {
        "TicketDispatched": ("to_unit",), "TicketAccepted": ("unit",), "TicketResolved": ("unit",),
        "TicketTransferred": ("to_org_id",), "TicketExtensionRequested": ("unit",),
        "TicketTaskAccepted": ("unit",), "TicketTaskCompleted": ("unit",),
        "TicketChased": ("chased_by",), "TicketSupervised": ("escalated_to",)}


def test_declared_refusals_are_listed_reasons() -> None:
    """An event type's own reason codes (`refusals`) reach REASONS, the README and the export from
    the class alone; the declared order keeps the codes of today's ledger where they were."""
    declared = [r for cls in EVENT_TYPES for r in cls.refusals]
    assert {"bad_deadline", "no_assignee", "bad_duplicate"} <= {r.code for r in declared}
    for r in declared:
        assert REASONS[r.code] == r
    codes = list(REASONS)
    assert codes[codes.index("already_rated"):codes.index("already_rated") + 4] == [
        "already_rated", "bad_deadline", "no_assignee", "bad_duplicate"]


def test_a_reason_code_declared_twice_is_an_error() -> None:
    from schemas import rejected

    with pytest.raises(ValueError, match="twice"):
        rejected._reasons(("poison", "a", False), ("poison", "b", False))
