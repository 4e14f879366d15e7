"""Questions on the deadline tasks (projections/deadlines.py): timeliness per role, stage and
unit, overdue now, the 督办 list, the monthly 红黑榜. Each figure is defined in docs/kpis.md
("Deadlines"); the section names are cited beside the code that computes them.

Every answer is a function of the read model's rows only (no clock): the live API and
`civic audit replay --as-of` ask the same methods of the same tables.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from projections import KPI_VERSION
from projections._scope import days, in_months, months_of, subtree, within as _within
from projections.deadlines import COUNTERS, ROLE_STAGES, ROLES
from projections.facts import Clock
from projections.layout import month_of
from projections.queries import DashboardQueries, NotFound, Org
from projections.store import Database

# kpis.md#timeliness over raw task rows (the part-months at a window's edges), the same
# definitions as projections.deadlines.counts (CASE, not boolean sums: PostgreSQL too).
_MET_ON_TIME = "met_at IS NOT NULL AND met_at <= due_at"
_LATE = "(met_at IS NOT NULL AND met_at > due_at) OR (met_at IS NULL AND breached_at IS NOT NULL)"
_RAW_SUMS = ", ".join((
    "COUNT(*)",
    f"SUM(CASE WHEN {_MET_ON_TIME} THEN 1 ELSE 0 END)",
    f"SUM(CASE WHEN {_LATE} THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN chased > 0 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN supervised_at IS NOT NULL THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN breached_at IS NOT NULL THEN 1 ELSE 0 END)",
    f"SUM(CASE WHEN breached_at IS NOT NULL AND {_MET_ON_TIME} THEN 1 ELSE 0 END)",
    "SUM(extended)",
    "SUM(paused)",
))
_SUMS = ", ".join(f"SUM({c})" for c in COUNTERS)


class Timeliness(msgspec.Struct):
    """docs/kpis.md#timeliness, over the tasks due in the window."""

    due: int
    on_time: int
    late: int
    not_settled: int
    on_time_rate: float | None
    """on_time / (on_time + late); null when nothing is settled."""
    chased: int
    supervised: int
    breached: int
    """Tasks with a recorded DeadlineBreached."""
    late_reports: int
    """Of `breached`, tasks met on time by a report that reached the ledger after the breach (kpis.md#late-on-time-event)."""
    extended: int
    """Tasks whose deadline an approved extension moved."""
    paused: int
    """Tasks whose deadline a pause (waiting for the resident) moved."""
    overdue_now: int | None
    """Breached, not met, not withdrawn, as of the answer's position (not windowed; null in months)."""


class StageTimeliness(msgspec.Struct):
    stage: str
    figures: Timeliness


class RoleTimeliness(msgspec.Struct):
    role: str
    """lead (主办) or supporting (协办): always counted apart."""
    total: Timeliness
    stages: list[StageTimeliness]


class UnitTimeliness(msgspec.Struct):
    unit: str
    name: str | None
    """The org unit's name (None if the unit is not in the org tree)."""
    roles: list[RoleTimeliness]


class MonthTimeliness(msgspec.Struct):
    month: str
    roles: list[RoleTimeliness]


class DeadlineBoard(msgspec.Struct):
    org: Org
    window_from: str
    window_to: str
    timezone: str
    roles: list[RoleTimeliness]
    units: list[UnitTimeliness]
    """Every unit holding tasks due in the window or overdue now (in the subtree's tickets), by unit id."""
    by_month: list[MonthTimeliness]
    position: int
    """The ledger position these figures are as of."""
    kpi_version: int = KPI_VERSION


class SupervisedItem(msgspec.Struct):
    ticket_id: str
    round: int
    stage: str
    role: str
    category: str
    title: str
    due_at: str
    breached_at: str | None
    chased: int
    supervised_at: str
    supervised_by: str | None
    """The org unit the supervision escalated to."""


class TicketDeadline(msgspec.Struct):
    """One deadline task of a ticket as the read model holds it (kpis.md#deadline-tasks)."""

    round: int
    unit: str
    role: str
    stage: str
    dispatched_at: str
    due_at: str
    met_at: str | None
    withdrawn_at: str | None
    """When a return, closing, voiding, new round or a dispatch to another unit ended it unmet."""
    breached_at: str | None
    chased: int
    supervised_at: str | None
    extended: bool
    paused: bool


