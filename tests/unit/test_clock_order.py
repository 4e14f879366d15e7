"""The order the clock sends what is due (ClockState.due): the order the steps fell due, over every
ticket and deadline, whatever order the tickets and deadlines were read in; at one instant by
ticket, round, the lead before its supporting units, unit, stage, and a deadline's steps in plan
order (a breach before the chase at its own instant). tests/integration/test_clock.py runs the
same with a real nats-server, caught up in one tick and in several."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import schemas as s
from consumers.clock_state import EPOCH, ClockState, FixedEscalation

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, tzinfo=CST)
TERMS = FixedEscalation(timedelta(hours=1), (timedelta(0), timedelta(hours=5)), timedelta(hours=8), ("street",))
"""The first chase at the breach itself, as the README's policy has it."""


def ev(cls: type[s.Event], n: int, ticket_id: str, at: datetime, **fields: Any) -> s.Event:
    return cls(event_id=f"{ticket_id}-{n}", occurred_at=at, source="t", actor=s.Actor(role="dispatcher", id="d"),
               org_id="c1", org_path=("c1",), ticket_id=ticket_id, **fields)


def unsigned(ticket_id: str, at: datetime, lead_by: timedelta, supporting_by: timedelta) -> list[s.Event]:
    """Dispatched at `at` to c1 with c2 supporting; neither signs for it (c1 by at + lead_by, c2 by at + supporting_by)."""
    far = at + timedelta(days=30)
    return [ev(s.TicketRaised, 1, ticket_id, at, category="parking", title="t"),
            ev(s.TicketDispatched, 2, ticket_id, at, to_unit="c1", deadline=far, contact_by=far, sign_for_by=at + lead_by,
               supporting=(s.SupportingTask(unit="c2", task="clear the drain", deadline=far, sign_for_by=at + supporting_by),))]


def owed(state: ClockState, until: datetime) -> list[tuple[str, str, str, datetime]]:
    """What a tick at `until` sends, marked sent as a tick does."""
    out = []
    for due in list(state.due(until, lambda category, kind: TERMS)):
        state.sent(due.clock, due.message_id)
        out.append((due.event.ticket_id, due.event.unit, due.event.step_key, due.event.occurred_at))
    return out


def read(state: ClockState, events: list[s.Event]) -> None:
    for event in events:
        state.read(state.position + 1, event)


def test_steps_go_in_the_order_they_fell_due_not_ticket_by_ticket_nor_deadline_by_deadline(tmp_path: Path) -> None:
    """A is read first but falls due later; in A, the supporting unit c2's deadline (read after the
    lead's) falls due first."""
    state = ClockState(tmp_path / "clock.sqlite")
    read(state, [*unsigned("A", T0 + timedelta(hours=1), timedelta(hours=4), timedelta(hours=2)),
                 *unsigned("B", T0, timedelta(hours=2), timedelta(hours=2))])
    sent = owed(state, T0 + timedelta(days=2))
    assert [at for *_, at in sent] == sorted(at for *_, at in sent)
    assert [(t, u, k) for t, u, k, _ in sent[:8]] == [
        ("B", "c1", "reminder"), ("B", "c2", "reminder"),  # 10:00
        ("A", "c2", "reminder"),  # 11:00 (A's c2, due 12:00)
        ("B", "c1", "breach"), ("B", "c1", "chase-1"), ("B", "c2", "breach"), ("B", "c2", "chase-1"),  # 11:00, breach before its chase
        ("A", "c2", "breach")]  # 12:00
    assert len(sent) == 20 and owed(state, T0 + timedelta(days=2)) == []


def test_the_same_history_read_and_ticked_at_any_points_gives_the_same_order(tmp_path: Path) -> None:
    """One clock reads the whole history and ticks once; another ticks after every event it reads
    (with the history's own time as its `until`, as while catching up): the same steps, in the same order."""
    history = [*unsigned("A", T0 + timedelta(hours=1), timedelta(hours=4), timedelta(hours=2)),
               *unsigned("B", T0, timedelta(hours=2), timedelta(hours=2)),
               ev(s.TicketRaised, 1, "C", T0 + timedelta(hours=12), category="parking", title="later history")]
    whole = ClockState(tmp_path / "whole.sqlite")
    read(whole, history)
    at_once = owed(whole, T0 + timedelta(hours=12))
    step = ClockState(tmp_path / "step.sqlite")
    in_steps = []
    for event in history:
        read(step, [event])
        in_steps += owed(step, max(e.occurred_at for e in history[:step.position]))
    assert in_steps == at_once and len(at_once) == 19  # all but A's c1 supervision (13:00: after the history's time)


