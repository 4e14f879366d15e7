"""A ticket the clock reads closed or voided before it has sent the steps that fell due earlier
(catching up on history, after a restart or a backfill): the clock keeps it, sends the steps dated
before the finish and none after, and forgets it once nothing before the finish is owed. The ledger
takes those steps (a finished ticket refuses only one dated after the finish), so a replay of the
history records what a live run records (docs/kpis.md, "A step recorded after the ticket finished")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import schemas as s
from consumers.clock_state import ClockState, FixedEscalation
from schemas.clock import DeadlineBook, DeadlineEvent, check

CST = timezone(timedelta(hours=8))
OLD = datetime(2025, 6, 2, 9, tzinfo=CST)
DUE = OLD + timedelta(hours=4)
NOW = datetime(2026, 3, 2, 9, tzinfo=CST)
TERMS = FixedEscalation(timedelta(hours=1), (timedelta(hours=1),), timedelta(hours=8), ("street",))
QUIET = 5.0


def ev(cls: type[s.Event], n: int, at: datetime, **fields: Any) -> s.Event:
    return cls(event_id=f"e{n}", occurred_at=at, source="t", actor=s.Actor(role="dispatcher", id="d"), org_id="c1",
               org_path=("c1",), ticket_id="A", **fields)


def raised() -> list[s.Event]:
    return [ev(s.TicketRaised, 1, OLD, category="parking", title="t"),
            ev(s.TicketDispatched, 2, OLD, to_unit="c1", deadline=DUE)]


def voided(at: datetime = DUE + timedelta(hours=2)) -> list[s.Event]:
    """Dispatched to c1 (resolve by DUE) and voided at `at`, never signed for."""
    return [*raised(), ev(s.TicketVoided, 3, at, duplicate_of="B")]


def closed() -> list[s.Event]:
    """The lead resolves on time; the supporting unit c2 never does its task (due at DUE); the
    ticket is closed two hours after c2's deadline: c2's reminder, breach and first chase fell due
    before the close, its supervision (DUE + 8 h) would have come after it."""
    dispatch = ev(s.TicketDispatched, 2, OLD, to_unit="c1", deadline=DUE + timedelta(days=1),
                  supporting=(s.SupportingTask(unit="c2", task="clear the drain", deadline=DUE),))
    return [raised()[0], dispatch, ev(s.TicketAccepted, 3, OLD + timedelta(hours=1)),
            ev(s.TicketResolved, 4, OLD + timedelta(hours=2), resolution="done"),
            ev(s.TicketClosed, 5, DUE + timedelta(hours=2))]


class Ledger:
    """What the ledger does with the clock's events, as far as the deadlines go: the ticket's book
    folded in ledger order, and schemas.clock.check (the rule domain/ticket.py applies)."""

    def __init__(self, state: ClockState):
        self.state, self.book, self.kept, self.refused = state, DeadlineBook(), list[DeadlineEvent](), list[str]()

    def store(self, event: s.Event) -> None:
        if isinstance(event, DeadlineEvent):
            if (why := check(self.book, event)) is not None:
                self.refused.append(f"{event.step_key}: {why[0]}")
                return
            self.kept.append(event)
        self.book.apply(event)
        self.state.read(self.state.position + 1, event)

    def tick(self, now: datetime, real: float) -> list[DeadlineEvent]:
        """One of the clock's ticks with the ledger quiet at `now`: what it sends, marked sent."""
        self.state.mark(now, self.state.position, real=real)
        self.state.mark(now, self.state.position, real=real + QUIET)
        sent = []
        for due in list(self.state.due(self.state.settled_until(QUIET), lambda c, k: TERMS)):
            self.state.sent(due.clock, due.message_id)
            sent.append(due.event)
        return sent

    def run(self, now: datetime, real: float = 1000.0) -> None:
        """Tick, store what was sent (read back as the ledger records it), until nothing is due."""
        while sent := self.tick(now, real):
            for event in sent:
                self.store(event)
            real += 2 * QUIET
        self.state.forget_finished(lambda c, k: TERMS)


