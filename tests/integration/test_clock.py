"""The deadline clock end to end: a real nats-server, the ledger and the relay as tasks, the clock as
a FastStream app connected as the `clock` identity, and a simulated now the test moves (no test
sleeps for a deadline; a test that nothing happened waits on the barrier: the clock has read the
whole ledger at a tick after the new now, and the pipeline has caught up)."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from faststream.nats import NatsBroker

import schemas as s
from adapters.bus import connect_options
from config import Settings
from dashboards.health import HealthProbe
from consumers.clock import Clock, ClockConfig, run
from consumers.clock_state import ClockState, FixedEscalation
from schemas import topology
from schemas.clock import CLOCK_EVENTS
from schemas.topology import intake_subject
from tests.conftest import running_pipeline
from tests.scenario import CST, DISPATCHER, RESIDENT, SYSTEM, WORKER
from tests.support import caught_up, publish_all, read_stream, wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, tzinfo=CST)
DUE = T0 + timedelta(hours=4)
TERMS = FixedEscalation(remind_before=timedelta(hours=1), chase_after=(timedelta(hours=1), timedelta(hours=5)),
                   supervise_after=timedelta(hours=8), levels=("street",))
PATHS = {"d1": ("d1",), "s1": ("d1", "s1"), "c1": ("d1", "s1", "c1"), "c2": ("d1", "s1", "c2")}
CLOCK_TYPES = {cls.__struct_config__.tag for cls in CLOCK_EVENTS}


class SimulatedNow:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def ev(cls: type[s.Event], n: int, org: str, actor: s.Actor, at: datetime, **fields: Any) -> tuple[s.Event, str]:
    e = cls(event_id=f"ck-{n}", occurred_at=at, source="centre", actor=actor, org_id=org, **fields)
    return e, intake_subject(e, PATHS[org])


def tree() -> list[tuple[s.Event, str]]:
    return [ev(s.OrgUnitRegistered, 1, "d1", SYSTEM, T0 - timedelta(days=30), kind="district", name="Yongning"),
            ev(s.OrgUnitRegistered, 2, "s1", SYSTEM, T0 - timedelta(days=30), kind="street", name="Pumiao", parent_id="d1"),
            ev(s.OrgUnitRegistered, 3, "c1", SYSTEM, T0 - timedelta(days=30), kind="community", name="Longxiang", parent_id="s1"),
            ev(s.OrgUnitRegistered, 4, "c2", SYSTEM, T0 - timedelta(days=30), kind="community", name="Nanhu", parent_id="s1")]


def ticket(tid: str, n: int, due: datetime = DUE, at: datetime = T0, signed: bool = True) -> list[tuple[s.Event, str]]:
    """Raised and dispatched with all three deadlines named (sign for within an hour, first contact
    within two, resolve by `due`); unless `signed` is False, signed for and contacted on time, so
    only the resolve deadline is left to the clock."""
    events = [ev(s.TicketRaised, n, "c1", RESIDENT, at, ticket_id=tid, category="parking", title="cars block the gate"),
              ev(s.TicketDispatched, n + 1, "c1", DISPATCHER, at + timedelta(minutes=5), ticket_id=tid, to_unit="c1",
                 deadline=due, sign_for_by=at + timedelta(hours=1), contact_by=at + timedelta(hours=2))]
    if signed:
        events += [ev(s.TicketAccepted, n + 5, "c1", WORKER, at + timedelta(minutes=30), ticket_id=tid),
                   ev(s.TicketContacted, n + 6, "c1", WORKER, at + timedelta(minutes=40), ticket_id=tid, how="phone")]
    return events


class Running:
    def __init__(self, settings: Settings, js: Any, now: SimulatedNow, as_clock: Settings):
        self.settings, self.js, self.now = settings, js, now
        self.as_clock = as_clock
        """Settings that connect with the `clock` identity's own key: the server enforces its grants."""
        self.clocks: dict[str, tuple[Clock, asyncio.Task[None], asyncio.Event]] = {}

    def start(self, name: str = "a", webhooks: Any = None, quiet: float = 0) -> Clock:
        state = ClockState(self.settings.data_dir / f"clock-{name}.sqlite")
        clock = Clock(state, ClockConfig(name=name, escalation=lambda category, kind: TERMS, tick=0.05, quiet=quiet), self.now)
        broker = NatsBroker(**connect_options(self.as_clock, "clock"), logger=logging.getLogger("clock"), log_level=logging.DEBUG)
        stop = asyncio.Event()
        self.clocks[name] = (clock, asyncio.create_task(run(broker, clock, stop, webhooks)), stop)
        return clock

    async def stop(self, name: str, kill: bool = False) -> None:
        clock, task, stop = self.clocks.pop(name)
        if kill:
            task.cancel()
        else:
            stop.set()
        await asyncio.gather(task, return_exceptions=True)
        clock.state.close()

    async def at(self, when: datetime) -> None:
        """Move now to `when` and wait until every clock has looked at the whole ledger after it and
        the pipeline has taken what they published (twice: a breach's chase may follow it)."""
        self.now.at = when
        for _ in range(2):
            for clock, _, _ in self.clocks.values():
                await self.settled(clock, when)
            await caught_up(self.settings, self.js)

    async def settled_at(self, history: datetime) -> None:
        """Wait until every clock has read the whole ledger, looked at it with the history read up
        to `history`, and the pipeline has taken what they published (twice, as `at`)."""
        for _ in range(2):
            for clock, _, _ in self.clocks.values():
                await self.settled(clock, history)
            await caught_up(self.settings, self.js)

    async def settled(self, clock: Clock, when: datetime) -> None:
        for _ in range(600):
            info = await self.js.stream_info(topology.LEDGER)
            if clock.state.position >= info.state.last_seq and clock.until is not None and clock.until >= when \
                    and clock.ticks_after(info.state.last_seq):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"clock {clock.config.name} did not settle at {when}: {clock.state.position}, {clock.until}")

    async def clock_events(self, ticket_id: str) -> list[s.Event]:
        msgs = await read_stream(self.js, topology.LEDGER, topology.LEDGER_SUBJECTS)
        events = [s.decode(m.data, max_bytes=None) for m in msgs]
        return [e for e in events if e.type in CLOCK_TYPES and getattr(e, "ticket_id", None) == ticket_id]


