"""The simulator's deadline stories (producers/deadline_story.py): supporting units, first
contacts, extensions and pauses added to the tickets' own stories without changing them, the
same for a seed, and accepted by the rules (tests/unit/test_simulator.py feeds every simulated
event to the ledger)."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

import schemas as s
from producers.deadline_story import DeadlineStory
from producers.simulator import Plan, simulate

PLAN = Plan(seed=3, tickets=400, days=40)


def test_the_deadline_events_are_added_and_the_stories_own_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    told = list(simulate(PLAN))
    monkeypatch.setattr(DeadlineStory, "add_to", lambda self, story: None)
    plain = list(simulate(PLAN))
    added = Counter(e.type for e in told) - Counter(e.type for e in plain)
    assert {"TicketContacted", "TicketTaskAccepted", "TicketTaskCompleted", "TicketExtensionRequested", "TicketExtensionApproved",
            "TicketPaused", "TicketResumed"} <= set(added), added
    by_id = {e.event_id: e for e in told}
    for e in plain:  # every event of the plain stories, with its id, instant and facts; a dispatch may name supporting units
        kept = by_id[e.event_id]
        assert msgspec.structs.replace(kept, supporting=()) == e if isinstance(kept, s.TicketDispatched) else kept == e
    assert sum(1 for e in told if isinstance(e, s.TicketDispatched) and e.supporting) >= 10
    assert [e.occurred_at for e in told] == sorted(e.occurred_at for e in told), "published in the order they happened"


def test_the_same_seed_tells_the_same_deadline_stories() -> None:
    first = [s.encode(e) for e in simulate(PLAN) if e.type.startswith(("TicketExtension", "TicketPa", "TicketRes", "TicketTask", "TicketCont"))]
    again = [s.encode(e) for e in simulate(PLAN) if e.type.startswith(("TicketExtension", "TicketPa", "TicketRes", "TicketTask", "TicketCont"))]
    assert first == again and first
