"""Event families: every lookup "which aggregate, which id, which creating event" derived from
what the event classes declare (schemas/base.py: `family` on each family's base class,
`creates` on the creating event, `parent_field` on org events that place a unit).

A new event type declares nothing here: subclassing its family's base class is enough.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.base import Event, Family, tag_of
from schemas.intake import EVENT_TYPES


class Members(NamedTuple):
    """One family and its event types, as the classes declare them."""

    family: Family
    creates: type[Event]
    """The one type that creates the aggregate."""
    types: tuple[type[Event], ...]
    """Every type of the family, the creating one included, in EVENT_TYPES order."""


def tag(cls: type[Event]) -> str:
    return tag_of(cls)


def derive(types: tuple[type[Event], ...] = EVENT_TYPES) -> dict[str, Members]:
    """Family name -> its members, from the declarations; ValueError if a family has no or two
    creating types, or an event type belongs to no family."""
    found: dict[str, list[type[Event]]] = {}
    families: dict[str, Family] = {}
    for cls in types:
        family = getattr(cls, "family", None)
        if not isinstance(family, Family):
            raise ValueError(f"{tag(cls)} declares no family")
        families.setdefault(family.name, family)
        found.setdefault(family.name, []).append(cls)
    out = {}
    for name, members in found.items():
        creating = [cls for cls in members if cls.creates]
        if len(creating) != 1:
            raise ValueError(f"family {name} has {len(creating)} creating event types, not one")
        out[name] = Members(families[name], creating[0], tuple(members))
    return out


FAMILIES: dict[str, Members] = derive()
"""org, ticket, dispute, topic -> the family and its event types."""
FAMILY_OF_TYPE: dict[str, Family] = {tag(cls): m.family for m in FAMILIES.values() for cls in m.types}
CREATING_TYPES: frozenset[str] = frozenset(tag(m.creates) for m in FAMILIES.values())
ID_FIELDS: tuple[str, ...] = tuple(m.family.id_field for m in FAMILIES.values())
"""org_id, ticket_id, dispute_id, topic_id."""
ENTITY_ID_FIELDS: tuple[str, ...] = tuple(f for f in ID_FIELDS if f not in Event.__struct_fields__)
"""The id fields beyond the envelope: ticket_id, dispute_id, topic_id."""
ENVELOPE: frozenset[str] = frozenset({"type", *Event.__struct_fields__, *ENTITY_ID_FIELDS})
"""What every event of a family carries: readers showing an event's own facts drop these."""
PARENT_FIELD: dict[str, str] = {tag(cls): cls.parent_field for cls in EVENT_TYPES if cls.parent_field}
"""Org event types that place a unit in the tree -> the field naming its (new) parent."""


def entity_of(event: Event) -> tuple[str, str]:
    """(family name, entity id), e.g. ("ticket", "T-2026-0042"); ("org", org_id) for the org tree."""
    family = event.family
    return family.name, getattr(event, family.id_field)


__all__ = [
    "CREATING_TYPES", "ENTITY_ID_FIELDS", "ENVELOPE", "FAMILIES", "FAMILY_OF_TYPE", "ID_FIELDS", "Members",
    "PARENT_FIELD", "derive", "entity_of", "tag",
]