@pytest.fixture
async def live(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings) as pipeline:
        import nats

        nc = await nats.connect(**connect_options(settings, "admin"))
        as_clock = Settings(data_dir=settings.data_dir, nats_url=nats_server.plain_url, credentials_dir=nats_server.credentials.folder)
        running = Running(settings, nc.jetstream(), SimulatedNow(T0), as_clock)
        await publish_all(running.js, tree())
        try:
            yield running
        finally:
            for name in list(running.clocks):
                await running.stop(name)
            await nc.close()
        del pipeline


def steps(events: list[s.Event]) -> list[tuple[str, datetime]]:
    return [(e.step_key, e.occurred_at) for e in events]  # type: ignore[attr-defined]


async def test_a_ticket_resolved_late_is_reminded_breached_chased_and_supervised(live: Running) -> None:
    await publish_all(live.js, ticket("T1", 10))
    live.start()
    await live.at(T0 + timedelta(hours=2))
    assert await live.clock_events("T1") == []
    await live.at(DUE - timedelta(minutes=30))
    assert steps(await live.clock_events("T1")) == [("reminder", DUE - timedelta(hours=1))]
    await live.at(DUE + timedelta(hours=1, seconds=1))
    assert steps(await live.clock_events("T1")) == [("reminder", DUE - timedelta(hours=1)), ("breach", DUE),
                                                    ("chase-1", DUE + timedelta(hours=1))]
    await live.at(DUE + timedelta(hours=9))
    events = await live.clock_events("T1")
    assert steps(events) == [("reminder", DUE - timedelta(hours=1)), ("breach", DUE), ("chase-1", DUE + timedelta(hours=1)),
                             ("chase-2", DUE + timedelta(hours=5)), ("supervision", DUE + timedelta(hours=8))]
    assert events[-1].escalated_to == "s1"  # type: ignore[attr-defined]
    assert {e.actor.role for e in events} == {"system"} and {e.unit for e in events} == {"c1"}  # type: ignore[attr-defined]
    await publish_all(live.js, [ev(s.TicketResolved, 21, "c1", WORKER, DUE + timedelta(hours=10), ticket_id="T1", resolution="moved")])
    await live.at(DUE + timedelta(days=3))
    assert len(await live.clock_events("T1")) == 5  # resolved: nothing more


