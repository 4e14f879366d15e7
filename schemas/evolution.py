"""Versions and upcasters: how an event written to an older schema is read today.

Rules (docs/schema-evolution.md): a compatible change adds an optional field with a default
and keeps `schema_version`; an incompatible one bumps the `schema_version` default of its class and registers an
upcaster from the previous version, a pure function on the decoded JSON object. Old events in
the ledger are never rewritten: they are upcast each time they are read.
"""

from __future__ import annotations

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


def upcast(obj: dict[str, Any], current: int) -> dict[str, Any]:
    """Bring a decoded event object up to `current`, its type's version (the class default)."""
    event_type = obj["type"]
    version = obj.get("schema_version", 1)
    while version < current:
        obj = UPCASTERS[(event_type, version)](obj)
        version = obj["schema_version"]
    return obj
