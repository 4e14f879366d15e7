"""Month roll-ups and the flows' running totals (projections/dashboard.py): the month rows are the
day rows summed by month and the totals the flows' day rows summed per unit and category, however
the events are batched; a dashboard answer read from months, days and totals is the answer read
from days alone, for random windows (ending before, inside and after the history, so open and
overdue are read from either end); a read model from before gets them from its day rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from fold_kit import T0, Events, batches, figures, flow_totals, flow_totals_of_the_day_rows, month_figures, open_projection, project
from projections import queries
from projections._scope import in_months, months_of
from projections import deadlines
from projections.dashboard import DAY_TABLES, FLOW_TOTAL, MONTHLY, DashboardProjection, create_schema
from projections.facts import FLOW_COUNTERS, Clock
from projections.queries import DashboardQueries, month_spans
from projections.store import Database, SQLiteDatabase

CATEGORIES = ("parking", "environment", "elderly_care")
LEAVES = ("c1", "g1", "h1")


def _spread_district(seed: int, tickets: int = 160, days: int = 130) -> Events:
    """Tickets raised over about four months at random leaves, each going some way through the
    four orders, some late, some reopened: every counter table gets rows in several months."""
    rng = random.Random(seed)
    ev = Events()
    ev.tree()
    hour = timedelta(hours=1)
    for n in range(tickets):
        tid, org = f"T{n}", rng.choice(LEAVES)
        at = T0 + timedelta(days=rng.uniform(0, days))
        ev.add("TicketRaised", at, org=org, ticket_id=tid, category=rng.choice(CATEGORIES))
        if rng.random() < 0.1:
            continue
        ev.add("TicketDispatched", at + hour, org=org, ticket_id=tid, to_unit=org, deadline=at + timedelta(days=rng.choice((1, 20, 45))))
        if rng.random() < 0.1:
            continue
        ev.add("TicketAccepted", at + rng.uniform(2, 90) * hour, org=org, ticket_id=tid)
        if rng.random() < 0.15:
            continue
        done = at + timedelta(days=rng.uniform(0.5, 40))
        ev.add("TicketResolved", done, org=org, ticket_id=tid, resolution="done")
        satisfaction = rng.choice(("satisfied", "basically_satisfied", "dissatisfied"))
        ev.add("TicketRated", done + hour, org=org, ticket_id=tid, contacted=True, resolved=satisfaction != "dissatisfied",
               satisfaction=satisfaction)
    return ev


def _summed_by_month(day_figures: Counter) -> Counter:
    """Day rows' figures keyed by month, as the month tables key them (zeros dropped)."""
    out: Counter = Counter()
    for key, n in day_figures.items():
        table, *rest = key
        day_at = {"ticket_hist": 2, "dispute_daily": 3, "topic_daily": 1}.get(table, 2)
        rest[day_at] = rest[day_at][:7]
        out[(MONTHLY[table], *rest)] += n
    return Counter({k: n for k, n in out.items() if n})


@pytest.mark.parametrize("split", ["each", "one", "random"])
def test_month_rows_are_the_day_rows_summed_by_month(tmp_path: Path, split: str) -> None:
    ev = _spread_district(seed=7)
    db = project(tmp_path, ev.positioned(), split).db
    assert len({k[3] for k in month_figures(db) if k[0] == "ticket_monthly"}) >= 4  # the data spans months
    assert month_figures(db) == _summed_by_month(figures(db))


@pytest.mark.parametrize("split", ["each", "random"])
def test_every_day_row_holds_its_days_month(tmp_path: Path, split: str, district_ledger: list) -> None:
    """The day tables' month column (their key's first: projections/layout.py) is the day's month,
    in every day table, the deadlines' too, and the month rows' months are those of the day rows."""
    spread = project(tmp_path, _spread_district(seed=7).positioned(), split).db
    simulated = project(tmp_path, list(enumerate(district_ledger, 1)), split, name="simulated.sqlite").db
    for db in (spread, simulated):
        for table in [*DAY_TABLES, deadlines.DAILY.name]:
            rows = db.query(f"SELECT day, month FROM {table}")
            assert all(month == day[:7] and len(month) == 7 for day, month in rows), table
            for day_table, month_table in MONTHLY.items():
                assert {r[0] for r in db.query(f"SELECT DISTINCT month FROM {day_table}")} == \
                    {r[0] for r in db.query(f"SELECT DISTINCT month FROM {month_table}")}, day_table
    assert all(db.query(f"SELECT 1 FROM {table} LIMIT 1") for table in [*DAY_TABLES, deadlines.DAILY.name] for db in [simulated])
    assert len({r[0] for r in spread.query("SELECT month FROM ticket_daily")}) >= 4