def caught_up(history: list[s.Event], path: Path) -> Ledger:
    """The whole history in the ledger before the clock reads it (a replay, a backfill)."""
    ledger = Ledger(ClockState(path))
    for event in history:
        ledger.store(event)
    ledger.run(NOW)
    return ledger


def lived(history: list[s.Event], path: Path) -> Ledger:
    """The same history in real time: the clock ticks at each event's instant before it is stored."""
    ledger = Ledger(ClockState(path))
    for n, event in enumerate(history):
        ledger.run(event.occurred_at, real=100.0 * n)
        ledger.store(event)
    ledger.run(NOW, real=10_000.0)
    return ledger


def steps(ledger: Ledger) -> list[tuple[str, str, datetime]]:
    return [(e.unit, e.step_key, e.occurred_at) for e in ledger.kept]


def test_a_void_read_before_the_breach_was_sent_the_steps_before_it_are_sent_none_after(tmp_path: Path) -> None:
    ledger = caught_up(voided(), tmp_path / "c.sqlite")
    assert steps(ledger) == [("c1", "reminder", DUE - timedelta(hours=1)), ("c1", "breach", DUE),
                             ("c1", "chase-1", DUE + timedelta(hours=1))]  # supervision at DUE + 8 h: voided before
    assert ledger.refused == [] and ledger.state.tickets == {}  # all read back: forgotten
    assert steps(lived(voided(), tmp_path / "live.sqlite")) == steps(ledger)  # the same as in real time


def test_a_close_read_before_a_supporting_units_breach_was_sent(tmp_path: Path) -> None:
    ledger = caught_up(closed(), tmp_path / "c.sqlite")
    assert steps(ledger) == [("c2", "reminder", DUE - timedelta(hours=1)), ("c2", "breach", DUE),
                             ("c2", "chase-1", DUE + timedelta(hours=1))]
    assert ledger.refused == [] and ledger.state.tickets == {}
    assert steps(lived(closed(), tmp_path / "live.sqlite")) == steps(ledger)


def test_a_step_at_the_instant_of_the_finish_or_after_is_not_sent(tmp_path: Path) -> None:
    """Voided at the very instant of the breach: the deadline stopped then, so neither the breach nor
    anything after it is owed (the ledger would refuse them, deadline_met); only the reminder."""
    ledger = caught_up(voided(at=DUE), tmp_path / "c.sqlite")
    assert steps(ledger) == [("c1", "reminder", DUE - timedelta(hours=1))]
    assert ledger.refused == [] and ledger.state.tickets == {}


def test_a_finished_ticket_is_kept_while_a_step_before_the_finish_is_unsent_or_in_flight(tmp_path: Path) -> None:
    ledger = Ledger(ClockState(tmp_path / "c.sqlite"))
    for event in voided():
        ledger.store(event)
    ledger.state.forget_finished(lambda c, k: TERMS)
    assert list(ledger.state.tickets) == ["A"]  # nothing sent yet
    sent = ledger.tick(NOW, real=1000.0)
    assert [e.step_key for e in sent] == ["reminder", "breach", "chase-1"]
    ledger.store(sent[0])
    ledger.state.forget_finished(lambda c, k: TERMS)
    assert list(ledger.state.tickets) == ["A"]  # the breach and the chase are on their way
    assert ledger.tick(NOW, real=2000.0) == []  # and not sent twice
    for event in sent[1:]:
        ledger.store(event)
    assert ledger.state.forget_finished(lambda c, k: TERMS) == 1 and ledger.state.tickets == {}
    ledger.state.close()
    assert ClockState(tmp_path / "c.sqlite").tickets == {}  # forgotten in the file too


def test_a_restart_between_reading_the_void_and_sending_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ledger = Ledger(ClockState(path))
    for event in voided():
        ledger.store(event)
    ledger.state.close()  # down before its next tick
    ledger.state = ClockState(path)
    assert ledger.state.tickets["A"].finished == DUE + timedelta(hours=2)
    sent = ledger.tick(NOW, real=1000.0)
    assert [e.step_key for e in sent] == ["reminder", "breach", "chase-1"]
    ledger.store(sent[0])
    ledger.state.close()  # down again: the breach and the chase sent, not yet read back
    ledger.state = ClockState(path)
    assert ledger.tick(NOW, real=2000.0) == []  # in flight: not sent again
    for event in sent[1:]:
        ledger.store(event)
    ledger.run(NOW, real=3000.0)
    assert steps(ledger) == steps(caught_up(voided(), tmp_path / "once.sqlite")) and ledger.state.tickets == {}


