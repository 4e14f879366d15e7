"""Dispute (矛盾纠纷) rules through Ledger.process: registered, mediated, concluded."""

from __future__ import annotations

import pytest

import schemas as s
from civic_kit import LI_HUA, WANG_FANG, Desk


def test_register_mediate_conclude(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered", risk_grade="orange"))
    d = tree.get("dispute", "D1")
    assert (d.dispute_id, d.sessions, d.outcome) == ("D1", 0, None)
    tree.ok(tree.ev("MediationSessionHeld", notes="first"), tree.ev("MediationSessionHeld"))
    assert tree.get("dispute", "D1").sessions == 2
    tree.ok(tree.ev("DisputeConcluded", outcome="settled", agreement="fence moved 20 cm"))
    assert tree.get("dispute", "D1").outcome == "settled"


def test_a_failed_mediation_also_concludes(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered"), tree.ev("MediationSessionHeld"), tree.ev("DisputeConcluded", outcome="failed"))
    assert tree.get("dispute", "D1").outcome == "failed"
    tree.refused(tree.ev("MediationSessionHeld"), "dispute_concluded")


def test_conclude_without_a_session_is_no_mediation(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered"))
    tree.refused(tree.ev("DisputeConcluded"), "no_mediation")
    tree.refused(tree.ev("DisputeConcluded", outcome="failed"), "no_mediation")
    assert tree.get("dispute", "D1").outcome is None


@pytest.mark.parametrize("event_type", ["MediationSessionHeld", "DisputeConcluded"])
def test_nothing_happens_after_conclusion(tree: Desk, event_type: str) -> None:
    tree.ok(tree.ev("DisputeRegistered"), tree.ev("MediationSessionHeld"), tree.ev("DisputeConcluded"))
    tree.refused(tree.ev(event_type), "dispute_concluded")
    assert tree.get("dispute", "D1").outcome == "settled"


@pytest.mark.parametrize("event_type", ["MediationSessionHeld", "DisputeConcluded"])
def test_unknown_dispute(tree: Desk, event_type: str) -> None:
    tree.ok(tree.ev("DisputeRegistered", dispute_id="D2"))
    tree.refused(tree.ev(event_type), "unknown_dispute")


def test_register_twice_is_dispute_exists(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered"))
    tree.refused(tree.ev("DisputeRegistered", summary="again"), "dispute_exists")
    tree.refused(tree.ev("DisputeRegistered", org="c2"), "dispute_exists")


def test_register_at_unknown_org(tree: Desk) -> None:
    tree.refused(tree.ev("DisputeRegistered", org="c9"), "unknown_org")


@pytest.mark.parametrize("role", ["mediator", "grid_worker", "dispatcher", "unit", "system"])
def test_who_may_register(tree: Desk, role: str) -> None:
    tree.ok(tree.ev("DisputeRegistered", role=role))


@pytest.mark.parametrize("role", ["resident", "council", "auditor", "receiver"])
def test_register_role_not_allowed(tree: Desk, role: str) -> None:
    tree.refused(tree.ev("DisputeRegistered", role=role), "role_not_allowed")


@pytest.mark.parametrize("event_type", ["MediationSessionHeld", "DisputeConcluded"])
@pytest.mark.parametrize("role", ["grid_worker", "dispatcher", "unit", "system", "resident"])
def test_only_mediators_mediate_and_conclude(tree: Desk, event_type: str, role: str) -> None:
    tree.ok(tree.ev("DisputeRegistered"), tree.ev("MediationSessionHeld"))
    tree.refused(tree.ev(event_type, role=role), "role_not_allowed")


def test_personal_data_of_the_parties_is_accepted(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered", personal=(LI_HUA, WANG_FANG)))
    (stored,) = [e for e in tree.stored_events() if e.type == "DisputeRegistered"]
    assert [p.resident_id for p in stored.sealed] == ["r1", "r2"]
    assert stored.personal == ()


def test_personal_data_of_some_parties_only_is_accepted(tree: Desk) -> None:
    tree.ok(tree.ev("DisputeRegistered", personal=(WANG_FANG,)))


def test_personal_data_for_a_non_party(tree: Desk) -> None:
    stranger = s.PersonalData(resident_id="r3", name="Zhao Lei")
    tree.refused(tree.ev("DisputeRegistered", personal=(LI_HUA, stranger)), "personal_data_mismatch")
    assert tree.keys.get("r3") is None and tree.keys.get("r1") is None  # no key minted for a refused event


def test_personal_data_twice_for_one_party(tree: Desk) -> None:
    tree.refused(tree.ev("DisputeRegistered", personal=(LI_HUA, LI_HUA)), "personal_data_mismatch")


@pytest.mark.parametrize("event_type", ["MediationSessionHeld", "DisputeConcluded"])
def test_personal_data_on_later_dispute_events(tree: Desk, event_type: str) -> None:
    tree.ok(tree.ev("DisputeRegistered"), tree.ev("MediationSessionHeld"))
    tree.refused(tree.ev(event_type, personal=(LI_HUA,)), "personal_data_mismatch")
