"""The disputes and deliberation topics of a unit, one row each, for the pages' lists
(GET /api/orgs/{id}/disputes and /topics). The lists and their scope are
projections.casework's; this module parses the window and answers HTTP."""

from __future__ import annotations


from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from dashboards.api import WINDOWED, From, ReadSide, To, scoped_prefixes, window
from projections.casework import DisputeList, TopicList




class CaseworkController(Controller):
    path = "/api/orgs"
    tags = ["dashboards"]

    @get("/{org_id:str}/disputes", sync_to_thread=True, responses=WINDOWED, summary="Disputes registered in the unit's subtree in the window, newest first")
    def disputes(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str], start: From = None, end: To = None) -> DisputeList:
        prefixes = scoped_prefixes(read, request, org_id)
        return read.casework().disputes(prefixes, *window(read, start, end))

    @get("/{org_id:str}/topics", sync_to_thread=True, responses=WINDOWED, summary="Deliberation topics proposed in the unit's subtree in the window, newest first")
    def topics(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str], start: From = None, end: To = None) -> TopicList:
        prefixes = scoped_prefixes(read, request, org_id)
        return read.casework().topics(prefixes, *window(read, start, end))
