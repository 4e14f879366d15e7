"""Questions the dashboard read model answers. Each figure is defined in docs/kpis.md; the
section names there are cited beside the code that computes them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, overload

import msgspec

from projections import KPI_VERSION
from projections._scope import in_months, months_between, months_of, subtree, within as _within
from projections.dashboard import FLOW_TOTAL, MONTHLY, OPEN_TICKET, stage_in
from projections.layout import month_of
from projections.facts import BUCKETS, DISPUTE_COUNTERS, FLOW_COUNTERS, TICKET_COUNTERS, TOPIC_COUNTERS, Clock
from projections.store import Database
from schemas import lifecycle
from schemas.families import ENVELOPE
from schemas.ticket import Channel, Satisfaction


class NotFound(LookupError):
    pass


class Org(msgspec.Struct, frozen=True):
    org_id: str
    kind: str
    name: str
    parent_id: str | None
    path: list[str]


class Percentiles(msgspec.Struct, frozen=True):
    """Hours, at the resolution of the histogram bucket (docs/kpis.md#durations)."""

    p50: float | None
    p90: float | None
    count: int


class TicketFigures(msgspec.Struct):
    raised: int
    dispatched: int
    accepted: int
    resolved: int
    closed: int
    rated: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    contacted: int
    reopened: int
    returned: int
    resolved_late: int
    voided: int
    open: int | None
    """Tickets with work outstanding at the end of the window (None in monthly figures)."""
    overdue: int | None
    """Of those, past the deadline of their latest dispatch (None in monthly figures)."""
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None


class DisputeFigures(msgspec.Struct):
    registered: int
    mediated: int
    settled: int
    failed: int
    success_rate: float | None


class DeliberationFigures(msgspec.Struct):
    proposed: int
    discussed: int
    decided: int
    implemented: int


class CategoryFigures(msgspec.Struct):
    category: str
    tickets: TicketFigures


class MonthFigures(msgspec.Struct):
    month: str
    tickets: TicketFigures
    disputes: DisputeFigures


class ChildFigures(msgspec.Struct):
    org: Org
    tickets: TicketFigures
    disputes: DisputeFigures


class Dashboard(msgspec.Struct):
    org: Org
    window_from: str
    window_to: str
    timezone: str
    tickets: TicketFigures
    time_to_accept: Percentiles
    time_to_resolve: Percentiles
    disputes: DisputeFigures
    disputes_by_risk_grade: dict[str, DisputeFigures]
    deliberation: DeliberationFigures
    by_category: list[CategoryFigures]
    by_month: list[MonthFigures]
    children: list[ChildFigures]
    position: int
    """The ledger position these figures are as of."""
    kpi_version: int = KPI_VERSION
    """The version of docs/kpis.md the figures follow."""


class TrailIndex(msgspec.Struct, frozen=True):
    positions: list[int]
    """Ledger positions of the entity's events, in order, up to `position`."""
    position: int
    """The ledger position the read model had applied: later events are not indexed yet."""


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def ticket_figures(c: dict[str, int], open_: int | None, overdue: int | None) -> TicketFigures:
    return TicketFigures(
        **{k: c.get(k, 0) for k in TICKET_COUNTERS}, open=open_, overdue=overdue,
        response_rate=_rate(c.get("accepted", 0), c.get("dispatched", 0)),                 # kpis.md#response-rate
        resolution_rate=_rate(c.get("resolved", 0), c.get("raised", 0)),                   # kpis.md#resolution-rate
        satisfaction_rate=_rate(c.get("satisfied", 0) + c.get("basically_satisfied", 0), c.get("rated", 0)),  # kpis.md#satisfaction-rate
    )


def dispute_figures(c: dict[str, int]) -> DisputeFigures:
    return DisputeFigures(**{k: c.get(k, 0) for k in DISPUTE_COUNTERS},
                          success_rate=_rate(c.get("settled", 0), c.get("settled", 0) + c.get("failed", 0)))  # kpis.md#success-rate


def percentiles(counts: dict[int, int]) -> Percentiles:
    total = sum(counts.values())

    def at(q: float) -> float | None:
        if not total:
            return None
        running = 0
        for b in sorted(counts):
            running += counts[b]
            if running >= q * total:
                return round(BUCKETS[b] / 60, 2) if BUCKETS[b] < 10**9 else None
        return None

    return Percentiles(p50=at(0.5), p90=at(0.9), count=total)


def month_spans(lo: str, hi: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """A window of days [lo, hi] (ISO; lo "" from the beginning) -> the day ranges at its ends and
    the whole months between them (first, last as YYYY-MM), None when it holds no whole month."""
    first_day, last_day = date.fromisoformat(lo) if lo else date.min, date.fromisoformat(hi)
    first = first_day if first_day.day == 1 else (first_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    end = last_day if last_day == date.max or (last_day + timedelta(days=1)).day == 1 else last_day.replace(day=1) - timedelta(days=1)
    if first > end:
        return [(lo, hi)], None
    days = ([(lo, (first - timedelta(days=1)).isoformat())] if first_day < first else []) + \
        ([((end + timedelta(days=1)).isoformat(), hi)] if end < last_day else [])
    return days, (first.isoformat()[:7], end.isoformat()[:7])


def _fold(grouped: dict[tuple[str, ...], dict[str, int]], keep: int | None) -> dict[str, dict[str, int]]:
    """Sum grouped figures over every group but the one at index `keep` (None: over all, key "")."""
    out: dict[str, dict[str, int]] = {}
    for key, counts in grouped.items():
        target = out.setdefault("" if keep is None else key[keep], {})
        for k, v in counts.items():
            target[k] = target.get(k, 0) + v
    return out


def _regroup(by_prefix: dict[str, dict[str, int]], owner: dict[str, str]) -> dict[str, dict[str, int]]:
    """Figures per prefix -> per unit (a unit that moved has several prefixes)."""
    out: dict[str, dict[str, int]] = {}
    for prefix, counts in by_prefix.items():
        if prefix in owner:
            unit = out.setdefault(owner[prefix], {})
            for k, v in counts.items():
                unit[k] = unit.get(k, 0) + v
    return out


class DashboardQueries:
    def __init__(self, db: Database, clock: Clock | None = None, timezone: str = "Asia/Shanghai"):
        self.db = db
        self.clock = clock or Clock(timezone)
        self.timezone = timezone

    def position(self) -> int:
        """The ledger position the read model has applied."""
        rows = self.db.query("SELECT position FROM tracking WHERE name='dashboard'")
        return rows[0][0] if rows else 0

    def orgs(self) -> list[Org]:
        """Every org unit, parents before children."""
        return [self._org(r) for r in self.db.query("SELECT org_id, kind, name, parent_id, path FROM orgs ORDER BY path")]

    def org(self, org_id: str) -> Org:
        """One org unit; NotFound if unknown."""
        rows = self.db.query("SELECT org_id, kind, name, parent_id, path FROM orgs WHERE org_id=?", (org_id,))
        if not rows:
            raise NotFound(f"no org unit {org_id}")
        return self._org(rows[0])

    def children(self, org_id: str) -> list[Org]:
        """The units directly under org_id, by name."""
        return [self._org(r) for r in self.db.query("SELECT org_id, kind, name, parent_id, path FROM orgs WHERE parent_id=? ORDER BY name, org_id", (org_id,))]

    def prefixes(self, org_id: str) -> list[str]:
        """Every path the unit has had: its figures are those counted under any of them."""
        return [r[0] for r in self.db.query("SELECT prefix FROM org_prefixes WHERE org_id=? ORDER BY prefix", (org_id,))]

    def dashboard(self, org_id: str, start: date | None, end: date) -> Dashboard:
        """Every KPI of docs/kpis.md for the unit's subtree over [start, end] (whole days), with
        the same figures per category, per month and per child unit."""
        org = self.org(org_id)
        prefixes = self.prefixes(org_id)
        lo, hi = (start or date.min).isoformat(), end.isoformat()
        # One grouped query per table; totals and breakdowns are folded from it here. `month`:
        # YYYY-MM, a column of the day rows and the month rows alike.
        counts = self._sum("ticket_daily", TICKET_COUNTERS, prefixes, lo, hi, ("category", "month"))
        flows = self._stocks(prefixes, hi, ("category",))
        disputes = self._sum("dispute_daily", DISPUTE_COUNTERS, prefixes, lo, hi, ("risk_grade", "month"))
        hist = [(m, int(b), n["n"]) for (m, b), n in self._sum("ticket_hist", ("n",), prefixes, lo, hi, ("metric", "bucket")).items()]
        topics = _fold(self._sum("topic_daily", TOPIC_COUNTERS, prefixes, lo, hi, ()), None)

        def stocks(key: str | None) -> tuple[int, int]:
            f = _fold(flows, 0).get(key, {}) if key is not None else _fold(flows, None).get("", {})
            return f.get("opened", 0), f.get("overdue", 0)

        by_month, disputes_by_month = _fold(counts, 1), _fold(disputes, 1)
        return Dashboard(
            org=org, window_from=lo if start else "", window_to=hi, timezone=self.timezone,
            tickets=ticket_figures(_fold(counts, None).get("", {}), *stocks(None)),
            time_to_accept=percentiles({b: n for m, b, n in hist if m == "accept"}),
            time_to_resolve=percentiles({b: n for m, b, n in hist if m == "resolve"}),
            disputes=dispute_figures(_fold(disputes, None).get("", {})),
            disputes_by_risk_grade={g: dispute_figures(c) for g, c in sorted(_fold(disputes, 0).items())},
            deliberation=DeliberationFigures(**{c: topics.get("", {}).get(c, 0) for c in TOPIC_COUNTERS}),
            by_category=[CategoryFigures(k, ticket_figures(v, *stocks(k))) for k, v in sorted(_fold(counts, 0).items())],
            by_month=[MonthFigures(m, ticket_figures(by_month.get(m, {}), None, None), dispute_figures(disputes_by_month.get(m, {})))
                      for m in sorted(set(by_month) | set(disputes_by_month))],
            children=self._children(org_id, lo, hi),
            position=self.position(),
        )

    def _children(self, org_id: str, lo: str, hi: str) -> list[ChildFigures]:
        """Every child unit's figures: one grouped query per table for all of them."""
        children = self.children(org_id)
        owner = dict(self.db.query("SELECT p.prefix, p.org_id FROM org_prefixes p JOIN orgs o ON o.org_id = p.org_id "
                                   "WHERE o.parent_id = ?", (org_id,)))
        if not owner:
            return []
        counts = _regroup(_fold(self._sum("ticket_daily", TICKET_COUNTERS, list(owner), lo, hi, ("prefix",)), 0), owner)
        flows = _regroup(_fold(self._stocks(list(owner), hi, ("prefix",)), 0), owner)
        disputes = _regroup(_fold(self._sum("dispute_daily", DISPUTE_COUNTERS, list(owner), lo, hi, ("prefix",)), 0), owner)
        return [ChildFigures(c, ticket_figures(counts.get(c.org_id, {}), flows.get(c.org_id, {}).get("opened", 0),
                                               flows.get(c.org_id, {}).get("overdue", 0)),
                             dispute_figures(disputes.get(c.org_id, {}))) for c in children]

    def _sum(self, table: str, counters: tuple[str, ...], prefixes: list[str], lo: str, hi: str,
             groups: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
        """Sums of the counters over the unit's rows in the window, grouped by `groups` (columns of
        the day and the month rows alike: month, not day). Whole months come from the month rows, the
        days at either end from the day rows (tests/unit/test_month_rollups.py: the same answers);
        each read names its months, so it seeks by (month, prefix) (projections/layout.py)."""
        if not prefixes:
            return {}
        days, whole = month_spans(lo, hi)
        spans = [(table, month_of(a), month_of(b), " AND day >= ? AND day <= ?", [a, b]) for a, b in days]
        if whole:
            spans.append((MONTHLY[table], *whole, "", []))
        out: dict[tuple[str, ...], dict[str, int]] = {}
        # Grouped per unit, the month goes first in the grouping as in the key: the rows then come out
        # of the (month, prefix) seeks in the grouping's order, with no sort of the window's rows
        # (the district's children at 1M events: 2.7 -> 1.7 ms); the months are added together below.
        keyed = ("month", *groups) if groups[:1] == ("prefix",) else groups
        at = [keyed.index(g) for g in groups]
        for source, first, last, days_within, bounds in spans:
            months = months_of(self.db, source, first, last)
            if not months:
                continue
            grouping = f" GROUP BY {', '.join(keyed)}" if keyed else ""
            sql = (f"SELECT {''.join(f'{g}, ' for g in keyed)}{', '.join(f'SUM({c})' for c in counters)} FROM {source} "
                   f"WHERE {in_months(months)} AND {_within(prefixes)}{days_within}{grouping}")
            for row in self.db.query(sql, [*months, *prefixes, *bounds]):
                values = row[len(keyed):]
                if all(v is None for v in values):
                    continue
                sums = out.setdefault(tuple(row[i] for i in at), dict.fromkeys(counters, 0))
                for c, v in zip(counters, values):
                    sums[c] += int(v or 0)
        return out

    def _stocks(self, prefixes: list[str], hi: str, groups: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
        """Open and overdue as of the end of day `hi` (kpis.md#open-and-overdue: every flow up to that
        day), grouped by `groups` (columns of the totals: prefix, category), read from whichever end of
        the groups' rows is nearer: the month and day rows up to `hi`, or the running totals less the
        rows after `hi` (projections/dashboard.py FLOW_TOTAL says why; tests/unit/test_month_rollups.py:
        the same answers as the day rows summed)."""
        if not prefixes:
            return {}
        select = "".join(f"{g}, " for g in groups)
        grouping = f" GROUP BY {', '.join(groups)}" if groups else ""
        rows = [row for row in self.db.query(
            f"SELECT {select}{', '.join(f'SUM({c})' for c in FLOW_COUNTERS)}, MIN(first_day), MAX(last_day) "
            f"FROM {FLOW_TOTAL} WHERE {_within(prefixes)}{grouping}", prefixes) if row[-1] is not None]
        if not rows:
            return {}
        first, last = min(row[-2] for row in rows), max(row[-1] for row in rows)
        if hi < last and months_between(first, hi) <= months_between(hi, last):  # the beginning is nearer
            return self._sum("ticket_flow", FLOW_COUNTERS, prefixes, "", hi, groups)
        after = self._sum("ticket_flow", FLOW_COUNTERS, prefixes, (date.fromisoformat(hi) + timedelta(days=1)).isoformat(), last,
                          groups) if hi < last else {}
        out: dict[tuple[str, ...], dict[str, int]] = {}
        for row in rows:
            key = tuple(row[:len(groups)])
            later = after.get(key, {})
            out[key] = {c: int(total) - later.get(c, 0) for c, total in zip(FLOW_COUNTERS, row[len(groups):])}
        return out

    def trail_index(self, kind: str, entity_id: str) -> TrailIndex:
        """The ledger positions of one ticket's, dispute's or topic's events that the read model has
        indexed, and the position it has applied, from one state of the read model."""
        with self.db.snapshot():
            rows = self.db.query("SELECT position FROM trail WHERE kind=? AND entity_id=? ORDER BY position", (kind, entity_id))
            return TrailIndex([r[0] for r in rows], self.position())

    @staticmethod
    def _org(row: tuple) -> Org:
        return Org(org_id=row[0], kind=row[1], name=row[2], parent_id=row[3], path=row[4].rstrip(".").split("."))


class TrailEntry(msgspec.Struct):
    position: int
    type: str
    occurred_at: str
    actor_role: str
    actor_id: str
    detail: dict[str, Any]
    hours_since_previous: float | None


class StageTime(msgspec.Struct):
    stage: str
    hours: float


class TicketSummary(msgspec.Struct):
    ticket_id: str
    org_id: str
    category: str
    title: str
    channel: Channel
    stage: lifecycle.Stage
    """One of the lifecycle table's stages (schemas/lifecycle.py): the enum /openapi.json lists."""
    round: int
    raised_at: str
    deadline: str | None
    to_unit: str | None
    to_worker: str | None
    overdue: bool
    satisfaction: Satisfaction | None


class TicketTimeline(msgspec.Struct):
    ticket: TicketSummary
    events: list[TrailEntry]
    time_in_stage: list[StageTime]
    """Hours spent in each stage so far (kpis.md#time-in-stage); the current stage counts up to its last event."""


class Workload(msgspec.Struct):
    receiver: str
    kind: str
    """unit or grid_worker"""
    open: int
    oldest: list[TicketSummary]


class TicketPage(msgspec.Struct):
    total: int
    page: int
    page_size: int
    tickets: list[TicketSummary]




def overdue(stage: str, deadline: int | None, now: int) -> bool:
    """An open ticket past its deadline (kpis.md), as a ticket's summary says it; the lists'
    `overdue` filter is the same condition in SQL (STATUSES)."""
    return stage in lifecycle.OPEN and deadline is not None and deadline < now


STATUSES = {
    "open": OPEN_TICKET,
    "overdue": f"{OPEN_TICKET} AND deadline < ?",
    "resolved": stage_in(lifecycle.with_status("resolved")),
    "closed": stage_in(lifecycle.with_status("closed")),
    "voided": stage_in(lifecycle.with_status("voided")),
    "all": "1 = 1",
}
"""The ticket lists' status filters (the API's `status`), from the lifecycle table's statuses."""
SUMMARY_COLUMNS = "ticket_id, org_id, category, title, channel, stage, round, raised_at, deadline, to_unit, to_worker, satisfaction"


class TicketQueries:
    """Ticket-level questions: a timeline, lists of a unit's tickets, receivers' workload."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    @overload
    def _iso(self, instant: int) -> str: ...
    @overload
    def _iso(self, instant: None) -> None: ...
    def _iso(self, instant: int | None) -> str | None:
        from datetime import datetime

        return None if instant is None else datetime.fromtimestamp(instant, self.clock.tz).isoformat()

    def _summary(self, row: tuple, now: int) -> TicketSummary:
        tid, org, cat, title, channel, stage, rnd, raised, deadline, unit, worker, sat = row
        return TicketSummary(tid, org, cat, title, channel, stage, rnd, self._iso(raised), self._iso(deadline), unit, worker,
                             overdue(stage, deadline, now), sat)

    def timeline(self, ticket_id: str, now: int, within: list[str] | None = None) -> TicketTimeline:
        """A ticket's events in ledger order with who and when, and the time spent in each stage;
        `within`: only if the ticket lies in one of these subtrees (NotFound, as unknown, if not)."""
        return self.timeline_until(ticket_id, now, within)[0]

    def timeline_until(self, ticket_id: str, now: int, within: list[str] | None = None) -> tuple[TicketTimeline, int | None]:
        """timeline(), and until when the same read-model position gives the same answer: an open
        ticket not yet overdue turns overdue after its deadline, with no new event; None: for good."""
        where, params = subtree(within) if within is not None else ("1 = 1", [])
        rows = self.db.query(f"SELECT {SUMMARY_COLUMNS} FROM tickets WHERE ticket_id=? AND {where}", (ticket_id, *params))
        if not rows:
            raise NotFound(f"no ticket {ticket_id}")
        trail = self.db.query("SELECT position, type, occurred_at, actor_role, actor_id, detail FROM trail "
                              "WHERE kind='ticket' AND entity_id=? ORDER BY position", (ticket_id,))
        events: list[TrailEntry] = []
        stages: dict[str, int] = {}
        previous, stage = None, None

        for position, type_, at, role, actor, detail in trail:
            if previous is not None and stage is not None:
                stages[stage] = stages.get(stage, 0) + (at - previous)
            stored = msgspec.json.decode(detail)
            stage = lifecycle.move(type_, stored.get).stage or stage
            fields = {k: v for k, v in stored.items() if k not in ENVELOPE}
            events.append(TrailEntry(position, type_, self._iso(at), role, actor, fields,
                                     None if previous is None else round((at - previous) / 3600, 2)))
            previous = at
        summary = self._summary(rows[0], now)
        stage, deadline = rows[0][5], rows[0][8]
        until = deadline if deadline is not None and stage in lifecycle.OPEN and not summary.overdue else None
        return TicketTimeline(summary, events, [StageTime(k, round(v / 3600, 2)) for k, v in stages.items()]), until

    def tickets(self, prefixes: list[str], status: str, category: str | None, page: int, page_size: int, now: int) -> TicketPage:
        """A unit's tickets (its subtree's), newest first, filtered by status and category."""
        where, params = subtree(prefixes)
        clause = f"{where} AND {STATUSES[status]}"
        args: list[Any] = [*params] + ([now] if status == "overdue" else [])
        if category:
            clause += " AND category = ?"
            args.append(category)
        total = self.db.query(f"SELECT COUNT(*) FROM tickets WHERE {clause}", args)[0][0]
        rows = self.db.query(f"SELECT {SUMMARY_COLUMNS} FROM tickets WHERE {clause} ORDER BY raised_at DESC, ticket_id "
                             f"LIMIT ? OFFSET ?", [*args, page_size, (page - 1) * page_size])
        return TicketPage(total, page, page_size, [self._summary(r, now) for r in rows])

    def workload(self, prefixes: list[str], now: int, oldest: int = 5) -> list[Workload]:
        """Open tickets per receiving unit and grid worker, the most loaded first, oldest tickets first."""
        if not prefixes:
            return []
        where, params = subtree(prefixes)
        open_ = STATUSES["open"]
        out = []
        for column, kind in (("to_unit", "unit"), ("to_worker", "grid_worker")):
            counts = self.db.query(f"SELECT {column}, COUNT(*) FROM tickets WHERE {where} AND {open_} AND {column} IS NOT NULL "
                                   f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column}", params)
            for receiver, n in counts:
                rows = self.db.query(f"SELECT {SUMMARY_COLUMNS} FROM tickets WHERE {where} AND {open_} AND {column} = ? "
                                     f"ORDER BY raised_at, ticket_id LIMIT ?", [*params, receiver, oldest])
                out.append(Workload(receiver, kind, n, [self._summary(r, now) for r in rows]))
        return out
