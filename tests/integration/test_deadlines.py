"""Deadlines through the real pipeline (a real nats-server, the ledger, relay, projector and the
web API): the ledger fills a dispatch's missing deadlines from the shipped policy and stores
them with its version; an explicit deadline is kept; an approved extension moves the deadline
the dashboards read; a pause over the National Day holiday; a make-up working day (调休) counts;
a reopened ticket gets a new clock; a lead and two supporting units with their own deadlines
and sign-fors. One publish, one wait: the whole story costs one pipeline start."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from config import SHIPPED, Settings
from schemas import topology
from schemas.topology import intake_subject
from tests.conftest import running_pipeline
from tests.support import bearer, publish_all, read_stream, stream_count, wait_for

pytestmark = pytest.mark.integration

CN = ZoneInfo("Asia/Shanghai")
VERSION = "2026.11-1"  # config/deadlines.yaml
SYSTEM = s.Actor(role="system", id="org-admin")
RESIDENT = s.Actor(role="resident", id="res-1")
DISPATCHER = s.Actor(role="dispatcher", id="disp-1")
WORKER = s.Actor(role="grid_worker", id="gw-1")
UNIT = s.Actor(role="unit", id="unit-desk")
TREE = [("yn", "district", None), ("ta", "town", "yn"), ("c1", "community", "ta"), ("c2", "community", "ta"),
        ("v1", "village", "ta")]


def at(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=CN)


class Story:
    def __init__(self) -> None:
        self.events: list[tuple[s.Event, str]] = []
        self.paths: dict[str, tuple[str, ...]] = {}
        for org, kind, parent in TREE:
            self.paths[org] = (*self.paths[parent], org) if parent else (org,)
            self.add(s.OrgUnitRegistered, at(1, 5), SYSTEM, org, kind=kind, name=org, parent_id=parent)

    def add(self, cls: type[s.Event], when: datetime, actor: s.Actor, org: str = "c1", **fields: Any) -> s.Event:
        event = cls(event_id=f"dl-{len(self.events)}", occurred_at=when, source="deadlines", actor=actor, org_id=org, **fields)
        self.events.append((event, intake_subject(event, self.paths[org])))
        return event

    def ticket(self, t: str, when: datetime, category: str = "parking") -> None:
        self.add(s.TicketRaised, when, RESIDENT, ticket_id=t, category=category, title=f"ticket {t}")

    def dispatch(self, t: str, when: datetime, **fields: Any) -> None:
        self.add(s.TicketDispatched, when, DISPATCHER, ticket_id=t, to_unit=fields.pop("to_unit", "c1"), **fields)


def story() -> Story:
    st = Story()
    # D1: no deadline sent: the policy's (parking at a community: five working days).
    st.ticket("D1", at(3, 2, 9))
    st.dispatch("D1", at(3, 2, 10))
    # D2: an explicit deadline is kept.
    st.ticket("D2", at(3, 2, 9))
    st.dispatch("D2", at(3, 2, 10), deadline=at(3, 4, 18))
    # D3: an extension requested, refused, requested again, approved.
    st.ticket("D3", at(3, 2, 9))
    st.dispatch("D3", at(3, 2, 10))
    ask = st.add(s.TicketExtensionRequested, at(3, 3, 9), WORKER, ticket_id="D3", until=at(3, 20, 17, 30), reason="parts")
    st.add(s.TicketExtensionRefused, at(3, 3, 10), DISPATCHER, ticket_id="D3", request_id=ask.event_id, reason="too long")
    ask = st.add(s.TicketExtensionRequested, at(3, 3, 11), WORKER, ticket_id="D3", until=at(3, 13, 17, 30), reason="parts")
    st.add(s.TicketExtensionApproved, at(3, 3, 12), DISPATCHER, ticket_id="D3", request_id=ask.event_id, until=at(3, 12, 17, 30))
    # D4: paused over the National Day holiday.
    st.ticket("D4", at(9, 29, 9))
    st.dispatch("D4", at(9, 29, 10))
    st.add(s.TicketPaused, at(9, 30, 10), WORKER, ticket_id="D4", reason="the resident is away for the holiday")
    st.add(s.TicketResumed, at(10, 8, 9), WORKER, ticket_id="D4")
    # D5: a policy question (three working days) on the eve of a make-up Saturday (10 Oct).
    st.ticket("D5", at(10, 8, 15), category="policy_consultation")
    st.dispatch("D5", at(10, 8, 16))
    # D6: resolved, rated dissatisfied (reopened), dispatched again: a new clock.
    st.ticket("D6", at(3, 2, 9))
    st.dispatch("D6", at(3, 2, 10))
    st.add(s.TicketAccepted, at(3, 2, 11), WORKER, ticket_id="D6")
    st.add(s.TicketResolved, at(3, 3, 9), WORKER, ticket_id="D6", resolution="done")
    st.add(s.TicketRated, at(3, 4, 9), RESIDENT, ticket_id="D6", contacted=True, resolved=False, satisfaction="dissatisfied")
    st.dispatch("D6", at(3, 4, 10))
    # D7: the lead c1 with two supporting units: c2 on the policy's terms, v1 with its own deadline.
    st.ticket("D7", at(3, 2, 9))
    st.dispatch("D7", at(3, 2, 10), supporting=(s.SupportingTask(unit="c2", task="trim the trees"),
                                                s.SupportingTask(unit="v1", task="lend the lift truck", deadline=at(3, 3, 17))))
    st.add(s.TicketAccepted, at(3, 2, 11), WORKER, ticket_id="D7", unit="c1")
    st.add(s.TicketTaskAccepted, at(3, 2, 12), UNIT, "c2", ticket_id="D7", unit="c2")
    st.add(s.TicketTaskAccepted, at(3, 2, 16), UNIT, "v1", ticket_id="D7", unit="v1")          # signed for late (4 h)
    st.add(s.TicketTaskCompleted, at(3, 4, 9), UNIT, "v1", ticket_id="D7", unit="v1", result="lent")  # after its deadline
    st.add(s.TicketResolved, at(3, 4, 10), UNIT, "c2", ticket_id="D7", unit="c2", resolution="not the lead")  # refused
    st.add(s.TicketResolved, at(3, 4, 11), WORKER, ticket_id="D7", unit="c1", resolution="trees trimmed, lamp cleared")
    st.add(s.TicketTaskCompleted, at(3, 4, 15), UNIT, "c2", ticket_id="D7", unit="c2", result="trimmed")
    return st


@pytest.fixture
async def live(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings, projector=True) as running:
        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))
            client.js = running.projector.js  # type: ignore[attr-defined]
            await publish_all(client.js, story().events)
            want = await stream_count(client.js, topology.INTAKE)

            async def applied() -> bool:
                health = (await client.get("/healthz")).json()
                ledger = health["streams"][1]["last_sequence"]
                return health.get("dashboard_lag") == 0 and ledger + await stream_count(client.js, topology.REJECTED) == want
            await wait_for(applied, timeout=60)
            yield client


async def stored(client: Any, ticket: str) -> list[s.Event]:
    """The ledger stream's events of one ticket, in order."""
    messages = await read_stream(client.js, topology.LEDGER, "civic.ledger.>")
    return [e for e in (s.decode(m.data, max_bytes=None) for m in messages) if getattr(e, "ticket_id", None) == ticket]


