"""The ticket lifecycle table (schemas/lifecycle.py) itself, and what derives from it.

The ledger's behaviour at every stage × event pair is checked against an independent oracle in
test_ticket_rules.py; these tests check the table's own shape and that the read side's lists
(SQL status filters, Open311's mapping, the import's column order) say what the table says.
"""

from __future__ import annotations

import random
from datetime import timedelta
import re
import sqlite3
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

import schemas as s
from civic_kit import Desk, tag
from producers import rows
from projections.dashboard import DashboardProjection, create_schema
from projections.facts import TicketState
from projections.queries import STATUSES
from projections.store import SQLiteDatabase
from schemas import lifecycle
from schemas.base import ActorRole
from schemas.clock import CLOCK_EVENTS
from schemas.families import FAMILIES
from schemas.lifecycle import FINAL, LIFECYCLE, OPEN, RULES, STAGE_TABLE, STAGES, START


def exits(stage: str) -> list[str]:
    return [tag(r.event) for r in LIFECYCLE if stage in r.after]


def successors(stage: str) -> set[str]:
    out = set()
    for rule in LIFECYCLE:
        if stage in rule.after:
            out.add(rule.to or stage)
            if rule.branch is not None:
                out.add(rule.branch.to)
    return out


def test_every_ticket_event_type_has_one_row() -> None:
    assert [r.event for r in LIFECYCLE] == list(FAMILIES["ticket"].types)
    assert len(RULES) == len(LIFECYCLE)


def test_stage_names_are_unique_and_the_stage_literal() -> None:
    assert len(set(STAGES)) == len(STAGES)
    assert set(STAGES) == set(get_args(lifecycle.Stage))
    assert {row.status for row in STAGE_TABLE} == set(get_args(lifecycle.Status))


def test_rules_name_only_known_stages() -> None:
    for rule in LIFECYCLE:
        named = set(rule.after) | ({rule.to} - {None}) | ({rule.branch.to} if rule.branch else set())
        assert named <= set(STAGES), tag(rule.event)


