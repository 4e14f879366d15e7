"""The deadline dashboards' API (docs/kpis.md, "Deadlines"): timeliness per role, stage and unit
with overdue now, the 督办 list, the monthly 红黑榜. The figures are projections.deadline_queries';
this module checks the reader's scope, parses parameters and answers HTTP, like the others."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

import msgspec

from adapters.deadlines import PolicyError, load_rules
from config import Settings
from schemas.policy import DeadlineRules
from adapters.http import problems
from dashboards.api import UNIT, WINDOWED, From, Invalid, ReadSide, To, not_found, window
from dashboards.auth import reader_of, visible_org
from projections.deadline_queries import DeadlineBoard, Ranking, SupervisionList, parse_month
from projections.queries import NotFound

Month = Annotated[str | None, QueryParameter(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (default: this month)")]


class CalendarNote(msgspec.Struct, frozen=True):
    """What the deadlines are computed with, for the page to say (not a figure: the figures are
    the ledger's stored deadlines, whatever the files say now)."""

    policy_version: str | None
    """The deadline policy's version (config/deadlines.yaml, or CIVIC_DEADLINE_POLICY)."""
    years: list[int]
    """The years whose official holiday schedule (调休 included) is loaded."""
    missing: list[int]
    """This year and the next, where their schedule is missing: working days there count weekends only."""
    problem: str | None = None
    """Why the policy or the calendar could not be read (the ledger refuses to start then too)."""


class Calendar:
    """The policy and calendar the ledger computes deadlines with, read once when the web starts."""

    def __init__(self, settings: Settings):
        try:
            self.rules: DeadlineRules | None = load_rules(settings)
            self.problem: str | None = None
        except PolicyError as e:
            self.rules, self.problem = None, str(e)

    def note(self, now: datetime | None = None) -> CalendarNote:
        if self.rules is None:
            return CalendarNote(None, [], [], self.problem)
        calendar = self.rules.calendar
        return CalendarNote(self.rules.policy.version, sorted(calendar.years), calendar.missing_near(now or datetime.now(calendar.tz)))


def _visible(read: ReadSide, request: Request, org_id: str) -> None:
    try:
        visible_org(read, reader_of(request), org_id)  # type: ignore[arg-type]
    except NotFound as e:
        raise not_found(e) from None


class DeadlineController(Controller):
    path = "/api"
    tags = ["deadlines"]

    @get("/deadline-calendar", sync_to_thread=True,
         summary="The deadline policy's version and the working-day calendar's years; the years counting weekends only")
    def calendar(self, calendar: NamedDependency[Calendar]) -> CalendarNote:
        return calendar.note()

    @get("/orgs/{org_id:str}/deadlines", sync_to_thread=True, responses=WINDOWED,
         summary="On-time rates per role (lead/supporting), stage and unit for deadlines in the window; overdue now")
    def deadlines(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                  start: From = None, end: To = None) -> DeadlineBoard:
        lo, hi = window(read, start, end)
        _visible(read, request, org_id)
        return read.deadlines().board(org_id, lo, hi)

    @get("/orgs/{org_id:str}/supervision", sync_to_thread=True,
         responses={**UNIT, **problems(422, s422="limit is out of range")},
         summary="The 督办 list: tasks under supervision now, per holding unit, oldest deadline first")
    def supervision(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                    limit: Annotated[int, QueryParameter(ge=1, le=200, description="Items shown per unit")] = 20) -> SupervisionList:
        _visible(read, request, org_id)
        return read.deadlines().supervision(org_id, limit)

    @get("/orgs/{org_id:str}/ranking", sync_to_thread=True,
         responses={**UNIT, **problems(422, s422="month is not YYYY-MM, or size or min_settled is out of range")},
         summary="The monthly 红黑榜: units ranked by on-time rate over the tasks due that month")
    def ranking(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str],
                month: Month = None,
                size: Annotated[int, QueryParameter(ge=1, le=50)] = 5,
                min_settled: Annotated[int, QueryParameter(ge=1, le=1000)] = 3) -> Ranking:
        try:
            chosen = parse_month(month) if month else datetime.now(read.clock.tz).strftime("%Y-%m")
        except ValueError as e:
            raise Invalid("month", str(e)) from None
        _visible(read, request, org_id)
        return read.deadlines().ranking(org_id, chosen, size, min_settled)