async def test_a_ticket_signed_for_late_then_resolved_on_time(live: Running) -> None:
    """Sign-for due at 10:00: reminded, breached, chased; signed for at 11:30, which ends that
    escalation (supervision would have come at 18:00); then contacted and resolved on time."""
    await publish_all(live.js, ticket("T7", 10, signed=False))
    live.start()
    await live.at(T0 + timedelta(hours=2, minutes=30))
    sign_for = T0 + timedelta(hours=1)
    contact = T0 + timedelta(hours=2)
    await publish_all(live.js, [ev(s.TicketAccepted, 15, "c1", WORKER, T0 + timedelta(hours=2, minutes=31), ticket_id="T7"),
                                ev(s.TicketContacted, 16, "c1", WORKER, T0 + timedelta(hours=2, minutes=32), ticket_id="T7"),
                                ev(s.TicketResolved, 17, "c1", WORKER, T0 + timedelta(hours=3), ticket_id="T7", resolution="done")])
    await live.at(DUE + timedelta(days=3))
    events = await live.clock_events("T7")
    by_stage = {stage: [(e.step_key, e.occurred_at) for e in events if e.stage == stage]  # type: ignore[attr-defined]
                for stage in ("sign_for", "first_contact", "resolve")}
    assert by_stage == {  # no reminder before the dispatch itself (09:05), none for a met stage
        "sign_for": [("breach", sign_for), ("chase-1", sign_for + timedelta(hours=1))],
        "first_contact": [("reminder", contact - timedelta(hours=1)), ("breach", contact)],
        "resolve": []}


async def test_a_ticket_resolved_on_time_records_nothing(live: Running) -> None:
    await publish_all(live.js, [*ticket("T2", 10), ev(s.TicketResolved, 13, "c1", WORKER, T0 + timedelta(hours=2), ticket_id="T2",
                                                      resolution="done")])
    live.start()
    await live.at(DUE + timedelta(days=5))
    assert await live.clock_events("T2") == []


async def test_two_instances_at_once_the_ledger_keeps_one_copy(live: Running) -> None:
    await publish_all(live.js, ticket("T3", 10))
    a, b = live.start("a"), live.start("b")
    await live.at(DUE + timedelta(hours=9))
    events = await live.clock_events("T3")
    assert [k for k, _ in steps(events)] == ["reminder", "breach", "chase-1", "chase-2", "supervision"]
    assert a.published + b.published >= 5  # each published what was due; the ledger kept one of each


async def test_killed_mid_escalation_and_restarted_nothing_twice_nothing_missed(live: Running) -> None:
    await publish_all(live.js, ticket("T4", 10))
    live.start()
    await live.at(DUE + timedelta(minutes=1))
    assert [k for k, _ in steps(await live.clock_events("T4"))] == ["reminder", "breach"]
    await live.stop("a", kill=True)
    live.now.at = DUE + timedelta(hours=9)  # time passes while it is down
    live.start()
    await live.at(DUE + timedelta(hours=9))
    assert [k for k, _ in steps(await live.clock_events("T4"))] == ["reminder", "breach", "chase-1", "chase-2", "supervision"]


async def test_catching_up_history_never_breaches_a_ticket_resolved_on_time_later(live: Running) -> None:
    """A year of history already in the ledger, the clock started after it: tickets resolved on time
    a few events after their dispatch are never breached; the late ones are, dated at their deadlines."""
    history: list[tuple[s.Event, str]] = []
    start = T0 - timedelta(days=200)
    for i in range(100):
        at = start + timedelta(days=2 * i)
        history += ticket(f"H{i}", 1000 + 10 * i, due=at + timedelta(hours=4), at=at)
        late = i % 10 == 0
        done = at + timedelta(hours=6 if late else 3)
        history += [ev(s.TicketResolved, 1000 + 10 * i + 3, "c1", WORKER, done, ticket_id=f"H{i}", resolution="done")]
    await publish_all(live.js, history)
    await caught_up(live.settings, live.js)
    live.now.at = T0
    began = asyncio.get_running_loop().time()
    live.start()
    await live.at(T0)
    took = asyncio.get_running_loop().time() - began
    breached = {e.ticket_id for e in (await clock_all(live)) if e.type == "DeadlineBreached"}  # type: ignore[attr-defined]
    assert breached == {f"H{i}" for i in range(0, 100, 10)}
    assert took < 20, took
    # Health reads the clock's position from its consumer, as the web role (its own grants).
    as_web = Settings(data_dir=live.settings.data_dir, nats_url=live.as_clock.nats_url, credentials_dir=live.as_clock.credentials_dir)
    probe = HealthProbe(as_web.nats_url or "", options=connect_options(as_web, "web"))
    try:
        health = await probe.check()
    finally:
        await probe.close()
    assert health.clock_lag == {"clock-a": 0} and "clock_lag" not in health.reasons


