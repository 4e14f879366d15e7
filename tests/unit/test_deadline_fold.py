"""The deadline figures (projections/deadlines.py, projections/deadline_queries.py) against an
independent oracle written from docs/kpis.md ("Deadlines"): tasks per (ticket, round, unit,
stage), on time and late, withdrawn, overdue now, chased and supervised, the 督办 list and the
红黑榜. Events go straight into a DashboardProjection on a temporary SQLite file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fold_kit import CST, T0, Events, batches, deadline_figures, open_projection, path_in
from projections.deadline_queries import DeadlineQueries, parse_month
from projections.facts import Clock

H = timedelta(hours=1)
SPLITS = ["each", "one", "random"]

# docs/kpis.md#deadline-tasks, written out again.
STAGES = ("sign_for", "first_contact", "resolve")
"""The lead's stages; a supporting unit's are sign_for and supporting (its task)."""
ROLES = ("lead", "supporting")
WITHDRAWING = {"TicketReturned", "TicketClosed", "TicketVoided", "TicketReopened"}
MEETS_STAGES = {"TicketAccepted": ("sign_for",), "TicketContacted": ("first_contact",), "TicketResolved": STAGES,
                "TicketTaskAccepted": ("sign_for",), "TicketTaskCompleted": ("sign_for", "supporting")}
"""Which event meets which stages: of the lead, or of the supporting unit the event names."""


@dataclass
class OTask:
    role: str
    path: tuple[str, ...]
    category: str
    due: datetime
    met: datetime | None = None
    withdrawn: datetime | None = None
    breached: datetime | None = None
    chased: int = 0
    supervised: datetime | None = None
    supervised_by: str | None = None
    extended: bool = False
    paused: bool = False

    @property
    def owed(self) -> bool:
        return self.met is None and self.withdrawn is None


@dataclass
class DeadlineOracle:
    tasks: dict[tuple[str, int, str, str], OTask] = field(default_factory=dict)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)

    def path(self, org: str) -> tuple[str, ...]:
        return path_in(self.parent, org)

    def of(self, ticket: str) -> list[tuple[tuple[str, int, str, str], OTask]]:
        return [(k, t) for k, t in self.tasks.items() if k[0] == ticket]

    def feed(self, events: list[Any]) -> DeadlineOracle:
        for e in events:
            self.event(e)
        return self

    def event(self, e: Any) -> None:
        name, at = e.type, e.occurred_at
        if name == "OrgUnitRegistered":
            self.parent[e.org_id] = e.parent_id
            return
        if name == "OrgUnitMoved":
            self.parent[e.org_id] = e.new_parent_id
            return
        if name == "TicketRaised":
            self.tickets[e.ticket_id] = dict(round=1, path=e.org_path, category=e.category)
            return
        if not name.startswith(("Ticket", "Deadline")):
            return
        ticket = self.tickets[e.ticket_id]
        rnd = ticket["round"]
        if name == "TicketDispatched":
            lead = e.to_unit or e.org_id  # the clock's key: the dispatch's unit, else where the ticket stands
            wanted = [(lead, "lead", "sign_for", e.sign_for_by), (lead, "lead", "first_contact", e.contact_by),
                      (lead, "lead", "resolve", e.deadline)]
            for task in e.supporting:
                wanted += [(task.unit, "supporting", "sign_for", task.sign_for_by), (task.unit, "supporting", "supporting", task.deadline)]
            wanted = [w for w in wanted if w[3] is not None]
            for (tid, r, u, stage), task in self.of(e.ticket_id):
                if r == rnd and task.owed and (u, stage) not in {(w[0], w[2]) for w in wanted}:
                    task.withdrawn = at
            ticket["holder"] = lead
            for unit, role, stage, due in wanted:
                self.tasks[(e.ticket_id, rnd, unit, stage)] = OTask(role, ticket["path"], ticket["category"], due)
        elif name in MEETS_STAGES:
            unit = getattr(e, "unit", None) or ticket.get("holder")
            for stage in MEETS_STAGES[name]:
                task = self.tasks.get((e.ticket_id, rnd, unit, stage))
                if task is not None and task.owed:
                    task.met = at
        elif name == "TicketExtensionApproved":  # the ledger names the request's unit: None for the lead
            task = self.tasks.get(self.resolving(e.ticket_id, rnd, e.unit))
            if task is not None and task.owed:
                task.due, task.breached, task.extended = e.until, None, True
        elif name == "TicketResumed":
            for moved in e.deadlines:
                task = self.tasks.get(self.resolving(e.ticket_id, rnd, moved.unit))
                if task is not None and task.owed and task.due != moved.deadline:
                    task.due, task.breached, task.paused = moved.deadline, None, True
        elif name in ("DeadlineBreached", "TicketChased", "TicketSupervised"):
            task = self.tasks.get((e.ticket_id, e.round, e.unit, e.stage))
            if task is not None and task.due == e.deadline:
                if name == "DeadlineBreached" and task.breached is None:
                    task.breached = at
                elif name == "TicketChased":
                    task.chased += 1
                elif name == "TicketSupervised" and task.supervised is None:
                    task.supervised, task.supervised_by = at, e.escalated_to
        elif name in WITHDRAWING or (name == "TicketRated" and e.satisfaction == "dissatisfied"):
            self._withdraw(e.ticket_id, at)
            if name == "TicketReopened" or name == "TicketRated":
                ticket["round"] += 1
        elif name == "TicketRecategorised":
            ticket["category"] = e.category
            for _, task in self.of(e.ticket_id):
                task.category = e.category
        elif name == "TicketTransferred":
            ticket["path"] = self.path(e.to_org_id)
            for _, task in self.of(e.ticket_id):
                task.path = ticket["path"]

    def resolving(self, ticket: str, rnd: int, unit: str | None) -> tuple[str, int, str, str]:
        holder = self.tickets[ticket].get("holder")
        return (ticket, rnd, holder, "resolve") if unit is None or unit == holder else (ticket, rnd, unit, "supporting")

    def _withdraw(self, ticket: str, at: datetime) -> None:
        for _, task in self.of(ticket):
            if task.owed:
                task.withdrawn = at

    def within(self, org_path: tuple[str, ...]) -> list[tuple[tuple[str, int, str, str], OTask]]:
        return [(k, t) for k, t in self.tasks.items() if t.path[:len(org_path)] == org_path]

    def figures(self, org_path: tuple[str, ...], lo: date | None, hi: date) -> dict[tuple[str, str, str], Counter]:
        """(unit, role, stage) -> the kpis.md#timeliness counts of the tasks due in [lo, hi], plus overdue_now."""
        out: dict[tuple[str, str, str], Counter] = {}
        for (_, _, unit, stage), t in self.within(org_path):
            c = out.setdefault((unit, t.role, stage), Counter())
            if t.owed and t.breached is not None:
                c["overdue_now"] += 1
            day = t.due.astimezone(CST).date()
            if (lo and day < lo) or day > hi:
                continue
            c["due"] += 1
            on_time = t.met is not None and t.met <= t.due  # the meeting event's time decides
            late = (t.met is not None and t.met > t.due) or (t.met is None and t.breached is not None)
            c["on_time"] += on_time
            c["late"] += late
            c["breached"] += t.breached is not None
            c["chased"] += t.chased > 0
            c["supervised"] += t.supervised is not None
            c["late_reports"] += on_time and t.breached is not None
            c["extended"] += t.extended
            c["paused"] += t.paused
        return out