def test_a_step_the_ledger_refused_for_good_does_not_keep_the_ticket(tmp_path: Path) -> None:
    """The clock sent the breach and the chase of a ticket it had read only up to the acceptance;
    the ledger had meanwhile stored a resolution dated before the deadline (a report that came late)
    and refused both (deadline_met). Read on, the book shows the stage met before them: not owed,
    and never read back, they do not hold the closed ticket."""
    ledger = Ledger(ClockState(tmp_path / "c.sqlite"))
    for event in [*raised(), ev(s.TicketAccepted, 3, OLD + timedelta(hours=1))]:
        ledger.store(event)
    sent = ledger.tick(DUE + timedelta(hours=1, minutes=30), real=1000.0)
    assert [e.step_key for e in sent] == ["reminder", "breach", "chase-1"]
    ledger.store(sent[0])
    ledger.store(ev(s.TicketResolved, 4, DUE - timedelta(minutes=20), resolution="done"))
    for event in sent[1:]:
        ledger.store(event)  # reaches the ledger after the resolution
    ledger.store(ev(s.TicketClosed, 5, DUE + timedelta(hours=3)))
    assert ledger.refused == ["breach: deadline_met", "chase-1: deadline_met"]
    assert ledger.tick(NOW, real=2000.0) == []
    assert ledger.state.forget_finished(lambda c, k: TERMS) == 1 and ledger.state.tickets == {}


def paused(resumed_at: datetime = DUE + timedelta(days=2)) -> list[s.Event]:
    """Dispatched to c1 (resolve by DUE), paused half an hour before DUE (after the reminder at
    DUE - 1 h), resumed two days later with the half hour left: the deadline moves to the resume
    plus 30 minutes, a new clock's worth of steps."""
    return [*raised(), ev(s.TicketPaused, 3, DUE - timedelta(minutes=30), reason="the resident is away"),
            ev(s.TicketResumed, 4, resumed_at, deadlines=(s.UnitDeadline(unit=None, deadline=resumed_at + timedelta(minutes=30)),))]


def test_a_pause_read_before_a_step_that_fell_due_before_it_was_sent_still_sends_that_step(tmp_path: Path) -> None:
    """The reminder fell due before the pause. A clock catching up reads the pause before it has sent
    it: it still owes it, dated before the pause, for the deadline as it stood then, and sends it at its
    next tick; the resume read later moves the deadline, and the new one's steps follow. Before, a paused
    deadline owed nothing until its resume, whose move then dropped the old deadline's steps: the replay
    had one reminder fewer than the live run. (A clock that reads the resume too before its tick still
    misses it: the ledger checks a step against the deadline as it stands, see ClockState._owed.)"""
    moved = DUE + timedelta(days=2, minutes=30)
    live = lived(paused(), tmp_path / "live.sqlite")
    assert steps(live) == [("c1", "reminder", DUE - timedelta(hours=1)), ("c1", "reminder", moved - timedelta(hours=1)),
                           ("c1", "breach", moved), ("c1", "chase-1", moved + timedelta(hours=1)),
                           ("c1", "supervision", moved + timedelta(hours=8))]
    ledger = Ledger(ClockState(tmp_path / "c.sqlite"))
    *before, resume = paused()
    for event in before:
        ledger.store(event)
    ledger.run(resume.occurred_at)  # the clock's tick, the ticket still paused
    ledger.store(resume)
    ledger.run(NOW, real=10_000.0)
    assert steps(ledger) == steps(live) and ledger.refused == []


def test_a_paused_deadline_owes_only_what_fell_due_before_the_pause(tmp_path: Path) -> None:
    """Read up to the pause, never resumed: the reminder before it is owed, nothing after (the clock
    does not run while the ticket waits for the resident)."""
    ledger = caught_up(paused()[:-1], tmp_path / "c.sqlite")
    assert steps(ledger) == [("c1", "reminder", DUE - timedelta(hours=1))] and ledger.refused == []
