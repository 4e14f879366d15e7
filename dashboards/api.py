"""The dashboards' HTTP API (Litestar): org tree, KPIs per org unit and window, tickets, workload.

Reads the current version of the dashboard read model; a rebuild switching versions is picked
up within a second. Errors: unknown org or ticket -> 404 {"detail"}; bad query parameters ->
422 {"detail", "field"}.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime
from pathlib import Path

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from adapters.http import Since, Until, problems

from projections.dashboard import NAME, upgrading
from projections.facts import Clock
from projections.queries import STATUSES, Dashboard, NotFound, Org, TicketPage, TicketTimeline, Workload
from projections.readside import NotBuilt, ReadSide  # noqa: F401  (re-exported for the pages)
from projections.store import Versions
from dashboards.auth import prefixes, reader_of, visible_org, visible_orgs
from dashboards.masking import mask
from projections.event_index import MAX_LISTED, BadFilter, Refusal, refusal_query, refusals


class Invalid(HTTPException):
    status_code = 422

    def __init__(self, field: str, detail: str):
        super().__init__(detail=detail, extra={"field": field})


def parse_day(value: str | None, field: str) -> date | None:
    if value is None:  # left out; an empty value is not a date (the pages leave the parameter out)
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(field, f"{field} must be a date, YYYY-MM-DD, not {value!r}") from None


def window(read: ReadSide, start: str | None, end: str | None) -> tuple[date | None, date]:
    lo, hi = parse_day(start, "from"), parse_day(end, "to")
    hi = hi or datetime.now(read.clock.tz).date()
    if lo and lo > hi:
        raise Invalid("from", "from must not be after to")
    return lo, hi


def not_found(e: NotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=str(e))


def board(read: ReadSide, request: Request, org_id: str, start: str | None, end: str | None) -> Dashboard:
    lo, hi = window(read, start, end)
    try:
        visible_org(read, reader_of(request), org_id)  # type: ignore[arg-type]
        return read.dashboard(org_id, lo, hi)
    except NotFound as e:
        raise not_found(e) from None


def scoped_prefixes(read: ReadSide, request: Request, org_id: str) -> list[str]:
    """The paths the unit has had, when it is in the reader's scope; 404 as unknown otherwise."""
    try:
        return read.prefixes(visible_org(read, reader_of(request), org_id).org_id)  # type: ignore[arg-type]
    except NotFound as e:
        raise not_found(e) from None


PONG = {"ok": True}
From = Annotated[str | None, QueryParameter(name="from", format="date", description="First day, YYYY-MM-DD (default: the beginning)")]
To = Annotated[str | None, QueryParameter(name="to", format="date", description="Last day, YYYY-MM-DD, inclusive (default: today)")]
Status = Annotated[str, QueryParameter(enum=list(STATUSES), description="Which tickets: the lifecycle's statuses (schemas/lifecycle.py), overdue, or all")]
UNIT = problems(404, s404="No such org unit, or outside the reader's scope (answered alike)")
WINDOWED = {**UNIT, **problems(422, s422="from or to is not a date YYYY-MM-DD, or from is after to")}


MAX_PAGE = 1_000_000
"""Pages beyond it are refused (422): SQLite's integers end at 2**63, and a fuzzer's page number did not."""