def totals(fig: dict[tuple[str, str, str], Counter], by: Any) -> dict[Any, Counter]:
    out: dict[Any, Counter] = {}
    for key, c in fig.items():
        out.setdefault(by(key), Counter()).update(c)
    return {k: +v for k, v in out.items() if +v}


def answered(board: Any) -> dict[tuple[str, str, str], Counter]:
    """The board's per-unit figures in the oracle's shape (zeros dropped)."""
    out: dict[tuple[str, str, str], Counter] = {}
    for u in board.units:
        for r in u.roles:
            for s_ in r.stages:
                f = msgspec.structs.asdict(s_.figures)
                c = Counter({k: f[k] for k in ("due", "on_time", "late", "chased", "supervised", "breached", "late_reports", "extended",
                                               "paused", "overdue_now")})
                if +c:
                    out[(u.unit, r.role, s_.stage)] = +c
                assert f["not_settled"] == f["due"] - f["on_time"] - f["late"]
    return out


def fold(tmp_path: Path, ev: Events, split: str = "each") -> DeadlineQueries:
    projection = open_projection(tmp_path)
    for batch in batches(ev.positioned(), split):
        projection.apply(batch)
    return DeadlineQueries(projection.db, Clock())


def check(tmp_path: Path, ev: Events, split: str = "each", org: str = "d1", lo: date | None = None, hi: date = date(2027, 1, 1)) -> Any:
    """The board of `org` must be what the oracle says, unit by unit and in total."""
    q = fold(tmp_path, ev, split)
    board = q.board(org, lo, hi)
    assert [k for k, v in deadline_figures(q.db).items() if v < 0] == [], "a counter taken below zero"
    oracle = DeadlineOracle().feed(ev.events)
    want = oracle.figures(oracle.path(org), lo, hi)
    assert answered(board) == {k: +v for k, v in want.items() if +v}
    for r in board.roles:
        want_role = totals(want, lambda k: k[1]).get(r.role, Counter())
        got = msgspec.structs.asdict(r.total)
        for name in ("due", "on_time", "late", "chased", "supervised", "overdue_now"):
            assert got[name] == want_role[name], (r.role, name)
        settled = want_role["on_time"] + want_role["late"]
        assert r.total.on_time_rate == (round(want_role["on_time"] / settled, 4) if settled else None)
    return board