async def test_a_history_published_whole_with_its_close_and_void_before_the_clock_runs_gets_its_breaches(live: Running) -> None:
    """The clock reads each ticket's close or void before its first tick (a restart after the fact,
    a backfill): the steps that fell due before the finish still reach the ledger, as they would
    have had the clock been running then; none dated after it. T9 was resolved late (DUE + 6 h) and
    closed; T10 was voided at DUE + 90 min, a duplicate of T9, never signed for."""
    closed = [*ticket("T9", 10), ev(s.TicketResolved, 14, "c1", WORKER, DUE + timedelta(hours=6), ticket_id="T9", resolution="moved"),
              ev(s.TicketClosed, 17, "c1", DISPATCHER, DUE + timedelta(hours=7), ticket_id="T9")]
    voided = [*ticket("T10", 20, signed=False)[:2],
              ev(s.TicketVoided, 22, "c1", DISPATCHER, DUE + timedelta(minutes=90), ticket_id="T10", duplicate_of="T9")]
    await publish_all(live.js, [*closed, *voided])
    await caught_up(live.settings, live.js)
    assert [e.type for e in await all_events(live, "T10")][-1] == "TicketVoided"
    live.now.at = DUE + timedelta(days=3)
    clock = live.start()
    await live.at(DUE + timedelta(days=3))
    assert steps(await live.clock_events("T9")) == [("reminder", DUE - timedelta(hours=1)), ("breach", DUE),
                                                    ("chase-1", DUE + timedelta(hours=1)), ("chase-2", DUE + timedelta(hours=5))]
    sign_for, contact = T0 + timedelta(hours=1), T0 + timedelta(hours=2)  # T10's own clocks (dispatched at 09:05)
    assert sorted((e.stage, e.step_key, e.occurred_at) for e in await live.clock_events("T10")) == sorted([  # type: ignore[attr-defined]
        ("sign_for", "breach", sign_for), ("sign_for", "chase-1", sign_for + timedelta(hours=1)),
        # no reminder before the dispatch; each second chase (15:00 and later) after the void at 14:30
        ("first_contact", "reminder", contact - timedelta(hours=1)), ("first_contact", "breach", contact),
        ("first_contact", "chase-1", contact + timedelta(hours=1)),
        ("resolve", "reminder", DUE - timedelta(hours=1)), ("resolve", "breach", DUE),
        ("resolve", "chase-1", DUE + timedelta(hours=1))])
    # Everything read back: nothing more owed, both forgotten (at the tick after the last read-back).
    await wait_for(lambda: _forgotten(clock, "T9", "T10"), timeout=10)


async def _forgotten(clock: Clock, *tickets: str) -> bool:
    return not set(tickets) & set(clock.state.tickets)


