"""Deliberation (党群议事) rules through Ledger.process: proposed, discussed, decided, implemented."""

from __future__ import annotations

import pytest

import schemas as s
from civic_kit import LI_HUA, Desk

STAGES = ["proposed", "discussed", "decided", "implemented"]
PATH = {"proposed": [], "discussed": ["MeetingHeld"], "decided": ["MeetingHeld", "TopicDecided"],
        "implemented": ["MeetingHeld", "TopicDecided", "TopicImplemented"]}
ALLOWED_FROM = {"MeetingHeld": {"proposed", "discussed"}, "TopicDecided": {"discussed"}, "TopicImplemented": {"decided"}}
LEADS_TO = {"MeetingHeld": "discussed", "TopicDecided": "decided", "TopicImplemented": "implemented"}


def drive(desk: Desk, stage: str, org: str = "k1") -> None:
    desk.ok(desk.ev("TopicProposed", org=org), *[desk.ev(e, org=org) for e in PATH[stage]])
    assert desk.get("topic", "P1").stage == stage


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("event_type", sorted(ALLOWED_FROM))
def test_every_event_from_every_stage(tree: Desk, event_type: str, stage: str) -> None:
    drive(tree, stage)
    outcome = tree.send(tree.ev(event_type, org="k1"))
    if stage in ALLOWED_FROM[event_type]:
        assert (outcome.accepted, outcome.rejections) == (1, [])
        assert tree.get("topic", "P1").stage == LEADS_TO[event_type]
    else:
        assert [r.code for r in outcome.rejections] == ["topic_stage"]
        assert tree.get("topic", "P1").stage == stage


def test_the_whole_deliberation(tree: Desk) -> None:
    tree.ok(tree.ev("TopicProposed", org="h1", body="six lights"))
    tree.ok(tree.ev("MeetingHeld", org="h1", attendees=12), tree.ev("MeetingHeld", org="h1", attendees=30))
    tree.ok(tree.ev("TopicDecided", org="h1", votes=s.Votes(in_favour=25, against=3, abstained=2)))
    tree.ok(tree.ev("TopicImplemented", org="h1", role="unit"))
    assert tree.get("topic", "P1").stage == "implemented"


def test_decide_before_any_meeting(tree: Desk) -> None:
    drive(tree, "proposed")
    tree.refused(tree.ev("TopicDecided", org="k1"), "topic_stage")


def test_implement_before_decision(tree: Desk) -> None:
    drive(tree, "discussed")
    tree.refused(tree.ev("TopicImplemented", org="k1"), "topic_stage")


@pytest.mark.parametrize("event_type", sorted(ALLOWED_FROM))
def test_unknown_topic(tree: Desk, event_type: str) -> None:
    tree.ok(tree.ev("TopicProposed", org="k1", topic_id="P2"))
    tree.refused(tree.ev(event_type, org="k1"), "unknown_topic")


def test_propose_twice_is_topic_exists(tree: Desk) -> None:
    drive(tree, "proposed")
    tree.refused(tree.ev("TopicProposed", org="k1", title="again"), "topic_exists")
    tree.refused(tree.ev("TopicProposed", org="c1"), "topic_exists")


def test_propose_at_unknown_org(tree: Desk) -> None:
    tree.refused(tree.ev("TopicProposed", org="k9"), "unknown_org")


@pytest.mark.parametrize("role", ["council", "unit"])
def test_who_may_deliberate(tree: Desk, role: str) -> None:
    tree.ok(tree.ev("TopicProposed", org="k1", role=role), tree.ev("MeetingHeld", org="k1", role=role))


@pytest.mark.parametrize("event_type", ["TopicProposed", "MeetingHeld", "TopicDecided", "TopicImplemented"])
@pytest.mark.parametrize("role", ["resident", "dispatcher", "system", "mediator"])
def test_role_not_allowed(tree: Desk, event_type: str, role: str) -> None:
    if event_type != "TopicProposed":
        drive(tree, {"MeetingHeld": "proposed", "TopicDecided": "discussed", "TopicImplemented": "decided"}[event_type])
    tree.refused(tree.ev(event_type, org="k1", role=role), "role_not_allowed")


@pytest.mark.parametrize("event_type", ["TopicProposed", "MeetingHeld"])
def test_personal_data_on_a_deliberation(tree: Desk, event_type: str) -> None:
    if event_type != "TopicProposed":
        drive(tree, "proposed")
    tree.refused(tree.ev(event_type, org="k1", personal=(LI_HUA,)), "personal_data_mismatch")
