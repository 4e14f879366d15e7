"""SQL shared by the query modules of projections/ (private: no other package builds SQL on the
read models' tables; they call the documented query methods)."""

from __future__ import annotations

from datetime import date, timedelta

from projections.facts import Clock


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
