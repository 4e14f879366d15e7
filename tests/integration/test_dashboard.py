"""Every dashboard figure of the scripted district (tests/scenario.py), computed by hand from
docs/kpis.md, read through the HTTP API after the real pipeline (NATS, ledger, relay,
projector) has applied it; once on SQLite, once on PostgreSQL."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from schemas import topology
from tests.scenario import scenario
from tests.support import bearer, wait_for

pytestmark = pytest.mark.integration

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
ZERO = dict(raised=0, dispatched=0, accepted=0, resolved=0, closed=0, rated=0, satisfied=0, basically_satisfied=0,
            dissatisfied=0, contacted=0, reopened=0, returned=0, resolved_late=0, voided=0, open=0, overdue=0,
            response_rate=None, resolution_rate=None, satisfaction_rate=None)


def tickets(**figures) -> dict:  # type: ignore[no-untyped-def]
    return {**ZERO, **figures}


DISTRICT = tickets(raised=7, voided=1, dispatched=5, accepted=5, resolved=4, closed=2, rated=3, satisfied=2,
                   basically_satisfied=1, contacted=3, reopened=1, returned=1, resolved_late=1, open=3, overdue=1,
                   response_rate=1.0, resolution_rate=0.5714, satisfaction_rate=1.0)
TOWN_A = tickets(raised=5, voided=1, dispatched=4, accepted=4, resolved=3, closed=2, rated=2, satisfied=1,
                 basically_satisfied=1, contacted=2, reopened=1, returned=1, open=2, overdue=1,
                 response_rate=1.0, resolution_rate=0.6, satisfaction_rate=1.0)
TOWN_B = tickets(raised=2, dispatched=1, accepted=1, resolved=1, rated=1, satisfied=1, contacted=1, resolved_late=1,
                 open=1, response_rate=1.0, resolution_rate=0.5, satisfaction_rate=1.0)
VILLAGE_1 = tickets(raised=3, dispatched=2, accepted=2, resolved=1, open=2, overdue=1,
                    response_rate=1.0, resolution_rate=0.3333, satisfaction_rate=None)


def disputes(registered, mediated, settled, failed, success_rate):  # type: ignore[no-untyped-def]
    return dict(registered=registered, mediated=mediated, settled=settled, failed=failed, success_rate=success_rate)


@pytest.fixture
async def api(full_pipeline):
    events = scenario()
    async with AsyncTestClient(create_app(full_pipeline.settings)) as client:
        client.headers.update(bearer(full_pipeline.settings.data_dir))  # an auditor: reads every unit
        js = full_pipeline.projector.js
        for event, subject in events:
            await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})

        async def applied():
            health = (await client.get("/healthz")).json()
            return health.get("dashboard_lag") == 0 and health["streams"][1]["last_sequence"] == len(events) and health
        health = await wait_for(applied, timeout=60)
        assert health["streams"][2]["last_sequence"] == 0, "the scenario is valid: nothing rejected"
        yield client


async def board(api, org: str, **window) -> dict:  # type: ignore[no-untyped-def]
    response = await api.get(f"/api/orgs/{org}/dashboard", params=window or MARCH)
    assert response.status_code == 200, response.text
    return response.json()


async def test_district_figures(api):
    d = await board(api, "yn")
    assert d["tickets"] == DISTRICT
    assert d["time_to_accept"] == {"p50": 1.0, "p90": 4.0, "count": 5}
    assert d["time_to_resolve"] == {"p50": 8.0, "p90": 48.0, "count": 4}
    assert d["disputes"] == disputes(3, 2, 1, 1, 0.5)
    assert d["disputes_by_risk_grade"] == {"orange": disputes(1, 0, 0, 0, None), "red": disputes(1, 1, 1, 0, 1.0),
                                           "yellow": disputes(1, 1, 0, 1, 0.0)}
    assert d["deliberation"] == {"proposed": 2, "discussed": 1, "decided": 1, "implemented": 1}
    categories = {c["category"]: c["tickets"] for c in d["by_category"]}
    assert categories["parking"] == tickets(raised=5, voided=1, dispatched=4, accepted=4, resolved=3, closed=1, rated=2,
                                            satisfied=2, contacted=2, resolved_late=1, open=2, overdue=1,
                                            response_rate=1.0, resolution_rate=0.6, satisfaction_rate=1.0)
    assert categories["compound_management"] == tickets(raised=1, open=1, resolution_rate=0.0)
    assert categories["environment"]["reopened"] == 1 and categories["environment"]["basically_satisfied"] == 1
    assert [m["month"] for m in d["by_month"]] == ["2026-03"]
    assert d["by_month"][0]["tickets"] == {**DISTRICT, "open": None, "overdue": None}
    children = {c["org"]["org_id"]: c for c in d["children"]}
    assert set(children) == {"ta", "tb"}
    assert children["ta"]["tickets"] == TOWN_A and children["tb"]["tickets"] == TOWN_B


async def test_town_and_village_figures_after_a_move(api):
    ta, tb, v1 = await board(api, "ta"), await board(api, "tb"), await board(api, "v1")
    assert ta["tickets"] == TOWN_A and tb["tickets"] == TOWN_B and v1["tickets"] == VILLAGE_1
    assert ta["disputes"] == disputes(2, 2, 1, 1, 0.5) and tb["disputes"] == disputes(1, 0, 0, 0, None)
    assert v1["disputes"] == disputes(1, 1, 0, 1, 0.0)
    # The topics of v1 and its hamlet were proposed before the move: town A keeps them, the village sees them.
    assert ta["deliberation"] == v1["deliberation"] == {"proposed": 2, "discussed": 1, "decided": 1, "implemented": 1}
    assert tb["deliberation"] == {"proposed": 0, "discussed": 0, "decided": 0, "implemented": 0}
    assert [c["org"]["org_id"] for c in tb["children"]] == ["v1", "v2"]
    assert [c["org"]["org_id"] for c in ta["children"]] == ["c1"]
    assert (await api.get("/api/orgs/v1")).json()["path"] == ["yn", "tb", "v1"]


async def test_a_window_counts_its_cohort_and_the_stocks_at_its_end(api):
    d = await board(api, "yn", **{"from": "2026-03-01", "to": "2026-03-05"})
    assert d["tickets"] == tickets(raised=4, dispatched=4, accepted=4, resolved=3, closed=2, rated=2, satisfied=1,
                                   basically_satisfied=1, contacted=2, reopened=1, returned=1, open=1, overdue=0,
                                   response_rate=1.0, resolution_rate=0.75, satisfaction_rate=1.0)
    assert d["disputes"] == disputes(2, 2, 1, 1, 0.5)
    later = await board(api, "yn", **{"from": "2026-03-06", "to": "2026-03-06"})
    assert later["tickets"]["raised"] == 1 and later["tickets"]["voided"] == 1  # T5, and T6 merged into T2
    assert later["tickets"]["open"] == 2 and later["tickets"]["overdue"] == 1     # T3 (due 6 March 08:00) and T5


async def test_zone_and_csv(api):
    hz = await board(api, "hz")
    assert hz["tickets"] == tickets(raised=1, dispatched=1, accepted=1, resolved=1, closed=1, rated=1, satisfied=1,
                                    contacted=1, response_rate=1.0, resolution_rate=1.0, satisfaction_rate=1.0)
    csv = await api.get("/api/orgs/yn/dashboard.csv", params=MARCH)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("scope,key,raised,dispatched")
    assert lines[1].startswith("total,yn,7,5,5,4,2,3,2,1,0,1,1,1,1,3,1,1.0,0.5714,1.0,3,2,1,1,0.5")


async def test_tickets_timeline_and_workload(api):
    timeline = (await api.get("/api/tickets/T2")).json()
    assert [e["type"] for e in timeline["events"]] == [
        "TicketRaised", "TicketDispatched", "TicketReturned", "TicketDispatched", "TicketAccepted", "TicketResolved",
        "TicketRated", "TicketDispatched", "TicketAccepted", "TicketResolved", "TicketRated", "TicketClosed"]
    assert timeline["ticket"]["stage"] == "closed" and timeline["ticket"]["round"] == 2
    stages = {x["stage"]: x["hours"] for x in timeline["time_in_stage"]}
    assert stages["returned"] == 1.0 and stages["reopened"] == 1.0 and stages["raised"] == 0.25
    assert all("Resident" not in str(e) and "13900000001" not in str(e) for e in timeline["events"])

    page = (await api.get("/api/orgs/c1/tickets", params={"status": "all"})).json()
    assert page["total"] == 4 and [t["ticket_id"] for t in page["tickets"]] == ["T8", "T6", "T2", "T1"]
    assert (await api.get("/api/orgs/c1/tickets", params={"status": "open"})).json()["total"] == 1
    assert (await api.get("/api/orgs/yn/tickets", params={"status": "overdue"})).json()["tickets"][0]["ticket_id"] == "T3"
    assert (await api.get("/api/orgs/yn/tickets", params={"category": "environment"})).json()["total"] == 1
    workload = (await api.get("/api/orgs/yn/workload")).json()
    assert [(w["kind"], w["receiver"], w["open"]) for w in workload] == [("unit", "v1", 1), ("grid_worker", "gw-1", 1)]
    assert workload[0]["oldest"][0]["ticket_id"] == "T3"


async def test_unknown_and_invalid_requests(api):
    assert (await api.get("/api/orgs/nowhere/dashboard")).status_code == 404
    assert (await api.get("/api/orgs/nowhere")).json()["detail"] == "no org unit nowhere"
    assert (await api.get("/api/tickets/T404")).status_code == 404
    bad = await api.get("/api/orgs/yn/dashboard", params={"from": "March"})
    assert bad.status_code == 422 and bad.json()["field"] == "from"
    bad = await api.get("/api/orgs/yn/dashboard", params={"from": "2026-04-01", "to": "2026-03-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "from"
    bad = await api.get("/api/orgs/yn/tickets", params={"page": "two"})
    assert bad.status_code == 422 and bad.json()["field"] == "page"
    bad = await api.get("/api/orgs/yn/tickets", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    assert (await api.get("/openapi.json")).json()["paths"]["/api/orgs/{org_id}/dashboard"]
    metrics = (await api.get("/metrics")).text
    assert 'civic_consumer_lag{consumer="dashboard"} 0' in metrics and f'civic_events_processed_total{{stream="{topology.LEDGER}"}}' in metrics
