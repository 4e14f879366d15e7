"""Versions and upcasters: how an event written to an older schema is read today.

Rules (docs/schema-evolution.md): a compatible change adds an optional field with a default
and keeps `schema_version`; an incompatible one bumps the `schema_version` default of its class and registers an
upcaster from the previous version, a pure function on the decoded JSON object. Old events in
the ledger are never rewritten: they are upcast each time they are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(type, from_version) -> function returning the object at from_version + 1."""


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn
    return register


@upcaster("TicketDispatched", 1)
def _dispatch_deadline_hours_to_deadline(obj: dict[str, Any]) -> dict[str, Any]:
    """v1 (the first grid-worker app) sent `deadline_hours`; v2 carries an absolute deadline."""
    obj = dict(obj)
    hours = obj.pop("deadline_hours")
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
        raise ValueError("deadline_hours must be a positive number")
    occurred = datetime.fromisoformat(obj["occurred_at"])
    obj["deadline"] = (occurred + timedelta(hours=hours)).isoformat()
    obj["schema_version"] = 2
    return obj


_FOLDED_LOCATION = re.compile(r"\n地点 Location: (?P<where>[^\n]*)\Z")
_POINT = re.compile(r"^(?P<lat>-?\d{1,2}(?:\.\d+)?),(?P<long>-?\d{1,3}(?:\.\d+)?)$")
_SEALED_ADDRESS = "见报告人的密封信息"
"""What v1 wrote where only an address_string (sealed with the reporter) located the problem."""


@upcaster("TicketRaised", 1)
def _raised_location_out_of_description(obj: dict[str, Any]) -> dict[str, Any]:
    """v1 had no location fields: the Open311 POST appended the place to the description as a last
    line "地点 Location: <lat>,<long>" (or an address_id, or a pointer to the sealed address).
    v2 carries lat/long and address_id as fields and the description as the reporter wrote it."""
    obj = dict(obj)
    obj["schema_version"] = 2
    description = obj.get("description")
    folded = _FOLDED_LOCATION.search(description) if isinstance(description, str) else None
    if folded is None:
        return obj
    where = folded.group("where").strip()
    point = _POINT.match(where)
    if point:
        lat, long = float(point.group("lat")), float(point.group("long"))
        if abs(lat) > 90 or abs(long) > 180:  # v1 took any numbers: not a place on earth, kept as written
            return obj
        obj["lat"], obj["long"] = lat, long
    elif where and not where.startswith(_SEALED_ADDRESS):
        obj["address_id"] = where[:200]
    obj["description"] = description[:folded.start()]  # type: ignore[index]
    return obj


def upcast(obj: dict[str, Any], current: int) -> dict[str, Any]:
    """Bring a decoded event object up to `current`, its type's version (the class default)."""
    event_type = obj["type"]
    version = obj.get("schema_version", 1)
    while version < current:
        obj = UPCASTERS[(event_type, version)](obj)
        version = obj["schema_version"]
    return obj
