"""Checks every event passes before the rules of its aggregate: the subject names its type and
org path, only the ledger writes `sealed`/`org_path`, personal data comes only where a resident
is named."""

from __future__ import annotations

import msgspec
import pytest

import schemas as s
from civic_kit import LI_HUA, WANG_FANG, Desk

SEALED = s.SealedPersonalData(resident_id="r1", key_id="00", nonce="bm9uY2U=", ciphertext="Y2lwaGVy", mac="bWFj")


# -- subjects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", [
    "civic.intake.TicketAccepted.d1.t1.c1",   # another type's token
    "civic.intake.ticketraised.d1.t1.c1",     # tokens are case-sensitive
    "civic.intake.TicketRaised.d1.t1.c2",     # wrong leaf
    "civic.intake.TicketRaised.d1.t1.g1",     # a child of the event's unit
    "civic.intake.TicketRaised.d1.t1",        # the parent
    "civic.intake.TicketRaised.d1.t2.c1",     # wrong path, right leaf
    "civic.intake.TicketRaised.t1.c1",        # a truncated path
    "civic.intake.TicketRaised.c1",           # the leaf alone
    "civic.intake.TicketRaised.x.d1.t1.c1",   # an extra token in front
    "civic.intake.TicketRaised",              # no path at all
])
def test_subject_mismatch(tree: Desk, subject: str) -> None:
    tree.refused(tree.msg(tree.ev("TicketRaised"), subject=subject), "subject_mismatch")


def test_the_right_subject_is_accepted(tree: Desk) -> None:
    tree.ok(tree.msg(tree.ev("TicketRaised"), subject="civic.intake.TicketRaised.d1.t1.c1"))


@pytest.mark.parametrize(("event_type", "org"), [
    ("OrgUnitRenamed", "c1"), ("GridWorkerAssigned", "g1"), ("DisputeRegistered", "c1"), ("TopicProposed", "k1"),
])
def test_subject_mismatch_for_every_family(tree: Desk, event_type: str, org: str) -> None:
    event = tree.ev(event_type, org=org)
    good = tree.subject(event)
    tree.refused(tree.msg(event, subject=good.replace(event_type, "TicketRaised")), "subject_mismatch")
    tree.refused(tree.msg(event, subject=good + ".x"), "subject_mismatch")
    tree.refused(tree.msg(event, subject=good.replace(".t1.", ".t2.")), "subject_mismatch")
    tree.ok(tree.msg(event, subject=good))


def test_wrong_path_after_a_move(tree: Desk) -> None:
    tree.raise_ticket()
    tree.ok(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"))
    dispatch = tree.ev("TicketDispatched")
    tree.refused(tree.msg(dispatch, subject="civic.intake.TicketDispatched.d1.t1.c1"), "subject_mismatch")
    tree.ok(tree.msg(dispatch, subject="civic.intake.TicketDispatched.d1.t2.c1"))


def test_rejection_keeps_the_message_and_names_the_event(tree: Desk) -> None:
    message = tree.msg(tree.ev("TicketRaised"), subject="civic.intake.TicketRaised.d1.t1.c2")
    rejection = tree.refused(message, "subject_mismatch")
    assert rejection.message is message
    assert rejection.event_id == "ev-%d" % tree.n
    assert "c1" in rejection.detail


def test_undecodable_message_is_rejected_with_its_field(tree: Desk) -> None:
    data = s.encode(tree.ev("TicketRaised")).replace(b'"org_id":"c1"', b'"org_id":"c.1"')
    rejection = tree.refused(tree.msg(data, subject="civic.intake.TicketRaised.d1.t1.c1"), "invalid_field")
    assert (rejection.field, rejection.event_id) == ("org_id", None)


# -- sealed_by_producer ----------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [dict(sealed=(SEALED,)), dict(org_path=("d1", "t1", "c1")),
                                     dict(sealed=(SEALED,), personal=(LI_HUA,))])
def test_sealed_by_producer(tree: Desk, changes: dict) -> None:
    event = msgspec.structs.replace(tree.ev("TicketRaised"), **changes)
    tree.refused(event, "sealed_by_producer")


def test_sealed_by_producer_on_an_org_event(desk: Desk) -> None:
    event = msgspec.structs.replace(desk.ev("OrgUnitRegistered", org="d1"), org_path=("d1",))
    desk.refused(event, "sealed_by_producer")


# -- personal_data_mismatch -------------------------------------------------------------------------


def test_a_ticket_has_one_reporter(tree: Desk) -> None:
    tree.refused(tree.ev("TicketRaised", personal=(LI_HUA, WANG_FANG)), "personal_data_mismatch")


def test_one_entry_per_resident(tree: Desk) -> None:
    other = s.PersonalData(resident_id="r1", phone="000")
    tree.refused(tree.ev("TicketRaised", personal=(LI_HUA, other)), "personal_data_mismatch")


def test_a_ticket_without_personal_data_is_fine(tree: Desk) -> None:
    tree.ok(tree.ev("TicketRaised", role="grid_worker"))


@pytest.mark.parametrize("event_type", ["TicketDispatched", "TicketRated", "TicketReopened"])
def test_personal_data_on_ticket_events_that_carry_none(tree: Desk, event_type: str) -> None:
    tree.drive_ticket({"TicketDispatched": "raised", "TicketRated": "resolved", "TicketReopened": "resolved"}[event_type])
    tree.refused(tree.ev(event_type, personal=(LI_HUA,)), "personal_data_mismatch")


@pytest.mark.parametrize(("event_type", "org"), [("OrgUnitRenamed", "c1"), ("GridWorkerAssigned", "g1")])
def test_personal_data_on_org_events(tree: Desk, event_type: str, org: str) -> None:
    tree.refused(tree.ev(event_type, org=org, personal=(LI_HUA,)), "personal_data_mismatch")


def test_personal_data_on_a_registration(desk: Desk) -> None:
    desk.refused(desk.ev("OrgUnitRegistered", org="d1", personal=(LI_HUA,)), "personal_data_mismatch")


def test_a_subject_outside_civic_intake_is_refused(tree: Desk) -> None:
    event = tree.ev("TicketRaised")
    subject = tree.subject(event).replace("civic.intake.", "evil.prefix.", 1)
    tree.refused(tree.msg(event, subject=subject), "subject_mismatch")
