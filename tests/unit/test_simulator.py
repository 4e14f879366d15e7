"""The district simulator: the same seed gives the same bytes, the tree has the seed's shape, the
flows have what a real district has, and the rules accept every event."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import pytest

import schemas as s
from adapters.keys import KeyStore
from application.ledger import Incoming, Ledger
from civic_kit import MEMORY_ENV
from producers.district import build_district, org_events
from producers.simulator import END, Plan, simulate


def wire(plan: Plan) -> bytes:
    return b"\n".join(s.encode(e) for e in simulate(plan))


@pytest.fixture(scope="module")
def district_events() -> list[s.Event]:
    return list(simulate(Plan(seed=1)))  # the default: 2,647 tickets over a year


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    one = wire(Plan(seed=7, tickets=300))
    assert one == wire(Plan(seed=7, tickets=300))
    other = wire(Plan(seed=8, tickets=300))
    assert other != one
    # The org tree is the same for every seed (so seeds can share a ledger); the activity is not.
    n_org = len(org_events(build_district()))
    assert one.split(b"\n")[:n_org] == other.split(b"\n")[:n_org]
    assert set(one.split(b"\n")[n_org:]).isdisjoint(other.split(b"\n")[n_org:])


def test_the_org_tree_has_the_seed_shape() -> None:
    events = org_events(build_district())
    units = {e.org_id: e for e in events if isinstance(e, s.OrgUnitRegistered)}
    kind = Counter(e.kind for e in units.values())
    parent_kind = lambda e: units[e.parent_id].kind if e.parent_id else None  # noqa: E731
    assert units["yn"].kind == "district" and kind["town"] + kind["street"] >= 2 and kind["street"] >= 1
    assert kind["village"] + kind["community"] == 81
    councils = [e for e in units.values() if e.kind == "council"]
    assert sum(parent_kind(e) == "village" for e in councils) == 70
    assert kind["hamlet"] == 452
    assert sorted(e.parent_id for e in councils if parent_kind(e) == "hamlet") == sorted(
        e.org_id for e in units.values() if e.kind == "hamlet"), "every hamlet has its deliberation group"
    branches = [e for e in units.values() if e.kind == "party_branch"]
    assert all(parent_kind(e) == "community" for e in branches)
    assert sum("联合党支部" in e.name for e in branches) == 37 and sum("小区党支部" in e.name for e in branches) == 8
    grids = {e.org_id for e in units.values() if e.kind == "grid"}
    assigned = {e.org_id for e in events if isinstance(e, s.GridWorkerAssigned)}
    assert grids and assigned == grids
    assert [e.org_id for e in units.values() if e.kind == "zone"] == ["hz"]
    assert [e.parent_id for e in units.values() if e.kind == "work_committee"] == ["hz"]
    parks = [e for e in units.values() if e.kind == "park_committee"]
    assert len(parks) == 5 and all(parent_kind(e) == "work_committee" for e in parks)
    assert kind["enterprise"] == 741 and all(parent_kind(e) == "park_committee" for e in units.values() if e.kind == "enterprise")


def test_the_flows_look_like_a_district_year(district_events: list[s.Event]) -> None:
    events = district_events
    tickets: dict[str, list[s.Event]] = defaultdict(list)
    for e in events:
        if hasattr(e, "ticket_id"):
            tickets[e.ticket_id].append(e)  # type: ignore[attr-defined]
    assert len(tickets) == 2647
    raised = [t[0] for t in tickets.values()]
    assert {"epidemic_control", "civilised_city", "compound_management", "parking", "environment", "roads_and_lights",
            "collective_economy", "enterprise_problem", "elderly_care"} <= {e.category for e in raised}  # type: ignore[attr-defined]
    assert all(e.occurred_at <= END for e in events) and max(e.occurred_at for e in events) > END.replace(month=12, day=1)
    assert all(a.occurred_at <= b.occurred_at for a, b in zip(events, events[1:])), "published in the order they happened"
    last = Counter(t[-1].type for t in tickets.values())
    assert last["TicketClosed"] > 2000 and sum(v for k, v in last.items() if k != "TicketClosed") > 10, "some still open"
    types = Counter(e.type for e in events)
    assert types["TicketReturned"] > 20 and types["TicketVoided"] > 0 and types["TicketReopened"] > 0
    assert types["TicketDispatched"] > types["TicketRaised"] - types["TicketVoided"], "returns and new rounds re-dispatch"
    ratings = Counter(e.satisfaction for e in events if isinstance(e, s.TicketRated))
    assert ratings["satisfied"] > 0.8 * sum(ratings.values()) and ratings["basically_satisfied"] > 0 and ratings["dissatisfied"] > 0
    overdue = 0
    for story in tickets.values():
        deadline = None
        for e in story:
            if isinstance(e, s.TicketDispatched):
                deadline = e.deadline
            if isinstance(e, s.TicketResolved) and deadline and e.occurred_at > deadline:
                overdue += 1
    assert 0.03 * len(tickets) < overdue < 0.2 * len(tickets)
    enterprise = [t for t in tickets.values() if t[0].category == "enterprise_problem"]  # type: ignore[attr-defined]
    assert enterprise and all(t[0].actor.role == "enterprise" and t[0].org_id.startswith("hz-p") for t in enterprise)
    assert all(e.to_unit.startswith("hz-p") for t in enterprise for e in t if isinstance(e, s.TicketDispatched))  # type: ignore[union-attr]
    outcomes = Counter(e.outcome for e in events if isinstance(e, s.DisputeConcluded))
    assert outcomes["settled"] > 0.9 * sum(outcomes.values())
    topics = [e for e in events if isinstance(e, s.TopicProposed)]
    assert {e.org_id.endswith("-g") for e in topics} == {True, False}, "hamlet groups and village councils"
    assert all(e.personal == () or e.type in ("TicketRaised", "DisputeRegistered") for e in events)


def test_the_rules_accept_every_simulated_event(district_events: list[s.Event]) -> None:
    district = build_district()
    paths = {u.org_id: district.path(u.org_id) for u in district.units}
    keys = KeyStore(":memory:")
    ledger = Ledger(env=dict(MEMORY_ENV), keys=keys)
    events = district_events
    messages = [Incoming(n, e.type, paths[e.org_id], s.encode(e)) for n, e in enumerate(events, 1)]
    accepted = 0
    for at in range(0, len(messages), 1000):
        outcome = ledger.process(messages[at:at + 1000])
        assert not outcome.rejections, [(r.code, r.detail) for r in outcome.rejections[:5]]
        accepted += outcome.accepted
    assert accepted == len(events)
    keys.close()


def test_the_period_ends_at_a_fixed_date_not_the_clock() -> None:
    assert END == datetime.fromisoformat("2021-12-31T18:00:00+08:00")
    short = list(simulate(Plan(seed=3, tickets=50, days=30)))
    activity = [e for e in short if not isinstance(e, (s.OrgUnitRegistered, s.GridWorkerAssigned))]
    assert min(e.occurred_at for e in activity) >= datetime.fromisoformat("2021-12-01T00:00:00+08:00")


def test_every_unit_has_a_chinese_name_then_the_same_in_pinyin_or_english() -> None:
    """No English placeholder on a zh page: the first part of every name is Chinese (the seed's own
    names where it gives them), the rest romanised or translated; no two units share a name."""
    import re

    units = build_district().units
    names = [u.name for u in units]
    assert len(set(names)) == len(names)
    for unit in units:
        zh, _, other = unit.name.partition(" ")
        assert re.fullmatch(r"[\u4e00-\u9fff〇]+", zh) and other, unit
        assert not re.search(r"[\u4e00-\u9fff]", other), unit
    by_id = {u.org_id: u.name for u in units}
    assert by_id["yn-pm-lx"] == "龙象社区 Longxiang"
    assert {"南蒲纸业小区党支部 Nanpu Paper compound branch", "大唐世家小区党支部 Datang Shijia compound branch",
            "捷佳润公司 Jiejiarun Company"} <= set(names)
    suffix = {"village": "村", "hamlet": "屯", "grid": "网格", "party_branch": "党支部"}
    for unit in units:
        if unit.kind in suffix:
            assert unit.name.split(" ")[0].endswith(suffix[unit.kind]), unit
    enterprises = [u.name for u in units if u.kind == "enterprise"]
    assert sum(n.split(" ")[0].endswith("有限公司") for n in enterprises) == len(enterprises) - 1
    assert by_id["yn-pm-lx-g03"] == "龙象社区第三网格 Longxiang grid 3"