def ticket(ev: Events, tid: str, at: datetime, org: str = "c1", category: str = "parking") -> None:
    ev.add("TicketRaised", at, org=org, ticket_id=tid, category=category)


def step(ev: Events, name: str, at: datetime, tid: str = "T1", org: str = "c1", **facts: Any) -> None:
    if name == "TicketDispatched":
        facts.setdefault("to_unit", org)
    ev.add(name, at, org=org, ticket_id=tid, **facts)


def lead(board: Any, role: str = "lead", stage: str = "resolve") -> Any:
    r = next(r for r in board.roles if r.role == role)
    return next(s_.figures for s_ in r.stages if s_.stage == stage)


# -- worked by hand ---------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_resolved_on_time_and_resolved_late(tmp_path: Path, split: str) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, "T1", deadline=T0 + 24 * H)
    step(ev, "TicketAccepted", T0 + 2 * H, "T1")
    step(ev, "TicketResolved", T0 + 20 * H, "T1")  # on time
    ticket(ev, "T2", T0)
    step(ev, "TicketDispatched", T0 + H, "T2", to_unit="g1", deadline=T0 + 24 * H)
    step(ev, "TicketAccepted", T0 + 2 * H, "T2")
    step(ev, "TicketResolved", T0 + 30 * H, "T2")  # six hours late
    board = check(tmp_path, ev, split)
    f = lead(board)
    assert (f.due, f.on_time, f.late, f.not_settled, f.on_time_rate, f.overdue_now) == (2, 1, 1, 0, 0.5, 0)
    assert [(u.unit, u.name) for u in board.units] == [("c1", "unit c1"), ("g1", "unit g1")]
    assert lead(board, "supporting", "supporting").due == 0, "lead and supporting are counted apart"
    assert [m.month for m in board.by_month] == ["2026-03"]


def test_a_deadline_exactly_met_is_on_time_and_the_window_is_the_deadlines_day(tmp_path: Path) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 40 * H)  # due the day after tomorrow, 01:00
    step(ev, "TicketAccepted", T0 + 2 * H)
    step(ev, "TicketResolved", T0 + 40 * H)
    q = fold(tmp_path, ev)
    due_day = (T0 + 40 * H).date()
    assert lead(q.board("d1", due_day, due_day)).on_time == 1
    assert lead(q.board("d1", T0.date(), due_day - timedelta(days=1))).due == 0, "raised before the window, due in it: counted by the deadline"
    assert lead(q.board("c2", None, due_day)).due == 0, "another subtree"


