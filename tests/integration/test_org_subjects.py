"""GET /api/orgs/{id}/subject gives a producer in any language the intake subjects of a unit: this
test is such a producer. It reads the answer over HTTP, publishes raw JSON on the subjects it was
given (no Python SDK, no org directory walk) with an upstream system's own nkey, and the ledger
accepts every event. Village v1 moved from town ta to town tb in the scripted district: the
answer gives its current path."""

from __future__ import annotations

import json

import nats
import pytest
from litestar.testing import AsyncTestClient

from adapters.credentials import Credentials
from civic.web import create_app
from schemas import topology
from schemas.families import FAMILIES
from tests.scenario import scenario
from tests.support import bearer, caught_up, publish_all, read_stream, stream_count

pytestmark = pytest.mark.integration


@pytest.fixture
async def web(settings, nats_server, pipeline_with_projector):
    events = scenario()
    js = pipeline_with_projector.projector.js
    await publish_all(js, events)
    await caught_up(settings, js, intake=len(events), projector=True)
    seed = Credentials(nats_server.credentials.folder).add_producer("village-app", ["v1"])
    nats_server.reload()
    async with AsyncTestClient(create_app(settings)) as client:
        yield client, js, seed, len(events)


def envelope(event_id: str, org_id: str, role: str = "resident") -> dict:
    return {"event_id": event_id, "occurred_at": "2026-03-20T09:00:00+08:00", "source": "village-app",
            "actor": {"role": role, "id": "res-77" if role == "resident" else "sys"}, "org_id": org_id}


async def test_a_producer_publishes_on_the_subjects_it_is_given(web, settings, nats_server):
    client, js, seed, before = web
    auditor = bearer(settings.data_dir)
    answer = (await client.get("/api/orgs/h1/subject", headers=auditor)).json()
    assert answer["org_id"] == "h1" and answer["path"] == ["yn", "tb", "v1", "h1"] and answer["position"] >= 1
    families = {f["family"]: f["subjects"] for f in answer["families"]}
    assert set(families) == set(FAMILIES) - {"gap"}  # intake gaps happen at the ledger, outside the tree
    assert families["ticket"]["TicketRaised"] == "civic.intake.TicketRaised.yn.tb.v1.h1"
    assert answer["register_child"] == "civic.intake.OrgUnitRegistered.yn.tb.v1.h1.{child_id}"

    # An outside producer: a plain NATS client with its own key, JSON it wrote itself.
    nc = await nats.connect(nats_server.plain_url, nkeys_seed=str(seed), inbox_prefix="_INBOX.producer-village-app")
    try:
        producer = nc.jetstream()
        raised = {"type": "TicketRaised", "schema_version": 2, **envelope("va-1", "h1"), "ticket_id": "VA-1",
                  "category": "environment", "title": "河道垃圾 rubbish in the stream", "lat": 22.75, "long": 108.41}
        grid = {"type": "OrgUnitRegistered", **envelope("va-2", "h1-g9", "system"), "kind": "grid", "name": "第九网格",
                "parent_id": "h1"}
        await producer.publish(families["ticket"]["TicketRaised"], json.dumps(raised).encode(), headers={"Nats-Msg-Id": "va-1"})
        await producer.publish(answer["register_child"].replace("{child_id}", "h1-g9"), json.dumps(grid).encode(),
                               headers={"Nats-Msg-Id": "va-2"})
    finally:
        await nc.close()
    await caught_up(settings, js, intake=before + 2, projector=True)
    assert await stream_count(js, topology.REJECTED) == 0
    stored = [json.loads(m.data) for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)][-2:]
    assert [(e["event_id"], e["org_path"]) for e in stored] == [("va-1", ["yn", "tb", "v1", "h1"]),
                                                               ("va-2", ["yn", "tb", "v1", "h1", "h1-g9"])]
    assert (stored[0]["lat"], stored[0]["long"]) == (22.75, 108.41)
    # The new grid has subjects of its own at once (the read model has applied its registration).
    grid_subjects = (await client.get("/api/orgs/h1-g9/subject", headers=auditor)).json()
    assert grid_subjects["path"] == ["yn", "tb", "v1", "h1", "h1-g9"]


async def test_scoped_like_every_org_read(web, settings):
    client, *_ = web
    assert (await client.get("/api/orgs/h1/subject")).status_code == 401
    other = bearer(settings.data_dir, "ta-secretary", "staff", "ta")  # town ta: v1 left it on 9 March
    unknown = await client.get("/api/orgs/no-such-unit/subject", headers=other)
    hidden = await client.get("/api/orgs/h1/subject", headers=other)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"].replace("h1", "{id}") == unknown.json()["detail"].replace("no-such-unit", "{id}")
    own = bearer(settings.data_dir, "v1-secretary", "staff", "v1")
    assert (await client.get("/api/orgs/h1/subject", headers=own)).json()["path"] == ["yn", "tb", "v1", "h1"]
