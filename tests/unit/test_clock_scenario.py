"""The clock on the project's scenario (tests/scenario.py: units moved, tickets transferred,
returned, reopened, rated): everything due months later, published where the clock publishes it,
is accepted by the ledger, nothing refused. Found a real fault: a unit moved after its ticket's
events were recorded (the clock now publishes at the unit's path as the tree stands)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import schemas as s
from adapters.deadlines import load_rules
from adapters.keys import KeyStore
from application.ledger import Incoming, Ledger
from civic_kit import MEMORY_ENV
from config import Settings
from consumers.clock_state import ClockState, policy_escalation
from schemas import topology
from tests.scenario import scenario


def test_every_clock_event_due_on_the_scenario_is_accepted(tmp_path: Path) -> None:
    rules = load_rules(Settings(data_dir=tmp_path))
    ledger = Ledger(env=dict(MEMORY_ENV), keys=KeyStore(tmp_path / "keys.sqlite"), rules=rules)
    seq = 0

    def send(event: s.Event, subject: str) -> list[str]:
        nonlocal seq
        seq += 1
        outcome = ledger.process([Incoming(seq, *topology.parse_intake_subject(subject), s.encode(event), 1)])
        return [f"{r.code}: {r.detail}" for r in outcome.rejections]

    for event, subject in scenario():
        assert send(event, subject) == []
    stored = [s.decode(n.state, max_bytes=None) for n in ledger.recorder.select_notifications(start=1, limit=10_000)]
    state = ClockState(tmp_path / "clock.sqlite")
    for position, event in enumerate(stored, 1):
        state.read(position, event)
    later = datetime(2026, 11, 28, tzinfo=timezone.utc)
    state.mark(later, len(stored), real=0.0)
    state.mark(later, len(stored), real=10.0)  # quiet since
    sent: list[s.Event] = []
    refused: list[tuple[str, str]] = []
    while due := list(state.due(state.settled_until(5.0), policy_escalation(rules))):  # a step once the last is read back
        refused += [(d.event.event_id, why) for d in due for why in send(d.event, topology.intake_subject(d.event, d.path))]
        sent += [d.event for d in due]
        for n in ledger.recorder.select_notifications(start=state.position + 1, limit=10_000):
            state.read(n.id, s.decode(n.state, max_bytes=None))
    assert refused == []
    assert len(sent) > 10
    assert Counter(e.type for e in sent)["DeadlineBreached"] > 0