def test_the_boards_part_months_read_the_windows_tasks_not_the_subtrees_history(tmp_path: Path) -> None:
    """The part-months at a window's edges are read from the task rows: by the deadline first, for
    the district and for a unit alike, so the read is the window's tasks, not every task its subtree
    ever had (a path-first read took the district's board to 825 ms p99 at 1M events)."""
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 24 * H)
    q = fold(tmp_path, ev)
    plans: list[str] = []
    real = q.db.query

    def query(sql: str, params: Any = ()) -> Any:
        if "FROM deadline_tasks" in sql and "due_at >= ?" in sql:
            plans.append(" ".join(str(row[-1]) for row in real("EXPLAIN QUERY PLAN " + sql, params)))
        return real(sql, params)

    q.db.query = query  # type: ignore[method-assign]
    day = (T0 + 24 * H).date()
    for org in ("d1", "c1", "g1"):
        assert lead(q.board(org, day, day)).due == (0 if org == "g1" else 1)
    assert len(plans) == 3 and all("USING INDEX deadline_tasks_when (due_at>? AND due_at<?)" in p for p in plans), plans


def test_an_older_read_model_gets_the_deadline_first_index_in_place_of_the_path_first_one(tmp_path: Path) -> None:
    from projections.dashboard import create_schema

    db = open_projection(tmp_path).db
    db.execute("DROP INDEX deadline_tasks_when")
    db.execute("CREATE INDEX deadline_tasks_due ON deadline_tasks (path, due_at)")  # as read models were made before
    create_schema(db)  # what the projector does when it opens the read model
    names = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deadline_tasks'")}
    assert "deadline_tasks_when" in names and "deadline_tasks_due" not in names


@pytest.mark.parametrize("split", SPLITS)
def test_redispatch_to_another_unit_withdraws_the_first_and_a_return_withdraws_all(tmp_path: Path, split: str) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 24 * H)
    step(ev, "TicketDispatched", T0 + 2 * H, to_unit="g1", deadline=T0 + 30 * H)  # c1's task withdrawn, g1 owes it
    step(ev, "TicketAccepted", T0 + 3 * H)
    step(ev, "TicketReturned", T0 + 4 * H)  # g1's task withdrawn too
    step(ev, "TicketDispatched", T0 + 5 * H, deadline=T0 + 50 * H)  # c1 again, same round: a new deadline, owed again
    board = check(tmp_path, ev, split)
    assert lead(board).due == 2 and lead(board).not_settled == 2, "c1 again replaced its own task; nothing met or breached"
    rows = {(u.unit): lead(u) for u in board.units}
    assert set(rows) == {"c1", "g1"}


@pytest.mark.parametrize("split", SPLITS)
def test_a_reopened_ticket_starts_a_new_clock(tmp_path: Path, split: str) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 24 * H)
    step(ev, "TicketAccepted", T0 + 2 * H)
    step(ev, "TicketResolved", T0 + 30 * H)  # round 1: late
    step(ev, "TicketRated", T0 + 31 * H, satisfaction="dissatisfied", contacted=True)  # round 2
    step(ev, "TicketDispatched", T0 + 32 * H, deadline=T0 + 56 * H)
    step(ev, "TicketAccepted", T0 + 33 * H)
    step(ev, "TicketResolved", T0 + 40 * H)  # round 2: on time
    board = check(tmp_path, ev, split)
    f = lead(board)
    assert (f.due, f.on_time, f.late) == (2, 1, 1), "one task per round"


def test_transfer_and_recategorisation_move_the_tasks_with_the_ticket(tmp_path: Path) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 3 * H)
    step(ev, "TicketReturned", T0 + 2 * H)
    step(ev, "TicketTransferred", T0 + 3 * H, from_org_id="c1", to_org_id="c2", reason="c2's area")
    step(ev, "TicketRecategorised", T0 + 4 * H, org="c2", category="noise")
    board = check(tmp_path, ev, org="t2")
    assert lead(board).due == 1
    q = DeadlineQueries(open_projection(tmp_path).db, Clock())
    assert lead(q.board("t2", None, date(2027, 1, 1))).due == 1
    assert lead(q.board("t1", None, date(2027, 1, 1))).due == 0