async def clock_all(live: Running) -> list[s.Event]:
    msgs = await read_stream(live.js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    return [e for e in (s.decode(m.data, max_bytes=None) for m in msgs) if e.type in CLOCK_TYPES]


class Hooked:
    """A local HTTP endpoint: fails its first delivery (status 503), then records what it is sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.refused == 0:
                    outer.refused += 1
                    self.send_response(503)
                else:
                    outer.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_reminders_and_chases_reach_the_unit_on_its_subject_and_its_webhook(live: Running, tmp_path: Path) -> None:
    import hmac
    import hashlib

    from consumers.webhooks import Webhooks

    hooked = Hooked()
    spec = tmp_path / "webhooks.yaml"
    spec.write_text(f"units:\n  c1:\n    url: {hooked.url}\n    secret_env: HOOK_SECRET_C1\n  s1:\n    url: {hooked.url}\n"
                    "    secret_env: HOOK_SECRET_S1\n", encoding="utf-8")
    webhooks = Webhooks.load(spec, {"HOOK_SECRET_C1": "c1-secret", "HOOK_SECRET_S1": "s1-secret"})
    webhooks.retries = (0.05, 0.05, 0.05)
    heard: dict[str, list[str]] = {"c1": [], "s1": []}
    for unit in heard:
        async def hear(m: Any, unit: str = unit) -> None:
            heard[unit].append(m.headers[topology.EVENT_ID_HEADER])
        await live.js._nc.subscribe(topology.notification_subject(unit), cb=hear)
    await publish_all(live.js, ticket("T5", 10))
    live.now.at = DUE + timedelta(hours=9)  # notified: events within a day of now
    live.start(webhooks=webhooks)
    await live.at(DUE + timedelta(hours=9))
    ids = [e.event_id for e in await live.clock_events("T5")]
    await live.js._nc.flush()
    for _ in range(200):
        if len(hooked.received) == len(ids) + 1:
            break
        await asyncio.sleep(0.02)
    assert heard["c1"] == ids  # every step, in order, to the unit
    assert heard["s1"] == [ids[-1]]  # supervision also to the street escalated to
    assert hooked.refused == 1  # the first delivery failed and was tried again
    got = sorted((h["Civic-Event-Id"], h["Civic-Signature"], body) for h, body in hooked.received)
    assert sorted({g[0] for g in got}) == sorted(ids)
    for event_id, signature, body in got:
        secrets = [b"c1-secret", b"s1-secret"]
        assert any(signature == "sha256=" + hmac.new(k, body, hashlib.sha256).hexdigest() for k in secrets)
        assert s.decode(body, max_bytes=None).event_id == event_id
    hooked.server.shutdown()


async def test_an_on_time_resolution_arriving_after_its_breach_is_kept_and_nothing_more_escalates(live: Running) -> None:
    """docs/kpis.md: the breach stays, the late-arriving resolution (dated before the deadline) is
    accepted with its own time (so the clock counts as met on time), and no chase follows."""
    await publish_all(live.js, ticket("T6", 10))
    live.start()
    await live.at(DUE + timedelta(minutes=30))
    assert [k for k, _ in steps(await live.clock_events("T6"))] == ["reminder", "breach"]
    late_report = [ev(s.TicketResolved, 13, "c1", WORKER, DUE - timedelta(minutes=30), ticket_id="T6", resolution="done")]
    await publish_all(live.js, late_report)
    await live.at(DUE + timedelta(days=3))
    msgs = await read_stream(live.js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    history = [(e.type, e.occurred_at) for e in (s.decode(m.data, max_bytes=None) for m in msgs)
               if getattr(e, "ticket_id", None) == "T6"]
    assert [t for t, _ in history] == ["TicketRaised", "TicketDispatched", "TicketAccepted", "TicketContacted",
                                       "DeadlineNearing", "DeadlineBreached", "TicketResolved"]
    assert history[-1][1] == DUE - timedelta(minutes=30)


async def test_a_lead_and_a_supporting_unit_with_their_own_clocks_a_pause_and_an_extension(live: Running) -> None:
    """Lead c1 (resolve by DUE) and supporting c2 (its task by DUE - 1 h, signed for on time).
    c2's task is late: breached and chased for c2 (role supporting), supervised at the street.
    The lead asks for an extension to DUE + 2 h, approved before DUE: no breach at DUE; then a pause
    (waiting for the resident) stops the lead's clock past its new deadline; the resumption moves it,
    and the lead resolves before the moved deadline: only that deadline's reminder for the lead."""
    task_due = DUE - timedelta(hours=1)
    raised, dispatched = ticket("T8", 10, signed=False)[:2]
    d = dispatched[0]
    dispatched = (msgspec.structs.replace(d, supporting=(s.SupportingTask(unit="c2", task="clear the drain", deadline=task_due,
                                                                           sign_for_by=T0 + timedelta(hours=1)),)), dispatched[1])
    await publish_all(live.js, [raised, dispatched,
                                ev(s.TicketAccepted, 15, "c1", WORKER, T0 + timedelta(minutes=20), ticket_id="T8"),
                                ev(s.TicketContacted, 16, "c1", WORKER, T0 + timedelta(minutes=25), ticket_id="T8"),
                                ev(s.TicketTaskAccepted, 17, "c1", s.Actor(role="unit", id="c2-office"), T0 + timedelta(minutes=30),
                                   ticket_id="T8", unit="c2"),
                                ev(s.TicketExtensionRequested, 18, "c1", WORKER, T0 + timedelta(hours=2), ticket_id="T8",
                                   until=DUE + timedelta(hours=2), reason="the part is on order"),
                                ev(s.TicketExtensionApproved, 19, "c1", DISPATCHER, T0 + timedelta(hours=2, minutes=10), ticket_id="T8",
                                   request_id="ck-18", until=DUE + timedelta(hours=2)),
                                ev(s.TicketPaused, 20, "c1", WORKER, DUE + timedelta(hours=1), ticket_id="T8", reason="the resident is away")])
    live.start()
    await live.at(DUE + timedelta(hours=6))
    await publish_all(live.js, [ev(s.TicketResumed, 21, "c1", WORKER, DUE + timedelta(hours=6), ticket_id="T8")])
    await caught_up(live.settings, live.js)
    resumed = [e for e in await all_events(live, "T8") if e.type == "TicketResumed"][0]
    moved = resumed.deadlines[0].deadline  # type: ignore[attr-defined]  # the ledger wrote it: the hour left, counted from now
    assert moved == DUE + timedelta(hours=7)
    await publish_all(live.js, [ev(s.TicketResolved, 22, "c1", WORKER, moved - timedelta(minutes=5), ticket_id="T8", resolution="done")])
    await live.at(DUE + timedelta(days=2))
    events = await live.clock_events("T8")
    c2 = [(e.stage, e.step_key, e.occurred_at) for e in events if e.unit == "c2"]  # type: ignore[attr-defined]
    assert {e.unit_role for e in events if e.unit == "c2"} == {"supporting"}  # type: ignore[attr-defined]
    assert c2 == [("supporting", "reminder", task_due - timedelta(hours=1)), ("supporting", "breach", task_due),
                  ("supporting", "chase-1", task_due + timedelta(hours=1)), ("supporting", "chase-2", task_due + timedelta(hours=5)),
                  ("supporting", "supervision", task_due + timedelta(hours=8))]
    # The lead: nothing at DUE (extended), nothing while paused; only the moved deadline's reminder.
    assert [(e.stage, e.step_key, e.occurred_at, e.deadline) for e in events if e.unit == "c1"] == [  # type: ignore[attr-defined]
        ("resolve", "reminder", moved - timedelta(hours=1), moved)]
    assert [e.escalated_to for e in events if e.type == "TicketSupervised"] == ["s1"]  # type: ignore[attr-defined]


async def all_events(live: Running, ticket_id: str) -> list[s.Event]:
    msgs = await read_stream(live.js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    return [e for e in (s.decode(m.data, max_bytes=None) for m in msgs) if getattr(e, "ticket_id", None) == ticket_id]


async def test_a_units_receiver_hears_its_own_notifications_only(tmp_path: Path, nats_server) -> None:  # type: ignore[no-untyped-def]
    """`civic producer notified c1` issues a key that may subscribe to civic.notify.c1 and nothing else;
    the clock's key may publish there but may not publish another event type to intake."""
    from adapters.credentials import Credentials
    from tests.integration.test_bus_permissions import Attempts

    import subprocess
    import sys

    creds = Credentials(nats_server.credentials.folder)
    issued = subprocess.run([sys.executable, "-m", "civic.cli", "producer", "notified", "c1", "--data", str(tmp_path / "data")],
                            env={**os.environ, "CIVIC_CREDENTIALS_DIR": str(creds.folder)}, capture_output=True, text=True)
    assert issued.returncode == 0 and "civic.notify.c1" in issued.stdout, issued.stdout + issued.stderr
    nats_server.reload()
    bus = Settings(data_dir=tmp_path / "data", nats_url=nats_server.plain_url, credentials_dir=creds.folder)

    async def admitted() -> bool:  # nats-server reloads on SIGHUP, in its own time
        try:
            nc = await nats.connect(**connect_options(bus, "notified-c1"), allow_reconnect=False, connect_timeout=1)
        except Exception:
            return False
        await nc.close()
        return True
    await wait_for(admitted, timeout=10)
    heard: list[bytes] = []
    async with Attempts(bus, "notified-c1") as c1:
        async def hear(m: Any) -> None:
            heard.append(m.data)
        await c1.nc.subscribe(topology.notification_subject("c1"), cb=hear)
        await c1.nc.subscribe(topology.notification_subject("c2"))
        await c1.nc.flush()
        async with Attempts(bus, "clock") as clock:
            await clock.nc.publish(topology.notification_subject("c1"), b"reminder")
            await clock.nc.flush()
            resolved = topology.subject("intake", "TicketResolved", PATHS["c1"])
            await clock.refused({clock.js.publish(resolved, b"{}"): f'publish to "{resolved}"'})
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.02)
        assert heard == [b"reminder"]
        assert any("permissions violation for subscription to \"civic.notify.c2\"" in e for e in c1.errors), c1.errors


def unsigned_with_a_supporting_unit(tid: str, n: int, at: datetime) -> list[tuple[s.Event, str]]:
    """Raised at `at`, dispatched to c1 with c2 supporting; neither signs for it (both by `at` + 2 h):
    two deadlines whose steps fall due at the same instants, one after the other in the ticket's book."""
    raised, dispatched = ticket(tid, n, at=at, signed=False)
    d = dispatched[0]
    assert isinstance(d, s.TicketDispatched)
    d = msgspec.structs.replace(d, sign_for_by=at + timedelta(hours=2), contact_by=at + timedelta(days=2), deadline=at + timedelta(days=3),
                                supporting=(s.SupportingTask(unit="c2", task="clear the drain", deadline=at + timedelta(days=3),
                                                             sign_for_by=at + timedelta(hours=2)),))
    return [raised, (d, dispatched[1])]


def history_time(n: int, at: datetime) -> tuple[s.Event, str]:
    """Another ticket raised at `at` (never dispatched: no deadline): how far the history read has got
    (ClockState.ledger_time), nothing more."""
    return ev(s.TicketRaised, n, "c1", RESIDENT, at, ticket_id=f"R{n}", category="parking", title="a bicycle on the stairs")


async def test_caught_up_in_one_tick_or_in_several_the_clock_sends_in_the_order_steps_fell_due(live: Running) -> None:
    """The README's flake made to happen: catching up on history (the ledger never quiet, so a mark
    vouches only for the history's own time), what a tick finds owed depends on how far the clock
    has read when it ticks. P's history comes in two parts and the clock ticks between them (it
    sends the steps due by 02:30, then the rest); Q's, the same a day later, comes whole (one tick
    finds all ten owed). Either way the ledger has the steps in the order they fell due, lead and
    supporting unit interleaved at each instant (lead first), not deadline by deadline: the same
    ledger whatever the clock's timing."""
    live.now.at = T0 + timedelta(days=30)  # the clock's now is long past; the history's time is what holds it back
    live.start(quiet=3600)
    await publish_all(live.js, [*unsigned_with_a_supporting_unit("P", 10, T0), history_time(20, T0 + timedelta(hours=2, minutes=30))])
    await live.settled_at(T0 + timedelta(hours=2, minutes=30))
    assert [(e.unit, e.step_key) for e in await live.clock_events("P")] == [  # type: ignore[attr-defined]
        ("c1", "reminder"), ("c2", "reminder"), ("c1", "breach"), ("c2", "breach")]
    await publish_all(live.js, [history_time(21, T0 + timedelta(hours=12))])
    await live.settled_at(T0 + timedelta(hours=12))
    q = T0 + timedelta(days=1)
    await publish_all(live.js, [*unsigned_with_a_supporting_unit("Q", 30, q), history_time(40, q + timedelta(hours=2, minutes=30)),
                                history_time(41, q + timedelta(hours=12))])
    await live.settled_at(q + timedelta(hours=12))

    in_turn = [(unit, step) for step in ("reminder", "breach", "chase-1", "chase-2", "supervision") for unit in ("c1", "c2")]
    for tid, at in (("P", T0), ("Q", q)):
        events = await live.clock_events(tid)
        assert [(e.unit, e.step_key) for e in events] == in_turn, tid  # type: ignore[attr-defined]
        assert [e.occurred_at - at for e in events] == sorted(e.occurred_at - at for e in events)
    assert [(e.ticket_id, e.unit) for e in await clock_all(live)] == [(t, u) for t in "PQ" for u, _ in in_turn]  # type: ignore[attr-defined]
