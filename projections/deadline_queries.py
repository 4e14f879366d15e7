"""Questions on the deadline tasks (projections/deadlines.py): timeliness per role, stage and
unit, overdue now, the 督办 list, the monthly 红黑榜. Each figure is defined in docs/kpis.md
("Deadlines"); the section names are cited beside the code that computes them.

Every answer is a function of the read model's rows only (no clock): the live API and
`civic audit replay --as-of` ask the same methods of the same tables.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any

import msgspec

from projections import KPI_VERSION
from projections._scope import days, subtree
from projections.deadlines import ROLES, STAGES
from projections.facts import Clock
from projections.queries import DashboardQueries, NotFound, Org
from projections.store import Database

# kpis.md#timeliness, as SQL over one task row (CASE, not boolean sums: PostgreSQL too).
_MET_ON_TIME = "met_at IS NOT NULL AND met_at <= due_at"
_LATE = "(met_at IS NOT NULL AND met_at > due_at) OR (met_at IS NULL AND breached_at IS NOT NULL)"
_OWED = "met_at IS NULL AND withdrawn_at IS NULL"
_COUNTS = ("due", "on_time", "late", "chased", "supervised", "breaches_contradicted")
_SUMS = ", ".join((
    "COUNT(*)",
    f"SUM(CASE WHEN {_MET_ON_TIME} THEN 1 ELSE 0 END)",
    f"SUM(CASE WHEN {_LATE} THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN chased > 0 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN supervised_at IS NOT NULL THEN 1 ELSE 0 END)",
    f"SUM(CASE WHEN breached_at IS NOT NULL AND {_MET_ON_TIME} THEN 1 ELSE 0 END)",
))


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
    breaches_contradicted: int
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
    """The org unit's name; None for a grid worker (a pseudonymous id)."""
    kind: str
    """unit or grid_worker"""
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
    """Every unit holding tasks due in the window or overdue now, by unit id."""
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


class UnitSupervision(msgspec.Struct):
    unit: str
    name: str | None
    kind: str
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
    kind: str
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


def timeliness(c: dict[str, int], overdue_now: int | None) -> Timeliness:
    due, on_time, late = c.get("due", 0), c.get("on_time", 0), c.get("late", 0)
    return Timeliness(due=due, on_time=on_time, late=late, not_settled=due - on_time - late,
                      on_time_rate=_rate(on_time, on_time + late),  # kpis.md#timeliness
                      chased=c.get("chased", 0), supervised=c.get("supervised", 0),
                      breaches_contradicted=c.get("breaches_contradicted", 0), overdue_now=overdue_now)


