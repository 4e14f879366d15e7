"""Exactly-once on at-least-once delivery: duplicates, conflicting duplicates, the stored
position, and batches that fail (retried, then set aside as poison)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest

from application import ledger as ledger_module
from application.ledger import MAX_DELIVERIES, Incoming
from civic_kit import Desk
from domain.ticket import Ticket


def history(desk: Desk) -> list[Incoming]:
    """One message of each family, all accepted; returns the messages."""
    if not desk.parent:
        desk.build_tree()
    events = [
        desk.ev("TicketRaised"), desk.ev("TicketDispatched"), desk.ev("TicketAccepted"),
        desk.ev("GridWorkerAssigned", org="g1"), desk.ev("OrgUnitRenamed", org="c1"),
        desk.ev("DisputeRegistered"), desk.ev("MediationSessionHeld"),
        desk.ev("TopicProposed", org="k1"), desk.ev("MeetingHeld", org="k1"),
    ]
    messages = [desk.msg(e) for e in events]
    desk.ok(*messages)
    return messages


def resend(desk: Desk, messages: list[Incoming]) -> list[Incoming]:
    """The same subjects and bytes under new intake sequences (a producer's retry)."""
    return [desk.msg(m.data, subject=m.subject) for m in messages]


def states(desk: Desk) -> list[bytes]:
    return [n.state for n in desk.stored()]


# -- silent duplicates -----------------------------------------------------------------------------


def test_resend_is_a_silent_duplicate(tree: Desk) -> None:
    messages = history(tree)
    before = states(tree)
    outcome = tree.send(*resend(tree, messages))
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, len(messages), [])
    assert states(tree) == before
    assert outcome.position == tree.seq  # the position still moves on


def test_duplicate_within_one_batch(tree: Desk) -> None:
    e = tree.ev("TicketRaised")
    outcome = tree.send(e, e)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (1, 1, [])
    assert [x.event_id for x in tree.stored_events()].count(e.event_id) == 1


def test_duplicate_of_a_registration_in_one_batch(desk: Desk) -> None:
    e = desk.ev("OrgUnitRegistered", org="d1")
    outcome = desk.send(e, e)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (1, 1, [])


def test_duplicate_long_after_in_a_new_ledger_on_the_same_files(ledger_files: Callable[[], Desk]) -> None:
    first = ledger_files()
    messages = history(first)
    first.ok(first.ev("TicketResolved"), first.ev("TicketRated"), first.ev("TicketClosed"))  # the ticket moved on
    before, position = states(first), first.ledger.position()

    again = ledger_files()  # a restart: new application, new key store handle, same files
    assert again.ledger.position() == position
    again.seq, again.n, again.parent = first.seq, first.n, dict(first.parent)
    outcome = again.send(*resend(again, messages))
    assert [r.code for r in outcome.rejections] == []
    assert (outcome.accepted, outcome.duplicates) == (0, len(messages))
    assert states(again) == before
    # and it goes on accepting new events
    again.ok(again.ev("TicketRaised", ticket_id="T2"))
    assert again.get("ticket", "T1").stage == "closed"


