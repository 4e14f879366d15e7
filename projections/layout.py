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

from projections.store import Database, clustered

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
        cols = (*self.columns, *self.counters)
        updates = ", ".join(f"{c} = {self.name}.{c} + excluded.{c}" for c in self.counters)
        return (f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT ({', '.join(self.primary_key)}) DO UPDATE SET {updates}")

    def rows(self, deltas: dict[tuple, list[int]]) -> list[tuple]:
        """Deltas keyed as `keys` -> the upsert's rows (a day's month after the key)."""
        if not self.by_day:
            return [(*k, *v) for k, v in deltas.items()]
        at = self.keys.index("day")
        return [(*k, month_of(k[at]), *v) for k, v in deltas.items()]


def primary_key(db: Database, table: str) -> tuple[str, ...]:
    """The columns of a stored table's primary key, in order (() if there is no such table)."""
    if db.dialect == "postgres":
        rows = db.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary "
                        "ORDER BY array_position(i.indkey::int2[], a.attnum)", (table,))
    else:
        rows = db.query("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))
    return tuple(r[0] for r in rows)


def bring_up_to_date(db: Database, tables: list[CounterTable]) -> None:
    """Rewrite each table stored with another key (a read model from before month-major keys) in
    the layout above, in place, inside the caller's transaction: the new table made beside it,
    filled from it (a day row given its day's month), the old one dropped and the new one renamed.
    The rows and their counters stay as they were, so every answer does."""
    for table in tables:
        stored = primary_key(db, table.name)
        if not stored or stored == table.primary_key:
            continue
        log.info("rewriting %s keyed (%s) as (%s)", table.name, ", ".join(stored), ", ".join(table.primary_key))
        new = f"{table.name}_rekeyed"
        db.execute(f"DROP TABLE IF EXISTS {new}")
        db.execute(table.ddl(db.dialect, new))
        values = ", ".join(MONTH_OF_DAY if c == "month" and table.by_day else c for c in (*table.columns, *table.counters))
        order = ", ".join(MONTH_OF_DAY if c == "month" and table.by_day else c for c in table.primary_key)
        db.execute(f"INSERT INTO {new} ({', '.join((*table.columns, *table.counters))}) "
                   f"SELECT {values} FROM {table.name} ORDER BY {order}")
        db.execute(f"DROP TABLE {table.name}")
        db.execute(f"ALTER TABLE {new} RENAME TO {table.name}")
        if db.dialect == "postgres":  # the key's index keeps the name it was made with; a later rewrite makes it again
            db.execute(f"ALTER INDEX {new}_pkey RENAME TO {table.name}_pkey")
