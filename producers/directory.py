"""Where an org unit sits: producers need its path for the intake subject.

Reads the CIVIC_ORGS key-value bucket (org_id -> parent id) that the relay keeps, and learns
from the org events the producer itself sends, so a unit registered a moment ago can be used
at once. A stale path (a unit moved meanwhile) is refused by the ledger as subject_mismatch.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError, NotFoundError

from schemas import OrgUnitMoved, OrgUnitRegistered
from schemas.base import Event

MAX_DEPTH = 32


class UnknownOrg(LookupError):
    pass


class OrgDirectory:
    def __init__(self, kv=None):  # type: ignore[no-untyped-def]
        self.kv = kv
        self.parents: dict[str, str] = {}  # org_id -> parent id ("" for a root)

    def learn(self, event: Event) -> None:
        if isinstance(event, OrgUnitRegistered):
            self.parents[event.org_id] = event.parent_id or ""
        elif isinstance(event, OrgUnitMoved):
            self.parents[event.org_id] = event.new_parent_id

    async def path(self, event: Event) -> tuple[str, ...]:
        """The subject path for an event: root .. event.org_id (as the ledger will check it)."""
        if isinstance(event, OrgUnitRegistered):
            parent = await self._path(event.parent_id) if event.parent_id else ()
            return (*parent, event.org_id)
        return await self._path(event.org_id)

    async def _path(self, org_id: str) -> tuple[str, ...]:
        path = [org_id]
        while len(path) <= MAX_DEPTH:
            parent = await self._parent(path[-1])
            if not parent:
                return tuple(reversed(path))
            path.append(parent)
        raise UnknownOrg(f"org path of {org_id} is deeper than {MAX_DEPTH}: a cycle?")

    async def _parent(self, org_id: str) -> str:
        if org_id in self.parents:
            return self.parents[org_id]
        if self.kv is None:
            raise UnknownOrg(f"org unit {org_id} is unknown")
        try:
            entry = await self.kv.get(org_id)
        except (KeyNotFoundError, NotFoundError):
            raise UnknownOrg(f"org unit {org_id} is not in the ledger's org directory") from None
        self.parents[org_id] = (entry.value or b"").decode()
        return self.parents[org_id]
