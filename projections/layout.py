"""The layout of the per-unit counter tables (projections/dashboard.py, projections/deadlines.py):
rows of counters per unit (the `prefix` of an org path) and day or month, keyed month first.

Why month first (docs/benchmarks.md, "Month-major keys"): a batch of the fold writes today's row of
every unit on its tickets' paths. Keyed unit first, each unit's newest rows sit at the end of its
own run of the B-tree, so once its history fills a page a batch writes one page per unit and table
(3,366 pages per batch of 1,000 events at 100k events of history, 5,271 at 5M): the fold's cost grew
with history. Keyed `(month, prefix, day, ...)`, the current month's rows of all units lie together
and a batch writes into those pages only, as many at 5M events as at 100k. The reads name the
months of their span (projections/_scope.py `months_of`), so a unit's rows are still one seek per
month: `month IN (...) AND prefix IN (...)`, never a range on the key's first column, which would
end the seek there and scan every unit's rows of the span.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from projections.facts import upsert
from projections.store import Database, clustered, primary_key, rewrite_table

log = logging.getLogger(__name__)


def month_of(day: str) -> str:
    """'2026-03-14' -> '2026-03': the month a day row belongs to."""
    return day[:7]


MONTH_OF_DAY = "substr(day, 1, 7)"
"""month_of in SQL: an older read model's day rows given their month (`bring_up_to_date`)."""


@dataclass(frozen=True)
class CounterTable:
    """A table of counters per unit and day (its `keys` hold "day") or month ("month"), with the
    fold's key in the fold's order (`keys`: prefix first); stored with its day's month beside a
    day, and keyed month, prefix, day, then the rest."""

    name: str
    keys: tuple[str, ...]
    counters: tuple[str, ...]

    @property
    def by_day(self) -> bool:
        return "day" in self.keys

    @property
    def columns(self) -> tuple[str, ...]:
        """The key's columns as stored and as `rows` gives them: a day table's month after the fold's
        key (its place in the primary key is first; in the row it is where a reader of the old
        layout's columns does not find it in the way)."""
        return (*self.keys, "month") if self.by_day else self.keys

    @property
    def primary_key(self) -> tuple[str, ...]:
        return ("month", "prefix", *(("day",) if self.by_day else ()),
                *(k for k in self.keys if k not in ("month", "prefix", "day")))

    def ddl(self, dialect: str, name: str | None = None) -> str:
        text = 'TEXT COLLATE "C"' if dialect == "postgres" else "TEXT"  # byte order, as every table of the read model
        columns = ", ".join(f"{k} INTEGER" if k == "bucket" else f"{k} {text}" for k in self.columns)
        counters = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in self.counters)
        return (f"CREATE TABLE IF NOT EXISTS {name or self.name} ({columns}, {counters}, "
                f"PRIMARY KEY ({', '.join(self.primary_key)})){clustered(dialect)}")

    @property
    def upsert(self) -> str:
        """SQL adding a row's counters to the stored ones (inserting the row if new): `rows`' rows."""
        return upsert(self.name, self.columns, self.counters, self.primary_key)

    def added_from(self, source: str) -> str:
        """SQL adding every row of this table in the schema `source` to this one's."""
        return upsert(self.name, self.columns, self.counters, self.primary_key, source)

    def rows(self, deltas: dict[tuple, list[int]]) -> list[tuple]:
        """Deltas keyed as `keys` -> the upsert's rows (a day's month after the key)."""
        if not self.by_day:
            return [(*k, *v) for k, v in deltas.items()]
        at = self.keys.index("day")
        return [(*k, month_of(k[at]), *v) for k, v in deltas.items()]


def stale(db: Database, tables: list[CounterTable]) -> list[CounterTable]:
    """The tables stored with another key than their layout's (a read model from before
    month-major keys, not yet brought up to date); a table not stored at all is not one."""
    return [t for t in tables if primary_key(db, t.name) not in ((), t.primary_key)]


def bring_up_to_date(db: Database, tables: list[CounterTable]) -> None:
    """Rewrite each table stored with another key (`stale`) in the layout above, in place, inside
    the caller's transaction: the new table made beside it, filled from it (a day row given its
    day's month), the old one dropped and the new one renamed. The rows and their counters stay
    as they were, so every answer does. Readers meanwhile are told the read model is being
    upgraded (projections/readside.py Upgrading), not given an error of the old layout."""
    for table in stale(db, tables):
        stored = primary_key(db, table.name)
        log.info("rewriting %s keyed (%s) as (%s)", table.name, ", ".join(stored), ", ".join(table.primary_key))
        of_day = tuple(MONTH_OF_DAY if c == "month" and table.by_day else c for c in (*table.columns, *table.counters))
        order = ", ".join(MONTH_OF_DAY if c == "month" and table.by_day else c for c in table.primary_key)
        rewrite_table(db, table.name, table.ddl(db.dialect, "{name}"), (*table.columns, *table.counters), of_day, order)
