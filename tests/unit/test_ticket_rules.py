"""Ticket rules (点单 → 派单 → 接单 → 评单) through Ledger.process."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from civic_kit import Desk
from fold_kit import ALLOWED_FROM, LEADS_TO

STAGES = ["raised", "dispatched", "accepted", "returned", "resolved", "rated", "reopened", "closed", "voided"]

# Where each event may happen and the stage it leads to: the oracle the projection's fold tests
# use too (tests/unit/fold_kit.py, written out from domain/ticket.py's docstring, not derived from
# schemas/lifecycle.py, so a wrong lifecycle table fails here).

# Where the stage allows it, what the ticket's own state says next: drive_ticket's dispatch names
# no supporting unit, and no request or pause is pending.
IN_STAGE = {
    "TicketExtensionApproved": "no_extension_request", "TicketExtensionRefused": "no_extension_request",
    "TicketResumed": "not_paused", "TicketTaskAccepted": "not_supporting_unit", "TicketTaskCompleted": "not_supporting_unit",
}


def expected(event_type: str, stage: str) -> str:
    if stage in ("closed", "voided"):
        return "ticket_finished"
    if event_type == "TicketRated" and stage == "rated":
        return "already_rated"  # a second rating of the same round
    return IN_STAGE.get(event_type, "accepted") if stage in ALLOWED_FROM[event_type] else "wrong_stage"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("event_type", sorted(ALLOWED_FROM))
def test_every_event_from_every_stage(tree: Desk, event_type: str, stage: str) -> None:
    tree.drive_ticket(stage)
    if event_type == "TicketVoided" and stage != "voided":
        tree.raise_ticket("T9")  # what it duplicates
    before = tree.get("ticket", "T1")
    round_before = before.round
    outcome = tree.send(tree.ev(event_type))
    got = "accepted" if outcome.accepted == 1 else outcome.rejections[0].code
    assert got == expected(event_type, stage), [r.detail for r in outcome.rejections]
    after = tree.get("ticket", "T1")
    if got == "accepted":
        assert after.stage == (LEADS_TO[event_type] or stage)
    else:
        assert after.stage == stage
    if event_type == "TicketReopened" and got == "accepted":
        assert after.round == round_before + 1
    elif event_type != "TicketRated":
        assert after.round == round_before


def test_the_four_orders(tree: Desk) -> None:
    raised = tree.raise_ticket()
    tree.ok(tree.ev("TicketDispatched", to_unit="c1", to_worker="w-7"))
    tree.ok(tree.ev("TicketAccepted"))
    tree.ok(tree.ev("TicketProgressNoted"), tree.ev("TicketProgressNoted", note="second visit"))
    tree.ok(tree.ev("TicketResolved"))
    tree.ok(tree.ev("TicketRated", satisfaction="basically_satisfied"))
    tree.ok(tree.ev("TicketClosed", role="system"))
    ticket = tree.get("ticket", "T1")
    assert (ticket.stage, ticket.round, ticket.rated_rounds, ticket.org_id) == ("closed", 1, {1}, "c1")
    stored = tree.stored_events()[-8:]
    assert [e.type for e in stored] == [
        "TicketRaised", "TicketDispatched", "TicketAccepted", "TicketProgressNoted", "TicketProgressNoted",
        "TicketResolved", "TicketRated", "TicketClosed"]
    assert stored[0].event_id == raised.event_id
    assert all(e.org_path == ("d1", "t1", "c1") for e in stored)


def test_raise_twice_is_ticket_exists(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketRaised"), "ticket_exists")
    tree.refused(tree.ev("TicketRaised", org="c2"), "ticket_exists")  # same id anywhere


def test_raise_at_unknown_org(tree: Desk) -> None:
    tree.refused(tree.ev("TicketRaised", org="c9"), "unknown_org")


@pytest.mark.parametrize("event_type", sorted(ALLOWED_FROM))
def test_unknown_ticket(tree: Desk, event_type: str) -> None:
    tree.raise_ticket("T2")
    tree.refused(tree.ev(event_type), "unknown_ticket")


def test_dispatch_unknown_ticket(tree: Desk) -> None:
    tree.refused(tree.ev("TicketDispatched", ticket_id="T404"), "unknown_ticket")


def test_dispatch_to_unknown_unit(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketDispatched", to_unit="c9"), "unknown_org")
    assert tree.get("ticket", "T1").stage == "raised"


def test_dispatch_to_another_unit_or_only_a_worker(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("TicketDispatched", to_unit="g1"))
    tree.ok(tree.ev("TicketDispatched", to_unit=None, to_worker="w-7"))  # re-dispatch before acceptance
    assert tree.get("ticket", "T1").stage == "dispatched"


def test_dispatch_without_assignee(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketDispatched", to_unit=None, to_worker=None), "no_assignee")


@pytest.mark.parametrize("delta", [timedelta(0), -timedelta(seconds=1), -timedelta(days=3)])
def test_bad_deadline(tree: Desk, delta: timedelta) -> None:
    tree.raise_ticket()
    e = tree.ev("TicketDispatched")
    e2 = tree.ev("TicketDispatched", at=e.occurred_at, deadline=e.occurred_at + delta)
    tree.refused(e2, "bad_deadline")


def test_deadline_one_second_after_is_fine(tree: Desk) -> None:
    tree.raise_ticket()
    e = tree.ev("TicketDispatched")
    tree.ok(tree.ev("TicketDispatched", at=e.occurred_at, deadline=e.occurred_at + timedelta(seconds=1)))


def test_deadline_compares_instants_not_wall_clock(tree: Desk) -> None:
    tree.raise_ticket()
    e = tree.ev("TicketDispatched")
    # In UTC the wall clock reads 8 hours earlier, yet the instant is one hour after the dispatch...
    later = e.occurred_at.astimezone(timezone.utc) + timedelta(hours=1)
    assert later.replace(tzinfo=None) < e.occurred_at.replace(tzinfo=None)
    tree.ok(tree.ev("TicketDispatched", at=e.occurred_at, deadline=later))
    # ...and one that reads later on the wall clock (at -05:00) is an earlier instant.
    earlier = e.occurred_at.astimezone(timezone(timedelta(hours=-5))) - timedelta(minutes=1)
    tree.refused(tree.ev("TicketDispatched", at=e.occurred_at, deadline=earlier), "bad_deadline")


def test_accept_before_dispatch_is_wrong_stage(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketAccepted"), "wrong_stage")


def test_rate_before_resolve_is_wrong_stage(tree: Desk) -> None:
    tree.drive_ticket("accepted")
    tree.refused(tree.ev("TicketRated"), "wrong_stage")


def test_one_rating_per_round(tree: Desk) -> None:
    tree.drive_ticket("resolved")
    tree.ok(tree.ev("TicketRated"))
    tree.refused(tree.ev("TicketRated"), "already_rated")
    tree.refused(tree.ev("TicketRated", satisfaction="dissatisfied", role="dispatcher"), "already_rated")
    assert tree.get("ticket", "T1").stage == "rated"


def test_dissatisfied_rating_reopens_for_a_new_round(tree: Desk) -> None:
    tree.drive_ticket("resolved")
    tree.ok(tree.ev("TicketRated", satisfaction="dissatisfied", resolved=False))
    t = tree.get("ticket", "T1")
    assert (t.stage, t.round, t.rated_rounds) == ("reopened", 2, {1})
    tree.refused(tree.ev("TicketRated"), "wrong_stage")  # round 2 has no resolution yet
    tree.refused(tree.ev("TicketClosed"), "wrong_stage")
    tree.ok(tree.ev("TicketDispatched", to_unit="c2"))
    tree.ok(tree.ev("TicketAccepted", role="unit"))
    tree.ok(tree.ev("TicketResolved"))
    tree.ok(tree.ev("TicketRated"))  # the new round's rating
    t = tree.get("ticket", "T1")
    assert (t.stage, t.round, t.rated_rounds) == ("rated", 2, {1, 2})
    tree.refused(tree.ev("TicketRated"), "already_rated")
    tree.ok(tree.ev("TicketClosed"))


def test_reopen_after_a_rating_starts_a_new_round(tree: Desk) -> None:
    tree.drive_ticket("rated")
    tree.ok(tree.ev("TicketReopened", role="dispatcher"))
    assert (tree.get("ticket", "T1").stage, tree.get("ticket", "T1").round) == ("reopened", 2)
    tree.ok(tree.ev("TicketDispatched"), tree.ev("TicketAccepted"), tree.ev("TicketResolved"), tree.ev("TicketRated"))
    assert tree.get("ticket", "T1").rated_rounds == {1, 2}


def test_returned_goes_back_to_dispatch(tree: Desk) -> None:
    tree.drive_ticket("accepted")
    tree.ok(tree.ev("TicketReturned", role="receiver"))
    assert tree.get("ticket", "T1").stage == "returned"
    tree.refused(tree.ev("TicketAccepted"), "wrong_stage")
    tree.refused(tree.ev("TicketResolved"), "wrong_stage")
    tree.ok(tree.ev("TicketDispatched", to_unit="g1"))
    tree.ok(tree.ev("TicketAccepted"))
    assert tree.get("ticket", "T1").round == 1


@pytest.mark.parametrize("final", ["closed", "voided"])
@pytest.mark.parametrize("event_type", sorted(ALLOWED_FROM))
def test_closed_and_voided_are_final(tree: Desk, final: str, event_type: str) -> None:
    tree.drive_ticket(final)
    r = tree.refused(tree.ev(event_type), "ticket_finished")
    assert final in r.detail


def test_void_into_itself(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketVoided", duplicate_of="T1"), "bad_duplicate")


def test_void_into_unknown_ticket(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketVoided", duplicate_of="T404"), "bad_duplicate")


def test_void_into_a_voided_ticket(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("TicketRaised", ticket_id="T2", org="c2"), tree.ev("TicketRaised", ticket_id="T3", org="c2"))
    tree.ok(tree.ev("TicketVoided", ticket_id="T2", org="c2", duplicate_of="T3"))
    tree.refused(tree.ev("TicketVoided", duplicate_of="T2"), "bad_duplicate")


def test_void_into_a_ticket_raised_in_the_same_batch(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("TicketRaised", ticket_id="T2", org="c2"), tree.ev("TicketVoided", duplicate_of="T2"))
    assert tree.get("ticket", "T1").stage == "voided"
    assert tree.get("ticket", "T2").stage == "raised"


def test_recategorise(tree: Desk) -> None:
    tree.drive_ticket("accepted")
    tree.ok(tree.ev("TicketRecategorised", category="road_safety"))
    t = tree.get("ticket", "T1")
    assert (t.category, t.stage) == ("road_safety", "accepted")
    tree.ok(tree.ev("TicketRecategorised", category="noise", role="system"))
    assert tree.get("ticket", "T1").category == "noise"


# -- transfers (转办) ---------------------------------------------------------------------------


def test_transfer_hands_the_ticket_to_another_unit(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("TicketTransferred", to_org_id="c2"))
    t = tree.get("ticket", "T1")
    assert (t.org_id, t.stage, t.round) == ("c2", "raised", 1)
    # Its next events are recorded at the new unit; dispatch there goes on as usual.
    tree.ok(tree.ev("TicketDispatched", org="c2", to_unit="c2"), tree.ev("TicketAccepted", org="c2"))
    stored = tree.stored_events()[-3:]
    assert stored[0].type == "TicketTransferred" and stored[0].org_path == ("d1", "t1", "c1")
    assert (stored[0].from_org_id, stored[0].to_org_id) == ("c1", "c2")  # type: ignore[attr-defined]


def test_transfer_after_a_return_and_on_again(tree: Desk) -> None:
    tree.drive_ticket("returned")
    tree.ok(tree.ev("TicketTransferred", to_org_id="g1"))
    tree.ok(tree.ev("TicketTransferred", org="g1", from_org_id="g1", to_org_id="e1"))  # across the tree, to a park's firm
    t = tree.get("ticket", "T1")
    assert (t.org_id, t.stage) == ("e1", "returned")
    tree.ok(tree.ev("TicketTransferred", org="e1", from_org_id="e1", to_org_id="c1"))  # and back where it began
    assert tree.get("ticket", "T1").org_id == "c1"


def test_transfer_to_an_unknown_unit(tree: Desk) -> None:
    tree.raise_ticket()
    tree.refused(tree.ev("TicketTransferred", to_org_id="c9"), "unknown_org")
    assert tree.get("ticket", "T1").org_id == "c1"


def test_transfer_to_the_unit_it_is_at(tree: Desk) -> None:
    tree.raise_ticket()
    r = tree.refused(tree.ev("TicketTransferred", to_org_id="c1"), "bad_transfer")
    assert "already at c1" in r.detail


def test_transfer_from_a_unit_it_is_not_at(tree: Desk) -> None:
    """A second transfer written from stale knowledge (it already left c1) is refused, not applied twice."""
    tree.raise_ticket()
    tree.ok(tree.ev("TicketTransferred", to_org_id="c2"))
    r = tree.refused(tree.ev("TicketTransferred", to_org_id="g1"), "bad_transfer")
    assert "stands at c2, not c1" in r.detail
    assert tree.get("ticket", "T1").org_id == "c2"


def test_transfer_once_dispatched_is_wrong_stage(tree: Desk) -> None:
    """Someone holds it: the receiving unit returns it first, then dispatch transfers it."""
    tree.drive_ticket("dispatched")
    tree.refused(tree.ev("TicketTransferred"), "wrong_stage")
    tree.ok(tree.ev("TicketReturned", reason="not our area"))
    tree.ok(tree.ev("TicketTransferred"))


def test_transfer_to_a_unit_registered_in_the_same_batch(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("OrgUnitRegistered", org="c3", kind="community", name="Nanhu", parent_id="t2"),
            tree.ev("TicketTransferred", to_org_id="c3"))
    assert tree.get("ticket", "T1").org_id == "c3"


def test_a_resent_transfer_is_a_silent_duplicate(tree: Desk) -> None:
    tree.raise_ticket()
    e = tree.ev("TicketTransferred")
    tree.ok(e)
    outcome = tree.send(e)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


# -- roles -------------------------------------------------------------------------------------

# (event, the stage where it is otherwise allowed, a role that may not record it, a role that may)
ROLE_CASES = [
    ("TicketRaised", None, "auditor", "enterprise"),
    ("TicketRaised", None, "mediator", "grid_worker"),
    ("TicketRaised", None, "council", "unit"),
    ("TicketDispatched", "raised", "resident", "system"),
    ("TicketDispatched", "raised", "grid_worker", "dispatcher"),
    ("TicketAccepted", "dispatched", "dispatcher", "receiver"),
    ("TicketAccepted", "dispatched", "resident", "unit"),
    ("TicketReturned", "accepted", "resident", "receiver"),
    ("TicketProgressNoted", "accepted", "dispatcher", "unit"),
    ("TicketResolved", "accepted", "resident", "grid_worker"),
    ("TicketRated", "resolved", "grid_worker", "dispatcher"),  # 12345 call-backs rate for the resident
    ("TicketRated", "resolved", "system", "enterprise"),
    ("TicketReopened", "resolved", "grid_worker", "system"),
    ("TicketClosed", "rated", "resident", "system"),
    ("TicketVoided", "raised", "grid_worker", "system"),
    ("TicketRecategorised", "raised", "unit", "dispatcher"),
    ("TicketTransferred", "raised", "grid_worker", "system"),
    ("TicketTransferred", "returned", "unit", "dispatcher"),  # the unit returns it; dispatch transfers it
    ("TicketTransferred", "reopened", "resident", "dispatcher"),
    ("TicketContacted", "accepted", "dispatcher", "grid_worker"),
    ("TicketExtensionRequested", "accepted", "dispatcher", "unit"),  # the unit asks, dispatch decides
    ("TicketExtensionRequested", "dispatched", "resident", "receiver"),
    ("TicketPaused", "accepted", "resident", "dispatcher"),  # a 12345 call-back finds the resident away
    ("TicketPaused", "dispatched", "auditor", "grid_worker"),
]


@pytest.mark.parametrize(("event_type", "stage", "forbidden", "allowed"), ROLE_CASES)
def test_roles(tree: Desk, event_type: str, stage: str | None, forbidden: str, allowed: str) -> None:
    if stage is not None:
        tree.drive_ticket(stage)
    if event_type == "TicketVoided":
        tree.raise_ticket("T9")
    tree.refused(tree.ev(event_type, role=forbidden), "role_not_allowed")
    tree.ok(tree.ev(event_type, role=allowed))