# -- what the clock recorded -------------------------------------------------------------------


def clock(ev: Events, name: str, at: datetime, due: datetime, tid: str = "T1", unit: str = "c1", stage: str = "resolve",
          round_: int = 1, **facts: Any) -> None:
    ev.add(name, at, org="c1", ticket_id=tid, round=round_, unit=unit, stage=stage, deadline=due, **facts)


@pytest.mark.parametrize("split", SPLITS)
def test_breached_chased_supervised_then_resolved_late(tmp_path: Path, split: str) -> None:
    ev = Events()
    ev.tree()
    due = T0 + 24 * H
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=due)
    step(ev, "TicketAccepted", T0 + 2 * H)
    clock(ev, "DeadlineNearing", due - 2 * H, due)
    clock(ev, "DeadlineBreached", due, due)
    clock(ev, "TicketChased", due + 24 * H, due, chased_by="c1")
    clock(ev, "TicketSupervised", due + 48 * H, due, escalated_to="t1")
    (tmp_path / "before").mkdir()
    check(tmp_path / "before", ev, split)
    q = fold(tmp_path, ev, split)
    f = lead(q.board("d1", None, date(2026, 12, 31)))
    assert (f.due, f.on_time, f.late, f.overdue_now, f.chased, f.supervised) == (1, 0, 1, 1, 1, 1), "breached: late before it is met"
    listed = q.supervision("t1")
    assert [(u.unit, u.count, [(i.ticket_id, i.stage, i.supervised_by, i.chased) for i in u.items]) for u in listed.units] == \
        [("c1", 1, [("T1", "resolve", "t1", 1)])]
    assert q.supervision("t2").units == [], "another subtree"

    step(ev, "TicketResolved", due + 60 * H)  # late: leaves overdue now and the 督办 list, stays late
    (tmp_path / "after").mkdir()
    check(tmp_path / "after", ev, split)
    q = DeadlineQueries(open_projection(tmp_path / "after").db, Clock())
    f = lead(q.board("d1", None, date(2026, 12, 31)))
    assert (f.due, f.on_time, f.late, f.overdue_now, f.chased, f.supervised, f.late_reports) == (1, 0, 1, 0, 1, 1, 0)
    assert q.supervision("d1").units == []


def test_an_on_time_event_recorded_after_its_breach_counts_on_time_and_breached(tmp_path: Path) -> None:
    """kpis.md#late-on-time-event: the resolution is dated before the deadline but reached the ledger
    after the clock's breach: on time (the meeting event's time), still breached (a late report),
    out of overdue now; the chase stays counted."""
    ev = Events()
    ev.tree()
    due = T0 + 24 * H
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=due)
    step(ev, "TicketAccepted", T0 + 2 * H)
    clock(ev, "DeadlineBreached", due, due)
    clock(ev, "TicketChased", due + 24 * H, due, chased_by="c1")
    before = lead(fold(tmp_path, ev).board("d1", None, date(2026, 12, 31)))
    assert (before.on_time, before.late, before.overdue_now) == (0, 1, 1)
    step(ev, "TicketResolved", due - 3 * H)  # occurred three hours before the deadline
    (tmp_path / "after").mkdir()
    board = check(tmp_path / "after", ev)
    f = lead(board)
    assert (f.on_time, f.late, f.breached, f.overdue_now, f.chased, f.late_reports, f.on_time_rate) == (1, 0, 1, 0, 1, 1, 1.0)


def test_a_clock_event_about_a_replaced_deadline_changes_nothing(tmp_path: Path) -> None:
    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 24 * H)
    step(ev, "TicketDispatched", T0 + 2 * H, deadline=T0 + 48 * H)  # the same unit, a new deadline: a new task
    clock(ev, "DeadlineBreached", T0 + 24 * H, T0 + 24 * H)  # about the old one
    f = lead(check(tmp_path, ev))
    assert (f.due, f.late, f.overdue_now) == (1, 0, 0)


