"""A clock event about a ticket whose unit has moved is published under the unit's path as the org
tree stands now (the ledger refuses any other subject: subject_mismatch); the path survives a restart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import schemas as s
from consumers.clock_state import ClockState

T0 = datetime(2026, 3, 1, 8, tzinfo=timezone(timedelta(hours=8)))
SYSTEM = s.Actor(role="system", id="sys")


def org(n: int, org_id: str, kind: str, parent: str | None) -> s.Event:
    return s.OrgUnitRegistered(event_id=f"o{n}", occurred_at=T0, source="t", actor=SYSTEM, org_id=org_id, kind=kind,
                               name=org_id, parent_id=parent)


def test_the_path_of_a_moved_unit_is_the_current_one(tmp_path: Path) -> None:
    state = ClockState(tmp_path / "c.sqlite")
    for n, event in enumerate([org(1, "yn", "district", None), org(2, "ta", "town", "yn"), org(3, "tb", "town", "yn"),
                               org(4, "v1", "village", "ta")], 1):
        state.read(n, event)
    assert state.org_path("v1") == ("yn", "ta", "v1")
    state.read(5, s.OrgUnitMoved(event_id="m1", occurred_at=T0 + timedelta(days=8), source="t", actor=SYSTEM, org_id="v1",
                                 new_parent_id="tb"))
    assert state.org_path("v1") == ("yn", "tb", "v1")
    state.close()
    assert ClockState(tmp_path / "c.sqlite").org_path("v1") == ("yn", "tb", "v1"), "read back after a restart"