@pytest.mark.parametrize("quiet_before", [True, False], ids=["after-a-quiet-ledger", "after-a-busy-one"])
def test_a_tick_anywhere_in_a_backlog_sends_what_a_tick_after_it_would(tmp_path: Path, quiet_before: bool) -> None:
    """The README's flake at its root: the whole history reaches the ledger at once, the clock reads
    it over several ticks. A tick falling in the middle of the backlog sends only what the marks
    vouch for as the ledger held it then (empty, quiet or not, before the history came), not what
    the part read by then owes: wherever the ticks fall, the ledger gets the same steps in the same
    order."""
    history = [*unsigned("A", T0 + timedelta(hours=4), timedelta(hours=2), timedelta(hours=2)),
               ev(s.TicketRaised, 1, "X", T0 + timedelta(hours=6), category="parking", title="history at 15:00"),
               *unsigned("B", T0, timedelta(hours=2), timedelta(hours=2)),  # read after A, falls due before it
               ev(s.TicketRaised, 1, "C", T0 + timedelta(hours=12), category="parking", title="history at 21:00")]
    now, quiet = T0 + timedelta(days=10), 5.0  # before the far deadlines (30 days on)
    runs = []
    for tick_at in range(len(history) + 1):
        state = ClockState(tmp_path / f"tick-at-{tick_at}.sqlite")
        state.mark(now, 0, real=100.0)
        if quiet_before:
            state.mark(now, 0, real=100.0 + quiet)  # an empty ledger, quiet: it vouches for now, until more comes
        state.mark(now, len(history), real=106.0)  # the history has come, all at once
        read(state, history[:tick_at])
        sent = owed(state, state.settled_until(quiet))
        read(state, history[tick_at:])
        state.mark(now, len(history), real=107.0)
        sent += owed(state, state.settled_until(quiet))  # caught up: the history's own time (21:00)
        state.mark(now, len(history), real=107.0 + quiet)
        sent += owed(state, state.settled_until(quiet))  # quiet again: now (A's supervisions, 23:00)
        runs.append(sent)
    assert all(run == runs[-1] for run in runs) and len(runs[-1]) == 20
    assert [at for *_, at in runs[-1]] == sorted(at for *_, at in runs[-1])


def test_a_burst_of_history_the_ledger_takes_in_pieces_is_judged_whole(tmp_path: Path) -> None:
    """The same backlog, taken by the ledger in two pieces, split anywhere, with a look between them
    that found the clock caught up with the first piece: that mark, taken while the ledger grew,
    vouches for nothing until the ledger has held still for a look (or `quiet` seconds on); the
    ledger gets the same steps in the same order wherever the pieces were cut."""
    history = [*unsigned("A", T0 + timedelta(hours=4), timedelta(hours=2), timedelta(hours=2)),
               ev(s.TicketRaised, 1, "X", T0 + timedelta(hours=6), category="parking", title="history at 15:00"),
               *unsigned("B", T0, timedelta(hours=2), timedelta(hours=2)),
               ev(s.TicketRaised, 1, "C", T0 + timedelta(hours=12), category="parking", title="history at 21:00")]
    now, quiet, n = T0 + timedelta(days=10), 5.0, len(history)
    runs = []
    for cut in range(n):  # the rest is never empty: the ledger grows at the second look
        state = ClockState(tmp_path / f"cut-at-{cut}.sqlite")
        state.mark(now, 0, real=100.0)
        state.mark(now, 0, real=100.0 + quiet)  # an empty ledger, quiet
        state.mark(now, cut, real=106.0)  # the first piece
        read(state, history[:cut])
        sent = owed(state, state.settled_until(quiet, real=106.5))
        state.mark(now, n, real=107.0)  # the rest
        read(state, history[cut:])
        sent += owed(state, state.settled_until(quiet, real=107.5))
        assert sent == [], cut  # the ledger grew at each look: nothing vouched for yet
        state.mark(now, n, real=108.0)  # held still for a look: the history's own time (21:00)
        sent += owed(state, state.settled_until(quiet, real=108.5))
        state.mark(now, n, real=108.0 + quiet)  # quiet: now
        sent += owed(state, state.settled_until(quiet, real=108.5 + quiet))
        runs.append(sent)
    assert all(run == runs[-1] for run in runs) and len(runs[-1]) == 20
    assert [at for *_, at in runs[-1]] == sorted(at for *_, at in runs[-1])


def test_a_ledger_that_never_stops_growing_holds_the_clock_back_by_quiet_seconds_at_most(tmp_path: Path) -> None:
    state = ClockState(tmp_path / "busy.sqlite")
    read(state, unsigned("B", T0, timedelta(hours=2), timedelta(hours=2)))
    state.read(3, ev(s.TicketRaised, 1, "C", T0 + timedelta(hours=3), category="parking", title="history at 12:00"))
    state.mark(T0 + timedelta(hours=3), 3, real=200.0)  # every look finds the ledger grown
    assert owed(state, state.settled_until(5.0, real=201.0)) == []
    assert [k for _, _, k, _ in owed(state, state.settled_until(5.0, real=205.0))] == [
        "reminder", "reminder", "breach", "chase-1", "breach", "chase-1"]


def test_marks_of_a_ledger_growing_at_every_look_are_kept_until_one_vouches(tmp_path: Path) -> None:
    """A `quiet` longer than the 50 marks kept cover: the one that vouches is kept, not cut with the
    oldest, so the clock is held back (further than `quiet`, the marks between being thinned) but
    never sent back to nothing."""
    state, quiet, untils = ClockState(tmp_path / "growing.sqlite"), 60.0, []
    for t in range(200):
        state.read(t + 1, ev(s.TicketRaised, 1, f"R{t}", T0 + timedelta(minutes=t), category="parking", title="t"))
        state.mark(T0 + timedelta(days=1), t + 1, real=1000.0 + t, quiet=quiet)
        untils.append(state.settled_until(quiet, real=1000.0 + t))
        assert untils[-1] <= (T0 + timedelta(minutes=t - 60) if t >= 60 else EPOCH), t  # no history younger than a minute
        assert len(state.marks) <= 51
    assert untils == sorted(untils) and untils[60] == T0 and untils[-1] >= T0 + timedelta(minutes=100)
