"""Where an org unit sits: producers need its path for the intake subject.

Reads the CIVIC_ORGS key-value bucket (org_id -> parent id) that the relay keeps, and learns
from the org events the producer itself sends, so a unit registered a moment ago can be used
at once. A stale path (a unit moved meanwhile) is refused by the ledger as subject_mismatch.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue


from schemas import OrgUnitRegistered
from schemas.base import Event
from schemas.pipeline import LEDGER_ORG

MAX_DEPTH = 32


class UnknownOrg(LookupError):
    """An org unit the directory does not hold; `field`: the event's field that names it
    (org_id, or the parent field of an event that places a new unit under it)."""

    def __init__(self, message: str, org_id: str = "", field: str = "org_id"):
        super().__init__(message)
        self.org_id, self.field = org_id, field


class OrgDirectory:
    def __init__(self, kv: KeyValue | None = None):
        self.kv = kv
        self.parents: dict[str, str] = {LEDGER_ORG: ""}  # org_id -> parent id ("" for a root); pipeline events' own
        self.paths: dict[str, tuple[str, ...]] = {}
        """org_id -> path, as worked out from `parents`; dropped whenever a unit moves."""

    def learn(self, event: Event, undo: list[tuple[str, str | None]] | None = None) -> None:
        """Events that place a unit in the tree (their `parent_field`) update the parents;
        `undo` collects what they replaced, for unlearn()."""
        if event.parent_field is None:
            return
        if undo is not None:
            undo.append((event.org_id, self.parents.get(event.org_id)))
        self.parents[event.org_id] = getattr(event, event.parent_field) or ""
        if not event.creates:  # a move: paths below the unit change
            self.paths.clear()

    def unlearn(self, undo: list[tuple[str, str | None]]) -> None:
        """Puts back the parents that learn() replaced, newest first: for a request refused as a
        whole after some of its org events were learned, none of which were published."""
        for org_id, parent in reversed(undo):
            if parent is None:
                self.parents.pop(org_id, None)
            else:
                self.parents[org_id] = parent
        if undo:
            self.paths.clear()

    async def path(self, event: Event, local_only: bool = False) -> tuple[str, ...]:
        """The subject path for an event: root .. event.org_id (as the ledger will check it).

        local_only: answer from what is known here without asking NATS (UnknownOrg otherwise),
        for a producer that is offline.
        """
        if isinstance(event, OrgUnitRegistered):
            try:
                parent = await self._path(event.parent_id, local_only) if event.parent_id else ()
            except UnknownOrg as e:  # the new unit's parent is what is unknown: say so at its field
                raise UnknownOrg(f"parent {e}", e.org_id, event.parent_field or "parent_id") from None
            return (*parent, event.org_id)
        return await self._path(event.org_id, local_only)

    async def _path(self, org_id: str, local_only: bool = False) -> tuple[str, ...]:
        if org_id in self.paths:
            return self.paths[org_id]
        path = [org_id]
        while len(path) <= MAX_DEPTH:
            parent = await self._parent(path[-1], local_only)
            if not parent:
                self.paths[org_id] = tuple(reversed(path))
                return self.paths[org_id]
            path.append(parent)
        raise UnknownOrg(f"org path of {org_id} is deeper than {MAX_DEPTH}: a cycle?")

    async def _parent(self, org_id: str, local_only: bool = False) -> str:
        if org_id in self.parents:
            return self.parents[org_id]
        if self.kv is None or local_only:
            raise UnknownOrg(f"org unit {org_id} is unknown", org_id)
        try:
            entry = await self.kv.get(org_id)
        except (KeyNotFoundError, NotFoundError):
            raise UnknownOrg(f"org unit {org_id} is not in the ledger's org directory", org_id) from None
        self.parents[org_id] = (entry.value or b"").decode()
        return self.parents[org_id]