def dispatches(events: list[s.Event]) -> list[s.TicketDispatched]:
    return [e for e in events if isinstance(e, s.TicketDispatched)]


async def deadline_shown(client: Any, ticket: str) -> str:
    return (await client.get(f"/api/tickets/{ticket}")).json()["ticket"]["deadline"]


async def test_deadlines_end_to_end(live) -> None:  # type: ignore[no-untyped-def]
    # D1: the policy's deadlines, stored with its version
    (d1,) = dispatches(await stored(live, "D1"))
    assert (d1.deadline, d1.sign_for_by, d1.contact_by) == (at(3, 9, 10), at(3, 2, 14), at(3, 3, 10))
    assert d1.policy_version == VERSION and d1.counting == "working_days" and "deadline" in d1.filled
    assert await deadline_shown(live, "D1") == at(3, 9, 10).isoformat()
    # D2: explicit, kept
    (d2,) = dispatches(await stored(live, "D2"))
    assert d2.deadline == at(3, 4, 18) and "deadline" not in d2.filled
    # D3: refused leaves the deadline, approved moves it (to what was granted, not what was asked)
    events = await stored(live, "D3")
    assert [e.type for e in events][-4:] == ["TicketExtensionRequested", "TicketExtensionRefused",
                                             "TicketExtensionRequested", "TicketExtensionApproved"]
    assert await deadline_shown(live, "D3") == at(3, 12, 17, 30).isoformat()
    # D4: the pause took only the office hours it covered; the holiday week counts nothing anyway
    events = await stored(live, "D4")
    assert dispatches(events)[0].deadline == at(10, 12, 10)
    resumed = events[-1]
    assert isinstance(resumed, s.TicketResumed) and resumed.deadlines == (s.UnitDeadline(unit=None, deadline=at(10, 13, 9)),)
    assert await deadline_shown(live, "D4") == at(10, 13, 9).isoformat()
    # D5: Saturday 10 Oct is a working day (调休): due Monday 12 Oct 16:00, not Tuesday
    (d5,) = dispatches(await stored(live, "D5"))
    assert d5.deadline == at(10, 12, 16)
    # D6: the second round's dispatch has its own clock, from its own time
    first, second = dispatches(await stored(live, "D6"))
    assert (first.deadline, second.deadline) == (at(3, 9, 10), at(3, 11, 10))
    assert await deadline_shown(live, "D6") == at(3, 11, 10).isoformat()
    # D7: lead and two supporting units, each with its own deadline and sign-for
    events = await stored(live, "D7")
    (d7,) = dispatches(events)
    c2, v1 = d7.supporting
    assert (c2.unit, c2.deadline, c2.sign_for_by) == ("c2", at(3, 5, 10), at(3, 2, 14))
    assert (v1.unit, v1.deadline, v1.sign_for_by) == ("v1", at(3, 3, 17), at(3, 2, 14))
    assert [(e.type, getattr(e, "unit", None)) for e in events[2:]] == [
        ("TicketAccepted", "c1"), ("TicketTaskAccepted", "c2"), ("TicketTaskAccepted", "v1"),
        ("TicketTaskCompleted", "v1"), ("TicketResolved", "c1"), ("TicketTaskCompleted", "c2")]
    # the supporting unit's attempt to resolve was refused, with its reason
    rejected = await read_stream(live.js, topology.REJECTED, "civic.rejected.>")
    assert [m.subject.split(".")[2] for m in rejected] == ["not_lead_unit"]
    assert (await live.get("/api/tickets/D7")).json()["ticket"]["stage"] == "resolved"
    # health names the years a deadline set now may fall in whose holidays are not loaded
    year = datetime.now(CN).year
    missing = [y for y in (year, year + 1) if not (SHIPPED / "calendar" / f"{y}.yaml").exists()]
    health = (await live.get("/healthz")).json()
    assert health["calendar_missing"] == missing and health["status"] == "ok"  # a notice, not a reason