def test_duplicate_after_the_unit_moved(tree: Desk) -> None:
    """A retry carries the subject it was first sent with; it is still the same event."""
    messages = history(tree)
    tree.ok(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"))
    before = states(tree)
    outcome = tree.send(*resend(tree, messages))
    assert [r.code for r in outcome.rejections] == []
    assert (outcome.accepted, outcome.duplicates) == (0, len(messages))
    assert states(tree) == before


def test_duplicate_with_the_current_subject_after_a_move(tree: Desk) -> None:
    e = tree.raise_ticket()
    tree.ok(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"))
    outcome = tree.send(tree.msg(e, subject="civic.intake.TicketRaised.d1.t2.c1"))
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


def test_duplicate_of_a_v1_dispatch(tree: Desk) -> None:
    """An upcast event is compared in its current form: the resent v1 bytes are a duplicate."""
    tree.raise_ticket()
    o = json.loads(msgspec.json.encode(tree.ev("TicketDispatched")))
    del o["deadline"]
    o.update(schema_version=1, deadline_hours=24)
    data = json.dumps(o).encode()
    subject = "civic.intake.TicketDispatched.d1.t1.c1"
    tree.ok(tree.msg(data, subject=subject))
    stored = tree.stored_events()[-1]
    assert (stored.schema_version, stored.deadline - stored.occurred_at) == (2, timedelta(hours=24))
    outcome = tree.send(tree.msg(data, subject=subject))
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


def test_new_event_id_same_content_is_a_new_event(tree: Desk) -> None:
    tree.drive_ticket("accepted")
    a = tree.ev("TicketProgressNoted", note="same words")
    b = msgspec.structs.replace(a, event_id="another-id")
    tree.ok(a, b)


# -- conflicting duplicates ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(9))
def test_same_event_id_different_content(tree: Desk, index: int) -> None:
    messages = history(tree)
    before = states(tree)
    original = msgspec.json.decode(messages[index].data)
    changed = dict(original, source="another-system")
    data = msgspec.json.encode(changed)
    rejection = tree.refused(tree.msg(data, subject=messages[index].subject), "conflicting_duplicate")
    assert rejection.event_id == original["event_id"]
    assert states(tree) == before


def test_same_event_id_reused_for_another_event_of_the_aggregate(tree: Desk) -> None:
    raised = tree.raise_ticket()
    reuse = msgspec.structs.replace(tree.ev("TicketDispatched"), event_id=raised.event_id)
    tree.refused(reuse, "conflicting_duplicate")


def test_same_event_id_different_time(tree: Desk) -> None:
    raised = tree.raise_ticket()
    later = msgspec.structs.replace(raised, occurred_at=raised.occurred_at.replace(second=1))
    tree.refused(later, "conflicting_duplicate")


def test_conflicting_registration(desk: Desk) -> None:
    e = desk.ev("OrgUnitRegistered", org="d1")
    desk.ok(e)
    desk.refused(msgspec.structs.replace(e, name="Other name"), "conflicting_duplicate")
    desk.refused(msgspec.structs.replace(e, kind="zone"), "conflicting_duplicate")


def test_conflicting_duplicate_within_one_batch(tree: Desk) -> None:
    e = tree.ev("TicketRaised")
    outcome = tree.send(e, msgspec.structs.replace(e, title="something else"))
    assert outcome.accepted == 1
    assert [r.code for r in outcome.rejections] == ["conflicting_duplicate"]


# -- the stored position ---------------------------------------------------------------------------


def test_messages_at_or_below_the_position_are_skipped(tree: Desk) -> None:
    messages = history(tree)
    position = tree.ledger.position()
    assert position == messages[-1].sequence == tree.seq
    before = states(tree)

    outcome = tree.send(*messages)  # a redelivery of the very same messages
    assert (outcome.skipped, outcome.accepted, outcome.duplicates, outcome.rejections) == (len(messages), 0, 0, [])
    assert outcome.position == position
    assert states(tree) == before

    # Even content that would be refused is skipped, not judged, at or below the position.
    bogus = Incoming(position, "TicketRaised", ("d1",), b"not json")
    assert tree.ledger.process([bogus]).skipped == 1

    # A batch straddling the position: the old part skipped, the new part applied.
    new = tree.msg(tree.ev("TicketProgressNoted"))
    outcome = tree.send(messages[-1], new)
    assert (outcome.skipped, outcome.accepted) == (1, 1)
    assert outcome.position == new.sequence == tree.ledger.position()


def test_position_survives_a_restart(ledger_files: Callable[[], Desk]) -> None:
    first = ledger_files()
    messages = history(first)
    again = ledger_files()
    outcome = again.ledger.process(messages)
    assert (outcome.skipped, outcome.accepted, outcome.position) == (len(messages), 0, messages[-1].sequence)


def test_a_batch_of_only_rejections_still_moves_the_position(tree: Desk) -> None:
    start = tree.ledger.position()
    outcome = tree.send(tree.ev("TicketAccepted", ticket_id="T404"))
    assert outcome.rejections and outcome.position == tree.ledger.position() == start + 1


def test_the_position_is_the_highest_sequence_of_the_batch(tree: Desk) -> None:
    base = tree.seq
    a = tree.msg(tree.ev("TicketRaised"), sequence=base + 7)
    b = tree.msg(tree.ev("TicketRaised", ticket_id="T2"), sequence=base + 3)
    outcome = tree.send(a, b)
    assert outcome.position == tree.ledger.position() == a.sequence


# -- failures, retries and poison ------------------------------------------------------------------


@pytest.fixture
def explode_on(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """event_ids whose Ticket.decide raises an unexpected error."""
    bad: set[str] = set()
    original = Ticket.decide

    def decide(self: Ticket, event) -> None:  # type: ignore[no-untyped-def]
        if event.event_id in bad:
            raise RuntimeError("disk on fire")
        original(self, event)

    monkeypatch.setattr(Ticket, "decide", decide)
    return bad


def failing_batch(tree: Desk, explode_on: set[str]) -> list[Incoming]:
    tree.raise_ticket("T1")
    tree.raise_ticket("T2")
    good1 = tree.ev("TicketDispatched", ticket_id="T1")
    bad = tree.ev("TicketDispatched", ticket_id="T2")
    good2 = tree.ev("TicketRaised", ticket_id="T3", personal=())
    good3 = tree.ev("TicketAccepted", ticket_id="T1")
    explode_on.add(bad.event_id)
    return [tree.msg(e) for e in (good1, bad, good2, good3)]


def test_an_unexpected_error_fails_the_whole_batch(tree: Desk, explode_on: set[str]) -> None:
    batch = failing_batch(tree, explode_on)
    before, position = states(tree), tree.ledger.position()
    for deliveries in range(1, MAX_DELIVERIES):
        with pytest.raises(RuntimeError, match="disk on fire"):
            tree.send(*[dataclasses.replace(m, deliveries=deliveries) for m in batch])
        assert states(tree) == before
        assert tree.ledger.position() == position
        # The batch's changes to cached aggregates are gone too.
        assert tree.get("ticket", "T1").stage == "raised"
        with pytest.raises(Exception):
            tree.get("ticket", "T3")


def test_after_max_deliveries_the_failing_message_is_poison(tree: Desk, explode_on: set[str]) -> None:
    batch = failing_batch(tree, explode_on)
    with pytest.raises(RuntimeError):
        tree.send(*batch)  # the first delivery fails and leaves cached aggregates dirty for a moment
    bad = batch[1]
    outcome = tree.send(*[dataclasses.replace(m, deliveries=MAX_DELIVERIES) for m in batch])
    assert [(r.code, r.event_id, r.message.sequence) for r in outcome.rejections] == [
        ("poison", msgspec.json.decode(bad.data)["event_id"], bad.sequence)]
    assert "RuntimeError" in outcome.rejections[0].detail
    assert (outcome.accepted, outcome.duplicates, outcome.position) == (3, 0, batch[-1].sequence)
    assert tree.get("ticket", "T1").stage == "accepted"
    assert tree.get("ticket", "T2").stage == "raised"
    assert tree.get("ticket", "T3").stage == "raised"
    assert [e.event_id for e in tree.stored_events()[-3:]] == [
        msgspec.json.decode(m.data)["event_id"] for m in (batch[0], batch[2], batch[3])]


def test_poison_needs_the_failing_message_itself_to_be_over_the_limit(tree: Desk, explode_on: set[str]) -> None:
    batch = failing_batch(tree, explode_on)
    mixed = [dataclasses.replace(m, deliveries=MAX_DELIVERIES if i != 1 else MAX_DELIVERIES - 1) for i, m in enumerate(batch)]
    with pytest.raises(RuntimeError):
        tree.send(*mixed)
    more = [dataclasses.replace(m, deliveries=MAX_DELIVERIES + 3) for m in batch]
    assert [r.code for r in tree.send(*more).rejections] == ["poison"]


def test_a_failing_store_leaves_nothing_behind(tree: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.raise_ticket("T1")
    before, position = states(tree), tree.ledger.position()
    batch = [tree.msg(tree.ev("TicketDispatched")), tree.msg(tree.ev("TicketRaised", ticket_id="T2"))]
    original = tree.ledger._record

    def broken(processing):  # type: ignore[no-untyped-def]
        raise OSError("database is locked")

    monkeypatch.setattr(tree.ledger, "_record", broken)
    with pytest.raises(OSError):
        tree.send(*batch)
    assert (states(tree), tree.ledger.position()) == (before, position)
    assert tree.get("ticket", "T1").stage == "raised"

    monkeypatch.setattr(tree.ledger, "_record", original)
    outcome = tree.send(*batch)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (2, 0, [])


def test_max_deliveries_is_small_and_positive() -> None:
    assert 1 < ledger_module.MAX_DELIVERIES <= 10


# -- event ids are unique across the whole ledger ----------------------------------------------------


def test_an_event_id_reused_for_another_aggregate_is_a_conflicting_duplicate(tree: Desk) -> None:
    raised = tree.ev("TicketRaised", ticket_id="T1")
    tree.ok(raised)
    for other in (tree.ev("TicketRaised", ticket_id="T2", event_id=raised.event_id),
                  tree.ev("DisputeRegistered", event_id=raised.event_id),
                  tree.ev("OrgUnitRenamed", org="c1", event_id=raised.event_id)):
        outcome = tree.send(other)
        assert [(r.code, r.event_id) for r in outcome.rejections] == [("conflicting_duplicate", raised.event_id)]
    assert tree.send(tree.msg(raised)).duplicates == 1  # the same content again: still silent


def test_a_reuse_within_one_batch_is_a_conflicting_duplicate(tree: Desk) -> None:
    a = tree.ev("TicketRaised", ticket_id="T1")
    b = tree.ev("TopicProposed", org="k1", event_id=a.event_id)
    outcome = tree.send(a, b)
    assert outcome.accepted == 1 and [r.code for r in outcome.rejections] == ["conflicting_duplicate"]


def test_the_index_survives_a_restart(ledger_files: Callable[[], Desk]) -> None:
    first = ledger_files()
    messages = history(first)
    again = ledger_files()
    again.seq, again.n, again.parent = first.seq, first.n, dict(first.parent)
    reuse = again.ev("TicketRaised", ticket_id="T77", event_id=json.loads(messages[-1].data)["event_id"])
    assert [r.code for r in again.send(reuse).rejections] == ["conflicting_duplicate"]


def test_a_store_from_before_the_index_gets_it_from_its_history(ledger_files: Callable[[], Desk], tmp_path) -> None:
    import sqlite3

    from adapters.eventstore import EVENT_IDS, EVENT_IDS_BUILT

    first = ledger_files()
    messages = history(first)
    stored = len(first.stored())
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:  # what a ledger of the previous release left
        db.execute(f"DROP TABLE {EVENT_IDS}")
        db.execute(f"DROP TABLE {EVENT_IDS_BUILT}")
    again = ledger_files()
    assert again.ledger.indexed_on_upgrade == stored
    assert ledger_files().ledger.indexed_on_upgrade == 0  # once
    again.seq, again.n, again.parent = first.seq, first.n, dict(first.parent)
    outcome = again.send(*resend(again, messages))
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, len(messages), [])
    reuse = again.ev("DisputeRegistered", dispute_id="D9", event_id=json.loads(messages[0].data)["event_id"])
    assert [r.code for r in again.send(reuse).rejections] == ["conflicting_duplicate"]
