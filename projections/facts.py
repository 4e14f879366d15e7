"""What a ticket, dispute or topic contributes to the pre-aggregated figures, as a function of
its current state (docs/kpis.md). The projection folds a batch by subtracting each touched
entity's contributions before the batch and adding them after: every figure stays a plain
sum over (org path, category, day) rows, so any window is answered without scanning tickets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from functools import lru_cache
from operator import attrgetter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from schemas import lifecycle

TICKET_COUNTERS = (
    "raised", "dispatched", "accepted", "resolved", "closed", "rated", "satisfied", "basically_satisfied",
    "dissatisfied", "contacted", "reopened", "returned", "resolved_late", "voided",
)
FLOW_COUNTERS = ("opened", "overdue")
DISPUTE_COUNTERS = ("registered", "mediated", "settled", "failed")
TOPIC_COUNTERS = ("proposed", "discussed", "decided", "implemented")

# Duration histogram buckets, upper bounds in minutes (docs/kpis.md, "percentiles").
BUCKETS = (15, 30, 60, 120, 240, 480, 720, 1440, 2160, 2880, 4320, 5760, 7200, 10080, 14400, 20160, 43200, 10**9)


def bucket(minutes: float) -> int:
    for i, bound in enumerate(BUCKETS):
        if minutes <= bound:
            return i
    return len(BUCKETS) - 1


class Clock:
    """Turns event instants into the district's calendar days (Asia/Shanghai by default)."""

    def __init__(self, timezone: str = "Asia/Shanghai"):
        self.tz = ZoneInfo(timezone)

    def day(self, instant: int) -> str:
        return datetime.fromtimestamp(instant, self.tz).date().isoformat()

    def start_of(self, day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())


@dataclass
class TicketState:
    """One row of the tickets table: what the read models know of a ticket (no personal data)."""

    ticket_id: str
    path: str
    """Org path when it was raised (or, once transferred, the destination's path at the transfer),
    dot-terminated: 'yn.pm.lx.'; its figures count there (docs/kpis.md#transfers)."""
    org_id: str
    category: str
    title: str
    channel: str
    raised_at: int
    stage: str = lifecycle.START
    round: int = lifecycle.FIRST_ROUND
    first_dispatched_at: int | None = None
    first_accepted_at: int | None = None
    first_resolved_at: int | None = None
    resolved_at: int | None = None
    closed_at: int | None = None
    voided_at: int | None = None
    duplicate_of: str | None = None
    deadline: int | None = None
    to_unit: str | None = None
    to_worker: str | None = None
    satisfaction: str | None = None
    contacted: int = 0
    reopened: int = 0
    returned: int = 0
    updated_at: int = 0

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return _TICKET_COLUMNS

    def row(self) -> tuple:
        return _TICKET_ROW(self)

    @property
    def open(self) -> bool:
        """Work outstanding: not resolved in its current round, not closed or voided."""
        return self.stage in lifecycle.OPEN

    @property
    def left_open_at(self) -> int | None:
        """When it last left the open stages (docs/kpis.md#open-and-overdue): its resolution in the
        current round if it has one (a ticket resolved, then voided days later, was not open in
        between), else its voiding."""
        if self.open:
            return None
        return self.resolved_at or self.voided_at or self.closed_at


_TICKET_COLUMNS = tuple(f.name for f in fields(TicketState))
_TICKET_ROW = attrgetter(*_TICKET_COLUMNS)  # the row in C


