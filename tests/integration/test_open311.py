"""Open311 GeoReport v2 through a real HTTP client against the web role served by uvicorn on a
loopback port, over the real pipeline: every endpoint, its parameters, JSON and XML, errors."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

import schemas as s
from civic.web import create_app
from producers.gateway import Tokens, tokens_path
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
    return {"api_key": key, "service_code": "parking", "jurisdiction_id": "c1", "lat": "22.81", "long": "108.37",
            "description": "电动车堵住消防通道\nE-bikes block the fire lane", "first_name": "Hua", "last_name": "Li",
            "phone": "13800000000", "email": "li@example.cn", **extra}


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
                       "type": "realtime", "keywords": ["parking"], "group": "residents"}
    xml = await client.get("/services.xml")
    assert xml.headers["content-type"].startswith("text/xml") and xml.content.startswith(b"<?xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text == "false"
    assert (await client.get("/services/parking.json")).json()[0]["service_code"] == "parking"
    missing = await client.get("/services/potholes.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_post_then_get_a_request_through_its_life(open311):
    client, key, js = open311
    request_id = await created(client, key)
    got = await visible(client, request_id)
    assert got["status"] == "open" and got["service_code"] == "parking" and got["service_name"] == "停车秩序"
    assert got["description"].startswith("电动车堵住消防通道") and "Location: 22.81,108.37" in got["description"]
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
    request_id = await created(client, key, lat="", long="", address_string="龙祥路 12号 Longxiang Rd 12")
    got = await visible(client, request_id)
    assert "Longxiang Rd 12" not in str(got) and "龙祥路" not in str(got)
    intake = [m for m in await read_stream(js, topology.INTAKE, topology.INTAKE_SUBJECTS) if request_id.encode() in m.data]
    raised = s.decode(intake[0].data)
    assert raised.personal[0].address == "龙祥路 12号 Longxiang Rd 12; email li@example.cn"
    assert "Longxiang" not in raised.description and "Longxiang" not in raised.title
    ledger = [m for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS) if request_id.encode() in m.data]
    assert b"Longxiang" not in ledger[0].data and b"example.cn" not in ledger[0].data


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
    ({"lat": "", "long": ""}, 400),   # no location at all
])
async def test_post_errors(open311, change, code):
    client, key, _ = open311
    answer = await client.post("/requests.json", data=form(key, **change))
    assert answer.status_code == code and answer.json()[0]["code"] == code, answer.text
    assert (await client.get("/requests/nope.json")).status_code == 404
