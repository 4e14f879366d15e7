"""The clocks of each dispatch, one row per clock: the read model the timeliness figures (on time
per stage and per unit, overdue now; docs/kpis.md "Deadlines: the clocks") are computed from.

A dispatch starts, for its lead unit (主办), the clocks `sign_for`, `first_contact` and `resolve`,
and for each supporting unit (协办) `sign_for` and `supporting` (its task); each is due at the
deadline the ledger stored (schemas/ticket.py TicketDispatched; moved by an approved extension
and by a resumption, as the stored events say) and is met by the event that stops it:

    lead        sign_for: TicketAccepted   first_contact: TicketContacted   resolve: TicketResolved
    supporting  sign_for: TicketTaskAccepted                                supporting: TicketTaskCompleted

A clock not met when its dispatch stops running (a return, a reopen or dissatisfied rating, a
new dispatch, closing, voiding) is `ended_at` then, unmet. Only stored facts are read: no policy,
no calendar, no clock, so a rebuild or `civic audit replay` gives the same rows.
Rows live beside the dashboard's (same database, same transaction, same position).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from datetime import datetime

import schemas as s
from projections.store import Database
from schemas.ticket import TicketEvent

LEAD_CLOCKS = (("sign_for", "sign_for_by"), ("first_contact", "contact_by"), ("resolve", "deadline"))
"""The lead's clocks and the dispatch field each is due by."""
MET_BY: dict[type[s.Event], str] = {s.TicketAccepted: "sign_for", s.TicketContacted: "first_contact",
                                    s.TicketResolved: "resolve", s.TicketTaskAccepted: "sign_for",
                                    s.TicketTaskCompleted: "supporting"}
STOPS: tuple[type[s.Event], ...] = (s.TicketReturned, s.TicketReopened, s.TicketClosed, s.TicketVoided)
"""Events after which the dispatch's clocks no longer run (a dissatisfied rating too: a new round)."""


@dataclass
class ClockRow:
    ticket_id: str
    dispatch: int
    """The ledger position of the dispatch that started it."""
    clock: str
    """sign_for, first_contact, resolve (the lead's); sign_for, supporting (a supporting unit's)."""
    unit: str
    """The unit whose clock it is; '' for the lead of a dispatch to a grid worker only."""
    lead: int
    """1: the lead unit's; 0: a supporting unit's."""
    round: int
    path: str
    """The ticket's org path at the dispatch."""
    category: str
    started_at: int
    due_at: int | None
    met_at: int | None = None
    ended_at: int | None = None
    """When its dispatch stopped running with this clock unmet."""
    extensions: int = 0
    """Approved extensions of this clock."""
    policy_version: str | None = None
    """The policy the ledger computed `due_at` from at the dispatch; None for an explicit deadline."""


