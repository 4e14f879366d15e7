"""Open311 GeoReport v2, the write side: POST requests = TicketRaised through the ingest gateway's
publishing (api_key = a gateway token; jurisdiction_id = the org unit, e.g. a grid or community
id). The read side (services, GET requests) is dashboards/open311.py; both render through
schemas/open311.py: JSON and XML as the spec asks, errors as a list of {code, description}.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency

import schemas as s
from producers.directory import UnknownOrg
from producers.gateway import Gateway
from schemas.categories import BY_CODE
from schemas.topology import intake_subject
from schemas.open311 import Open311Error, error, render


class Open311Controller(Controller):
    path = "/open311/v2"
    tags = ["open311"]

    @post(["/requests.json", "/requests.xml"], summary="Open311: raise a ticket", status_code=200)
    async def create(self, request: Request, gateway: NamedDependency[Gateway]) -> Response[bytes]:
        try:
            form = dict(await request.form())
            doc = render(request.url.path, [await self._create(form, gateway)], root="service_requests", item="request")
        except Open311Error as e:
            doc = error(request.url.path, e)
        return Response(doc.content, status_code=doc.status, media_type=doc.media_type)

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
        # An address_string is where the resident is (often their home): personal data, sealed with
        # the reporter's, never copied into the public description. address_id and lat/long locate
        # the problem on the district's own map and stay public.
        located = form.get("address_id") or (f"{form.get('lat')},{form.get('long')}" if form.get("lat") and form.get("long") else "")
        where = located or "见报告人的密封信息 in the reporter's sealed details"
        description = str(form.get("description") or "")
        address = "; ".join(str(v) for v in (form.get("address_string"), form.get("email") and f"email {form.get('email')}") if v)
        reporter = {k: v for k, v in (("name", " ".join(filter(None, (form.get("first_name"), form.get("last_name"))))),
                                      ("phone", form.get("phone")), ("address", address[:300])) if v}
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
        js = await gateway.jetstream()
        await js.publish(intake_subject(event, path), s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        return {"service_request_id": ticket_id, "service_notice": "已受理，将由中心派单 accepted; the centre will dispatch it",
                "account_id": None}
