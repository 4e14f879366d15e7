"""The clock's barrier (consumers/clock_state.py `settled_until`): a rule fires only once the clock
has read what the ledger held at an instant after it fired. While history is being published (the
demo's year in a minute, a backfill), that instant is the history's own time, so a ticket resolved
on time a few events after its dispatch is never breached; when the ledger is quiet, the wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import schemas as s
from consumers.clock_state import ClockState, FixedEscalation

CST = timezone(timedelta(hours=8))
OLD = datetime(2025, 6, 2, 9, tzinfo=CST)
NOW = datetime(2026, 3, 2, 9, tzinfo=CST)
TERMS = FixedEscalation(timedelta(hours=1), (timedelta(hours=1),), timedelta(hours=8), ("street",))
QUIET = 5.0


def ev(cls: type[s.Event], n: int, at: datetime, **fields: Any) -> s.Event:
    return cls(event_id=f"e{n}", occurred_at=at, source="t", actor=s.Actor(role="dispatcher", id="d"), org_id="c1",
               org_path=("c1",), **fields)


def due(state: ClockState) -> list[tuple[str, str]]:
    """What the clock publishes from here until nothing more is due, each step read back as the
    ledger records it (a deadline's next step is due only once the last is recorded)."""
    out = []
    while steps := [d.event for d in state.due(state.settled_until(QUIET), lambda c, k: TERMS)]:
        for event in steps:
            state.read(state.position + 1, event)
            out.append((event.ticket_id, event.type))
    return out


def test_history_published_while_the_clock_reads_is_judged_by_its_own_time(tmp_path: Path) -> None:
    state = ClockState(tmp_path / "c.sqlite")
    state.read(1, ev(s.TicketRaised, 1, OLD, ticket_id="A", category="parking", title="t"))
    state.read(2, ev(s.TicketDispatched, 2, OLD, ticket_id="A", to_unit="c1", deadline=OLD + timedelta(hours=4)))
    state.mark(NOW, 2, real=100.0)  # the ledger is growing: not quiet
    assert due(state) == []  # the history read so far is only at OLD
    state.read(3, ev(s.TicketAccepted, 3, OLD + timedelta(hours=2), ticket_id="A"))
    state.read(4, ev(s.TicketResolved, 4, OLD + timedelta(hours=3), ticket_id="A", resolution="done"))
    state.read(5, ev(s.TicketRaised, 5, OLD + timedelta(days=1), ticket_id="B", category="parking", title="t"))
    state.mark(NOW + timedelta(seconds=1), 9, real=101.0)
    assert due(state) == []  # A was resolved on time: nothing, though the wall clock is far past its deadline
    state.read(6, ev(s.TicketDispatched, 6, OLD + timedelta(days=1), ticket_id="B", to_unit="c1",
                     deadline=OLD + timedelta(days=1, hours=4)))
    for n in (7, 8, 9):
        state.read(n, ev(s.TicketProgressNoted, n, OLD + timedelta(days=1, hours=n - 6), ticket_id="X", note="-"))
    assert due(state) == [("B", "DeadlineNearing")]  # history has reached 1 day 3 h: B's reminder, not yet its breach
    state.mark(NOW + timedelta(seconds=1), 9, real=101.0 + QUIET)  # nothing new for QUIET real seconds: now counts
    assert due(state) == [("B", "DeadlineBreached"), ("B", "TicketChased"), ("B", "TicketSupervised")]


def test_a_mark_counts_only_once_the_clock_has_read_that_far(tmp_path: Path) -> None:
    state = ClockState(tmp_path / "c.sqlite")
    state.read(1, ev(s.TicketRaised, 1, OLD, ticket_id="A", category="parking", title="t"))
    state.read(2, ev(s.TicketDispatched, 2, OLD, ticket_id="A", to_unit="c1", deadline=OLD + timedelta(hours=4)))
    state.mark(NOW, 3, real=100.0)
    state.mark(NOW, 3, real=100.0 + QUIET)
    assert due(state) == []  # message 3 (perhaps A's resolution) is not read yet
    state.read(3, ev(s.TicketAccepted, 3, OLD + timedelta(hours=5), ticket_id="A"))
    assert [t for _, t in due(state)] == ["DeadlineNearing", "DeadlineBreached", "TicketChased", "TicketSupervised"]


def test_the_state_resumes_from_its_file(tmp_path: Path) -> None:
    state = ClockState(tmp_path / "c.sqlite")
    state.read(1, ev(s.TicketRaised, 1, OLD, ticket_id="A", category="parking", title="t"))
    state.read(2, ev(s.TicketDispatched, 2, OLD, ticket_id="A", to_unit="c1", deadline=OLD + timedelta(hours=4)))
    state.mark(NOW, 2, real=100.0)
    state.close()
    again = ClockState(tmp_path / "c.sqlite")
    assert again.position == 2 and list(again.tickets) == ["A"] and again.marks
    assert again.tickets["A"].book.deadlines[0].due == OLD + timedelta(hours=4)


def test_steps_sent_at_a_path_the_unit_has_left_go_again_at_the_new_one_with_those_after_them(tmp_path: Path) -> None:
    """The README's audit walk, caught once in CI: the clock sent a breach and its chase at a unit's
    old path while the ledger was storing the unit's move; the ledger refused both (subject_mismatch),
    then the supervision sent at the new path (not_escalated: no breach recorded), and nothing was
    ever sent again. Now the stale steps go again at the new path under a new message id, in order,
    the later steps behind them."""
    state = ClockState(tmp_path / "c.sqlite")
    state.orgs.update({"d1": (None, "district"), "s1": ("d1", "street"), "s2": ("d1", "street"), "c1": ("s1", "community")})
    state.read(1, ev(s.TicketRaised, 1, OLD, ticket_id="A", category="parking", title="t"))
    state.read(2, ev(s.TicketDispatched, 2, OLD, ticket_id="A", to_unit="c1", deadline=OLD + timedelta(hours=4)))
    state.read(3, ev(s.TicketProgressNoted, 3, OLD + timedelta(hours=6), ticket_id="X", note="-"))
    state.mark(NOW, 3, real=100.0)  # history has reached OLD + 6 h: the breach and the chase, not the supervision

    def pending() -> list[tuple[str, tuple[str, ...], str]]:
        return [(d.event.type, d.path, d.message_id) for d in state.due(state.settled_until(QUIET), lambda c, k: TERMS)]

    reminder = next(state.due(state.settled_until(QUIET), lambda c, k: TERMS)).event
    first = pending()
    assert [(kind, path) for kind, path, _ in first] == [("DeadlineNearing", ("d1", "s1", "c1")),
                                                         ("DeadlineBreached", ("d1", "s1", "c1")),
                                                         ("TicketChased", ("d1", "s1", "c1"))]
    assert all(m.endswith("@d1.s1.c1") for _, _, m in first)
    for _, _, message_id in first:
        state.sent(state.tickets["A"], message_id)
    assert pending() == []  # on their way
    state.read(4, reminder)  # the reminder got in before the move
    state.read(5, ev(s.OrgUnitMoved, 5, OLD + timedelta(hours=7), new_parent_id="s2"))
    state.read(6, ev(s.TicketProgressNoted, 6, OLD + timedelta(hours=13), ticket_id="X", note="-"))
    state.mark(NOW, 6, real=101.0)
    again = pending()
    assert [(kind, path) for kind, path, _ in again] == [("DeadlineBreached", ("d1", "s2", "c1")),
                                                         ("TicketChased", ("d1", "s2", "c1")),
                                                         ("TicketSupervised", ("d1", "s2", "c1"))]
    assert [m.split("@")[0] for _, _, m in again[:2]] == [m.split("@")[0] for _, _, m in first[1:]]  # the same events
    assert not {m for _, _, m in again} & {m for _, _, m in first}  # under new message ids: intake takes them
    assert state.tickets["A"].sent == [first[1][2], first[2][2]]  # the reminder, read back, is no longer awaited