class DashboardController(Controller):
    path = "/api"
    tags = ["dashboards"]

    @get("/position", sync_to_thread=True, summary="The ledger position the dashboards answer as of")
    def position(self, read: NamedDependency[ReadSide]) -> dict[str, int]:
        return {"dashboard": read.dashboards().position()}

    @get("/ping", sync_to_thread=True, summary="A fixed answer: this process's floor for a signed-in read")
    def ping(self) -> dict[str, bool]:
        """The same path as a dashboard read (authentication, the guard, a worker thread, JSON)
        with no query behind it: `civic bench` measures every read against it, under the same
        load. It tells a signed-in reader nothing (a fixed answer)."""
        return PONG

    @get("/orgs", sync_to_thread=True, summary="The org tree, parents before children")
    def orgs(self, read: NamedDependency[ReadSide], request: Request) -> list[Org]:
        return visible_orgs(read, reader_of(request))  # type: ignore[arg-type]

    @get("/orgs/{org_id:str}", sync_to_thread=True, summary="One org unit", responses=UNIT)
    def org(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str]) -> Org:
        try:
            return visible_org(read, reader_of(request), org_id)  # type: ignore[arg-type]
        except NotFound as e:
            raise not_found(e) from None

    @get("/orgs/{org_id:str}/dashboard", sync_to_thread=True, responses=WINDOWED,
         summary="Every KPI of docs/kpis.md for the unit's subtree, with drill-down")
    def dashboard(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str], start: From = None,
                  end: To = None) -> Dashboard:
        return board(read, request, org_id, start, end)

    @get("/orgs/{org_id:str}/dashboard.csv", sync_to_thread=True, summary="The dashboard as CSV for spreadsheets", media_type="text/csv",
         responses=WINDOWED)
    def dashboard_csv(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str], start: From = None,
                      end: To = None) -> Response[str]:
        # text/csv: Litestar adds "; charset=utf-8" to a text/* type itself
        return Response(to_csv(board(read, request, org_id, start, end)), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{org_id}-dashboard.csv"'})

    @get("/orgs/{org_id:str}/tickets", sync_to_thread=True, summary="The unit's tickets, newest first, paged",
         responses={**UNIT, **problems(422, s422="status is not one of the list, or page or page_size is out of range")})
    def tickets(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str], status: Status = "all",
                category: Annotated[str | None, QueryParameter(description="A category code (schemas/categories.py)")] = None,
                page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
                page_size: Annotated[int, QueryParameter(ge=1, le=500)] = 50) -> TicketPage:
        if status not in STATUSES:
            raise Invalid("status", f"status must be one of {', '.join(STATUSES)}")
        return read.tickets().tickets(scoped_prefixes(read, request, org_id), status, category or None, page, page_size, int(time.time()))

    @get("/orgs/{org_id:str}/workload", sync_to_thread=True, summary="Open tickets per receiving unit and grid worker, oldest first",
         responses=UNIT)
    def workload(self, read: NamedDependency[ReadSide], request: Request, org_id: FromPath[str]) -> list[Workload]:
        return read.tickets().workload(scoped_prefixes(read, request, org_id), int(time.time()))

    @get("/tickets/{ticket_id:str}", sync_to_thread=True, summary="A ticket's timeline: each event with who and when, time in each stage",
         responses=problems(404, s404="No such ticket, or outside the reader's scope (answered alike)"))
    def ticket(self, read: NamedDependency[ReadSide], request: Request, ticket_id: FromPath[str]) -> TicketTimeline:
        try:
            # The reader's scope first, then the answer for that scope (remembered per position)
            return read.timeline(ticket_id, int(time.time()), prefixes(read, reader_of(request)))  # type: ignore[arg-type]
        except NotFound as e:
            raise not_found(e) from None


FIGURES = ("raised", "dispatched", "accepted", "resolved", "closed", "rated", "satisfied", "basically_satisfied",
           "dissatisfied", "reopened", "returned", "resolved_late", "voided", "open", "overdue",
           "response_rate", "resolution_rate", "satisfaction_rate")




class RejectionsController(Controller):
    path = "/api/rejections"
    tags = ["dashboards"]

    @get("/", sync_to_thread=True, summary="The ledger's refusals in the reader's subtree, newest first, filtered; details masked")
    def rejections(self, events: NamedDependency[ReadSide], request: Request, reason: FromQuery[str | None] = None,
                   org: FromQuery[str | None] = None, since: Since = None, until: Until = None,
                   event_id: FromQuery[str | None] = None, limit: Annotated[int, QueryParameter(ge=1, le=MAX_LISTED)] = 100) -> list[Refusal]:
        """A staff account sees the refusals whose org path (as sent) passes through its unit;
        auditors and admins see all. `since`/`until`: ISO 8601 with an offset (until excluded)."""
        account = reader_of(request)
        assert account is not None  # the guard lets no anonymous reader this far
        try:
            query = refusal_query(reason=reason, org=org, since=since, until=until, event_id=event_id, limit=limit)
        except BadFilter as e:
            raise Invalid(e.field, str(e)) from None
        return refusals(events.db(), query, None if account.everything else frozenset({account.org}), mask)


def to_csv(board: Dashboard) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["scope", "key", *FIGURES, "disputes_registered", "disputes_mediated", "disputes_settled", "disputes_failed", "dispute_success_rate"])

    def row(scope: str, key: str, t: Any, d: Any = None) -> None:
        dispute = [d.registered, d.mediated, d.settled, d.failed, d.success_rate] if d else [""] * 5
        w.writerow([scope, key, *(("" if getattr(t, f) is None else getattr(t, f)) for f in FIGURES), *dispute])

    row("total", board.org.org_id, board.tickets, board.disputes)
    for c in board.by_category:
        row("category", c.category, c.tickets)
    for m in board.by_month:
        row("month", m.month, m.tickets, m.disputes)
    for ch in board.children:
        row("child", ch.org.org_id, ch.tickets, ch.disputes)
    return out.getvalue()


def invalid_params(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    """Litestar's own validation errors (a page that is not a number...) as 422 with the field."""
    extra = getattr(exc, "extra", None) or []
    field = extra.get("field") if isinstance(extra, dict) else (extra[0].get("key") if extra and isinstance(extra[0], dict) else None)
    return Response({"detail": getattr(exc, "detail", str(exc)), "field": field}, status_code=422)


def read_side(data_dir: Path, database_url: str | None, timezone: str) -> ReadSide:
    return ReadSide(Versions(NAME, data_dir, database_url), Clock(timezone), upgrading=upgrading)
