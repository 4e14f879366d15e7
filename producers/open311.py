"""Open311 GeoReport v2, mapped onto civic-ledger: many civic tools already speak it.

services          = ticket categories (schemas/categories.py)
POST requests     = TicketRaised through the ingest gateway's publishing (api_key = a gateway
                    token; jurisdiction_id = the org unit, e.g. a grid or community id)
GET requests      = tickets from the dashboard read model: open while work is outstanding,
                    closed once resolved, closed or merged; expected_datetime = the deadline
JSON and XML as the spec asks; errors as a list of {code, description}.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

import schemas as s
from producers.directory import UnknownOrg
from producers.gateway import Gateway
from projections.readside import ReadSide
from schemas import lifecycle
from schemas.categories import BY_CODE, CATEGORIES
from schemas.ledger import intake_subject

MAX_RESULTS = 1000
WINDOW = timedelta(days=90)
OPEN_STAGES = lifecycle.OPEN
"""Open311 'open': work outstanding (the lifecycle table's open stages); every other stage is 'closed'."""
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        self.code, self.description = code, description


def render(request: Request, body: Any, status: int = 200, root: str = "", item: str = "") -> Response[bytes]:
    """JSON or XML, as the path's extension asks."""
    if request.url.path.endswith(".xml"):
        element = ET.Element(root)
        for entry in body:
            child = ET.SubElement(element, item)
            for key, value in entry.items():
                if key == "keywords" and isinstance(value, list):
                    value = ",".join(value)
                ET.SubElement(child, key).text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        data = ET.tostring(element, encoding="utf-8", xml_declaration=True)
        return Response(data, status_code=status, media_type="text/xml; charset=utf-8")
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json; charset=utf-8")


def error(request: Request, e: Open311Error) -> Response[bytes]:
    return render(request, [{"code": e.code, "description": e.description}], e.code, "errors", "error")


def _iso(instant: int | None, tz: timezone) -> str | None:
    return None if instant is None else datetime.fromtimestamp(instant, tz).isoformat()


def _w3(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 datetime, e.g. 2026-03-01T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or an offset)")
    return parsed


class Open311Controller(Controller):
    path = "/open311/v2"
    tags = ["open311"]

    @get(["/services.json", "/services.xml"], summary="Open311: the service types (ticket categories)")
    async def services(self, request: Request) -> Response[bytes]:
        body = [{"service_code": c.code, "service_name": c.zh, "description": c.en, "metadata": False, "type": "realtime",
                 "keywords": [c.en.lower()], "group": c.group} for c in CATEGORIES]
        return render(request, body, root="services", item="service")

    @get("/services/{service_file:str}", summary="Open311: one service definition (no extra attributes)")
    async def service_definition(self, request: Request, service_file: FromPath[str]) -> Response[bytes]:
        code = service_file.rsplit(".", 1)[0]
        if code not in BY_CODE or not service_file.endswith((".json", ".xml")):
            return error(request, Open311Error(404, f"no service {code!r}"))
        return render(request, [{"service_code": code, "attributes": ""}], root="service_definitions", item="service_definition")

    @post(["/requests.json", "/requests.xml"], summary="Open311: raise a ticket", status_code=200)
    async def create(self, request: Request, gateway: NamedDependency[Gateway]) -> Response[bytes]:
        try:
            form = dict(await request.form())
            return render(request, [await self._create(form, gateway)], root="service_requests", item="request")
        except Open311Error as e:
            return error(request, e)

    async def _create(self, form: dict[str, Any], gateway: Gateway) -> dict[str, Any]:
        system = gateway.tokens.system(str(form.get("api_key", ""))) if form.get("api_key") else None
        if system is None:
            raise Open311Error(403, "api_key is missing or not valid")
        code, org = form.get("service_code"), form.get("jurisdiction_id")
        if not code:
            raise Open311Error(400, "service_code is required")
        if code not in BY_CODE:
            raise Open311Error(404, f"service_code {code!r} not found")
        if not org:
            raise Open311Error(400, "jurisdiction_id is required: the org unit (grid, community, village) of the problem")
        if not (form.get("lat") and form.get("long")) and not form.get("address_string") and not form.get("address_id"):
            raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
        where = form.get("address_string") or form.get("address_id") or f"{form.get('lat')},{form.get('long')}"
        description = str(form.get("description") or "")
        reporter = {k: v for k, v in (("name", " ".join(filter(None, (form.get("first_name"), form.get("last_name"))))),
                                      ("phone", form.get("phone")), ("address", form.get("email"))) if v}
        ticket_id = "o311-" + uuid.uuid4().hex[:16]
        try:
            event = s.TicketRaised(
                event_id=str(uuid.uuid4()), occurred_at=datetime.now(timezone.utc), source=system.name,
                actor=s.Actor(role="resident", id="res-" + uuid.uuid4().hex[:12]), org_id=org, ticket_id=ticket_id,
                category=code, title=(description.splitlines() or [BY_CODE[code].zh])[0][:200] or BY_CODE[code].zh,
                description=f"{description}\n地点 Location: {where}"[:4000], channel="other",
                personal=(s.PersonalData(resident_id="res-" + uuid.uuid4().hex[:12], **reporter),) if reporter else (),
            )
            s.decode(s.encode(event))
        except (msgspec.ValidationError, s.DecodeFailure, TypeError) as e:
            raise Open311Error(400, f"invalid request: {e}") from None
        if reporter:  # the pseudonymous resident and the actor are the same person
            event = msgspec.structs.replace(event, actor=s.Actor(role="resident", id=event.personal[0].resident_id))
        directory = await gateway.org_directory()
        try:
            path = await directory.path(event)
        except UnknownOrg:
            raise Open311Error(404, f"jurisdiction_id {org!r} not found") from None
        if not system.may_write(path):
            raise Open311Error(403, f"this api_key may not raise tickets at {org}")
        js = (await gateway.connection()).jetstream()
        await js.publish(intake_subject(event, path), s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        return {"service_request_id": ticket_id, "service_notice": "已受理，将由中心派单 accepted; the centre will dispatch it",
                "account_id": None}

    @get(["/requests.json", "/requests.xml"], summary="Open311: tickets, by id, service, date range and status")
    async def requests(self, request: Request, read: NamedDependency[ReadSide]) -> Response[bytes]:
        try:
            rows = query(read, dict(request.query_params))
        except Open311Error as e:
            return error(request, e)
        return render(request, rows, root="service_requests", item="request")

    @get("/requests/{request_file:str}", summary="Open311: one ticket")
    async def one(self, request: Request, read: NamedDependency[ReadSide], request_file: FromPath[str]) -> Response[bytes]:
        request_id = request_file.rsplit(".", 1)[0]
        rows = query(read, {"service_request_id": request_id})
        if not rows:
            return error(request, Open311Error(404, f"no service request {request_id!r}"))
        return render(request, rows, root="service_requests", item="request")


def query(read: ReadSide, params: dict[str, str]) -> list[dict[str, Any]]:
    """GET requests: by ids (then nothing else applies), else by service codes, status and a
    requested_datetime range of at most 90 days (the last 90 days by default); 1,000 at most."""
    tz = read.clock.tz
    where, args = [], []
    if params.get("service_request_id"):
        ids = [i for i in params["service_request_id"].split(",") if i]
        where.append(f"t.ticket_id IN ({', '.join('?' * len(ids))})")
        args += ids
    else:
        end = _w3(params["end_date"], "end_date") if params.get("end_date") else datetime.now(timezone.utc)
        start = _w3(params["start_date"], "start_date") if params.get("start_date") else end - WINDOW
        if start > end:
            raise Open311Error(400, "start_date must not be after end_date")
        if end - start > WINDOW:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
        where.append("t.raised_at >= ? AND t.raised_at <= ?")
        args += [int(start.timestamp()), int(end.timestamp())]
        if params.get("service_code"):
            codes = params["service_code"].split(",")
            where.append(f"t.category IN ({', '.join('?' * len(codes))})")
            args += codes
        if params.get("status"):
            wanted = set(params["status"].split(","))
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status must be open, closed or both")
            if wanted == {"open"}:
                where.append(f"t.stage IN ({', '.join(repr(x) for x in OPEN_STAGES)})")
            elif wanted == {"closed"}:
                where.append(f"t.stage NOT IN ({', '.join(repr(x) for x in OPEN_STAGES)})")
    db = read.db()
    rows = db.query(
        "SELECT t.ticket_id, t.stage, t.category, t.title, t.raised_at, t.updated_at, t.deadline, t.duplicate_of, "
        "u.name, (SELECT detail FROM trail WHERE kind='ticket' AND entity_id=t.ticket_id AND type='TicketRaised'), "
        "(SELECT detail FROM trail WHERE kind='ticket' AND entity_id=t.ticket_id AND type IN ('TicketResolved', 'TicketReturned') "
        " ORDER BY position DESC LIMIT 1) "
        f"FROM tickets t LEFT JOIN orgs u ON u.org_id = t.to_unit WHERE {' AND '.join(where)} "
        "ORDER BY t.raised_at DESC, t.ticket_id LIMIT ?", [*args, MAX_RESULTS])
    out = []
    for tid, stage, code, title, raised, updated, deadline, duplicate_of, agency, raised_detail, last_detail in rows:
        raised_fields = msgspec.json.decode(raised_detail) if raised_detail else {}
        note = msgspec.json.decode(last_detail) if last_detail else {}
        status_notes = (f"merged into {duplicate_of}" if stage == "voided" else note.get("resolution") or note.get("reason"))
        category = BY_CODE.get(code)
        out.append(dict(zip(REQUEST_FIELDS, (
            tid, "open" if stage in OPEN_STAGES else "closed", status_notes, category.zh if category else code, code,
            raised_fields.get("description") or title, agency, None, _iso(raised, tz), _iso(updated, tz), _iso(deadline, tz),
            None, None, None, None, None, None))))
    return out