class UnitSupervision(msgspec.Struct):
    unit: str
    name: str | None
    count: int
    items: list[SupervisedItem]
    """Oldest deadline first, at most `limit` of `count`."""


class SupervisionList(msgspec.Struct):
    org: Org
    units: list[UnitSupervision]
    """Units with the most items under supervision first."""
    position: int


class RankedUnit(msgspec.Struct):
    rank: int
    unit: str
    name: str | None
    on_time: int
    late: int
    on_time_rate: float


class Ranking(msgspec.Struct):
    org: Org
    month: str
    min_settled: int
    ranked: int
    """How many units had at least min_settled settled tasks."""
    red: list[RankedUnit]
    """红榜: the best on-time rates first."""
    black: list[RankedUnit]
    """黑榜: the worst on-time rates first; none that is on the 红榜."""
    position: int


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


Counts = list[int]
"""The COUNTERS of projections.deadlines, in that order."""
_ZERO: Counts = [0] * len(COUNTERS)
_I = {name: i for i, name in enumerate(COUNTERS)}


def timeliness(c: Counts, overdue_now: int | None) -> Timeliness:
    due, on_time, late = c[_I["due"]], c[_I["on_time"]], c[_I["late"]]
    return Timeliness(due=due, on_time=on_time, late=late, not_settled=due - on_time - late,
                      on_time_rate=_rate(on_time, on_time + late),  # kpis.md#timeliness
                      chased=c[_I["chased"]], supervised=c[_I["supervised"]], breached=c[_I["breached"]],
                      late_reports=c[_I["late_reports"]],
                      extended=c[_I["extended"]], paused=c[_I["paused"]], overdue_now=overdue_now)


def _add(target: dict[Any, Counts], key: Any, counts: Counts) -> None:
    row = target.get(key)
    target[key] = list(counts) if row is None else [a + b for a, b in zip(row, counts)]


def _roles(counts: dict[tuple[str, str], Counts], overdue: dict[tuple[str, str], int] | None,
           every_role: bool = True) -> list[RoleTimeliness]:
    """Counts keyed (role, stage) -> each role with its total and its stages (all three, zeros too);
    every role, or (for a unit) only those it holds tasks in."""
    out = []
    for role in ROLES:
        if not every_role and not any((role, stage) in counts for stage in ROLE_STAGES[role]) \
                and not (overdue and any(r == role for r, _ in overdue)):
            continue
        total: dict[str, Counts] = {}
        stages = []
        for stage in ROLE_STAGES[role]:
            c = counts.get((role, stage), _ZERO)
            _add(total, "", c)
            stages.append(StageTimeliness(stage, timeliness(c, None if overdue is None else overdue.get((role, stage), 0))))
        owed = None if overdue is None else sum(n for (r, _), n in overdue.items() if r == role)
        out.append(RoleTimeliness(role, timeliness(total.get("", _ZERO), owed), stages))
    return out


def _counted(values: Iterable[Any]) -> Counts:
    return [int(v or 0) for v in values]


def _months(clock: Clock, start: date | None, end: date) -> tuple[str, str, list[tuple[int, int]]]:
    """A window of whole days as the whole months inside it (first, last as 'YYYY-MM'; first > last
    when there is none) and the instants [lo, hi) of its part-months at either edge."""
    def first_of_next(d: date) -> date:
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)

    # (isoformat, not strftime: "%Y" of the year 45 is "45", not "0045", which would not compare as a month)
    lo_month = "0000-00" if start is None else month_of((start if start.day == 1 else first_of_next(start)).isoformat())
    ends_month = end.day == calendar.monthrange(end.year, end.month)[1]
    hi_month = month_of((end if ends_month else end.replace(day=1) - timedelta(days=1)).isoformat())
    edges: list[tuple[int, int]] = []
    if lo_month > hi_month:  # within one month, not whole: all of it is an edge
        return lo_month, hi_month, [days(clock, start, end)]
    if start is not None and start.day != 1:
        edges.append(days(clock, start, first_of_next(start) - timedelta(days=1)))
    if not ends_month:
        edges.append(days(clock, end.replace(day=1), end))
    return lo_month, hi_month, edges


