"""Open311 GeoReport v2, the read side: many civic tools already speak it.

discovery         = where the endpoint is and what it speaks (Service Discovery)
services          = ticket categories (schemas/categories.py); none asks for attributes, so each
                    service definition has an empty attributes array
GET requests      = tickets from the dashboard read model (projections.service_requests): open
                    while work is outstanding, closed once resolved, closed or merged;
                    expected_datetime = the deadline; lat/long and address_id as raised
The write side (POST requests) is producers/open311.py; both render through schemas/open311.py.

Public, as the spec intends: an anonymous reader gets the public categories only (schemas/
categories.py `public`), and free text (description, status notes) with phone and ID numbers
masked (dashboards/masking.py). A signed-in reader (a session or a bearer token) gets the tickets
of their scope, every category, unmasked: what the dashboards show them anyway. The reporter's
address_string is sealed with their other personal data and is in no answer here: staff read it
with the contact (GET /api/tickets/{id}/contact, access-logged), and an erasure destroys it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import FromPath, Parameter, QueryParameter

from adapters.http import NONE, OPTIONAL_READER, open311_errors as errors, open311_invalid, respond
from dashboards.accounts import Account
from dashboards.auth import PUBLIC, covers, prefixes, reader_of
from dashboards.masking import mask
from projections.readside import ReadSide
from projections.service_requests import ServiceRequest as Ticket
from schemas.categories import BY_CODE, CATEGORIES, PUBLIC_CODES
from schemas.open311 import (JSON, SPECIFICATION, XML, Discovery, Endpoint, Open311Error, Service, ServiceDefinition, ServiceRequest,
                             error, render)

MAX_RESULTS = 1000
WINDOW = timedelta(days=90)
CHANGESET = "2026-11-28T00:00:00Z"
"""When the services or their definitions last changed: clients refresh cached definitions after it."""
FILE = r"^[A-Za-z0-9_-]{1,64}\.(json|xml)$"
"""A {file} path segment: an id and the format."""


_W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
"""The spec's w3 datetime with seconds (RFC 3339, as /openapi.json says: date-time); Python's
fromisoformat alone also takes the basic forms ("20260301T093000"), which the spec does not."""


def _w3(value: str, name: str) -> datetime:
    try:
        if not _W3.match(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 datetime, e.g. 2026-03-01T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or an offset)")
    return parsed


W3 = "A w3 datetime with a time zone, e.g. 2026-03-01T09:30:00+08:00"
Ids = Annotated[str | None, QueryParameter(description="Comma-separated service request ids; they override the other "
                                                       "arguments (which must still be well-formed)")]
Codes = Annotated[str | None, QueryParameter(description="Comma-separated service codes (ticket categories)")]
Start = Annotated[str | None, QueryParameter(description=W3 + "; default: 90 days before end_date", format="date-time")]
End = Annotated[str | None, QueryParameter(description=W3 + "; default: now", format="date-time")]
States = Annotated[str | None, QueryParameter(description="open, closed, or both comma-separated", pattern=r"^(open|closed)(,(open|closed))*$")]


class Open311ReadController(Controller):
    path = "/open311"
    tags = ["open311"]
    opt = PUBLIC  # the write side (POST) checks its api_key itself
    exception_handlers = {ValidationException: open311_invalid}

    @get("/discovery.json", summary="Open311 service discovery (JSON)", security=NONE)
    async def discovery_json(self, request: Request) -> Response[Discovery]:
        return respond(render(request.url.path, discovery(request), "discovery"))

    @get("/discovery.xml", summary="Open311 service discovery (XML)", media_type=XML, security=NONE)
    async def discovery_xml(self, request: Request) -> Response[str]:
        return respond(render(request.url.path, discovery(request), "discovery"))

    @get("/v2/services.json", summary="Open311: the service types (ticket categories)", security=OPTIONAL_READER)
    async def services_json(self, request: Request) -> Response[list[Service]]:
        return respond(render(request.url.path, services(request), "services"))

    @get("/v2/services.xml", summary="Open311: the service types, as XML", media_type=XML, security=OPTIONAL_READER)
    async def services_xml(self, request: Request) -> Response[str]:
        return respond(render(request.url.path, services(request), "services"))

    @get("/v2/services/{service_file:str}", summary="Open311: one service definition (its attributes: none here)",
         security=OPTIONAL_READER, opt={"formats": (XML,)}, responses=errors(400, 404))
    async def service_definition(self, request: Request,
                                 service_file: Annotated[str, Parameter(pattern=FILE, description="service_code.json or .xml",
                                                                        examples=[Example(value="parking.json"), Example(value="parking.xml")])]
                                 ) -> Response[ServiceDefinition]:
        code = service_file.rsplit(".", 1)[0]
        if code not in BY_CODE or not service_file.endswith((".json", ".xml")) or \
                (reader_of(request) is None and code not in PUBLIC_CODES):
            return respond(error(request.url.path, Open311Error(404, f"no service {code!r}")))
        return respond(render(request.url.path, ServiceDefinition(code, []), "service_definition"))

    @get("/v2/requests.json", summary="Open311: tickets, by id, service, date range and status", security=OPTIONAL_READER,
         responses=errors(400))
    async def requests_json(self, request: Request, read: NamedDependency[ReadSide], service_request_id: Ids = None,
                            service_code: Codes = None, start_date: Start = None, end_date: End = None,
                            status: States = None) -> Response[list[ServiceRequest]]:
        return self._requests(request, read, service_request_id=service_request_id, service_code=service_code,
                              start_date=start_date, end_date=end_date, status=status)

    @get("/v2/requests.xml", summary="Open311: tickets, as XML", media_type=XML, security=OPTIONAL_READER,
         responses=errors(400, xml=True))
    async def requests_xml(self, request: Request, read: NamedDependency[ReadSide], service_request_id: Ids = None,
                           service_code: Codes = None, start_date: Start = None, end_date: End = None,
                           status: States = None) -> Response[str]:
        return self._requests(request, read, service_request_id=service_request_id, service_code=service_code,
                              start_date=start_date, end_date=end_date, status=status)

    def _requests(self, request: Request, read: ReadSide, **given: str | None) -> Response[Any]:
        params = {name: value for name, value in given.items() if value is not None}  # "" is given, and checked
        try:
            rows = query(read, params, reader_of(request))
        except Open311Error as e:
            return respond(error(request.url.path, e))
        return respond(render(request.url.path, rows, "service_requests"))

    @get("/v2/requests/{request_file:str}", summary="Open311: one ticket", security=OPTIONAL_READER,
         opt={"formats": (XML,)}, responses=errors(400, 404))
    async def one(self, request: Request, read: NamedDependency[ReadSide],
                  request_file: Annotated[str, Parameter(pattern=FILE, description="service_request_id.json or .xml")]
                  ) -> Response[list[ServiceRequest]]:
        request_id = request_file.rsplit(".", 1)[0]
        rows = query(read, {"service_request_id": request_id}, reader_of(request))
        if not rows:
            return respond(error(request.url.path, Open311Error(404, f"no service request {request_id!r}")))
        return respond(render(request.url.path, rows, "service_requests"))


def discovery(request: Request) -> Discovery:
    base = str(request.base_url).rstrip("/")
    return Discovery(CHANGESET, "The district's governance centre (区社会治理中心), which runs this service.",
                     "Ask the centre for an api_key: its administrator issues one per system and org unit "
                     "(`civic gateway token SYSTEM --org UNIT`); reading needs none.",
                     [Endpoint(SPECIFICATION, f"{base}/open311/v2", CHANGESET, "production", [XML, JSON])])


def services(request: Request) -> list[Service]:
    signed_in = reader_of(request) is not None
    return [Service(c.code, c.zh, c.en, False, "realtime", keywords(c.zh, c.en), c.group)
            for c in CATEGORIES if signed_in or c.public]


def keywords(*names: str) -> str:
    """Comma-separated, as the spec has it: the category's names (Chinese, English lower-cased)."""
    return ",".join(dict.fromkeys(n.strip().lower() for n in names if n.strip() and "," not in n))