def _windows(rng: random.Random, first: date, last: date, n: int) -> list[tuple[date | None, date]]:
    span = (last - first).days
    out: list[tuple[date | None, date]] = [(None, last), (None, first + timedelta(days=span // 2)),
                                           (date(first.year, first.month, 1), last)]
    for _ in range(n):
        lo = first + timedelta(days=rng.randint(-5, span))
        out.append((lo, lo + timedelta(days=rng.randint(0, span))))
    return out


@pytest.mark.parametrize("split", ["each", "one", "random"])
def test_flow_totals_are_the_flow_day_rows_summed(tmp_path: Path, split: str) -> None:
    db = project(tmp_path, _spread_district(seed=7).positioned(), split).db
    assert_flow_totals(db)


def assert_flow_totals(db: Database) -> None:
    totals = flow_totals(db)
    assert totals == flow_totals_of_the_day_rows(db)
    assert any(opened or overdue for _, _, opened, overdue, *_ in totals)  # stocks left open at the end
    assert any(last > first[:7] + "-31" for *_, first, last in totals)  # the rows span months


def test_answers_from_month_rows_equal_answers_from_day_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = project(tmp_path, _spread_district(seed=11).positioned(), "random").db
    assert_answers_equal_answers_from_day_rows(db, monkeypatch)


def assert_answers_equal_answers_from_day_rows(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dashboard answer for random windows equals the one summed from day rows alone: windows
    from months and days, and open/overdue from the totals less what follows or from the beginning."""
    reads = DashboardQueries(db, Clock())
    rng = random.Random(5)
    windows = _windows(rng, T0.date(), (T0 + timedelta(days=140)).date(), 40)
    windows += [(None, (T0 + timedelta(days=d)).date()) for d in (-40, 3, 35, 70, 100, 130, 160, 200, 400)]
    # spans of more than a year, cut to the months the tables hold (projections/_scope.py months_of)
    windows += [(date(2001, 3, 5), (T0 + timedelta(days=3000)).date()), ((T0 - timedelta(days=900)).date(), (T0 + timedelta(days=60)).date())]
    orgs = ("d1", "t1", "c1", "g1")
    ends: Counter = Counter()  # how the stocks were read: from the beginning, from the end, the totals alone
    real_sum = DashboardQueries._sum

    def spy(self: DashboardQueries, table: str, counters: tuple[str, ...], prefixes: list[str], lo: str, hi: str,
            groups: tuple[str, ...]) -> dict:
        if table == "ticket_flow":
            ends["beginning" if lo == "" else "end"] += 1
        return real_sum(self, table, counters, prefixes, lo, hi, groups)

    with monkeypatch.context() as patched:
        patched.setattr(DashboardQueries, "_sum", spy)
        with_months = {(org, w): reads.dashboard(org, *w) for org in orgs for w in windows}
    asked = 2 * len(with_months)  # the unit's stocks and its children's
    assert ends["beginning"] >= 20 and ends["end"] >= 20 and asked - sum(ends.values()) >= 20, ends
    used = sum(month_spans(w[0].isoformat() if w[0] else "", w[1].isoformat())[1] is not None for w in windows)
    assert used > len(windows) // 2  # most windows hold whole months: the month rows are read
    monkeypatch.setattr(queries, "month_spans", lambda lo, hi: ([(lo, hi)], None))  # days alone
    monkeypatch.setattr(DashboardQueries, "_stocks", lambda self, prefixes, hi, groups:  # every flow up to hi, from day rows
                        self._sum("ticket_flow", FLOW_COUNTERS, prefixes, "", hi, groups))
    for (org, w), answer in with_months.items():
        assert answer == reads.dashboard(org, *w), (org, w)


def test_month_spans_cover_the_window_once() -> None:
    rng = random.Random(2)
    for _ in range(500):
        lo = date(2024, 1, 1) + timedelta(days=rng.randint(0, 800))
        hi = lo + timedelta(days=rng.randint(0, 500))
        days, whole = month_spans(lo.isoformat(), hi.isoformat())
        covered = [d for a, b in days for d in _each_day(date.fromisoformat(a), date.fromisoformat(b))]
        if whole:
            covered += [d for d in _each_day(lo, hi) if whole[0] <= d.isoformat()[:7] <= whole[1]]
            first, last = date.fromisoformat(whole[0] + "-01"), date.fromisoformat(whole[1] + "-01")
            assert lo <= first and _each_day(first, hi)[-1] >= last  # whole months only, inside the window
        assert sorted(covered) == _each_day(lo, hi)
    assert month_spans("", "2025-03-15") == ([("2025-03-01", "2025-03-15")], ("0001-01", "2025-02"))
    assert month_spans("2025-01-15", "2025-01-20") == ([("2025-01-15", "2025-01-20")], None)
    assert month_spans("2025-01-01", "9999-12-31")[1] == ("2025-01", "9999-12")


def test_a_read_names_its_months_and_a_long_span_only_those_held(tmp_path: Path) -> None:
    db = open_projection(tmp_path).db
    assert months_of(db, "ticket_monthly", "2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months_of(db, "ticket_monthly", "2026-03", "2026-03") == ["2026-03"]
    assert months_of(db, "ticket_monthly", "2026-04", "2026-03") == []
    assert months_of(db, "ticket_monthly", "0000-00", "2026-03") == []  # nothing held
    db = project(tmp_path, _spread_district(seed=7).positioned(), "one", name="held.sqlite").db
    held = [r[0] for r in db.query("SELECT DISTINCT month FROM ticket_monthly ORDER BY month")]
    assert len(held) >= 4
    assert months_of(db, "ticket_monthly", "0000-00", "9999-12") == held
    assert months_of(db, "ticket_monthly", "1990-01", held[1]) == held[:2]
    assert months_of(db, "ticket_monthly", held[-2], "2999-12") == held[-2:]
    assert len(months_of(db, "ticket_monthly", "2090-01", "2090-12")) == 12  # up to a year: named as asked, no look-up
    assert in_months(["2026-03"]) == "month = ?" and in_months(["2026-03", "2026-04"]) == "month IN (?, ?)"


def _each_day(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


@pytest.mark.parametrize("before", ["the month roll-ups", "the flow totals"])
def test_a_read_model_from_before_the_rollups_gets_them_from_its_day_rows(tmp_path: Path, before: str) -> None:
    ev = _spread_district(seed=13, tickets=60)
    projection = project(tmp_path, ev.positioned(), "random")
    want, totals = month_figures(projection.db), flow_totals(projection.db)
    # As an older version left it: without either (before the month roll-ups) or without the totals.
    for table in [*MONTHLY.values(), FLOW_TOTAL] if before == "the month roll-ups" else [FLOW_TOTAL]:
        projection.db.execute(f"DROP TABLE {table}")
    projection.db.close()
    db = SQLiteDatabase(tmp_path / "dashboard.sqlite")
    create_schema(db)
    assert month_figures(db) == want and want
    assert flow_totals(db) == totals and totals
    create_schema(db)  # once only: a second start adds nothing
    assert month_figures(db) == want and flow_totals(db) == totals
    # and it goes on from there as a read model that always had them
    later = Events()
    later.add("TicketRaised", T0 + timedelta(days=200), org="c1", ticket_id="T-later", category="parking")
    DashboardProjection(db, Clock()).apply([(len(ev.events) + 1, later.events[0])])
    assert flow_totals(db) == flow_totals_of_the_day_rows(db)


def test_a_fresh_read_model_has_empty_rollups(tmp_path: Path) -> None:
    db = open_projection(tmp_path).db
    assert month_figures(db) == Counter()
    assert flow_totals(db) == set()


def fold_spread_district(db: Database, seed: int = 11) -> None:
    """The spread district folded into any database (tests/integration/test_queries_postgres.py)."""
    create_schema(db)
    projection = DashboardProjection(db, Clock())
    for batch in batches(_spread_district(seed=seed).positioned(), "random"):
        projection.apply(batch)