# -- the rules' events: stages, supporting units, extensions, pauses ------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_a_lead_and_two_supporting_units_each_counted_for_itself(tmp_path: Path, split: str) -> None:
    """c1 leads (signed for late, contacted in time, resolved in time); g1 supports and is on time;
    v1 supports, signs for in time and completes its task a day late, after the lead resolved."""
    import schemas as s_

    ev = Events()
    ev.tree()
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=T0 + 72 * H, sign_for_by=T0 + 3 * H, contact_by=T0 + 24 * H,
         supporting=(s_.SupportingTask(unit="g1", task="clear the drain", deadline=T0 + 48 * H, sign_for_by=T0 + 5 * H),
                     s_.SupportingTask(unit="v1", task="lend the truck", deadline=T0 + 48 * H, sign_for_by=T0 + 5 * H)))
    step(ev, "TicketAccepted", T0 + 4 * H)  # an hour late
    step(ev, "TicketTaskAccepted", T0 + 4 * H, unit="g1")
    step(ev, "TicketTaskAccepted", T0 + 5 * H, unit="v1")  # exactly at its deadline: on time
    step(ev, "TicketContacted", T0 + 6 * H)
    step(ev, "TicketTaskCompleted", T0 + 30 * H, unit="g1")
    step(ev, "TicketResolved", T0 + 40 * H)
    step(ev, "TicketTaskCompleted", T0 + 72 * H, unit="v1")  # after the lead resolved: still its own task, late
    board = check(tmp_path, ev, split)
    assert [(s_.stage, s_.figures.on_time, s_.figures.late) for s_ in next(r for r in board.roles if r.role == "lead").stages] == \
        [("sign_for", 0, 1), ("first_contact", 1, 0), ("resolve", 1, 0)]
    assert [(s_.stage, s_.figures.on_time, s_.figures.late) for s_ in next(r for r in board.roles if r.role == "supporting").stages] == \
        [("sign_for", 2, 0), ("supporting", 1, 1)]
    per_unit = {u.unit: {r.role: (r.total.on_time, r.total.late) for r in u.roles if r.total.due} for u in board.units}
    assert per_unit == {"c1": {"lead": (2, 1)}, "g1": {"supporting": (2, 0)}, "v1": {"supporting": (1, 1)}}


@pytest.mark.parametrize("split", SPLITS)
def test_extended_then_on_time_and_a_refused_extension(tmp_path: Path, split: str) -> None:
    ev = Events()
    ev.tree()
    for tid, decision in (("T1", "TicketExtensionApproved"), ("T2", "TicketExtensionRefused")):
        ticket(ev, tid, T0)
        step(ev, "TicketDispatched", T0 + H, tid, deadline=T0 + 24 * H)
        step(ev, "TicketAccepted", T0 + 2 * H, tid)
        request = ev.add("TicketExtensionRequested", T0 + 10 * H, org="c1", ticket_id=tid, until=T0 + 72 * H,
                         reason="the part is on order").event_id
        facts = dict(until=T0 + 60 * H) if decision == "TicketExtensionApproved" else dict(reason="a day is enough")
        step(ev, decision, T0 + 11 * H, tid, request_id=request, **facts)
        step(ev, "TicketResolved", T0 + 50 * H, tid)  # on time against the extension, late against the first deadline
    board = check(tmp_path, ev, split)
    f = lead(board)
    assert (f.due, f.on_time, f.late, f.extended) == (2, 1, 1, 1)
    day_of_extension = (T0 + 60 * H).date()
    q = DeadlineQueries(open_projection(tmp_path).db, Clock())
    assert lead(q.board("d1", day_of_extension, day_of_extension)).on_time == 1, "counted on the day of its new deadline"