def query(read: ReadSide, params: dict[str, str], reader: Account | None = None) -> list[ServiceRequest]:
    """GET requests: by ids (which override every other argument, as the spec says), else by
    service codes, status and a requested_datetime range of at most 90 days (the last 90 days by
    default); 1,000 at most. Every argument given must be well-formed, ids or not. Anonymous:
    public categories, masked text; a reader: their scope."""
    scope = prefixes(read, reader) if reader is not None else None
    end = _w3(params["end_date"], "end_date") if "end_date" in params else datetime.now(timezone.utc)
    start = _w3(params["start_date"], "start_date") if "start_date" in params else end - WINDOW
    open_: bool | None = None
    if "status" in params:
        wanted = set(params["status"].split(","))
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        open_ = None if wanted == {"open", "closed"} else wanted == {"open"}

    def shown(found: list[Ticket]) -> list[ServiceRequest]:
        if reader is None:
            return [_request(r, mask) for r in found if r.category in PUBLIC_CODES]
        return [_request(r) for r in found if covers(scope, r.path)]

    if params.get("service_request_id"):  # empty: left out (no format to break)
        ids = [i for i in params["service_request_id"].split(",") if i]
        return shown(read.service_requests().by_ids(ids, MAX_RESULTS))
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    codes = params["service_code"].split(",") if params.get("service_code") else None
    if reader is None:
        codes = sorted(PUBLIC_CODES.intersection(codes) if codes else PUBLIC_CODES) or ["-"]
    found = read.service_requests().raised_between(int(start.timestamp()), int(end.timestamp()), codes, open_, MAX_RESULTS)
    return shown(found)


def _request(r: Ticket, text: Callable[[Any], Any] = lambda t: t) -> ServiceRequest:
    """A ticket in the spec's fields: open or closed, the category's name as the service's; the
    public answer (text=mask) has phone and ID numbers in its free text masked."""
    category = BY_CODE.get(r.category)
    return ServiceRequest(
        service_request_id=r.ticket_id, status="open" if r.open else "closed", status_notes=text(r.status_notes),
        service_name=category.zh if category else r.category, service_code=r.category, description=text(r.description),
        agency_responsible=r.agency, service_notice=None, requested_datetime=r.raised_at, updated_datetime=r.updated_at,
        expected_datetime=r.deadline, address=None, address_id=r.address_id, zipcode=None, lat=r.lat, long=r.long,
        media_url=None)
