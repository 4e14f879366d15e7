"""The HTTP ingest gateway against the real pipeline: per-event answers, subtree confinement,
idempotence, and what became of each event."""

from __future__ import annotations

import json

import msgspec
import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from producers.gateway import SPOOL_IN_MEMORY, Tokens, tokens_path
from projections.event_index import EventIndex, create_schema, event_status
from projections.store import SQLiteDatabase
from schemas import topology
from tests.scenario import RESIDENT, at
from tests.support import stream_count, wait_for

pytestmark = pytest.mark.integration
ORGS = [("yn", "district", None), ("ta", "town", "yn"), ("tb", "town", "yn"), ("c1", "community", "ta"), ("v2", "village", "tb")]


def org_event(i: int, org: str, kind: str, parent: str | None) -> dict:
    return msgspec.to_builtins(s.OrgUnitRegistered(event_id=f"org-{i}", occurred_at=at(1, 8), source="admin",
                                                   actor=s.Actor(role="system", id="sys"), org_id=org, kind=kind,
                                                   name=org, parent_id=parent))


def raised(event_id: str, org: str, ticket: str, source: str = "hotline-12345", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {**msgspec.to_builtins(s.TicketRaised(event_id=event_id, occurred_at=at(2, 9), source=source, actor=RESIDENT,
                                                 org_id=org, ticket_id=ticket, category="parking", title="cars")), **extra}


@pytest.fixture
async def gateway(backend_settings, full_pipeline):
    tokens = Tokens(tokens_path(backend_settings.data_dir))
    admin, hotline = tokens.issue("admin", ["*"]), tokens.issue("hotline-12345", ["ta"])
    async with AsyncTestClient(create_app(backend_settings)) as client:
        answer = await client.post("/v1/events", json=[org_event(i, *o) for i, o in enumerate(ORGS)],
                                   headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200 and answer.json()["accepted"] == len(ORGS), answer.text
        yield client, {"Authorization": f"Bearer {hotline}"}, full_pipeline.projector.js


async def status(client, headers, event_id: str, want: str) -> dict:  # type: ignore[no-untyped-def]
    async def reached():
        response = await client.get(f"/v1/events/{event_id}", headers=headers)
        if response.status_code == 503:  # the event index is still being created
            return None
        body = response.json()
        return body if body["status"] == want else None
    return await wait_for(reached, timeout=30)


async def test_per_event_answers_and_what_became_of_each(gateway):
    client, auth, js = gateway
    body = [raised("g-1", "c1", "T1"), {"type": "TicketRaised", "event_id": "g-2"}, {"type": "Gossip"},
            raised("g-3", "c1", "T3", source="somebody-else"),
            {**raised("g-4", "c1", "T4"), "type": "TicketRated", "schema_version": 1, "contacted": True, "resolved": True, "satisfaction": "satisfied"}]
    answer = await client.post("/v1/events", json=body, headers=auth)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected", "accepted"]
    assert results[1]["reason"] == "invalid_field" and results[1]["field"]
    assert results[2]["reason"] == "unknown_type" and results[3]["reason"] == "source_mismatch"
    assert results[0]["intake_sequence"] > 0 and results[0]["event_id"] == "g-1"

    in_ledger = await status(client, auth, "g-1", "ledger")
    assert in_ledger["position"] > 0
    refused = await status(client, auth, "g-4", "rejected")  # a rating for a ticket never raised
    assert refused["rejection"]["reason"] == "unknown_ticket" and refused["rejection"]["resend_may_help"] is False
    assert (await client.get("/v1/events/never-sent", headers=auth)).json()["status"] == "unknown"

    again = await client.post("/v1/events", json=raised("g-1", "c1", "T1"), headers=auth)
    assert again.json()["results"][0]["duplicate"] is True  # a retried request is stored once


async def test_writing_outside_the_subtree_publishes_nothing(gateway):
    client, auth, js = gateway
    before = await stream_count(js, topology.INTAKE)
    answer = await client.post("/v1/events", json=[raised("in-1", "c1", "T5"), raised("out-1", "v2", "T6")], headers=auth)
    assert answer.status_code == 403 and "outside" in answer.json()["detail"]
    assert await stream_count(js, topology.INTAKE) == before


async def test_bad_requests(gateway):
    client, auth, _ = gateway
    assert (await client.post("/v1/events", json=raised("x", "c1", "T7"))).status_code == 401
    assert (await client.post("/v1/events", json=raised("x", "c1", "T7"), headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await client.get("/v1/events/x")).status_code == 401
    assert (await client.post("/v1/events", content=b"{not json", headers=auth)).status_code == 400
    too_many = [raised(f"m{i}", "c1", f"M{i}") for i in range(1001)]
    assert (await client.post("/v1/events", json=too_many, headers=auth)).status_code == 413
    assert "/v1/events" in (await client.get("/openapi.json")).json()["paths"]


async def test_deep_nesting_is_a_400_not_a_500(gateway):
    client, auth, _ = gateway
    for body in (b"[" * 5000 + b"]" * 5000, b'{"type":"TicketRaised","x":' + b"[" * 5000 + b"]" * 5000 + b"}"):
        answer = await client.post("/v1/events", content=body, headers=auth)
        assert answer.status_code == 400, answer.text


async def test_an_event_in_intake_but_not_yet_decided_is_pending(tmp_path, js):
    """Only intake indexed (no ledger running): the status is pending, with its intake sequence."""
    event = s.TicketRaised(event_id="p-1", occurred_at=at(2, 9), source="t", actor=RESIDENT, org_id="c1",
                           ticket_id="P", category="parking", title="x")
    ack = await js.publish(topology.intake_subject(event, ("yn", "ta", "c1")), s.encode(event), headers={"Nats-Msg-Id": "p-1"})
    db = SQLiteDatabase(tmp_path / "events.sqlite")
    create_schema(db)
    index = EventIndex(db)
    sub = await js.pull_subscribe(topology.INTAKE_SUBJECTS, stream=topology.INTAKE)
    index.apply(topology.INTAKE, await sub.fetch(1, timeout=5))
    got = event_status(db, "p-1")
    assert got.status == "pending" and got.intake_sequence == ack.seq


# The body read as a stream (issue 14): the same answers as reading it whole, for bodies past
# the spool's memory part, pretty-printed, with brackets and escaped quotes inside strings.

ODD_TITLE = 'he said "[no]" {twice}, then ] \\ 路灯'


async def test_a_large_pretty_printed_array_is_published_as_sent(gateway, js):
    """120 events of about 13 KB (Chinese as \\u escapes, indented): over a MiB, so the valid
    events wait in the spool's file; each is in intake byte for byte as it stood in the body."""
    client, auth, _ = gateway
    text = "".join(chr(0x4E00 + i % 2000) for i in range(2000))
    items = [json.dumps({**raised(f"big-{i}", "c1", f"B{i}", title=ODD_TITLE), "description": text}, indent=2)
             for i in range(120)]
    body = (" \n[\n" + ",\n".join(items) + "\n]\n").encode()
    assert len(body) > SPOOL_IN_MEMORY
    answer = await client.post("/v1/events", content=body, headers=auth)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert answer.json()["accepted"] == 120 and [r["index"] for r in results] == list(range(120))
    for i in (0, 61, 119):
        stored = await js.get_msg(topology.INTAKE, results[i]["intake_sequence"])
        assert stored.data == items[i].encode() and stored.headers["Nats-Msg-Id"] == f"big-{i}"


async def test_a_malformed_element_in_the_middle_publishes_nothing_and_says_which(gateway):
    client, auth, js = gateway
    before = await stream_count(js, topology.INTAKE)
    items = [msgspec.json.encode(raised(f"mid-{i}", "c1", f"D{i}")) for i in range(5)]
    items[2] = items[2].replace(b'"event_id"', b'"event_id" "oops"', 1)
    answer = await client.post("/v1/events", content=b"[" + b",\n".join(items) + b"]", headers=auth)
    assert answer.status_code == 400 and answer.json()["extra"]["element"] == 2 and answer.json()["extra"]["line"] == 3, answer.text
    assert "element 2, line 3" in answer.json()["detail"]
    assert await stream_count(js, topology.INTAKE) == before


async def test_a_truncated_array_publishes_nothing(gateway):
    client, auth, js = gateway
    before = await stream_count(js, topology.INTAKE)
    body = msgspec.json.encode([raised(f"cut-{i}", "c1", f"C{i}") for i in range(3)])
    for cut in (len(body) - 1, len(body) // 2):
        answer = await client.post("/v1/events", content=body[:cut], headers=auth)
        assert answer.status_code == 400 and "the body ends" in answer.json()["detail"], answer.text
    assert await stream_count(js, topology.INTAKE) == before
