"""Open311 GeoReport v2 through a real HTTP client against the web role served by uvicorn on a
loopback port, over the real pipeline: every endpoint, its parameters, JSON and XML, errors."""

from __future__ import annotations

import asyncio
import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

import schemas as s
from civic.web import create_app
from producers.gateway import Tokens, tokens_path
from producers.privacy import erasure
from schemas import topology
from tests.scenario import DISPATCHER, WORKER, at
from tests.support import bearer, read_stream, publish_all, stream_count, wait_for

pytestmark = pytest.mark.integration
ORGS = [("yn", "district", None), ("ta", "town", "yn"), ("c1", "community", "ta"), ("tb", "town", "yn")]


@pytest.fixture
async def open311(settings, pipeline_with_projector):
    tokens = Tokens(tokens_path(settings.data_dir))
    key = tokens.issue("hotline-12345", ["ta"])
    js = pipeline_with_projector.projector.js
    paths: dict[str, tuple[str, ...]] = {}
    orgs = []
    for i, (org, kind, parent) in enumerate(ORGS):
        paths[org] = (*paths[parent], org) if parent else (org,)
        event = s.OrgUnitRegistered(event_id=f"o{i}", occurred_at=at(1, 8), source="admin", actor=s.Actor(role="system", id="sys"),
                                    org_id=org, kind=kind, name=f"{org} office", parent_id=parent)
        orgs.append((event, topology.intake_subject(event, paths[org])))
    await publish_all(js, orgs)

    async def relayed():  # the relay writes the org directory that producers read
        return await stream_count(js, topology.LEDGER) >= len(orgs)
    await wait_for(relayed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    # Signed in as an auditor: the full answers (anonymous readers get the public ones: test_web_access.py)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/open311/v2", headers=bearer(settings.data_dir)) as client:
        await wait_for(lambda: _up(client), timeout=20)
        yield client, key, js
    server.should_exit = True
    await serving


async def _up(client) -> bool:  # type: ignore[no-untyped-def]
    try:
        return (await client.get("/services.json")).status_code == 200
    except httpx.HTTPError:
        return False


def form(key: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    """The POST's form; a field given as None is left out."""
    fields = {"api_key": key, "service_code": "parking", "jurisdiction_id": "c1", "lat": "22.81", "long": "108.37",
              "description": "电动车堵住消防通道\nE-bikes block the fire lane", "first_name": "Hua", "last_name": "Li",
              "phone": "13800000000", "email": "li@example.cn", **extra}
    return {k: v for k, v in fields.items() if v is not None}


async def created(client, key: str, **extra) -> str:  # type: ignore[no-untyped-def]
    answer = await client.post("/requests.json", data=form(key, **extra))
    assert answer.status_code == 200, answer.text
    [body] = answer.json()
    assert body["service_notice"]
    return body["service_request_id"]


async def visible(client, request_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def found():
        r = await client.get(f"/requests/{request_id}.json")
        return r.json()[0] if r.status_code == 200 else None
    return await wait_for(found, timeout=30)


async def test_services_in_json_and_xml(open311):
    client, _, _ = open311
    services = (await client.get("/services.json")).json()
    parking = next(x for x in services if x["service_code"] == "parking")
    assert parking == {"service_code": "parking", "service_name": "停车秩序", "description": "Parking", "metadata": False,
                       "type": "realtime", "keywords": "停车秩序,parking", "group": "residents"}
    xml = await client.get("/services.xml")
    assert xml.headers["content-type"].startswith("text/xml") and xml.content.startswith(b"<?xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text == "false"
    assert (await client.get("/services/parking.json")).json() == {"service_code": "parking", "attributes": []}
    missing = await client.get("/services/potholes.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_post_then_get_a_request_through_its_life(open311):
    client, key, js = open311
    request_id = await created(client, key)
    got = await visible(client, request_id)
    assert got["status"] == "open" and got["service_code"] == "parking" and got["service_name"] == "停车秩序"
    assert got["description"] == "电动车堵住消防通道\nE-bikes block the fire lane" and (got["lat"], got["long"]) == (22.81, 108.37)
    assert datetime.fromisoformat(got["requested_datetime"]).tzinfo is not None and got["expected_datetime"] is None
    assert "13800000000" not in str(got) and "Li" not in got["description"]

    now = datetime.now(timezone.utc)
    path = topology.INTAKE_PREFIX + "{}.yn.ta.c1"
    steps = [s.TicketDispatched(event_id=f"{request_id}-d", occurred_at=now, source="centre", actor=DISPATCHER, org_id="c1",
                                ticket_id=request_id, to_unit="c1", deadline=now + timedelta(days=2)),
             s.TicketAccepted(event_id=f"{request_id}-a", occurred_at=now, source="grid", actor=WORKER, org_id="c1", ticket_id=request_id),
             s.TicketResolved(event_id=f"{request_id}-r", occurred_at=now, source="grid", actor=WORKER, org_id="c1",
                              ticket_id=request_id, resolution="bays painted")]
    await publish_all(js, [(e, path.format(e.type)) for e in steps])

    async def closed():
        r = (await client.get(f"/requests/{request_id}.json")).json()[0]
        return r if r["status"] == "closed" else None
    done = await wait_for(closed, timeout=30)
    assert done["status_notes"] == "bays painted" and done["agency_responsible"] == "c1 office"
    assert done["expected_datetime"] and done["updated_datetime"] >= done["requested_datetime"]

    xml = ET.fromstring((await client.get(f"/requests/{request_id}.xml")).content)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == request_id
    assert xml.find("request/status").text == "closed"


async def test_an_address_string_is_sealed_with_the_reporter_never_public(open311):
    """An address_string locates the resident (often their home): personal data, sealed like a name."""
    client, key, js = open311
    request_id = await created(client, key, lat=None, long=None, address_string="龙祥路 12号 Longxiang Rd 12")
    got = await visible(client, request_id)
    assert "Longxiang Rd 12" not in str(got) and "龙祥路" not in str(got)
    intake = [m for m in await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS) if request_id.encode() in m.data]
    raised = s.decode(intake[0].data)
    assert (raised.personal[0].address, raised.personal[0].email) == ("龙祥路 12号 Longxiang Rd 12", "li@example.cn")
    assert (raised.lat, raised.long, raised.address_id) == (None, None, None) and got["address"] is None
    assert "Longxiang" not in raised.description and "Longxiang" not in raised.title
    ledger = [m for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS) if request_id.encode() in m.data]
    assert b"Longxiang" not in ledger[0].data and b"example.cn" not in ledger[0].data


async def test_the_address_reaches_staff_only_and_is_erased_with_the_resident(open311, settings):
    """address_string is personal data: sealed, read by staff of the unit through the access-logged
    contact, in no Open311 answer, and gone once the resident is erased."""
    client, key, js = open311
    request_id = await created(client, key, address_string="龙祥路 12号 Longxiang Rd 12")
    public = await visible(client, request_id)
    assert public["address"] is None and (public["lat"], public["long"]) == (22.81, 108.37)
    contact_url = str(client.base_url).replace("/open311/v2", f"/api/tickets/{request_id}/contact")
    staff = bearer(settings.data_dir, "c1-secretary", "staff", "c1")
    [contact] = (await client.get(contact_url, headers=staff)).json()
    assert (contact["address"], contact["email"], contact["name"], contact["erased"]) == \
        ("龙祥路 12号 Longxiang Rd 12", "li@example.cn", "Hua Li", False)
    gone = erasure(contact["resident_id"], "asked to be forgotten", "yn")
    await publish_all(js, [(gone, topology.intake_subject(gone, ("yn",)))])

    async def erased():  # type: ignore[no-untyped-def]
        [now] = (await client.get(contact_url, headers=staff)).json()
        return now if now["erased"] else None
    assert (await wait_for(erased))["address"] is None


async def test_get_requests_with_the_spec_parameters(open311):
    client, key, _ = open311
    first, second = await created(client, key), await created(client, key, service_code="environment")
    await visible(client, first), await visible(client, second)
    both = (await client.get("/requests.json", params={"service_request_id": f"{first},{second}"})).json()
    assert {r["service_request_id"] for r in both} == {first, second}
    parking = (await client.get("/requests.json", params={"service_code": "parking"})).json()
    assert first in {r["service_request_id"] for r in parking} and second not in {r["service_request_id"] for r in parking}
    assert {r["service_request_id"] for r in (await client.get("/requests.json", params={"status": "open"})).json()} >= {first, second}
    assert (await client.get("/requests.json", params={"status": "closed"})).json() == []
    day = datetime.now(timezone(timedelta(hours=8)))
    window = {"start_date": (day - timedelta(days=1)).isoformat(), "end_date": (day + timedelta(days=1)).isoformat()}
    assert len((await client.get("/requests.json", params=window)).json()) == 2
    past = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00Z"}
    assert (await client.get("/requests.json", params=past)).json() == []
    xml = ET.fromstring((await client.get("/requests.xml", params={"status": "open"})).content)
    assert len(xml.findall("request")) == 2


@pytest.mark.parametrize("params, code", [
    ({"status": "lost"}, 400),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, 400),  # more than 90 days
    ({"start_date": "yesterday"}, 400),
    ({"start_date": "2026-03-01T00:00:00"}, 400),  # no time zone
    ({"start_date": "2026-03-10T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}, 400),
])
async def test_get_requests_errors(open311, params, code):
    client, _, _ = open311
    answer = await client.get("/requests.json", params=params)
    assert answer.status_code == code and answer.json()[0]["code"] == code and answer.json()[0]["description"]
    xml = await client.get("/requests.xml", params=params)
    assert ET.fromstring(xml.content).find("error/code").text == str(code)


@pytest.mark.parametrize("change, code", [
    ({"api_key": ""}, 403),
    ({"api_key": "not-a-key"}, 403),
    ({"service_code": ""}, 400),
    ({"service_code": "potholes"}, 404),
    ({"jurisdiction_id": ""}, 400),
    ({"jurisdiction_id": "atlantis"}, 404),
    ({"jurisdiction_id": "tb"}, 403),  # outside the key's subtree
    ({"lat": None, "long": None}, 400),   # no location at all
    ({"lat": "", "long": ""}, 400),   # not numbers
    ({"lat": "91", "long": "108.37"}, 400),   # not on earth
    ({"long": None}, 400),   # lat without long
])
async def test_post_errors(open311, change, code):
    client, key, _ = open311
    answer = await client.post("/requests.json", data=form(key, **change))
    assert answer.status_code == code and answer.json()[0]["code"] == code, answer.text
    assert (await client.get("/requests/nope.json")).status_code == 404


# -- the spec, endpoint by endpoint, JSON and XML (http://wiki.open311.org/GeoReport_v2) --------

W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
SERVICE = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
           "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
           "address", "address_id", "zipcode", "lat", "long", "media_url"}


def as_xml(answer: httpx.Response, root: str) -> ET.Element:
    """The spec's XML: one charset in the header, the declaration saying UTF-8, the named root."""
    assert answer.headers["content-type"] == "text/xml; charset=utf-8", answer.headers["content-type"]
    assert answer.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    element = ET.fromstring(answer.content)
    assert element.tag == root, element.tag
    return element


def as_json(answer: httpx.Response) -> object:
    assert answer.headers["content-type"] == "application/json; charset=utf-8", (answer.url, answer.headers["content-type"])
    return answer.json()


async def test_each_endpoint_meets_the_spec(open311):
    client, key, _ = open311
    root = str(client.base_url).rstrip("/").removesuffix("/v2")

    # Service discovery: changeset, contact, key_service, endpoints with specification, url, formats.
    discovery = as_json(await client.get(f"{root}/discovery.json"))
    assert set(discovery) == {"changeset", "contact", "key_service", "endpoints"} and W3.match(discovery["changeset"])
    [endpoint] = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2" and endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"} and endpoint["type"] == "production"
    xml = as_xml(await client.get(f"{root}/discovery.xml"), "discovery")
    assert [f.text for f in xml.findall("endpoints/endpoint/formats/format")] == endpoint["formats"]

    # GET services: every field, metadata a boolean, keywords one comma-separated string.
    services = as_json(await client.get("/services.json"))
    assert services and all(set(s) == SERVICE and isinstance(s["keywords"], str) and s["metadata"] is False for s in services)
    xml = as_xml(await client.get("/services.xml"), "services")
    assert [e.findtext("service_code") for e in xml.findall("service")] == [s["service_code"] for s in services]
    assert {c.tag for c in xml.find("service")} == SERVICE and xml.findtext("service/keywords") == services[0]["keywords"]

    # GET service definition: the code and an attributes array (empty: metadata is false everywhere).
    for s in services:
        assert as_json(await client.get(f"/services/{s['service_code']}.json")) == {"service_code": s["service_code"], "attributes": []}
    xml = as_xml(await client.get("/services/parking.xml"), "service_definition")
    assert xml.findtext("service_code") == "parking" and xml.find("attributes") is not None and len(xml.find("attributes")) == 0

    # POST service request: the id and a notice; lat/long and address_id come back on GET.
    created_json = as_json(await client.post("/requests.json", data=form(key, address_id="yn-addr-7")))
    [made] = created_json  # type: ignore[misc]
    assert set(made) == {"service_request_id", "service_notice", "account_id"}
    xml = as_xml(await client.post("/requests.xml", data=form(key)), "service_requests")
    assert xml.findtext("request/service_request_id", "").startswith("o311-")
    got = await visible(client, made["service_request_id"])
    assert set(got) == REQUEST and (got["lat"], got["long"], got["address_id"]) == (22.81, 108.37, "yn-addr-7")
    assert got["status"] in ("open", "closed") and W3.match(got["requested_datetime"])

    # GET service requests / one request: the same fields in JSON and XML.
    listed = as_json(await client.get("/requests.json", params={"service_request_id": made["service_request_id"]}))
    assert listed == [got]
    xml = as_xml(await client.get(f"/requests/{made['service_request_id']}.xml"), "service_requests")
    request = xml.find("request")
    assert {c.tag for c in request} == REQUEST and request.findtext("lat") == "22.81" and request.findtext("address") == ""

    # Errors: the spec's list, code = status, in the asked format.
    for path in ("/requests/nope.json", "/services/nope.json"):
        [problem] = as_json(await client.get(path))  # type: ignore[misc]
        assert set(problem) == {"code", "description"} and problem["code"] == 404
    xml = as_xml(await client.get("/requests.xml", params={"start_date": "yesterday"}), "errors")
    assert xml.findtext("error/code") == "400" and xml.findtext("error/description")

    # OPTIONS: GET and POST both answer at the requests paths.
    for path in ("/requests.json", "/requests.xml"):
        assert (await client.options(path)).headers["allow"] == "GET, OPTIONS, POST"
