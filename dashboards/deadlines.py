"""The deadline dashboards' API (docs/kpis.md, "Deadlines"): timeliness per role, stage and unit
with overdue now, the 督办 list, the monthly 红黑榜. The figures are projections.deadline_queries';
this module checks the reader's scope, parses parameters and answers HTTP, like the others."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from dashboards.api import Invalid, ReadSide, not_found, window
from dashboards.auth import reader_of, visible_org
from projections.deadline_queries import DeadlineBoard, Ranking, SupervisionList, parse_month
from projections.queries import NotFound

From = Annotated[str | None, QueryParameter(name="from", description="First day of the deadlines, YYYY-MM-DD (default: the beginning)")]
To = Annotated[str | None, QueryParameter(name="to", description="Last day of the deadlines, YYYY-MM-DD, inclusive (default: today)")]


def _visible(read: ReadSide, request: Request, org_id: str) -> None:
    try:
        visible_org(read, reader_of(request), org_id)  # type: ignore[arg-type]
    except NotFound as e:
        raise not_found(e) from None


class DeadlineController(Controller):
    path = "/api/orgs"
    tags = ["deadlines"]

    @get("/{org_id:str}/deadlines", sync_to_thread=True,
         summary="On-time rates per role (lead/supporting), stage and unit for deadlines in the window; overdue now")
    def deadlines(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                  start: From = None, end: To = None) -> DeadlineBoard:
        lo, hi = window(read, start, end)
        _visible(read, request, org_id)
        return read.deadlines().board(org_id, lo, hi)

    @get("/{org_id:str}/supervision", sync_to_thread=True,
         summary="The 督办 list: tasks under supervision now, per holding unit, oldest deadline first")
    def supervision(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                    limit: Annotated[int, QueryParameter(ge=1, le=200, description="Items shown per unit")] = 20) -> SupervisionList:
        _visible(read, request, org_id)
        return read.deadlines().supervision(org_id, limit)

    @get("/{org_id:str}/ranking", sync_to_thread=True,
         summary="The monthly 红黑榜: units ranked by on-time rate over the tasks due that month")
    def ranking(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                month: Annotated[str | None, QueryParameter(description="YYYY-MM (default: this month)")] = None,
                size: Annotated[int, QueryParameter(ge=1, le=50)] = 5,
                min_settled: Annotated[int, QueryParameter(ge=1, le=1000)] = 3) -> Ranking:
        try:
            chosen = parse_month(month) if month else datetime.now(read.clock.tz).strftime("%Y-%m")
        except ValueError as e:
            raise Invalid("month", str(e)) from None
        _visible(read, request, org_id)
        return read.deadlines().ranking(org_id, chosen, size, min_settled)