class DeadlineQueries:
    def __init__(self, db: Database, clock: Clock | None = None, timezone: str = "Asia/Shanghai"):
        self.db = db
        self.clock = clock or Clock(timezone)
        self.timezone = timezone
        self.orgs = DashboardQueries(db, self.clock, timezone)

    def _iso(self, instant: int | None) -> str | None:
        return None if instant is None else datetime.fromtimestamp(instant, self.clock.tz).isoformat()

    def _names(self, units: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(units))
        if not ids:
            return {}
        return dict(self.db.query(f"SELECT org_id, name FROM orgs WHERE org_id IN ({', '.join('?' * len(ids))})", ids))

    def _per_unit(self, prefixes: list[str], start: date | None, end: date) -> dict[str, dict[tuple[str, str], Counts]]:
        """unit -> (role, stage) -> counts of its tasks due in [start, end] in the subtree's tickets:
        the monthly counters for the whole months, the task rows for the part-months at the edges."""
        lo_month, hi_month, edges = _months(self.clock, start, end)
        out: dict[str, dict[tuple[str, str], Counts]] = {}
        rows: list[tuple] = []
        months = months_of(self.db, "deadline_unit_monthly", lo_month, hi_month) if prefixes else []
        if months:
            rows += self.db.query(f"SELECT unit, role, stage, {_SUMS} FROM deadline_unit_monthly WHERE {in_months(months)} "
                                  f"AND {_within(prefixes)} GROUP BY unit, role, stage", [*months, *prefixes])
        where, params = subtree(prefixes)
        for lo, hi in edges:
            rows += self.db.query(f"SELECT unit, role, stage, {_RAW_SUMS} FROM deadline_tasks WHERE {where} "
                                  "AND due_at >= ? AND due_at < ? GROUP BY unit, role, stage", [*params, lo, hi])
        for unit, role, stage, *values in rows:
            _add(out.setdefault(unit, {}), (role, stage), _counted(values))
        return out

    def board(self, org_id: str, start: date | None, end: date) -> DeadlineBoard:
        """Timeliness of the tasks due in [start, end] in the unit's subtree: per role and stage,
        per holding unit, per month of the deadline; overdue now as of the position."""
        lo, hi = (start or date.min).isoformat(), end.isoformat()
        with self.db.snapshot():  # the position and every figure from one state of the read model
            org = self.orgs.org(org_id)
            prefixes = self.orgs.prefixes(org_id)
            spanned = months_of(self.db, "deadline_daily", month_of(lo), month_of(hi)) if prefixes else []
            daily = self.db.query(f"SELECT role, stage, month, {_SUMS} FROM deadline_daily WHERE {in_months(spanned)} "
                                  f"AND {_within(prefixes)} AND day >= ? AND day <= ? GROUP BY role, stage, month",
                                  [*spanned, *prefixes, lo, hi]) if spanned else []
            owed = self.db.query(f"SELECT unit, role, stage, SUM(overdue_now) FROM deadline_overdue WHERE {_within(prefixes)} "
                                 "GROUP BY unit, role, stage", prefixes) if prefixes else []
            units = self._per_unit(prefixes, start, end)
            position = self.orgs.position()
        totals: dict[tuple[str, str], Counts] = {}
        months: dict[str, dict[tuple[str, str], Counts]] = {}
        for role, stage, month, *values in daily:
            counts = _counted(values)
            _add(totals, (role, stage), counts)
            _add(months.setdefault(month, {}), (role, stage), counts)
        overdue: dict[tuple[str, str], int] = {}
        unit_overdue: dict[str, dict[tuple[str, str], int]] = {}
        for unit, role, stage, n in owed:
            if n:
                overdue[(role, stage)] = overdue.get((role, stage), 0) + int(n)
                unit_overdue.setdefault(unit, {})[(role, stage)] = int(n)
        held = sorted(u for u in {*units, *unit_overdue} if any(c[0] for c in units.get(u, {}).values()) or u in unit_overdue)
        names = self._names(held)
        return DeadlineBoard(
            org=org, window_from=start.isoformat() if start else "", window_to=end.isoformat(), timezone=self.timezone,
            roles=_roles(totals, overdue),
            units=[UnitTimeliness(u, names.get(u), _roles(units.get(u, {}), unit_overdue.get(u, {}), every_role=False)) for u in held],
            by_month=[MonthTimeliness(m, _roles(months[m], None)) for m in sorted(months)],
            position=position,
        )

    def supervision(self, org_id: str, limit: int = 20) -> SupervisionList:
        """The 督办 list (kpis.md#overdue-now-chased-supervised): tasks under supervision now in the
        unit's subtree, per holding unit, oldest deadline first."""
        with self.db.snapshot():
            org = self.orgs.org(org_id)
            where, params = subtree(self.orgs.prefixes(org_id))
            where = where.replace("path", "d.path")
            rows = self.db.query(
                "SELECT d.unit, d.ticket_id, d.round, d.stage, d.role, d.category, t.title, d.due_at, d.breached_at, "
                "d.chased, d.supervised_at, d.supervised_by FROM deadline_tasks d JOIN tickets t ON t.ticket_id = d.ticket_id "
                f"WHERE {where} AND d.met_at IS NULL AND d.withdrawn_at IS NULL AND d.supervised_at IS NOT NULL "
                "ORDER BY d.unit, d.due_at, d.ticket_id, d.round, d.stage", params)
            position = self.orgs.position()
        grouped: dict[str, list[SupervisedItem]] = {}
        counts: dict[str, int] = {}
        for unit, tid, rnd, stage, role, category, title, due, breached, chased, supervised, by in rows:
            counts[unit] = counts.get(unit, 0) + 1
            items = grouped.setdefault(unit, [])
            if len(items) < limit:
                items.append(SupervisedItem(tid, rnd, stage, role, category, title, self._iso(due) or "", self._iso(breached),
                                            chased, self._iso(supervised) or "", by))
        names = self._names(grouped)
        order = sorted(grouped, key=lambda u: (-counts[u], u))
        return SupervisionList(org, [UnitSupervision(u, names.get(u), counts[u], grouped[u]) for u in order], position)

    def of_ticket(self, ticket_id: str) -> list[TicketDeadline]:
        """Every deadline task of a ticket: by round, the lead's first, then by unit and stage."""
        rows = self.db.query("SELECT round, unit, role, stage, dispatched_at, due_at, met_at, withdrawn_at, breached_at, chased, "
                             "supervised_at, extended, paused FROM deadline_tasks WHERE ticket_id = ? "
                             "ORDER BY round, role, unit, stage", (ticket_id,))
        iso = self._iso
        return [TicketDeadline(rnd, unit, role, stage, iso(dispatched) or "", iso(due) or "", iso(met), iso(withdrawn), iso(breached),
                               chased, iso(supervised), bool(extended), bool(paused))
                for rnd, unit, role, stage, dispatched, due, met, withdrawn, breached, chased, supervised, extended, paused in rows]

    def ranking(self, org_id: str, month: str, size: int = 5, min_settled: int = 3) -> Ranking:
        """The 红黑榜 of a month (kpis.md#monthly-ranking): units holding tasks due that month,
        ranked by on-time rate over their settled tasks, lead and supporting together."""
        month = parse_month(month)
        with self.db.snapshot():
            org = self.orgs.org(org_id)
            prefixes = self.orgs.prefixes(org_id)
            rows = self.db.query(f"SELECT unit, SUM(on_time), SUM(late) FROM deadline_unit_monthly WHERE {in_months([month])} "
                                 f"AND {_within(prefixes)} GROUP BY unit", [month, *prefixes]) if prefixes else []
            position = self.orgs.position()
        scored = []
        for unit, on_time, late in rows:
            on_time, late = int(on_time or 0), int(late or 0)
            if on_time + late >= max(1, min_settled):
                scored.append((unit, on_time, late, round(on_time / (on_time + late), 4)))
        names = self._names(r[0] for r in scored)

        def ranked(rows: list[Any]) -> list[RankedUnit]:
            return [RankedUnit(i, u, names.get(u), on, late, rate) for i, (u, on, late, rate) in enumerate(rows, 1)]

        red = sorted(scored, key=lambda r: (-r[3], -(r[1] + r[2]), r[0]))[:size]
        chosen = {r[0] for r in red}
        black = sorted((r for r in scored if r[0] not in chosen), key=lambda r: (r[3], -(r[1] + r[2]), r[0]))[:size]
        return Ranking(org, month, min_settled, len(scored), ranked(red), ranked(black), position)


def parse_month(text: str) -> str:
    """'2026-03' -> '2026-03'; ValueError with a reason otherwise."""
    try:
        year, mon = (int(x) for x in text.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, not {text!r}") from None
    return f"{year:04d}-{mon:02d}"


__all__ = ["DeadlineBoard", "DeadlineQueries", "NotFound", "Ranking", "SupervisionList", "parse_month"]