@pytest.mark.parametrize("split", SPLITS)
def test_a_pause_moves_the_deadline_as_the_ledger_wrote_it(tmp_path: Path, split: str) -> None:
    import schemas as s_

    ev = Events()
    ev.tree()
    due = T0 + 24 * H
    ticket(ev, "T1", T0)
    step(ev, "TicketDispatched", T0 + H, deadline=due)
    step(ev, "TicketAccepted", T0 + 2 * H)
    clock(ev, "DeadlineBreached", due, due)  # recorded while it ran ...
    step(ev, "TicketPaused", due + H, reason="the resident is away")
    step(ev, "TicketResumed", due + 49 * H, deadlines=(s_.UnitDeadline(unit=None, deadline=due + 60 * H),))
    board = check(tmp_path, ev, split)
    f = lead(board)
    assert (f.due, f.late, f.overdue_now, f.paused) == (1, 0, 0, 1), "... about the old deadline: the new one has not passed"
    step(ev, "TicketResolved", due + 55 * H)
    (tmp_path / "done").mkdir()
    f = lead(check(tmp_path / "done", ev, split))
    assert (f.on_time, f.late, f.paused) == (1, 0, 1)


# -- the ranking ------------------------------------------------------------------------------


def test_the_monthly_ranking(tmp_path: Path) -> None:
    """Four units with 4 settled tasks each in March (rates 1, 0.75, 0.5, 0.25) and one with two:
    below the minimum of three, it is not ranked; top two and bottom two."""
    ev = Events()
    ev.tree()
    units = {"c1": 4, "c2": 3, "g1": 2, "v1": 1, "h1": 2}
    n = 0
    for unit, on_time in units.items():
        for i in range(4 if unit != "h1" else 2):
            n += 1
            tid = f"T{n}"
            ticket(ev, tid, T0)
            step(ev, "TicketDispatched", T0 + H, tid, to_unit=unit, deadline=T0 + 24 * H)
            step(ev, "TicketAccepted", T0 + 2 * H, tid)
            step(ev, "TicketResolved", T0 + (20 if i < on_time else 30) * H, tid)
    q = fold(tmp_path, ev, "random")
    ranking = q.ranking("d1", "2026-03", size=2, min_settled=3)
    assert ranking.ranked == 4
    assert [(r.rank, r.unit, r.on_time_rate) for r in ranking.red] == [(1, "c1", 1.0), (2, "c2", 0.75)]
    assert [(r.rank, r.unit, r.on_time_rate) for r in ranking.black] == [(1, "v1", 0.25), (2, "g1", 0.5)]
    assert q.ranking("d1", "2026-04").ranked == 0
    wide = q.ranking("d1", "2026-03", size=5, min_settled=1)
    assert {r.unit for r in wide.red} == set(units) and wide.black == [], "the 黑榜 never repeats a 红榜 unit"
    assert [r.unit for r in wide.red] == ["c1", "h1", "c2", "g1", "v1"], "equal rates (c1 4/4, h1 2/2): more settled tasks first"
    assert parse_month("2026-3") == "2026-03"
    with pytest.raises(ValueError):
        parse_month("March")


