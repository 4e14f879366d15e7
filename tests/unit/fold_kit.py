"""The projection-fold test kit: ledger events built straight (with the org path the ledger would
store), a DashboardProjection on a temporary SQLite file, its rows read back as figures, and an
independent oracle that computes the same figures from docs/kpis.md by walking the events.

The oracle shares no code with projections/: its stage table, its bucket bounds and its counter
names are written out again here from the docs, so a change to either side shows as a difference.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

import schemas as s
from civic_kit import TREE, make
from projections.dashboard import FLOW_TOTAL, MONTHLY, DashboardProjection, create_schema
from projections.facts import Clock
from projections.store import Database, SQLiteDatabase

CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, tzinfo=CST)

# docs/kpis.md, written out again.
TICKET_FIGURES = ("raised", "dispatched", "accepted", "resolved", "closed", "rated", "satisfied", "basically_satisfied",
                  "dissatisfied", "contacted", "reopened", "returned", "resolved_late", "voided")
FLOW_FIGURES = ("opened", "overdue")
DISPUTE_FIGURES = ("registered", "mediated", "settled", "failed")
TOPIC_FIGURES = ("proposed", "discussed", "decided", "implemented")
BOUNDS = [15, 30, 60, 120, 240, 480, 720, 1440, 2160, 2880, 4320, 5760, 7200, 10080, 14400, 20160, 43200]
"""Histogram buckets, upper bounds in minutes; one more bucket holds everything beyond."""
OPEN_STAGES = {"raised", "dispatched", "accepted", "returned", "reopened"}
# Where each ticket event may happen (domain/ticket.py's docstring): the ledger lets nothing else through.
ALLOWED_FROM = {
    "TicketDispatched": {"raised", "returned", "reopened", "dispatched"},
    "TicketAccepted": {"dispatched"},
    "TicketReturned": {"dispatched", "accepted"},
    "TicketProgressNoted": {"accepted"},
    "TicketResolved": {"accepted"},
    "TicketRated": {"resolved"},
    "TicketReopened": {"resolved", "rated"},
    "TicketClosed": {"resolved", "rated"},
    "TicketVoided": {"raised", "dispatched", "accepted", "returned", "reopened", "resolved", "rated"},
    "TicketRecategorised": {"raised", "dispatched", "accepted", "returned", "reopened", "resolved", "rated"},
    "TicketTransferred": {"raised", "returned", "reopened"},
    "TicketContacted": {"dispatched", "accepted"},
    "TicketExtensionRequested": {"dispatched", "accepted"},
    "TicketExtensionApproved": {"dispatched", "accepted"},
    "TicketExtensionRefused": {"dispatched", "accepted"},
    "TicketPaused": {"dispatched", "accepted"},
    "TicketResumed": {"dispatched", "accepted"},
    "TicketTaskAccepted": {"dispatched", "accepted"},
    "TicketTaskCompleted": {"dispatched", "accepted", "resolved", "rated"},
}
# The shortest route to each stage.
ROUTE = {
    "raised": [],
    "dispatched": ["TicketDispatched"],
    "accepted": ["TicketDispatched", "TicketAccepted"],
    "returned": ["TicketDispatched", "TicketReturned"],
    "resolved": ["TicketDispatched", "TicketAccepted", "TicketResolved"],
    "rated": ["TicketDispatched", "TicketAccepted", "TicketResolved", "TicketRated"],
    "reopened": ["TicketDispatched", "TicketAccepted", "TicketResolved", "TicketReopened"],
}
# The stage each ticket event leads to (None: unchanged); a dissatisfied rating reopens.
LEADS_TO = {
    "TicketDispatched": "dispatched", "TicketAccepted": "accepted", "TicketReturned": "returned",
    "TicketProgressNoted": None, "TicketResolved": "resolved", "TicketRated": "rated",
    "TicketReopened": "reopened", "TicketClosed": "closed", "TicketVoided": "voided", "TicketRecategorised": None,
    "TicketTransferred": None,
    **{t: None for t in ("TicketContacted", "TicketExtensionRequested", "TicketExtensionApproved", "TicketExtensionRefused",
                         "TicketPaused", "TicketResumed", "TicketTaskAccepted", "TicketTaskCompleted")},
}


def bucket_of(minutes: float) -> int:
    return bisect_left(BOUNDS, minutes)  # the first bound >= minutes; len(BOUNDS) beyond the last


def day_of(instant: datetime) -> str:
    return instant.astimezone(CST).date().isoformat()


def ancestors(path: tuple[str, ...]) -> list[str]:
    """('d1', 't1', 'c1') -> ['d1.', 'd1.t1.', 'd1.t1.c1.']: every unit an item counts for."""
    return [".".join(path[:i]) + "." for i in range(1, len(path) + 1)]


def path_in(parent: dict[str, str | None], org: str) -> tuple[str, ...]:
    """An org's path from the root, in the org tree `parent` describes."""
    out = [org]
    while (p := parent.get(out[-1])) is not None:
        out.append(p)
    return tuple(reversed(out))