def test_only_the_creating_event_has_no_stage_before_it() -> None:
    creating = [r for r in LIFECYCLE if not r.after]
    assert [r.event for r in creating] == [FAMILIES["ticket"].creates]
    assert creating[0].to == START == "raised"


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_is_reachable_from_the_start(stage: str) -> None:
    seen, todo = {START}, [START]
    while todo:
        for nxt in successors(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert stage in seen


@pytest.mark.parametrize("stage", FINAL)
def test_final_stages_have_no_exits(stage: str) -> None:
    """Nothing leaves a final stage; all it takes is the clock's record of an instant (checked
    against the ticket's deadlines: refused if the ticket was finished by then)."""
    assert successors(stage) == {stage}
    assert sorted(exits(stage)) == sorted(tag(cls) for cls in CLOCK_EVENTS)


@pytest.mark.parametrize("stage", [x for x in STAGES if x not in FINAL])
def test_unfinished_stages_can_end(stage: str) -> None:
    """Some exit, and from every unfinished stage a final stage can be reached."""
    assert exits(stage)
    seen, todo = {stage}, [stage]
    while todo:
        for nxt in successors(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen & set(FINAL)


def test_roles_are_actor_roles() -> None:
    known = set(get_args(ActorRole))
    for rule in LIFECYCLE:
        assert rule.roles and rule.roles <= known, tag(rule.event)


def test_branches_name_a_field_and_a_value_it_can_take() -> None:
    for rule in LIFECYCLE:
        if rule.branch is None:
            continue
        fields = {f.name: f.type for f in msgspec.structs.fields(rule.event)}
        assert rule.branch.field in fields
        assert rule.branch.value in get_args(fields[rule.branch.field])


def test_move() -> None:
    assert lifecycle.move("TicketDispatched", {}.get) == ("dispatched", False)
    assert lifecycle.move("TicketProgressNoted", {}.get) == (None, False)
    assert lifecycle.move("TicketRated", {"satisfaction": "satisfied"}.get) == ("rated", False)
    assert lifecycle.move("TicketRated", {"satisfaction": "dissatisfied"}.get) == ("reopened", True)
    assert lifecycle.move("TicketReopened", {}.get) == ("reopened", True)
    assert lifecycle.move("DisputeRegistered", {}.get) == (None, False)


# -- what derives from the table ---------------------------------------------------------------


def test_statuses_partition_the_stages() -> None:
    groups = [lifecycle.with_status(status) for status in get_args(lifecycle.Status)]
    assert sorted(x for g in groups for x in g) == sorted(STAGES)
    assert set(FINAL) == set(lifecycle.with_status("closed") + lifecycle.with_status("voided"))


@pytest.mark.parametrize("status", ["open", "overdue", "resolved", "closed", "voided", "all"])
def test_sql_status_filters_select_the_table_stages(status: str) -> None:
    """Run each generated WHERE clause over one ticket per stage (deadline in the past)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE tickets (stage TEXT, deadline INTEGER)")
    db.executemany("INSERT INTO tickets VALUES (?, 0)", [(x,) for x in STAGES])
    args = [1] if status == "overdue" else []
    got = {r[0] for r in db.execute(f"SELECT stage FROM tickets WHERE {STATUSES[status]}", args)}
    want = {"overdue": OPEN, "all": STAGES}.get(status) or lifecycle.with_status(status)  # type: ignore[arg-type]
    assert got == set(want)


@pytest.mark.parametrize("stage", STAGES)
def test_read_model_open_is_the_table_open(stage: str) -> None:
    t = TicketState("T1", "d1.", "d1", "parking", "x", "other", 0, stage=stage)
    assert t.open == (stage in lifecycle.with_status("open"))


def test_import_columns_walk_the_lifecycle() -> None:
    """Each column's stage follows, by the table, the stage the import says it needs."""
    assert rows.STAGES[0] == START
    for stage, before in rows.NEEDS.items():
        (rule,) = [r for r in LIFECYCLE if r.to == stage]
        assert before in rule.after
        assert rows.STAGES.index(before) < rows.STAGES.index(stage)
    assert rows.NEEDS == {"dispatched": "raised", "accepted": "dispatched", "resolved": "accepted",
                          "rated": "resolved", "closed": "resolved"}
    assert rows.RAISERS == RULES[s.TicketRaised].roles


# -- the aggregate and the read model's fold move alike ----------------------------------------

WALK_FACTS = {"TicketRated": [dict(satisfaction="dissatisfied"), dict(satisfaction="satisfied")],
              # c1 leads; c2 supports, on some dispatches (a task event on the others is refused)
              "TicketDispatched": [{}, dict(supporting=(s.SupportingTask(unit="c2", task="clear the drain"),))]}
WEIGHT = {"TicketVoided": 0.03, "TicketRecategorised": 0.2,
          **{t: 0.2 for t in ("TicketContacted", "TicketExtensionRequested", "TicketPaused", "TicketTaskAccepted",
                               "TicketTaskCompleted")},
          # accepted only after a request or a pause: tried only then (see weight())
          "TicketExtensionApproved": 2.0, "TicketExtensionRefused": 2.0, "TicketResumed": 2.0,
          "DeadlineNearing": 0.1, "DeadlineBreached": 0.2, "TicketChased": 0.2, "TicketSupervised": 0.2}
"""Rarely void: a voided walk ends at once. The deadline, unit and clock events leave the stage as
it is: rarer, so that the walks still reach every stage."""
CLOCK_STEP = {"DeadlineNearing": -1, "DeadlineBreached": 0, "TicketChased": 1, "TicketSupervised": 2}
"""Days after the deadline each clock step is dated in the walks."""


def clock_facts(ticket: Any, name: str) -> dict[str, Any]:
    """A clock event about the ticket's newest deadline (a refused one when it has none: the walk goes on)."""
    book = ticket.deadlines
    if not book.deadlines:
        return {}
    d = list(book.deadlines.values())[-1]
    more = {"TicketChased": dict(chased_by="c1"), "TicketSupervised": dict(escalated_to="d1")}.get(name, {})
    return dict(round=d.round, unit=d.unit, stage=d.stage, deadline=d.due, at=d.due + timedelta(days=CLOCK_STEP[name]), **more)


def weight(name: str, ticket: Any) -> float:
    """How likely the walk tries `name` next; an answer to a request or a resumption only when
    one is pending (else it would almost always be refused); an escalation that has begun tends to
    run its course (a chase after a breach, supervision after the first chase)."""
    if name in ("TicketExtensionApproved", "TicketExtensionRefused") and not getattr(ticket, "requests"):
        return 0.0
    if name == "TicketResumed" and getattr(ticket, "paused_since") is None:
        return 0.0
    book = ticket.deadlines
    newest = list(book.deadlines.values())[-1] if book.deadlines else None
    if newest is not None and newest.met_at is None and name in ("TicketChased", "TicketSupervised"):
        if {"TicketChased": "breach", "TicketSupervised": "chase-1"}[name] in newest.steps:
            return 3.0
    return WEIGHT.get(name, 1.0)


def test_aggregate_and_fold_agree_on_random_walks(tree: Desk, tmp_path: Path) -> None:
    """Random accepted walks through the table; the read model's stage and round equal the aggregate's."""
    rng = random.Random(10)
    tree.raise_ticket("T9")
    tickets = [f"W{i}" for i in range(60)]
    taken: set[tuple[str, str]] = set()
    for tid in tickets:
        tree.raise_ticket(tid)
        stage = START
        for _ in range(rng.randint(0, 40)):
            choices = [r for r in LIFECYCLE if stage in r.after]
            if not choices:
                break
            (rule,) = rng.choices(choices, [weight(tag(r.event), tree.get("ticket", tid)) for r in choices])
            name = tag(rule.event)
            extra = rng.choice(WALK_FACTS.get(name, [{}]))
            if name == "TicketTransferred":  # from where it stands to another community
                here = tree.get("ticket", tid).org_id
                extra = dict(from_org_id=here, to_org_id=rng.choice([u for u in ("c1", "c2", "g1") if u != here]))
            if name in ("TicketExtensionApproved", "TicketExtensionRefused"):  # answer the pending request, if any
                pending = list(tree.get("ticket", tid).requests.values())
                extra = dict(request_id=pending[0].event_id, **({"until": pending[0].until} if name.endswith("Approved") else {})) \
                    if pending else {}
            if name in CLOCK_STEP:  # about the deadline the ticket holds, dated when its rule fires
                extra = clock_facts(tree.get("ticket", tid), name)
            outcome = tree.send(tree.ev(name, ticket_id=tid, org=tree.get("ticket", tid).org_id, **extra))
            if outcome.accepted:
                stage = tree.get("ticket", tid).stage
                taken.add((name, extra.get("satisfaction", "")))
    db = SQLiteDatabase(tmp_path / "dashboard.sqlite")
    create_schema(db)
    DashboardProjection(db).apply(list(enumerate(tree.stored_events(), 1)))
    folded = {t: (st, rnd, org, path) for t, st, rnd, org, path in db.query("SELECT ticket_id, stage, round, org_id, path FROM tickets")}
    for tid in tickets:
        aggregate = tree.get("ticket", tid)
        assert folded[tid] == (aggregate.stage, aggregate.round, aggregate.org_id, ".".join(tree.path(aggregate.org_id)) + "."), tid
    # The walks took every rule and both ways of a rating.
    assert {name for name, _ in taken} == {tag(r.event) for r in LIFECYCLE[1:]}
    assert {("TicketRated", "dissatisfied"), ("TicketRated", "satisfied")} <= taken
    assert max(rnd for _, rnd, _, _ in folded.values()) > 2
    assert {org for _, _, org, _ in folded.values()} == {"c1", "c2", "g1"}  # transfers took tickets everywhere


def _js_keys(text: str, name: str) -> list[set[str]]:
    """The keys of every `name: { key: "...", ... }` object literal in a JS source."""
    return [set(re.findall(r"(\w+):\s*\"", body)) for body in re.findall(rf"\b{name}: \{{([^}}]*)\}}", text)]


def test_pages_label_every_stage_and_status() -> None:
    """The dashboards' labels (zh, en) and status tabs follow the table; a new stage without a label fails here.

    The labels are schemas/labels.py's, which the pages fetch (GET /api/labels); the JS keeps no copy."""
    from schemas.labels import FAMILIES

    static = Path(__file__).parents[2] / "dashboards" / "static"
    i18n = (static / "i18n.js").read_text(encoding="utf-8")
    assert set(FAMILIES["stage"]) == set(STAGES) and all(all(names) for names in FAMILIES["stage"].values())
    assert set(FAMILIES["status"]) == set(STATUSES) and all(all(names) for names in FAMILIES["status"].values())
    assert _js_keys(i18n, "stage") == [] and _js_keys(i18n, "status") == []
    tabs = re.search(r"const STATUSES = \[([^\]]*)\]", (static / "org.js").read_text(encoding="utf-8"))
    assert tabs is not None and re.findall(r"\"(\w+)\"", tabs.group(1)) == list(STATUSES)
