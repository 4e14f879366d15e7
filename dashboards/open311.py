"""Open311 GeoReport v2, the read side: many civic tools already speak it.

services          = ticket categories (schemas/categories.py)
GET requests      = tickets from the dashboard read model (projections.service_requests): open
                    while work is outstanding, closed once resolved, closed or merged;
                    expected_datetime = the deadline
The write side (POST requests) is producers/open311.py; both render through schemas/open311.py.

Public, as the spec intends: an anonymous reader gets the public categories only (schemas/
categories.py `public`), and free text (description, status notes) with phone and ID numbers
masked (dashboards/masking.py). A signed-in reader (a session or a bearer token) gets the tickets
of their scope, every category, unmasked: what the dashboards show them anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from dashboards.accounts import Account
from dashboards.auth import PUBLIC, covers, prefixes, reader_of
from dashboards.masking import mask
from projections.readside import ReadSide
from projections.service_requests import ServiceRequest
from schemas.categories import BY_CODE, CATEGORIES, PUBLIC_CODES
from schemas.open311 import REQUEST_FIELDS, Document, Open311Error, error, render

MAX_RESULTS = 1000
WINDOW = timedelta(days=90)


def _response(doc: Document) -> Response[bytes]:
    return Response(doc.content, status_code=doc.status, media_type=doc.media_type)


def _w3(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 datetime, e.g. 2026-03-01T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or an offset)")
    return parsed


class Open311ReadController(Controller):
    path = "/open311/v2"
    tags = ["open311"]
    opt = PUBLIC  # the write side (POST) checks its api_key itself

    @get(["/services.json", "/services.xml"], summary="Open311: the service types (ticket categories)")
    async def services(self, request: Request) -> Response[bytes]:
        signed_in = reader_of(request) is not None
        body = [{"service_code": c.code, "service_name": c.zh, "description": c.en, "metadata": False, "type": "realtime",
                 "keywords": [c.en.lower()], "group": c.group} for c in CATEGORIES if signed_in or c.public]
        return _response(render(request.url.path, body, root="services", item="service"))

    @get("/services/{service_file:str}", summary="Open311: one service definition (no extra attributes)")
    async def service_definition(self, request: Request, service_file: FromPath[str]) -> Response[bytes]:
        code = service_file.rsplit(".", 1)[0]
        if code not in BY_CODE or not service_file.endswith((".json", ".xml")) or \
                (reader_of(request) is None and code not in PUBLIC_CODES):
            return _response(error(request.url.path, Open311Error(404, f"no service {code!r}")))
        return _response(render(request.url.path, [{"service_code": code, "attributes": ""}],
                                root="service_definitions", item="service_definition"))

    @get(["/requests.json", "/requests.xml"], summary="Open311: tickets, by id, service, date range and status")
    async def requests(self, request: Request, read: NamedDependency[ReadSide]) -> Response[bytes]:
        try:
            rows = query(read, dict(request.query_params), reader_of(request))
        except Open311Error as e:
            return _response(error(request.url.path, e))
        return _response(render(request.url.path, rows, root="service_requests", item="request"))

    @get("/requests/{request_file:str}", summary="Open311: one ticket")
    async def one(self, request: Request, read: NamedDependency[ReadSide], request_file: FromPath[str]) -> Response[bytes]:
        request_id = request_file.rsplit(".", 1)[0]
        rows = query(read, {"service_request_id": request_id}, reader_of(request))
        if not rows:
            return _response(error(request.url.path, Open311Error(404, f"no service request {request_id!r}")))
        return _response(render(request.url.path, rows, root="service_requests", item="request"))


def query(read: ReadSide, params: dict[str, str], reader: Account | None = None) -> list[dict[str, Any]]:
    """GET requests: by ids (then nothing else applies), else by service codes, status and a
    requested_datetime range of at most 90 days (the last 90 days by default); 1,000 at most.
    Anonymous: public categories, masked text; a reader: their scope."""
    scope = prefixes(read, reader) if reader is not None else None

    def shown(found: list[ServiceRequest]) -> list[dict[str, Any]]:
        if reader is None:
            return [_public(r) for r in found if r.category in PUBLIC_CODES]
        return [_request(r) for r in found if covers(scope, r.path)]

    if params.get("service_request_id"):
        ids = [i for i in params["service_request_id"].split(",") if i]
        return shown(read.service_requests().by_ids(ids, MAX_RESULTS))
    end = _w3(params["end_date"], "end_date") if params.get("end_date") else datetime.now(timezone.utc)
    start = _w3(params["start_date"], "start_date") if params.get("start_date") else end - WINDOW
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    open_: bool | None = None
    if params.get("status"):
        wanted = set(params["status"].split(","))
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        open_ = None if wanted == {"open", "closed"} else wanted == {"open"}
    codes = params["service_code"].split(",") if params.get("service_code") else None
    if reader is None:
        codes = sorted(PUBLIC_CODES.intersection(codes) if codes else PUBLIC_CODES) or ["-"]
    found = read.service_requests().raised_between(int(start.timestamp()), int(end.timestamp()), codes, open_, MAX_RESULTS)
    return shown(found)


def _public(r: ServiceRequest) -> dict[str, Any]:
    """The public answer: the same fields, free text with phone and ID numbers masked."""
    return _request(r, mask)


def _request(r: ServiceRequest, text: Any = lambda t: t) -> dict[str, Any]:
    """A ticket in the spec's fields: open or closed, the category's name as the service's."""
    category = BY_CODE.get(r.category)
    return dict(zip(REQUEST_FIELDS, (
        r.ticket_id, "open" if r.open else "closed", text(r.status_notes), category.zh if category else r.category, r.category,
        text(r.description), r.agency, None, r.raised_at, r.updated_at, r.deadline, None, None, None, None, None, None)))