@dataclass
class Contributions:
    """Counter deltas keyed by row: added for 'after' states, subtracted for 'before' states."""

    tickets: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * len(TICKET_COUNTERS)))
    flows: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    hist: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))
    disputes: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * len(DISPUTE_COUNTERS)))
    topics: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * len(TOPIC_COUNTERS)))

    def ticket(self, t: TicketState, clock: Clock, sign: int) -> None:
        day = clock.day(t.raised_at)
        key = (t.path, t.category, day)
        row = self.tickets[key]
        if t.voided_at is not None:
            row[13] += sign  # a merged duplicate counts as voided only
        else:
            rating = t.satisfaction
            flags = (1, t.first_dispatched_at is not None, t.first_accepted_at is not None, t.first_resolved_at is not None,
                     t.closed_at is not None, rating is not None, rating == "satisfied", rating == "basically_satisfied",
                     rating == "dissatisfied", rating is not None and t.contacted, t.reopened > 0, t.returned > 0,
                     t.resolved_at is not None and t.deadline is not None and t.resolved_at > t.deadline, 0)
            for i, flag in enumerate(flags):
                if flag:
                    row[i] += sign
            if t.first_accepted_at is not None:
                self.hist[(t.path, t.category, day, "accept", bucket((t.first_accepted_at - t.raised_at) / 60))] += sign
            if t.first_resolved_at is not None:
                self.hist[(t.path, t.category, day, "resolve", bucket((t.first_resolved_at - t.raised_at) / 60))] += sign
        # Flows, on the day they happen: open from raising until it last left the open stages;
        # overdue from the deadline until it was settled (if settled after the deadline).
        self.flows[(t.path, t.category, day)][0] += sign
        left = t.left_open_at
        if left is not None:
            self.flows[(t.path, t.category, clock.day(left))][0] -= sign
        if t.deadline is not None and (left is None or left > t.deadline):
            self.flows[(t.path, t.category, clock.day(t.deadline))][1] += sign
            if left is not None:
                self.flows[(t.path, t.category, clock.day(left))][1] -= sign

    def dispute(self, d: dict, clock: Clock, sign: int) -> None:
        row = self.disputes[(d["path"], d["category"], d["risk_grade"], clock.day(d["registered_at"]))]
        for i, flag in enumerate((1, d["sessions"] > 0, d["outcome"] == "settled", d["outcome"] == "failed")):
            if flag:
                row[i] += sign

    def topic(self, t: dict, clock: Clock, sign: int) -> None:
        row = self.topics[(t["path"], clock.day(t["proposed_at"]))]
        reached = ("proposed", "discussed", "decided", "implemented").index(t["stage"])
        for i in range(reached + 1):
            row[i] += sign


def upsert(table: str, keys: tuple[str, ...], counters: tuple[str, ...], conflict: tuple[str, ...] | None = None,
           source: str | None = None) -> str:
    """SQL adding a row's counters to the stored ones (inserting the row if new). `conflict`: the
    table's key, where it is not `keys` in their order. `source`: a schema holding the same table,
    whose every row is added (a rebuild's share: projections/dashboard.py `add_share`), instead of
    one row of parameters."""
    cols = (*keys, *counters)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    return (f"INSERT INTO {table} ({', '.join(cols)}) {rows_of(source, table, cols)} "
            f"ON CONFLICT ({', '.join(conflict or keys)}) DO UPDATE SET {updates}")


def rows_of(source: str | None, table: str, columns: tuple[str, ...]) -> str:
    """An upsert's rows: one of parameters, or every row of `source`'s `table` (WHERE true: without
    it, SQLite would read ON CONFLICT as a join's ON)."""
    if source is None:
        return f"VALUES ({', '.join('?' * len(columns))})"
    return f"SELECT {', '.join(columns)} FROM {source}.{table} WHERE true"


@lru_cache(maxsize=65_536)  # a batch asks for the same few thousand paths again and again
def prefixes(path: str) -> tuple[str, ...]:
    """'yn.ta.c1.' -> ('yn.', 'yn.ta.', 'yn.ta.c1.'): the item counts for each unit on its path."""
    cuts = [i for i, ch in enumerate(path) if ch == "."]
    return tuple(path[: i + 1] for i in cuts)


def rolled_up(deltas: dict[tuple, list[int]]) -> dict[tuple, list[int]]:
    """Deltas keyed by (path, ...) -> the same deltas for every prefix of the path. Rows per
    ancestor make any unit's figures an equality lookup, whatever the size of its subtree; the
    batch's rows are folded first, so an ancestor gets one upsert per batch, not one per item."""
    out: dict[tuple, list[int]] = {}
    get = out.get
    for key, values in deltas.items():
        if not any(values):
            continue
        rest = key[1:]
        for prefix in prefixes(key[0]):
            k = (prefix, *rest)
            row = get(k)
            if row is None:
                out[k] = list(values)  # our own copy: added to in place below
            else:
                for i, n in enumerate(values):
                    if n:
                        row[i] += n
    return out