class Events:
    """Ledger events in order, each with the org path the ledger stores (the unit's path now)."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.events: list[s.Event] = []

    def path(self, org: str) -> tuple[str, ...]:
        return path_in(self.parent, org)

    def add(self, event_type: str, at: datetime, org: str = "c1", **facts: Any) -> s.Event:
        n = len(self.events) + 1
        event = make(event_type, n, org=org, at=at, event_id=f"e{n}", **facts)
        if isinstance(event, s.OrgUnitRegistered):
            self.parent[event.org_id] = event.parent_id
        elif isinstance(event, s.OrgUnitMoved):
            self.parent[event.org_id] = event.new_parent_id
        event = msgspec.structs.replace(event, org_path=self.path(org))
        self.events.append(event)
        return event

    def tree(self, units: list[tuple[str, str, str | None]] = TREE, at: datetime = T0 - timedelta(days=30)) -> None:
        for org, kind, parent in units:
            self.add("OrgUnitRegistered", at, org=org, kind=kind, name=f"unit {org}", parent_id=parent)

    def positioned(self) -> list[tuple[int, s.Event]]:
        return list(enumerate(self.events, 1))


def open_projection(tmp_path: Path, name: str = "dashboard.sqlite") -> DashboardProjection:
    db = SQLiteDatabase(tmp_path / name)
    create_schema(db)
    return DashboardProjection(db, Clock())


def batches(events: list[tuple[int, s.Event]], split: str, seed: int = 0) -> list[list[tuple[int, s.Event]]]:
    """The same events cut into batches: one each, all in one, or at random places."""
    if split == "each":
        return [[e] for e in events]
    if split == "one":
        return [events]
    rng, out, i = random.Random(seed), [], 0
    while i < len(events):
        n = rng.randint(1, 7)
        out.append(events[i:i + n])
        i += n
    return out


def project(tmp_path: Path, events: list[tuple[int, s.Event]], split: str = "each", name: str = "dashboard.sqlite") -> DashboardProjection:
    projection = open_projection(tmp_path, name)
    for batch in batches(events, split):
        projection.apply(batch)
    return projection


# -- reading the rows back --------------------------------------------------------------------


def _rows(db: Database, table: str, keys: tuple[str, ...], names: tuple[str, ...]) -> Counter:
    out: Counter = Counter()
    for row in db.query(f"SELECT {', '.join(keys + names)} FROM {table}"):
        key, values = row[:len(keys)], row[len(keys):]
        for name, value in zip(names, values):
            if value:
                out[(table, *key, name)] = value
    return out


def figures(db: Database) -> Counter:
    """Every non-zero counter of the pre-aggregated tables, keyed (table, *row key, figure)."""
    out: Counter = Counter()
    for part in (_rows(db, "ticket_daily", ("prefix", "category", "day"), TICKET_FIGURES),
                 _rows(db, "ticket_flow", ("prefix", "category", "day"), FLOW_FIGURES),  # flows: negative on the day a stock ends
                 _rows(db, "ticket_hist", ("prefix", "category", "day", "metric", "bucket"), ("n",)),
                 _rows(db, "dispute_daily", ("prefix", "category", "risk_grade", "day"), DISPUTE_FIGURES),
                 _rows(db, "topic_daily", ("prefix", "day"), TOPIC_FIGURES)):
        out.update(part)  # (not `+`: a Counter sum drops what is not positive)
    return out


def deadline_figures(db: Database) -> Counter:
    """Every non-zero counter of the deadline tables (docs/kpis.md#deadlines)."""
    out: Counter = Counter()
    for part in (_rows(db, "deadline_daily", ("prefix", "role", "stage", "day"), DEADLINE_FIGURES),
                 _rows(db, "deadline_unit_monthly", ("prefix", "unit", "role", "stage", "month"), DEADLINE_FIGURES),
                 _rows(db, "deadline_overdue", ("prefix", "unit", "role", "stage"), ("overdue_now",))):
        out.update(part)
    return out


def negatives(db: Database) -> list[tuple]:
    """Counts below zero (flows aside, which are deltas): a subtraction with nothing to subtract from."""
    return [k for k, v in figures(db).items() if v < 0 and k[0] != "ticket_flow"]


TICKET_ROW = ("ticket_id", "path", "org_id", "category", "stage", "round", "to_unit", "to_worker", "deadline", "satisfaction",
              "contacted", "reopened", "returned", "duplicate_of", "raised_at", "first_dispatched_at", "first_accepted_at",
              "first_resolved_at", "resolved_at", "closed_at", "voided_at")


def ticket_rows(db: Database) -> dict[str, dict[str, Any]]:
    return {r[0]: dict(zip(TICKET_ROW, r)) for r in db.query(f"SELECT {', '.join(TICKET_ROW)} FROM tickets")}


DEADLINE_FIGURES = ("due", "on_time", "late", "chased", "supervised", "breached", "late_reports", "extended", "paused")
COUNTER_TABLES = {"ticket_daily", "ticket_flow", "ticket_hist", "dispute_daily", "topic_daily", *MONTHLY.values(), FLOW_TOTAL,
                  "deadline_daily", "deadline_unit_monthly", "deadline_overdue"}


def month_figures(db: Database) -> Counter:
    """Every non-zero counter of the month roll-ups, keyed as figures() keys the day rows."""
    out: Counter = Counter()
    for part in (_rows(db, "ticket_monthly", ("prefix", "category", "month"), TICKET_FIGURES),
                 _rows(db, "ticket_flow_monthly", ("prefix", "category", "month"), FLOW_FIGURES),
                 _rows(db, "ticket_hist_monthly", ("prefix", "category", "month", "metric", "bucket"), ("n",)),
                 _rows(db, "dispute_monthly", ("prefix", "category", "risk_grade", "month"), DISPUTE_FIGURES),
                 _rows(db, "topic_monthly", ("prefix", "month"), TOPIC_FIGURES)):
        out.update(part)
    return out


def flow_totals(db: Database) -> set[tuple]:
    """The flows' running totals as stored: (prefix, category, opened, overdue, first_day, last_day)."""
    return set(db.query(f"SELECT prefix, category, opened, overdue, first_day, last_day FROM {FLOW_TOTAL}"))


def flow_totals_of_the_day_rows(db: Database) -> set[tuple]:
    """The same, summed from the flows' day rows."""
    return set(db.query("SELECT prefix, category, SUM(opened), SUM(overdue), MIN(day), MAX(day) FROM ticket_flow GROUP BY prefix, category"))


def everything(db: Database) -> list[Any]:
    """Every row of every table, sorted, and every non-zero figure: two folds of the same events must
    leave the same (a counter row may be left at zero by one batching and never written by another)."""
    tables = [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    rows = [(t, sorted(db.query(f"SELECT * FROM {t}"), key=repr)) for t in tables if t not in COUNTER_TABLES]
    totals = sorted((prefix, category, opened, overdue) for prefix, category, opened, overdue, *_ in flow_totals(db) if opened or overdue)
    return [*rows, ("figures", sorted(figures(db).items(), key=repr)), ("month figures", sorted(month_figures(db).items(), key=repr)),
            ("flow totals", totals),
            ("deadlines", sorted(deadline_figures(db).items(), key=repr))]


# -- the oracle -------------------------------------------------------------------------------


@dataclass
class Ticket:
    path: tuple[str, ...]
    category: str
    raised: datetime
    stage: str = "raised"
    round: int = 1
    dispatched: bool = False
    first_dispatched: datetime | None = None
    first_accepted: datetime | None = None
    first_resolved: datetime | None = None
    resolution: datetime | None = None
    """The current round's resolution (a reopened ticket has none until it is resolved again)."""
    deadline: datetime | None = None
    """Of the latest dispatch."""
    closed: datetime | None = None
    voided: datetime | None = None
    rating: tuple[str, bool] | None = None
    """The latest rating: (satisfaction, contacted)."""
    reopened: int = 0
    returned: int = 0
    to_unit: str | None = None
    to_worker: str | None = None
    duplicate_of: str | None = None
    left_open: datetime | None = None
    """When it last left the open stages (None: open now)."""


@dataclass
class Oracle:
    """Walks ledger events and says what the read model's figures and ticket rows must be."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)
    """The org tree as the events so far have built it."""

    def path(self, org: str) -> tuple[str, ...]:
        return path_in(self.parent, org)

    def feed(self, events: list[s.Event]) -> Oracle:
        for e in events:
            self.event(e)
        return self

    def event(self, e: s.Event) -> None:
        name = e.type
        if name == "OrgUnitRegistered":
            self.parent[e.org_id] = e.parent_id  # type: ignore[attr-defined]
        elif name == "OrgUnitMoved":
            self.parent[e.org_id] = e.new_parent_id  # type: ignore[attr-defined]
        elif name == "TicketTransferred":  # it counts, for its whole life, where it ends (kpis.md#transfers)
            self.tickets[e.ticket_id].path = self.path(e.to_org_id)  # type: ignore[attr-defined]
        if name == "TicketRaised":
            self.tickets[e.ticket_id] = Ticket(e.org_path, e.category, e.occurred_at)  # type: ignore[attr-defined]
        elif name.startswith("Ticket"):
            self.ticket(self.tickets[e.ticket_id], e)  # type: ignore[attr-defined]
        elif name == "DisputeRegistered":
            self.disputes[e.dispute_id] = dict(path=e.org_path, category=e.category, risk=e.risk_grade,  # type: ignore[attr-defined]
                                               at=e.occurred_at, sessions=0, outcome=None)
        elif name == "MediationSessionHeld":
            self.disputes[e.dispute_id]["sessions"] += 1  # type: ignore[attr-defined]
        elif name == "DisputeConcluded":
            self.disputes[e.dispute_id]["outcome"] = e.outcome  # type: ignore[attr-defined]
        elif name == "TopicProposed":
            self.topics[e.topic_id] = dict(path=e.org_path, at=e.occurred_at, meetings=0, decided=False, implemented=False)  # type: ignore[attr-defined]
        elif name == "MeetingHeld":
            self.topics[e.topic_id]["meetings"] += 1  # type: ignore[attr-defined]
        elif name == "TopicDecided":
            self.topics[e.topic_id]["decided"] = True  # type: ignore[attr-defined]
        elif name == "TopicImplemented":
            self.topics[e.topic_id]["implemented"] = True  # type: ignore[attr-defined]

    @staticmethod
    def ticket(t: Ticket, e: Any) -> None:
        was_open = t.stage in OPEN_STAGES
        Oracle._step(t, e)
        if was_open and t.stage not in OPEN_STAGES:
            t.left_open = e.occurred_at
        elif t.stage in OPEN_STAGES:
            t.left_open = None

    @staticmethod
    def _step(t: Ticket, e: Any) -> None:
        at, name = e.occurred_at, e.type
        if LEADS_TO[name] is not None:
            t.stage = LEADS_TO[name]
        if name == "TicketDispatched":
            t.dispatched, t.deadline, t.to_unit, t.to_worker = True, e.deadline, e.to_unit, e.to_worker
            t.first_dispatched = t.first_dispatched or at
        elif name == "TicketAccepted":
            t.first_accepted = t.first_accepted or at
        elif name == "TicketExtensionApproved" and e.unit is None:  # the lead's deadline moves; a task's is not here
            t.deadline = e.until
        elif name == "TicketResumed":  # the ledger wrote the deadlines as they stand
            t.deadline = next((d.deadline for d in e.deadlines if d.unit is None), t.deadline)
        elif name == "TicketReturned":
            t.returned += 1
        elif name == "TicketResolved":
            t.first_resolved, t.resolution = t.first_resolved or at, at
        elif name == "TicketRated":
            t.rating = (e.satisfaction, e.contacted)
            if e.satisfaction == "dissatisfied":
                Oracle.reopen(t)
        elif name == "TicketReopened":
            Oracle.reopen(t)
        elif name == "TicketClosed":
            t.closed = at
        elif name == "TicketVoided":
            t.voided, t.duplicate_of = at, e.duplicate_of
        elif name == "TicketRecategorised":
            t.category = e.category

    @staticmethod
    def reopen(t: Ticket) -> None:
        t.stage, t.round, t.reopened, t.resolution = "reopened", t.round + 1, t.reopened + 1, None

    def figures(self) -> Counter:
        out: Counter = Counter()
        for t in self.tickets.values():
            day, keys = day_of(t.raised), [(p, t.category) for p in ancestors(t.path)]
            if t.voided:
                counted = {"voided": True}
            else:
                counted = {
                    "raised": True, "dispatched": t.dispatched, "accepted": t.first_accepted is not None,
                    "resolved": t.first_resolved is not None, "closed": t.closed is not None, "rated": t.rating is not None,
                    "satisfied": bool(t.rating and t.rating[0] == "satisfied"),
                    "basically_satisfied": bool(t.rating and t.rating[0] == "basically_satisfied"),
                    "dissatisfied": bool(t.rating and t.rating[0] == "dissatisfied"),
                    "contacted": bool(t.rating and t.rating[1]), "reopened": t.reopened > 0, "returned": t.returned > 0,
                    "resolved_late": bool(t.resolution and t.deadline and t.resolution > t.deadline),
                }
            for prefix, category in keys:
                for figure, yes in counted.items():
                    if yes:
                        out[("ticket_daily", prefix, category, day, figure)] += 1
                if not t.voided:
                    for metric, reached in (("accept", t.first_accepted), ("resolve", t.first_resolved)):
                        if reached is not None:
                            minutes = (reached - t.raised).total_seconds() / 60
                            out[("ticket_hist", prefix, category, day, metric, bucket_of(minutes), "n")] += 1
                # Stocks as flows: +1 on the day a state starts, -1 on the day it ends.
                left = t.left_open
                out[("ticket_flow", prefix, category, day, "opened")] += 1
                if left is not None:
                    out[("ticket_flow", prefix, category, day_of(left), "opened")] -= 1
                if t.deadline is not None and (left is None or left > t.deadline):
                    out[("ticket_flow", prefix, category, day_of(t.deadline), "overdue")] += 1
                    if left is not None:
                        out[("ticket_flow", prefix, category, day_of(left), "overdue")] -= 1
        for d in self.disputes.values():
            for prefix in ancestors(d["path"]):
                key = ("dispute_daily", prefix, d["category"], d["risk"], day_of(d["at"]))
                for figure, yes in (("registered", True), ("mediated", d["sessions"] > 0),
                                    ("settled", d["outcome"] == "settled"), ("failed", d["outcome"] == "failed")):
                    if yes:
                        out[(*key, figure)] += 1
        for p in self.topics.values():
            # Each later stage counts the topic in the earlier ones too.
            reached = {"implemented": p["implemented"]}
            reached["decided"] = p["decided"] or reached["implemented"]
            reached["discussed"] = p["meetings"] > 0 or reached["decided"]
            reached["proposed"] = True
            for prefix in ancestors(p["path"]):
                for figure, yes in reached.items():
                    if yes:
                        out[("topic_daily", prefix, day_of(p["at"]), figure)] += 1
        return Counter({k: v for k, v in out.items() if v})

    def ticket_rows(self) -> dict[str, dict[str, Any]]:
        return {tid: dict(ticket_id=tid, path=".".join(t.path) + ".", org_id=t.path[-1], category=t.category, stage=t.stage,
                          round=t.round, to_unit=t.to_unit, to_worker=t.to_worker,
                          deadline=int(t.deadline.timestamp()) if t.deadline else None,
                          satisfaction=t.rating[0] if t.rating else None, contacted=int(bool(t.rating and t.rating[1])),
                          reopened=t.reopened, returned=t.returned, duplicate_of=t.duplicate_of, raised_at=_ts(t.raised),
                          first_dispatched_at=_ts(t.first_dispatched), first_accepted_at=_ts(t.first_accepted),
                          first_resolved_at=_ts(t.first_resolved), resolved_at=_ts(t.resolution), closed_at=_ts(t.closed),
                          voided_at=_ts(t.voided))
                for tid, t in self.tickets.items()}


def _ts(instant: datetime | None) -> int | None:
    return None if instant is None else int(instant.timestamp())
