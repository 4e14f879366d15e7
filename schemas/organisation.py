"""Organisation events: the org tree every other event happens in."""

from __future__ import annotations

from typing import Literal

from schemas.base import Event, Family, OrgId, PseudonymousId, ShortText

OrgKind = Literal[
    "district", "zone", "town", "street", "community", "village", "hamlet", "grid",
    "work_committee", "park_committee", "enterprise", "party_branch", "council",
]
"""district 区, zone 高新区, town 镇, street 街道, community 社区, village 村, hamlet 屯,
grid 网格, work_committee 两新工委, park_committee 园区综合党委, enterprise 企业,
party_branch 党支部 (incl. compound branches 小区党支部), council 党群理事会 / 议事小组."""


class OrgEvent(Event, frozen=True):
    """An event about the org unit `org_id` itself: the envelope's org_id is the entity's id."""

    family = Family("org", "org_id", unknown="The event happens at an org unit that is not registered.",
                    exists="An org unit with this id is already registered.")


class OrgUnitRegistered(OrgEvent, tag=True, frozen=True):
    """A unit joins the tree. `org_id` is the new unit; `parent_id` None only for a root."""

    creates = True
    parent_field = "parent_id"

    kind: OrgKind
    name: ShortText
    parent_id: OrgId | None = None


class OrgUnitRenamed(OrgEvent, tag=True, frozen=True):
    """The unit keeps its id and place in the tree under a new name."""

    name: ShortText


class OrgUnitMoved(OrgEvent, tag=True, frozen=True):
    """The unit and its subtree move under `new_parent_id`; past events keep their old path."""

    parent_field = "new_parent_id"

    new_parent_id: OrgId


class GridWorkerAssigned(OrgEvent, tag=True, frozen=True):
    """A grid worker (网格员) now covers the grid `org_id`."""

    worker_id: PseudonymousId


ORGANISATION_EVENTS = (OrgUnitRegistered, OrgUnitRenamed, OrgUnitMoved, GridWorkerAssigned)
