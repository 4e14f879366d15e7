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


def test_a_step_is_sent_once_the_one_before_is_recorded_and_again_when_its_unit_moves(tmp_path: Path) -> None:
    """The README's audit walk, caught once in CI: the clock sent a breach and its chase at a unit's
    old path while the ledger was storing the unit's move; the breach was refused (subject_mismatch)
    and the chase with it (not_escalated), for good. Now a chase waits for its breach to be read
    back, and a step sent at a path the unit has left goes again at the new one, under a new message id."""
    state = ClockState(tmp_path / "c.sqlite")
    state.orgs.update({"d1": (None, "district"), "s1": ("d1", "street"), "s2": ("d1", "street"), "c1": ("s1", "community")})
    state.read(5, ev(s.TicketRaised, 5, OLD, ticket_id="A", category="parking", title="t"))
    state.read(6, ev(s.TicketDispatched, 6, OLD, ticket_id="A", to_unit="c1", deadline=OLD - timedelta(hours=9)))
    state.mark(NOW, 6, real=100.0)
    state.mark(NOW, 6, real=100.0 + QUIET)

    def pending() -> list[tuple[str, tuple[str, ...], str]]:
        return [(d.event.type, d.path, d.message_id) for d in state.due(state.settled_until(QUIET), lambda c, k: TERMS)]

    [(kind, path, message_id)] = pending()
    assert (kind, path) == ("DeadlineBreached", ("d1", "s1", "c1"))  # not its chase yet: that waits for the breach
    assert message_id.endswith("@d1.s1.c1")
    state.sent(state.tickets["A"], message_id)
    assert pending() == []  # on its way
    state.read(7, ev(s.OrgUnitMoved, 7, OLD, new_parent_id="s2"))  # the ledger stored the move before the breach
    [(kind, path, again)] = pending()
    assert (kind, path) == ("DeadlineBreached", ("d1", "s2", "c1")) and again != message_id
    assert again.split("@")[0] == message_id.split("@")[0]  # the same event: the ledger keeps one