def _add(target: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        target[k] = target.get(k, 0) + v


def _roles(counts: dict[tuple[str, str], dict[str, int]], overdue: dict[tuple[str, str], int] | None) -> list[RoleTimeliness]:
    """Counts keyed (role, stage) -> every role with its total and its stages (all of them, zeros too)."""
    out = []
    for role in ROLES:
        total: dict[str, int] = {}
        stages = []
        for stage in STAGES:
            c = counts.get((role, stage), {})
            _add(total, c)
            stages.append(StageTimeliness(stage, timeliness(c, None if overdue is None else overdue.get((role, stage), 0))))
        owed = None if overdue is None else sum(n for (r, _), n in overdue.items() if r == role)
        out.append(RoleTimeliness(role, timeliness(total, owed), stages))
    return out


class DeadlineQueries:
    def __init__(self, db: Database, clock: Clock | None = None, timezone: str = "Asia/Shanghai"):
        self.db = db
        self.clock = clock or Clock(timezone)
        self.timezone = timezone
        self.orgs = DashboardQueries(db, self.clock, timezone)

    def _iso(self, instant: int | None) -> str | None:
        return None if instant is None else datetime.fromtimestamp(instant, self.clock.tz).isoformat()

    def _names(self, units: set[str]) -> dict[str, str]:
        ids = sorted(units)
        if not ids:
            return {}
        return dict(self.db.query(f"SELECT org_id, name FROM orgs WHERE org_id IN ({', '.join('?' * len(ids))})", ids))

    def _grouped(self, org_id: str, lo: int, hi: int, extra: str = "") -> tuple[Org, list[tuple]]:
        org = self.orgs.org(org_id)
        where, params = subtree(self.orgs.prefixes(org_id))
        rows = self.db.query(f"SELECT role, stage, unit, unit_kind{extra}, {_SUMS} FROM deadline_tasks "
                             f"WHERE {where} AND due_at >= ? AND due_at < ? GROUP BY role, stage, unit, unit_kind{extra}",
                             [*params, lo, hi])
        return org, rows

    def board(self, org_id: str, start: date | None, end: date) -> DeadlineBoard:
        """Timeliness of the tasks due in [start, end] in the unit's subtree: per role and stage,
        per holding unit, per month of the deadline; overdue now as of the position."""
        lo, hi = days(self.clock, start, end)
        with self.db.snapshot():  # the position and every figure from one state of the read model
            org, rows = self._grouped(org_id, lo, hi)
            where, params = subtree(self.orgs.prefixes(org_id))
            owed = self.db.query(f"SELECT role, stage, unit, unit_kind, COUNT(*) FROM deadline_tasks WHERE {where} "
                                 f"AND {_OWED} AND breached_at IS NOT NULL GROUP BY role, stage, unit, unit_kind", params)
            by_month = self.db.query(f"SELECT role, stage, substr(due_day, 1, 7), {_SUMS} FROM deadline_tasks WHERE {where} "
                                     f"AND due_at >= ? AND due_at < ? GROUP BY role, stage, substr(due_day, 1, 7)", [*params, lo, hi])
            position = self.orgs.position()
        totals: dict[tuple[str, str], dict[str, int]] = {}
        units: dict[tuple[str, str], dict[tuple[str, str], dict[str, int]]] = {}
        for role, stage, unit, kind, *values in rows:
            counts = {k: int(v or 0) for k, v in zip(_COUNTS, values)}
            _add(totals.setdefault((role, stage), {}), counts)
            _add(units.setdefault((unit, kind), {}).setdefault((role, stage), {}), counts)
        overdue: dict[tuple[str, str], int] = {}
        unit_overdue: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        for role, stage, unit, kind, n in owed:
            overdue[(role, stage)] = overdue.get((role, stage), 0) + n
            unit_overdue.setdefault((unit, kind), {})[(role, stage)] = n
        months: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
        for role, stage, month, *values in by_month:
            _add(months.setdefault(month, {}).setdefault((role, stage), {}), {k: int(v or 0) for k, v in zip(_COUNTS, values)})
        names = self._names({u for u, kind in {*units, *unit_overdue} if kind == "unit"})
        return DeadlineBoard(
            org=org, window_from=start.isoformat() if start else "", window_to=end.isoformat(), timezone=self.timezone,
            roles=_roles(totals, overdue),
            units=[UnitTimeliness(u, names.get(u), kind, _roles(units.get((u, kind), {}), unit_overdue.get((u, kind), {})))
                   for u, kind in sorted({*units, *unit_overdue})],
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
                "SELECT d.unit, d.unit_kind, d.ticket_id, d.round, d.stage, d.role, d.category, t.title, d.due_at, d.breached_at, "
                "d.chased, d.supervised_at, d.supervised_by FROM deadline_tasks d JOIN tickets t ON t.ticket_id = d.ticket_id "
                f"WHERE {where} AND d.met_at IS NULL AND d.withdrawn_at IS NULL AND d.supervised_at IS NOT NULL "
                "ORDER BY d.unit, d.due_at, d.ticket_id, d.round, d.stage", params)
            position = self.orgs.position()
        grouped: dict[tuple[str, str], list[SupervisedItem]] = {}
        counts: dict[tuple[str, str], int] = {}
        for unit, kind, tid, rnd, stage, role, category, title, due, breached, chased, supervised, by in rows:
            counts[(unit, kind)] = counts.get((unit, kind), 0) + 1
            items = grouped.setdefault((unit, kind), [])
            if len(items) < limit:
                items.append(SupervisedItem(tid, rnd, stage, role, category, title, self._iso(due) or "", self._iso(breached),
                                            chased, self._iso(supervised) or "", by))
        names = self._names({u for u, kind in grouped if kind == "unit"})
        order = sorted(grouped, key=lambda k: (-counts[k], k[0]))
        return SupervisionList(org, [UnitSupervision(u, names.get(u), kind, counts[(u, kind)], grouped[(u, kind)]) for u, kind in order],
                               position)

    def ranking(self, org_id: str, month: str, size: int = 5, min_settled: int = 3) -> Ranking:
        """The 红黑榜 of a month (kpis.md#monthly-ranking): units holding tasks due that month,
        ranked by on-time rate over their settled tasks, lead and supporting together."""
        year, mon = (int(x) for x in month.split("-"))
        first, last = date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])
        lo, hi = days(self.clock, first, last)
        with self.db.snapshot():
            org, rows = self._grouped(org_id, lo, hi)
            position = self.orgs.position()
        per_unit: dict[tuple[str, str], dict[str, int]] = {}
        for _role, _stage, unit, kind, *values in rows:
            _add(per_unit.setdefault((unit, kind), {}), {k: int(v or 0) for k, v in zip(_COUNTS, values)})
        scored = []
        for (unit, kind), c in per_unit.items():
            settled = c["on_time"] + c["late"]
            if settled >= max(1, min_settled):
                scored.append((unit, kind, c["on_time"], c["late"], round(c["on_time"] / settled, 4)))
        names = self._names({u for u, kind, *_ in scored if kind == "unit"})

        def ranked(rows: list[Any]) -> list[RankedUnit]:
            return [RankedUnit(i, u, names.get(u), kind, on, late, rate) for i, (u, kind, on, late, rate) in enumerate(rows, 1)]

        red = sorted(scored, key=lambda r: (-r[4], -(r[2] + r[3]), r[0]))[:size]
        chosen = {r[0] for r in red}
        black = sorted((r for r in scored if r[0] not in chosen), key=lambda r: (r[4], -(r[2] + r[3]), r[0]))[:size]
        return Ranking(org, f"{year:04d}-{mon:02d}", min_settled, len(scored), ranked(red), ranked(black), position)


def parse_month(text: str) -> str:
    """'2026-03' -> '2026-03'; ValueError with a reason otherwise."""
    try:
        year, mon = (int(x) for x in text.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, not {text!r}") from None
    return f"{year:04d}-{mon:02d}"


__all__ = ["DeadlineBoard", "DeadlineQueries", "NotFound", "Ranking", "SupervisionList", "parse_month"]