# -- against the oracle, on a simulated district ----------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_a_simulated_district_folds_to_the_oracles_deadline_figures(tmp_path: Path, district_ledger: Any, split: str) -> None:
    ev = Events()
    ev.events = district_ledger
    board = check(tmp_path, ev, split, org=district_ledger[0].org_id)
    f = lead(board)
    assert f.on_time and f.late, "the simulated district has tickets resolved on time and late"
    days_ = sorted({e.occurred_at.astimezone(CST).date() for e in district_ledger})
    (tmp_path / "window").mkdir()
    check(tmp_path / "window", ev, split, org=district_ledger[0].org_id, lo=days_[len(days_) // 3], hi=days_[2 * len(days_) // 3])


# -- one scenario, on SQLite here and on PostgreSQL in tests/integration/test_queries_postgres.py --


def scenario() -> Events:
    """Five units with deadlines in March (on time, late, re-dispatched, reopened, transferred) and
    one in April, as the ledger stores them."""
    ev = Events()
    ev.tree()
    n = 0
    for unit, outcomes in {"c1": "++++", "c2": "++-", "g1": "+--", "v1": "---", "h1": "+"}.items():
        for outcome in outcomes:
            n += 1
            tid, org = f"T{n}", unit if unit != "h1" else "v1"
            ticket(ev, tid, T0 + n * H, org=org)
            step(ev, "TicketDispatched", T0 + (n + 1) * H, tid, org=org, to_unit=unit, deadline=T0 + (n + 24) * H)
            step(ev, "TicketAccepted", T0 + (n + 2) * H, tid, org=org)
            step(ev, "TicketResolved", T0 + (n + (20 if outcome == "+" else 30)) * H, tid, org=org)
    ticket(ev, "R1", T0)  # reopened: a new clock in round 2, due in April
    step(ev, "TicketDispatched", T0 + H, "R1", deadline=T0 + 24 * H)
    step(ev, "TicketAccepted", T0 + 2 * H, "R1")
    step(ev, "TicketResolved", T0 + 10 * H, "R1")
    step(ev, "TicketReopened", T0 + 11 * H, "R1", reason="back again")
    step(ev, "TicketDispatched", T0 + 12 * H, "R1", deadline=datetime(2026, 4, 2, 9, tzinfo=CST))
    ticket(ev, "X1", T0)  # dispatched, handed back, transferred to c2 and dispatched there
    step(ev, "TicketDispatched", T0 + H, "X1", deadline=T0 + 5 * H)
    step(ev, "TicketReturned", T0 + 2 * H, "X1")
    step(ev, "TicketTransferred", T0 + 3 * H, "X1", from_org_id="c1", to_org_id="c2", reason="c2's area")
    step(ev, "TicketDispatched", T0 + 4 * H, "X1", org="c2", deadline=T0 + 30 * H)
    return ev


def fold_scenario(db: Any, split: str = "random") -> Events:
    from projections.dashboard import DashboardProjection, create_schema

    ev = scenario()
    create_schema(db)
    projection = DashboardProjection(db, Clock())
    for batch in batches(ev.positioned(), split):
        projection.apply(batch)
    return ev


class DeadlineScenario:
    """The tests; a subclass provides `db`, a read model with scenario() folded in."""

    @pytest.fixture(scope="class")
    @classmethod
    def db(cls) -> Any:
        raise NotImplementedError

    def test_every_unit_and_window_as_the_oracle_says(self, db: Any) -> None:
        q, oracle = DeadlineQueries(db, Clock()), DeadlineOracle().feed(scenario().events)
        for org in ("d1", "t1", "t2", "c1", "c2", "v1"):
            for lo, hi in ((None, date(2026, 12, 31)), (date(2026, 3, 3), date(2026, 3, 3)), (date(2026, 4, 1), date(2026, 4, 30))):
                board = q.board(org, lo, hi)
                want = oracle.figures(oracle.path(org), lo, hi)
                assert answered(board) == {k: +v for k, v in want.items() if +v}, (org, lo, hi)
        board = q.board("d1", None, date(2026, 12, 31))
        assert [m.month for m in board.by_month] == ["2026-03", "2026-04"]
        assert lead(board).on_time == 9 and lead(board).late == 6 and lead(board).not_settled == 3

    def test_the_ranking_and_an_empty_supervision_list(self, db: Any) -> None:
        q = DeadlineQueries(db, Clock())
        ranking = q.ranking("d1", "2026-03", size=2, min_settled=3)
        assert [(r.unit, r.on_time, r.late) for r in ranking.red] == [("c1", 5, 0), ("c2", 2, 1)], "c1: four, and R1's first round"
        assert [(r.unit, r.on_time, r.late) for r in ranking.black] == [("v1", 0, 3), ("g1", 1, 2)]
        assert ranking.ranked == 4, "h1 has one settled task: below the minimum"
        assert q.supervision("d1").units == [], "nothing supervised without the clock's events"


class TestDeadlinesOnSQLite(DeadlineScenario):
    @pytest.fixture(scope="class")
    @classmethod
    def db(cls) -> Any:
        from projections.store import SQLiteDatabase

        db = SQLiteDatabase(Path(":memory:"))
        fold_scenario(db)
        yield db
        db.close()