COLUMNS = tuple(f.name for f in fields(ClockRow))
KEY = ("ticket_id", "dispatch", "clock", "unit")
SAVE = (f"INSERT INTO ticket_clocks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in COLUMNS if c not in KEY))


def ddl(text: str, big: str) -> list[str]:
    types = {"dispatch": big, "lead": "INTEGER", "round": "INTEGER", "extensions": "INTEGER"}
    cols = ", ".join(f"{c} {big if c.endswith('_at') else types.get(c, text)}" for c in COLUMNS)
    return [f"CREATE TABLE IF NOT EXISTS ticket_clocks ({cols}, PRIMARY KEY ({', '.join(KEY)}))",
            "CREATE INDEX IF NOT EXISTS ticket_clocks_unit ON ticket_clocks (unit, due_at)",
            "CREATE INDEX IF NOT EXISTS ticket_clocks_path ON ticket_clocks (path, due_at)"]


def _ts(instant: datetime | None) -> int | None:
    return int(instant.timestamp()) if instant is not None else None


class Clocks:
    """One batch's clocks: the latest dispatch's rows of each ticket it touches, loaded once,
    changed in memory, written back in the batch's transaction."""

    def __init__(self, db: Database, ticket_ids: Iterable[str]):
        self.db = db
        self.current: dict[str, list[ClockRow]] = {}
        """ticket -> the rows of its latest dispatch."""
        self.changed: list[ClockRow] = []
        ids = sorted(set(ticket_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(COLUMNS)} FROM ticket_clocks c WHERE ticket_id IN ({marks}) AND dispatch = "
                                f"(SELECT MAX(dispatch) FROM ticket_clocks d WHERE d.ticket_id = c.ticket_id)", chunk):
                self.current.setdefault(row[0], []).append(ClockRow(*row))

    def apply(self, position: int, e: TicketEvent, path: str, category: str, round_: int) -> None:
        """Fold one ticket event (after the dashboard's own fold: `round_` is the ticket's round after it)."""
        at = int(e.occurred_at.timestamp())
        rows = self.current.get(e.ticket_id, [])
        match e:
            case s.TicketDispatched():  # the previous dispatch's clocks stop; its rows are written too
                self._stop(rows, at)
                self.changed.extend(rows)
                self.current[e.ticket_id] = rows = self._started(position, e, path, category, round_, at)
                self.changed.extend(rows)
            case s.TicketExtensionApproved():
                for row in self._running(rows, e.unit, ("resolve", "supporting")):
                    row.due_at, row.extensions = _ts(e.until), row.extensions + 1
            case s.TicketResumed():
                for moved in e.deadlines:
                    for row in self._running(rows, moved.unit, ("resolve", "supporting")):
                        row.due_at = _ts(moved.deadline)
            case s.TicketRated() if e.satisfaction == "dissatisfied":
                self._stop(rows, at)
            case _ if isinstance(e, STOPS):
                self._stop(rows, at)
            case _ if type(e) in MET_BY:
                unit = getattr(e, "unit", None)
                for row in self._running(rows, unit, (MET_BY[type(e)],)):
                    row.met_at = at

    @staticmethod
    def _started(position: int, e: s.TicketDispatched, path: str, category: str, round_: int, at: int) -> list[ClockRow]:
        version = e.policy_version
        lead = e.to_unit or ""
        out = [ClockRow(e.ticket_id, position, clock, lead, 1, round_, path, category, at, _ts(getattr(e, field)),
                        policy_version=version if field in e.filled else None)
               for clock, field in LEAD_CLOCKS]
        for i, task in enumerate(e.supporting):
            for clock, field in (("sign_for", "sign_for_by"), ("supporting", "deadline")):
                out.append(ClockRow(e.ticket_id, position, clock, task.unit, 0, round_, path, category, at,
                                    _ts(getattr(task, field)),
                                    policy_version=version if f"supporting.{i}.{field}" in e.filled else None))
        return out

    @staticmethod
    def _running(rows: list[ClockRow], unit: str | None, clocks: tuple[str, ...]) -> list[ClockRow]:
        """The rows of these clocks still running for `unit` (None: the lead)."""
        return [r for r in rows if r.clock in clocks and r.met_at is None and r.ended_at is None
                and (r.lead == 1 if unit is None else r.unit == unit)]

    @staticmethod
    def _stop(rows: list[ClockRow], at: int) -> None:
        for r in rows:
            if r.met_at is None and r.ended_at is None:
                r.ended_at = at

    def write(self) -> None:
        rows = {id(r): r for r in (*self.changed, *(r for rows in self.current.values() for r in rows))}
        self.db.executemany(SAVE, [astuple(r) for r in rows.values()])


def clocks_of(db: Database, ticket_id: str) -> list[ClockRow]:
    """Every clock of a ticket, by dispatch, lead first."""
    rows = db.query(f"SELECT {', '.join(COLUMNS)} FROM ticket_clocks WHERE ticket_id=? "
                    f"ORDER BY dispatch, lead DESC, unit, clock", (ticket_id,))
    return [ClockRow(*r) for r in rows]


