"""GET /api/orgs/{id}/subject: the intake subjects of an org unit, for producers in any language.

A producer publishes each event on civic.intake.<event type>.<org ids from root to the unit>
(schemas/topology.py); the ledger refuses any other subject as subject_mismatch. Python producers
work the path out from the CIVIC_ORGS bucket (producers/directory.py, format in
docs/producers.md); this answer spells it out for one unit, every subject of every event family
that happens at an org unit, so a producer in another language needs neither the bucket nor the
walk. The path is the dashboards' (the read model's), as of `position`: a unit moved since then is
refused as subject_mismatch, and asking again gives the new path.
"""

from __future__ import annotations

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from dashboards.api import ReadSide, not_found
from dashboards.auth import reader_of, visible_org
from adapters.http import problems
from projections.queries import NotFound
from schemas.families import FAMILIES, tag
from schemas.organisation import OrgUnitRegistered
from schemas.pipeline import GapEvent
from schemas.topology import subject

CHILD = "{child_id}"
"""The placeholder for a new unit's id in the subject that registers it under this one."""


class FamilySubjects(msgspec.Struct, frozen=True):
    family: str
    """org, ticket, dispute, topic, erasure: the aggregate the events are about."""
    subjects: dict[str, str]
    """Event type -> the subject to publish it on when its org_id is this unit."""


class OrgSubjects(msgspec.Struct, frozen=True):
    org_id: str
    path: list[str]
    """The org ids from the root to this unit: the subject's tail."""
    families: list[FamilySubjects]
    register_child: str
    """The subject of an OrgUnitRegistered whose parent_id is this unit: its path, then the new
    unit's own id in place of {child_id}. (A root unit's registration has its own id as path.)"""
    position: int
    """The ledger position the path is read as of."""


def org_subjects(org_id: str, path: list[str], position: int) -> OrgSubjects:
    """Every intake subject at the unit whose path is `path`, per family. The pipeline's own
    events (intake gaps) happen outside the org tree and are left out."""
    families = [FamilySubjects(name, {tag(cls): subject("intake", tag(cls), path) for cls in members.types})
                for name, members in FAMILIES.items() if not issubclass(members.creates, GapEvent)]
    return OrgSubjects(org_id, path, families, subject("intake", tag(OrgUnitRegistered), [*path, CHILD]), position)


@get("/api/orgs/{org_id:str}/subject", sync_to_thread=True, tags=["producers"], responses=problems(404, 503),
     summary="The intake subject of each event type at the unit (civic.intake.<type>.<org path>), for producers in any language")
def subject_route(read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str]) -> OrgSubjects:
    position = read.dashboards().position()  # first: the path read next is at least this new
    try:
        org = visible_org(read, reader_of(request), org_id)  # type: ignore[arg-type]
    except NotFound as e:
        raise not_found(e) from None
    return org_subjects(org.org_id, list(org.path), position)
