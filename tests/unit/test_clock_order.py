"""The order the clock sends what is due (ClockState.due): the order the steps fell due, over every
ticket and deadline, whatever order the tickets and deadlines were read in; at one instant by
ticket, round, the lead before its supporting units, unit, stage, and a deadline's steps in plan
order (a breach before the chase at its own instant). tests/integration/test_clock.py runs the
same with a real nats-server, caught up in one tick and in several."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import schemas as s
from consumers.clock_state import ClockState, FixedEscalation

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
