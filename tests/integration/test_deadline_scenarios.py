"""Issue 13's "Done when", through the whole pipeline to the dashboard figures: tickets walked
through on a real nats-server with the ledger, relay and projector; the deadline API's answers
(docs/kpis.md, "Deadlines") worked out by hand; `civic audit replay --as-of` reproducing the
figures of an earlier instant from the ledger alone."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from schemas import topology
from tests.conftest import running_pipeline
from tests.integration.test_audit_ledger import civic
from schemas.clock import DeadlineEvent
from tests.scenario import CST, DISPATCHER, RESIDENT, SYSTEM, WORKER, Builder
from tests.support import bearer, publish_all, publish_applied, read_stream

pytestmark = pytest.mark.integration


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 4, day, hour, tzinfo=CST)


def district() -> Builder:
    b = Builder()
    for org, kind, parent in [("yn", "district", None), ("ta", "town", "yn"), ("c1", "community", "ta"), ("c2", "community", "ta"),
                              ("tb", "town", "yn"), ("v1", "village", "tb")]:
        b.org(org, kind, parent)
    return b


def dispatched(b: Builder, t: str, org: str, when: datetime, deadline: datetime, unit: str | None = None) -> None:
    b._add(s.TicketDispatched, when, DISPATCHER, org, ticket_id=t, to_unit=unit or org, deadline=deadline)


def walked(b: Builder, t: str, org: str, deadline: datetime, resolved: datetime, unit: str | None = None) -> None:
    """Raised on the 1st, dispatched, signed for, resolved at `resolved`."""
    b.raised(t, org, at(1, 8))
    dispatched(b, t, org, at(1, 9), deadline, unit)
    b.step(s.TicketAccepted, t, org, at(1, 10))
    b.step(s.TicketResolved, t, org, resolved, resolution="done")


@pytest.fixture
async def live(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    from config import Settings

    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings, projector=True) as running:
        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))
            client.settings, client.js = settings, running.projector.js  # type: ignore[attr-defined]
            yield client


def lead(board: dict, stage: str = "resolve", role: str = "lead") -> dict:
    r = next(r for r in board["roles"] if r["role"] == role)
    return next(x["figures"] for x in r["stages"] if x["stage"] == stage)


def unit(board: dict, org: str, role: str = "lead") -> dict:
    u = next(u for u in board["units"] if u["unit"] == org)
    return next(r["total"] for r in u["roles"] if r["role"] == role)


async def test_late_on_time_and_a_reopened_ticket_with_a_new_clock_then_replay_as_of(live, tmp_path: Path) -> None:
    b = district()
    walked(b, "T1", "c1", deadline=at(3), resolved=at(4))     # resolved a day late
    walked(b, "T2", "c2", deadline=at(3), resolved=at(2))     # on time
    walked(b, "T3", "c1", deadline=at(3), resolved=at(3, 18))  # round 1: late ...
    await publish_applied(live, b.events)
    then = (await live.get("/api/orgs/yn/deadlines")).json()  # every deadline up to today, as the replay asks
    moment = datetime.now(timezone.utc)
    f = lead(then)
    assert (f["due"], f["on_time"], f["late"], f["on_time_rate"], f["overdue_now"]) == (3, 1, 2, 0.3333, 0)
    # The ledger filled the sign-for (4 h) and first-contact (24 h) deadlines from the policy; with no
    # TicketContacted, the resolution meets first contact: late for T1 and T3, on time (24 h exactly) for T2.
    assert (unit(then, "c1")["on_time"], unit(then, "c1")["late"], unit(then, "c2")["on_time"], unit(then, "c2")["late"]) == (2, 4, 3, 0)
    assert lead(then, "supporting", role="supporting")["due"] == 0
    assert [m["month"] for m in then["by_month"]] == ["2026-04"]
    ranking = (await live.get("/api/orgs/yn/ranking", params={"month": "2026-04", "min_settled": 1})).json()
    assert [(r["unit"], r["on_time_rate"]) for r in ranking["red"]] == [("c2", 1.0), ("c1", 0.3333)]

    await asyncio.sleep(0.05)  # what follows is stored strictly after the moment
    b.events = []
    b.rated("T3", "c1", at(4), "dissatisfied")  # ... reopened: round 2, a new clock
    dispatched(b, "T3", "c1", at(5), deadline=at(8))
    b.step(s.TicketAccepted, "T3", "c1", at(5, 10))
    b.step(s.TicketResolved, "T3", "c1", at(6), resolution="done properly")
    await publish_applied(live, b.events)
    now = (await live.get("/api/orgs/yn/deadlines", params={"to": "2026-04-30"})).json()
    assert (lead(now)["due"], lead(now)["on_time"], lead(now)["late"]) == (4, 2, 2), "one task per round"
    assert (await live.get("/api/orgs/ta/deadlines", params={"to": "2026-04-30"})).json()["units"] == now["units"]
    assert lead((await live.get("/api/orgs/tb/deadlines", params={"to": "2026-04-30"})).json())["due"] == 0

    out = tmp_path / "then.json"
    code, output = await asyncio.to_thread(civic, live.settings.nats_url, live.settings.data_dir, "audit", "replay",
                                           "--as-of", moment.isoformat(), "--org", "yn", "--deadlines-out", str(out))
    assert code == 0, output
    replayed = json.loads(out.read_text())
    assert replayed["position"] == then["position"]
    assert replayed == then, "the replay as of the moment answers what the API answered then"
    assert "overdue now" in output and "lead" in output


# -- with the deadline clock (consumers/clock.py), driven by a simulated now ------------------------


@pytest.fixture
async def clocked(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    """The pipeline with the projector, the web app, and d-clock's harness for clock instances on a
    simulated now (tests/integration/test_clock.py)."""
    import nats

    from adapters.bus import connect_options
    from config import Settings
    from tests.integration.test_clock import T0 as CLOCK_T0, Running, SimulatedNow, tree

    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings, projector=True):
        nc = await nats.connect(**connect_options(settings, "admin"))
        as_clock = Settings(data_dir=settings.data_dir, nats_url=nats_server.plain_url, credentials_dir=nats_server.credentials.folder)
        running = Running(settings, nc.jetstream(), SimulatedNow(CLOCK_T0), as_clock)  # the clock with its own identity
        await publish_all(running.js, tree())
        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))
            running.client = client  # type: ignore[attr-defined]
            try:
                yield running
            finally:
                for name in list(running.clocks):
                    await running.stop(name)
                await nc.close()


async def level(running) -> None:  # type: ignore[no-untyped-def]
    """Everything published is in the ledger and in the read model."""
    from tests.support import caught_up

    await caught_up(running.settings, running.js, projector=True)


async def test_resolved_late_breached_chased_supervised_on_the_dashboards_and_replayed(clocked, tmp_path: Path) -> None:
    from tests.integration.test_clock import DUE, WORKER as CLOCK_WORKER, ev, ticket

    api = clocked.client
    # Both signed for and contacted in time (the harness's ticket()): only the resolve deadline is left to the clock.
    await publish_all(clocked.js, [*ticket("T1", 10), *ticket("T2", 20),
                                   ev(s.TicketResolved, 23, "c1", CLOCK_WORKER, DUE - timedelta(hours=1), ticket_id="T2", resolution="done")])
    clocked.start()
    await clocked.at(DUE + timedelta(hours=9))  # T1: breached, chased twice, supervised; T2: on time, nothing
    await level(clocked)
    then = (await api.get("/api/orgs/d1/deadlines")).json()
    moment = datetime.now(timezone.utc)
    f = lead(then)
    assert (f["due"], f["on_time"], f["late"], f["overdue_now"], f["chased"], f["supervised"]) == (2, 1, 1, 1, 1, 1)
    listed = (await api.get("/api/orgs/s1/supervision")).json()
    assert [(u["unit"], u["count"], [(i["ticket_id"], i["supervised_by"], i["chased"]) for i in u["items"]]) for u in listed["units"]] \
        == [("c1", 1, [("T1", "s1", 2)])], "on the 督办 list of the street it was escalated to, chased twice"
    timeline = (await api.get("/api/tickets/T1")).json()
    assert [e["type"] for e in timeline["events"]][4:] == ["DeadlineNearing", "DeadlineBreached", "TicketChased", "TicketChased",
                                                          "TicketSupervised"]

    await asyncio.sleep(0.05)  # what follows is stored strictly after the moment
    await publish_all(clocked.js, [ev(s.TicketResolved, 31, "c1", CLOCK_WORKER, DUE + timedelta(hours=10), ticket_id="T1", resolution="moved")])
    await clocked.at(DUE + timedelta(days=3))
    await level(clocked)
    now = (await api.get("/api/orgs/d1/deadlines")).json()
    f = lead(now)
    assert (f["due"], f["on_time"], f["late"], f["overdue_now"], f["chased"], f["supervised"]) == (2, 1, 1, 0, 1, 1)
    assert (await api.get("/api/orgs/d1/supervision")).json()["units"] == []
    ranking = (await api.get("/api/orgs/d1/ranking", params={"month": DUE.strftime("%Y-%m"), "min_settled": 1})).json()
    assert [(r["unit"], r["on_time"], r["late"]) for r in ranking["red"]] == [("c1", 5, 1)], "signed for and contacted in time, T1 resolved late"

    out = tmp_path / "then.json"
    code, output = await asyncio.to_thread(civic, clocked.settings.nats_url, clocked.settings.data_dir, "audit", "replay",
                                           "--as-of", moment.isoformat(), "--org", "d1", "--deadlines-out", str(out))
    assert code == 0, output
    assert json.loads(out.read_text()) == then, "overdue, chased, supervised and on-time as they stood, from the ledger alone"


async def test_two_clocks_and_one_killed_mid_escalation_count_each_step_once(clocked) -> None:
    from tests.integration.test_clock import DUE, ticket

    api = clocked.client
    await publish_all(clocked.js, ticket("T3", 10))
    clocked.start("a")
    clocked.start("b")
    await clocked.at(DUE + timedelta(hours=2))  # breached, chased once
    await clocked.stop("a", kill=True)
    clocked.now.at = DUE + timedelta(hours=9)  # time passes while it is down; b goes on
    clocked.start("a")
    await clocked.at(DUE + timedelta(hours=9))
    await level(clocked)
    types = [e["type"] for e in (await api.get("/api/tickets/T3")).json()["events"]]
    assert types.count("DeadlineBreached") == 1 and types.count("TicketChased") == 2 and types.count("TicketSupervised") == 1
    f = lead((await api.get("/api/orgs/d1/deadlines")).json())
    assert (f["due"], f["late"], f["overdue_now"], f["chased"], f["supervised"]) == (1, 1, 1, 1, 1)


TEAM = {"d1": ("d1",), "s1": ("d1", "s1"), "c1": ("d1", "s1", "c1"), "c2": ("d1", "s1", "c2"), "c3": ("d1", "s1", "c3")}
UNIT = s.Actor(role="unit", id="unit-desk")


class Walk:
    """Events of the clock harness's district (d1 > s1 > c1) with two more communities, c2 and c3."""

    def __init__(self) -> None:
        self.n = 100

    def __call__(self, cls: type[s.Event], org: str, actor: s.Actor, at: datetime, **fields: object) -> tuple[s.Event, str]:
        self.n += 1
        e = cls(event_id=f"dd-{self.n}", occurred_at=at, source="centre", actor=actor, org_id=org, **fields)
        return e, topology.intake_subject(e, TEAM[org])


