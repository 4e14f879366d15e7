"""OrgUnit: a node of the org tree (district, town, village, grid, park committee, ...)."""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas import GridWorkerAssigned, OrgUnitMoved, OrgUnitRegistered, OrgUnitRenamed
from schemas.base import Event
from schemas.organisation import OrgEvent

_PARENTS: dict[str, set[str | None]] = {
    "district": {None},
    "zone": {None},
    "town": {"district"},
    "street": {"district"},
    "community": {"town", "street"},
    "village": {"town", "street"},
    "hamlet": {"village"},
    "grid": {"community", "village", "hamlet", "park_committee"},
    "work_committee": {"zone", "district"},
    "park_committee": {"work_committee", "zone"},
    "enterprise": {"park_committee", "street", "town"},
    "party_branch": {"community", "village", "hamlet", "street", "town", "park_committee", "enterprise", "work_committee"},
    "council": {"village", "hamlet", "community", "park_committee"},
}
ALLOWED_PARENTS: dict[str, frozenset[str | None]] = {kind: frozenset(parents) for kind, parents in _PARENTS.items()}
"""Which kind of unit may sit under which (the shape of a district and of a high-tech zone)."""

ORG_ROLES = frozenset({"system", "unit"})


class OrgUnit(CivicAggregate):
    events = OrgEvent
    creators = ORG_ROLES

    def when(self, fact: Event) -> None:
        match fact:
            case OrgUnitRegistered():
                self.org_id, self.kind, self.name, self.parent_id = fact.org_id, fact.kind, fact.name, fact.parent_id
                self.workers = set()
            case OrgUnitRenamed():
                self.name = fact.name
            case OrgUnitMoved():
                self.parent_id = fact.new_parent_id
            case GridWorkerAssigned():
                self.workers.add(fact.worker_id)

    def may_hold(self, child_kind: str) -> bool:
        return self.kind in ALLOWED_PARENTS[child_kind]

    def decide(self, event: Event, new_parent: OrgUnit | None = None, new_parent_path: tuple[str, ...] = ()) -> None:
        """Rules for events on an existing unit (registration is decided by the ledger)."""
        roles = ORG_ROLES | {"dispatcher"} if isinstance(event, GridWorkerAssigned) else ORG_ROLES
        require(event.actor.role in roles, "role_not_allowed", f"a {event.actor.role} may not record {event.type}")
        match event:
            case OrgUnitMoved():
                require(new_parent is not None and new_parent.may_hold(self.kind), "bad_parent",
                        f"{event.new_parent_id} is unknown or may not hold a {self.kind}")
                require(self.org_id not in new_parent_path, "move_cycle")
            case GridWorkerAssigned():
                require(self.kind == "grid", "not_a_grid")
            case OrgUnitRegistered():
                require(False, self.events.family.exists_code, f"org unit {event.org_id} is already registered")
