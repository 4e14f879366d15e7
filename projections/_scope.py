"""SQL shared by the query modules of projections/ (private: no other package builds SQL on the
read models' tables; they call the documented query methods)."""

from __future__ import annotations

from datetime import date, timedelta

from projections.facts import Clock
from projections.store import Database


def subtree(prefixes: list[str]) -> tuple[str, list[str]]:
    """SQL for "the path (tickets, disputes, topics tables) is in one of these subtrees", each a byte
    range of the path index, and its parameters; no prefixes: nothing."""
    if not prefixes:
        return "(1 = 0)", []
    clause = " OR ".join("(path >= ? AND path < ?)" for _ in prefixes)
    params = [x for p in prefixes for x in (p, p[:-1] + "/")]
    return f"({clause})", params


def days(clock: Clock, start: date | None, end: date) -> tuple[int, int]:
    """The instants [lo, hi) of the whole days start..end (both included) in the district's time
    zone; no start: from the beginning. The figures count the same days."""
    return (clock.start_of(start) if start else -(2**62)), clock.start_of(end + timedelta(days=1))


def within(prefixes: list[str]) -> str:
    """SQL for "counted for this unit" on the counter tables: its rows under any path it has had."""
    return f"prefix IN ({', '.join('?' * len(prefixes))})"


MONTHS_NAMED = 12
"""A read names up to this many months as they come; a longer span is first cut to the months its
table holds (`months_of`)."""


def months_of(db: Database, table: str, first: str, last: str) -> list[str]:
    """The months first..last (YYYY-MM, both included) that a read of a per-unit counter table names,
    so it seeks by (month, prefix) in its month-major key (projections/layout.py). A span of more than
    MONTHS_NAMED months (a window from the beginning, "0000-00") is first cut to the months the table
    holds: two seeks at the ends of its key, so the list is never longer than the history."""
    first = max(first, "0000-01")
    if first > last:
        return []
    if months_between(first, last) + 1 > MONTHS_NAMED:
        lo, hi = db.query(f"SELECT (SELECT MIN(month) FROM {table}), (SELECT MAX(month) FROM {table})")[0]
        if lo is None:
            return []
        first, last = max(first, lo), min(last, hi)
    year, month = int(first[:4]), max(int(first[5:7]), 1)
    out = []
    while (named := f"{year:04d}-{month:02d}") <= last:
        out.append(named)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def months_between(a: str, b: str) -> int:
    """Months from a's month to b's (ISO days or YYYY-MM months alike)."""
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:7]) - int(a[5:7])


def in_months(months: list[str]) -> str:
    """SQL for "in one of these months" (`months_of`; never empty): an equality for one month."""
    return "month = ?" if len(months) == 1 else f"month IN ({', '.join('?' * len(months))})"