def clock_steps(events: list[s.Event], ticket_id: str) -> list[tuple[str, int, str, str, str, datetime]]:
    """(step, round, unit, role, stage, instant) of the clock events the ledger holds about a ticket."""
    return [(e.step_key, e.round, e.unit, e.unit_role, e.stage, e.occurred_at)  # type: ignore[attr-defined]
            for e in events if isinstance(e, DeadlineEvent) and e.ticket_id == ticket_id]


async def test_signed_late_extended_reopened_and_a_team_of_three_exactly_the_events_the_rules_say(clocked, tmp_path: Path) -> None:
    """With the clock harness's terms (remind 1 h before, chase 1 h and 5 h after, supervise 8 h after,
    escalated to the street): S1 signed for late; E1 extended before its deadline, then on time; R1
    resolved late, reopened, on time in round 2 (a new clock); M1 led by c1 with c2 and c3 supporting,
    c3 completing its task late. Each records exactly the clock events its deadlines call for, the
    dashboards count each unit's own timeliness, and the replay as of mid-way gives back the API then."""
    from tests.integration.test_clock import T0 as T

    api, ev, h = clocked.client, Walk(), timedelta(hours=1)
    await publish_all(clocked.js, [ev(s.OrgUnitRegistered, c, SYSTEM, T - timedelta(days=30), kind="community", name=f"community {c}",
                                      parent_id="s1") for c in ("c2", "c3")])

    def raised(t: str) -> tuple[s.Event, str]:
        return ev(s.TicketRaised, "c1", RESIDENT, T, ticket_id=t, category="parking", title=f"ticket {t}")

    start = [
        raised("S1"), ev(s.TicketDispatched, "c1", DISPATCHER, T + h / 12, ticket_id="S1", to_unit="c1", deadline=T + 48 * h,
                         sign_for_by=T + 2 * h),
        raised("E1"), ev(s.TicketDispatched, "c1", DISPATCHER, T + h / 12, ticket_id="E1", to_unit="c1", deadline=T + 4 * h),
        ev(s.TicketAccepted, "c1", WORKER, T + h, ticket_id="E1"),
        ev(s.TicketExtensionRequested, "c1", WORKER, T + 1.5 * h, ticket_id="E1", until=T + 30 * h, reason="the part is on order"),
    ]
    request = start[-1][0].event_id
    start += [
        ev(s.TicketExtensionApproved, "c1", DISPATCHER, T + 2 * h, ticket_id="E1", request_id=request, until=T + 28 * h),
        ev(s.TicketResolved, "c1", WORKER, T + 20 * h, ticket_id="E1", resolution="part fitted"),
        raised("R1"), ev(s.TicketDispatched, "c1", DISPATCHER, T + h / 12, ticket_id="R1", to_unit="c1", deadline=T + 4 * h),
        ev(s.TicketAccepted, "c1", WORKER, T + h, ticket_id="R1"),
        raised("M1"), ev(s.TicketDispatched, "c1", DISPATCHER, T + h / 12, ticket_id="M1", to_unit="c1", deadline=T + 48 * h,
                         sign_for_by=T + 2 * h, supporting=(
                             s.SupportingTask(unit="c2", task="clear the drain", deadline=T + 10 * h, sign_for_by=T + 2 * h),
                             s.SupportingTask(unit="c3", task="lend the truck", deadline=T + 10 * h, sign_for_by=T + 2 * h))),
        ev(s.TicketAccepted, "c1", WORKER, T + h / 2, ticket_id="M1"),
        ev(s.TicketTaskAccepted, "c1", UNIT, T + h / 2, ticket_id="M1", unit="c2"),
        ev(s.TicketTaskAccepted, "c1", UNIT, T + 0.75 * h, ticket_id="M1", unit="c3"),
        ev(s.TicketTaskCompleted, "c1", UNIT, T + 8 * h, ticket_id="M1", unit="c2", result="drain cleared"),
    ]
    await publish_all(clocked.js, start)
    clocked.start()
    await clocked.at(T + 3 * h)
    await publish_all(clocked.js, [ev(s.TicketAccepted, "c1", WORKER, T + 3.5 * h, ticket_id="S1")])  # 1.5 h late
    await clocked.at(T + 4 * h + timedelta(seconds=1))
    await publish_all(clocked.js, [ev(s.TicketResolved, "c1", WORKER, T + 4.5 * h, ticket_id="R1", resolution="moved")])
    await clocked.at(T + 6 * h)
    await publish_all(clocked.js, [
        ev(s.TicketRated, "c1", RESIDENT, T + 7 * h, ticket_id="R1", contacted=True, resolved=False, satisfaction="dissatisfied"),
        ev(s.TicketDispatched, "c1", DISPATCHER, T + 8 * h, ticket_id="R1", to_unit="c1", deadline=T + 30 * h),
        ev(s.TicketAccepted, "c1", WORKER, T + 9 * h, ticket_id="R1"),
        ev(s.TicketResolved, "c1", WORKER, T + 16 * h, ticket_id="R1", resolution="bollards"),
        ev(s.TicketResolved, "c1", WORKER, T + 16 * h, ticket_id="S1", resolution="done")])
    await clocked.at(T + 18 * h + timedelta(seconds=1))
    await level(clocked)
    then = (await api.get("/api/orgs/d1/deadlines")).json()
    moment = datetime.now(timezone.utc)
    listed = (await api.get("/api/orgs/d1/supervision")).json()
    assert [(u["unit"], [(i["ticket_id"], i["role"], i["stage"], i["supervised_by"]) for i in u["items"]]) for u in listed["units"]] \
        == [("c3", [("M1", "supporting", "supporting", "s1")])]

    await asyncio.sleep(0.05)
    await publish_all(clocked.js, [ev(s.TicketTaskCompleted, "c1", UNIT, T + 19 * h, ticket_id="M1", unit="c3", result="truck lent"),
                                   ev(s.TicketResolved, "c1", WORKER, T + 20 * h, ticket_id="M1", resolution="done together")])
    await clocked.at(T + 72 * h)
    await level(clocked)

    ledger = [s.decode(m.data, max_bytes=None) for m in await read_stream(clocked.js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
    assert clock_steps(ledger, "S1") == [("reminder", 1, "c1", "lead", "sign_for", T + h), ("breach", 1, "c1", "lead", "sign_for", T + 2 * h),
                                         ("chase-1", 1, "c1", "lead", "sign_for", T + 3 * h)]
    assert clock_steps(ledger, "E1") == [], "extended before its deadline, resolved before the new one"
    assert clock_steps(ledger, "R1") == [("reminder", 1, "c1", "lead", "resolve", T + 3 * h), ("breach", 1, "c1", "lead", "resolve", T + 4 * h)], \
        "round 2's new clock never ran out"
    assert clock_steps(ledger, "M1") == [(step, 1, "c3", "supporting", "supporting", T + at * h) for step, at in
                                         (("reminder", 9), ("breach", 10), ("chase-1", 11), ("chase-2", 15), ("supervision", 18))]

    board = (await api.get("/api/orgs/d1/deadlines")).json()
    stages = {(r["role"], x["stage"]): (x["figures"]["on_time"], x["figures"]["late"]) for r in board["roles"] for x in r["stages"]}
    # The first-contact deadlines (and E1's and R1's sign-for) the ledger filled from the policy: met in time.
    assert stages == {("lead", "sign_for"): (4, 1), ("lead", "first_contact"): (5, 0), ("lead", "resolve"): (4, 1),
                      ("supporting", "sign_for"): (2, 0), ("supporting", "supporting"): (1, 1)}
    assert lead(board)["extended"] == 1 and lead(board, "supporting", role="supporting")["supervised"] == 1
    per_unit = {u["unit"]: {r["role"]: (r["total"]["on_time"], r["total"]["late"], r["total"]["overdue_now"]) for r in u["roles"]
                            if r["total"]["due"]} for u in board["units"]}
    assert per_unit == {"c1": {"lead": (13, 2, 0)}, "c2": {"supporting": (2, 0, 0)}, "c3": {"supporting": (1, 1, 0)}}

    out = tmp_path / "then.json"
    code, output = await asyncio.to_thread(civic, clocked.settings.nats_url, clocked.settings.data_dir, "audit", "replay",
                                           "--as-of", moment.isoformat(), "--org", "d1", "--deadlines-out", str(out))
    assert code == 0, output
    assert json.loads(out.read_text()) == then
    assert lead(then, "supporting", role="supporting")["overdue_now"] == 1, "c3 was overdue then"


async def test_paused_over_national_day_and_a_make_up_saturday_counted_from_the_policy(clocked) -> None:
    """Deadlines the ledger computes from the shipped policy (resolve: 5 working days of office
    hours 08:00-12:00 and 14:30-17:30) and the 2026 calendar. P1, dispatched Tuesday 29 September
    10:00, is due Monday 12 October 10:00 (National Day 1-7 October off, Saturday 10 October a
    make-up working day); paused from 30 September 10:00 to Friday 9 October 10:00, its remaining
    28 office hours run to Wednesday 14 October 10:00, so resolving it on Tuesday 13 October is on
    time and the clock, past the first deadline, records nothing. K1, dispatched Friday 9 October
    10:00, is due Thursday 15 October 10:00 because the 调休 Saturday counts (Friday 16th without
    it): resolved at 14:30 that Thursday, it is late, reminded, breached and chased once."""
    from datetime import datetime as dt

    api, ev, h = clocked.client, Walk(), timedelta(hours=1)

    def at_(month: int, day: int, hour: float) -> datetime:
        return dt(2026, month, day, tzinfo=CST) + timedelta(hours=hour)

    def ticket(t: str, dispatched: datetime) -> list[tuple[s.Event, str]]:
        return [ev(s.TicketRaised, "c1", RESIDENT, dispatched - h, ticket_id=t, category="parking", title=f"ticket {t}"),
                ev(s.TicketDispatched, "c1", DISPATCHER, dispatched, ticket_id=t, to_unit="c1"),  # the ledger fills every deadline
                ev(s.TicketAccepted, "c1", WORKER, dispatched + h / 2, ticket_id=t),
                ev(s.TicketContacted, "c1", WORKER, dispatched + h, ticket_id=t, how="phone")]

    await publish_all(clocked.js, [*ticket("P1", at_(9, 29, 10)),
                                   ev(s.TicketPaused, "c1", WORKER, at_(9, 30, 10), ticket_id="P1", reason="the resident is away for the holiday"),
                                   ev(s.TicketResumed, "c1", WORKER, at_(10, 9, 10), ticket_id="P1"),
                                   *ticket("K1", at_(10, 9, 10))])
    clocked.start()
    await clocked.at(at_(10, 13, 12))  # past P1's first deadline: the pause moved it
    await publish_all(clocked.js, [ev(s.TicketResolved, "c1", WORKER, at_(10, 13, 15), ticket_id="P1", resolution="done")])
    await clocked.at(at_(10, 15, 14))
    await publish_all(clocked.js, [ev(s.TicketResolved, "c1", WORKER, at_(10, 15, 14.5), ticket_id="K1", resolution="done")])
    await clocked.at(at_(10, 17, 12))
    await level(clocked)

    p1 = (await api.get("/api/tickets/P1")).json()["events"]
    dispatch = next(e for e in p1 if e["type"] == "TicketDispatched")["detail"]
    resumed = next(e for e in p1 if e["type"] == "TicketResumed")["detail"]
    assert datetime.fromisoformat(dispatch["deadline"]) == at_(10, 12, 10)
    assert [datetime.fromisoformat(d["deadline"]) for d in resumed["deadlines"]] == [at_(10, 14, 10)]
    k1 = (await api.get("/api/tickets/K1")).json()["events"]
    assert datetime.fromisoformat(next(e for e in k1 if e["type"] == "TicketDispatched")["detail"]["deadline"]) == at_(10, 15, 10)

    ledger = [s.decode(m.data, max_bytes=None) for m in await read_stream(clocked.js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
    assert clock_steps(ledger, "P1") == []
    assert clock_steps(ledger, "K1") == [("reminder", 1, "c1", "lead", "resolve", at_(10, 15, 9)),
                                         ("breach", 1, "c1", "lead", "resolve", at_(10, 15, 10)),
                                         ("chase-1", 1, "c1", "lead", "resolve", at_(10, 15, 11))]
    f = lead((await api.get("/api/orgs/d1/deadlines", params={"from": "2026-10-01", "to": "2026-10-31"})).json())
    assert (f["due"], f["on_time"], f["late"], f["paused"], f["chased"], f["overdue_now"]) == (2, 1, 1, 1, 1, 0)
