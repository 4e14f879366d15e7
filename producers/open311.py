"""Open311 GeoReport v2, the write side: POST requests = TicketRaised through the ingest gateway's
publishing (api_key = a gateway token; jurisdiction_id = the org unit, e.g. a grid or community
id). The read side (discovery, services, GET requests) is dashboards/open311.py; both render
through schemas/open311.py: JSON and XML as the spec asks, errors as a list of {code, description}.

Where the problem is travels as the raised event's own public fields: lat/long, address_id. The
address_string is where the resident is (often their home): personal data, sealed with the
reporter's name, phone and email (the ledger seals `personal`; an erasure destroys it), never
copied into the public description.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body

import schemas as s
from adapters.http import NONE, open311_errors as errors, open311_invalid, problems, respond
from producers.directory import UnknownOrg
from producers.gateway import Gateway
from schemas.base import Latitude, Longitude
from schemas.categories import BY_CODE
from schemas.open311 import Open311Error, RequestCreated, error, render
from schemas.topology import intake_subject


class RequestForm(msgspec.Struct, frozen=True):
    """POST requests' form fields (application/x-www-form-urlencoded), as the spec names them.
    api_key, service_code and jurisdiction_id are required here, and a location: lat and long,
    address_string or address_id. Each is checked with a sentence of its own (the spec's 400/403/404)."""

    api_key: str | None = None
    """A gateway token for an upstream system (`civic gateway token SYSTEM --org UNIT`)."""
    service_code: str | None = None
    jurisdiction_id: str | None = None
    """The org unit (grid, community, village) where the problem is."""
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    """Personal data: sealed with the reporter, never public."""
    address_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    last_name: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    media_url: str | None = None


Form = Annotated[RequestForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


class Open311Controller(Controller):
    path = "/open311"
    tags = ["open311"]
    exception_handlers = {ValidationException: open311_invalid}

    @post("/v2/requests.json", summary="Open311: raise a ticket", status_code=200, security=NONE,
          responses={**errors(400, 403, 404), **problems(413)})
    async def create_json(self, request: Request, gateway: NamedDependency[Gateway], data: Form) -> Response[list[RequestCreated]]:
        return await self._answer(request, gateway, data)

    @post("/v2/requests.xml", summary="Open311: raise a ticket, answered in XML", status_code=200, security=NONE,
          media_type="text/xml", responses={**errors(400, 403, 404, xml=True), **problems(413)})
    async def create_xml(self, request: Request, gateway: NamedDependency[Gateway], data: Form) -> Response[str]:
        return await self._answer(request, gateway, data)

    async def _answer(self, request: Request, gateway: Gateway, form: RequestForm) -> Response[Any]:
        try:
            doc = render(request.url.path, [await self._create(form, gateway)], "service_requests")
        except Open311Error as e:
            doc = error(request.url.path, e)
        return respond(doc)

    async def _create(self, form: RequestForm, gateway: Gateway) -> RequestCreated:
        system = gateway.tokens.system(form.api_key) if form.api_key else None
        if system is None:
            raise Open311Error(403, "api_key is missing or not valid")
        code, org = form.service_code, form.jurisdiction_id
        if not code:
            raise Open311Error(400, "service_code is required")
        if code not in BY_CODE:
            raise Open311Error(404, f"service_code {code!r} not found")
        if not org:
            raise Open311Error(400, "jurisdiction_id is required: the org unit (grid, community, village) of the problem")
        point = form.lat is not None and form.long is not None
        if (form.lat is None) != (form.long is None):
            raise Open311Error(400, "lat and long go together")
        if not point and not form.address_string and not form.address_id:
            raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
        description = form.description or ""
        name = " ".join(filter(None, (form.first_name, form.last_name)))
        reporter = {k: v for k, v in (("name", name), ("phone", form.phone), ("address", form.address_string),
                                      ("email", form.email)) if v}
        resident = "res-" + uuid.uuid4().hex[:12]
        ticket_id = "o311-" + uuid.uuid4().hex[:16]
        try:
            event = s.TicketRaised(
                event_id=str(uuid.uuid4()), occurred_at=datetime.now(timezone.utc), source=system.name,
                actor=s.Actor(role="resident", id=resident), org_id=org, ticket_id=ticket_id, category=code,
                title=(description.splitlines() or [BY_CODE[code].zh])[0][:200] or BY_CODE[code].zh,
                description=description, channel="other", lat=form.lat, long=form.long, address_id=form.address_id or None,
                # the pseudonymous resident and the actor are the same person
                personal=(s.PersonalData(resident_id=resident, **reporter),) if reporter else (),
            )
            s.decode(s.encode(event))
        except (msgspec.ValidationError, s.DecodeFailure, TypeError) as e:
            raise Open311Error(400, f"invalid request: {e}") from None
        directory = await gateway.org_directory()
        try:
            path = await directory.path(event)
        except UnknownOrg:
            raise Open311Error(404, f"jurisdiction_id {org!r} not found") from None
        if not system.may_write(path):
            raise Open311Error(403, f"this api_key may not raise tickets at {org}")
        js = await gateway.jetstream()
        await js.publish(intake_subject(event, path), s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        return RequestCreated(ticket_id, "已受理，将由中心派单 accepted; the centre will dispatch it")
