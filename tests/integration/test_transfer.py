"""TicketTransferred (转办) through the real pipeline: published to intake on a real nats-server,
checked by the ledger, relayed, projected; the dashboards count the ticket at the destination and
`civic audit trail` shows both units. The refusals land in CIVIC_REJECTED with their reasons."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from config import Settings
from schemas import topology
from schemas.ticket import TicketTransferred
from schemas.topology import intake_subject
from tests.conftest import running_pipeline
from tests.integration.test_audit_ledger import civic
from tests.scenario import CST, DISPATCHER, RESIDENT, WORKER, scenario
from tests.support import bearer, publish_all, read_stream, stream_count, wait_for

pytestmark = pytest.mark.integration

PATHS = {"c1": ("yn", "ta", "c1"), "v2": ("yn", "tb", "v2")}
UNITS = ("c1", "v2", "ta", "tb", "yn")


@pytest.fixture
async def live(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings, projector=True) as running:
        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))  # an auditor: reads every unit
            client.settings, client.js = settings, running.projector.js  # type: ignore[attr-defined]
            await publish_all(client.js, scenario())
            await caught_up(client, rejected=0)
            yield client


async def caught_up(client, rejected: int) -> None:  # type: ignore[no-untyped-def]
    """Every intake message is in the ledger or among the `rejected`, and the dashboards applied the ledger."""
    want = await stream_count(client.js, topology.INTAKE)

    async def applied() -> bool:
        health = (await client.get("/healthz")).json()
        ledger = health["streams"][1]["last_sequence"]
        return health.get("dashboard_lag") == 0 and ledger + await stream_count(client.js, topology.REJECTED) == want \
            and await stream_count(client.js, topology.REJECTED) == rejected
    await wait_for(applied, timeout=60)


def event(n: int, cls: type[s.Event], ticket: str, org: str, actor: s.Actor, **fields) -> tuple[s.Event, str]:  # type: ignore[no-untyped-def]
    e = cls(event_id=f"transfer-{ticket}-{n}", occurred_at=datetime(2026, 3, 21, 8 + n, tzinfo=CST), source="centre",
            actor=actor, org_id=org, ticket_id=ticket, **fields)
    return e, intake_subject(e, PATHS[org])


async def figures(client) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {org: (await client.get(f"/api/orgs/{org}/dashboard")).json()["tickets"] for org in UNITS}


async def test_a_transferred_ticket_counts_at_the_destination_and_the_trail_shows_both(live) -> None:
    before = await figures(live)
    t20 = [
        event(0, s.TicketRaised, "T20", "c1", RESIDENT, category="roads", title="pothole at the village gate"),
        event(1, s.TicketDispatched, "T20", "c1", DISPATCHER, to_unit="c1", deadline=datetime(2026, 3, 23, tzinfo=CST)),
        event(2, s.TicketReturned, "T20", "c1", WORKER, reason="不属于本社区 not this community's road"),
        event(3, TicketTransferred, "T20", "c1", DISPATCHER, from_org_id="c1", to_org_id="v2", reason="村道 a village road"),
        event(4, s.TicketDispatched, "T20", "v2", DISPATCHER, to_unit="v2", deadline=datetime(2026, 3, 24, tzinfo=CST)),
        event(5, s.TicketAccepted, "T20", "v2", WORKER),
    ]
    await publish_all(live.js, t20)
    await caught_up(live, rejected=0)
    after = await figures(live)
    changed = {org: {k: after[org][k] - before[org][k] for k in ("raised", "dispatched", "accepted", "returned", "open")
                     if after[org][k] != before[org][k]} for org in UNITS}
    # Counted where it ended (v2, town tb) as if raised there; nothing stays at c1 or town ta.
    assert changed == {"c1": {}, "ta": {}, "v2": {"raised": 1, "dispatched": 1, "accepted": 1, "returned": 1, "open": 1},
                       "tb": {"raised": 1, "dispatched": 1, "accepted": 1, "returned": 1, "open": 1},
                       "yn": {"raised": 1, "dispatched": 1, "accepted": 1, "returned": 1, "open": 1}}
    ticket = (await live.get("/api/tickets/T20")).json()
    assert (ticket["ticket"]["org_id"], ticket["ticket"]["stage"]) == ("v2", "accepted")
    step = next(e for e in ticket["events"] if e["type"] == "TicketTransferred")
    assert (step["detail"]["from_org_id"], step["detail"]["to_org_id"]) == ("c1", "v2")
    listed = (await live.get("/api/orgs/v2/tickets?status=open")).json()
    assert "T20" in {t["ticket_id"] for t in listed["tickets"]}

    code, output = await asyncio.to_thread(civic, live.settings.nats_url, live.settings.data_dir, "audit", "trail", "T20")
    assert code == 0, output
    assert "6 events at yn/ta/c1, yn/tb/v2" in output
    assert "TicketTransferred" in output and "from_org_id=c1, to_org_id=v2, reason=村道 a village road" in output
    assert output.count(" ok\n") == 6


async def test_refused_transfers(live) -> None:
    await publish_all(live.js, [
        event(0, s.TicketRaised, "T21", "c1", RESIDENT, category="roads", title="a lamp out"),
        event(0, s.TicketRaised, "T22", "c1", RESIDENT, category="roads", title="a drain blocked"),
        event(1, s.TicketDispatched, "T22", "c1", DISPATCHER, to_unit="c1", deadline=datetime(2026, 3, 23, tzinfo=CST)),
    ])
    await caught_up(live, rejected=0)
    bad = [
        (event(2, TicketTransferred, "T21", "c1", DISPATCHER, from_org_id="c1", to_org_id="nowhere", reason="x"), "unknown_org"),
        (event(3, TicketTransferred, "T21", "c1", DISPATCHER, from_org_id="c1", to_org_id="c1", reason="x"), "bad_transfer"),
        (event(4, TicketTransferred, "T21", "c1", DISPATCHER, from_org_id="v2", to_org_id="c1", reason="x"), "bad_transfer"),
        (event(5, TicketTransferred, "T21", "c1", WORKER, from_org_id="c1", to_org_id="v2", reason="x"), "role_not_allowed"),
        (event(6, TicketTransferred, "T22", "c1", DISPATCHER, from_org_id="c1", to_org_id="v2", reason="x"), "wrong_stage"),
    ]
    await publish_all(live.js, [e for e, _ in bad])
    good = event(7, TicketTransferred, "T21", "c1", DISPATCHER, from_org_id="c1", to_org_id="v2", reason="a village lamp")
    await publish_all(live.js, [good])
    await caught_up(live, rejected=len(bad))
    rejections = await read_stream(live.js, topology.REJECTED, topology.REJECTED_SUBJECTS)
    assert [m.headers[topology.REASON_HEADER] for m in rejections] == [code for _, code in bad]
    assert [m.headers[topology.EVENT_ID_HEADER] for m in rejections] == [e.event_id for (e, _), _ in bad]
    tickets = {t: (await live.get(f"/api/tickets/{t}")).json()["ticket"] for t in ("T21", "T22")}
    assert (tickets["T21"]["org_id"], tickets["T21"]["stage"]) == ("v2", "raised")
    assert (tickets["T22"]["org_id"], tickets["T22"]["stage"]) == ("c1", "dispatched")


def test_the_transfer_fold_on_postgres_answers_as_on_sqlite(postgres_cluster: str, tmp_path: Path) -> None:
    """The fold's path lookup and the moved figures, on PostgreSQL (`?` rewritten, COLLATE "C" ranges)."""
    import uuid

    import psycopg

    from adapters.keys import KeyStore
    from application.ledger import Ledger
    from projections.queries import DashboardQueries
    from projections.store import PostgresDatabase, SQLiteDatabase
    from tests.unit.civic_kit import MEMORY_ENV, Desk
    from tests.unit.test_transfer_fold import CLOCK, END, figures as rows, fold, story

    keys = KeyStore(":memory:")
    desk = Desk(Ledger(env=dict(MEMORY_ENV), keys=keys), keys)
    desk.build_tree()
    story(desk, "c1", transfer=True)
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_cluster + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    pg = fold(desk, PostgresDatabase(f"{postgres_cluster}/{name}", "dashboard_v1"), 3)
    lite = fold(desk, SQLiteDatabase(tmp_path / "lite.sqlite"), 3)
    try:
        for table in ("ticket_daily", "ticket_flow", "ticket_hist"):
            assert rows(pg, table) == rows(lite, table), table
        for org in ("c1", "c2", "t1", "t2", "d1"):
            assert DashboardQueries(pg, CLOCK).dashboard(org, None, END) == DashboardQueries(lite, CLOCK).dashboard(org, None, END)
    finally:
        pg.close()
        keys.close()
