"""One row of a historical micro-list export -> the events of that ticket's lifecycle, in order.

The column mapping is documented in docs/import.md. A row either becomes all of its events or
none (a RowError with the reason): a half-imported ticket would be worse than a reported one.
Event ids are uuid5(IMPORT_NAMESPACE, "<source>:<ticket_id>:<stage>"), so importing the same file
(under the same --source name) again produces the same events, which the ledger stores once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import schemas as s
from producers.sdk import Checked, check
from schemas import lifecycle
from schemas.base import ActorRole, Event

from schemas.ticket import TicketEvent

IMPORT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:civic-ledger:import")
CST = timezone(timedelta(hours=8))
SOURCE = "import"
"""The envelope's `source` of every imported event; the file's identity is in the event ids."""
REQUIRED = ("ticket_id", "org_id", "category", "raised_at")
COLUMNS = (
    "ticket_id", "org_id", "category", "title", "description", "channel", "raised_at", "raised_by",
    "reporter_name", "reporter_phone", "reporter_address",
    "dispatched_at", "deadline", "to_unit", "to_worker", "dispatcher_id",
    "accepted_at", "receiver_id", "resolved_at", "resolution", "evidence_ref",
    "rated_at", "satisfaction", "contacted", "resolved_ok", "comment", "closed_at",
)
STAGES = ("raised", "dispatched", "accepted", "resolved", "rated", "closed")
"""The lifecycle stages an export has a time column for (`<stage>_at`), in the four orders' order."""


def _needs(path: tuple[str, ...]) -> dict[str, str]:
    """stage -> the column a row must also have: the earliest stage before it on the path that
    the event leading to it may follow (lifecycle table), e.g. closed needs resolved, not rated."""
    out = {}
    for i, stage in enumerate(path[1:], 1):
        (rule,) = [r for r in lifecycle.LIFECYCLE if r.to == stage]
        out[stage] = next(before for before in path[:i] if before in rule.after)
    return out


NEEDS = _needs(STAGES)
DEFAULT_DEADLINE = timedelta(hours=72)
"""When a dispatched row has no deadline (older exports): the centre's standard three days."""

CHANNELS = {name: name for name in ("mini_program", "hotline", "grid_patrol", "walk_in", "enterprise_platform", "import", "other")}
CHANNELS.update({"12345": "hotline", "小程序": "mini_program", "热线": "hotline", "网格巡查": "grid_patrol",
                 "来访": "walk_in", "政企通": "enterprise_platform"})
SATISFACTION = {"satisfied": "satisfied", "basically_satisfied": "basically_satisfied", "basically": "basically_satisfied",
                "dissatisfied": "dissatisfied", "满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
TRUE = {"1", "true", "t", "yes", "y", "是"}
FALSE = {"0", "false", "f", "no", "n", "否"}
RAISERS = lifecycle.RULES[s.TicketRaised].roles


class RowError(ValueError):
    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason, self.field = reason, field


def event_id(source: str, ticket_id: str, stage: str) -> str:
    return str(uuid5(IMPORT_NAMESPACE, f"{source}:{ticket_id}:{stage}"))


def pseudonym(phone: str, key: bytes = b"") -> str:
    """A resident's stable pseudonym from their phone number (digits only, so '138 0013 8000' and
    '13800138000' are one resident). Keyed (HMAC) when a key is given: a bare hash of an
    11-digit number can be reversed by trying them all."""
    digits = re.sub(r"\D", "", phone) or phone.strip()
    digest = hmac.new(key, digits.encode(), hashlib.sha256) if key else hashlib.sha256(b"civic-ledger:resident:" + digits.encode())
    return "res-" + digest.hexdigest()[:16]


class RowMapper:
    """Turns rows (dicts of column -> text) into events; knows the file's identity and options."""

    def __init__(self, source: str, tz: tzinfo = CST, pseudonym_key: bytes = b""):
        self.source, self.tz, self.key = source, tz, pseudonym_key

    def events(self, row: dict[str, Any]) -> list[Event]:
        """The row's lifecycle events in order, each checked as the ledger will decode it."""
        return [checked.event for checked in self.checked(row)]

    def checked(self, row: dict[str, Any]) -> list[Checked]:
        """The row's events, checked, ready for publish_many (which then need not check them again)."""
        r = {k.strip(): _text(v) for k, v in row.items() if k}
        for name in REQUIRED:
            if not r.get(name):
                raise RowError(f"missing {name}", name)
        ticket, org = r["ticket_id"], r["org_id"]
        times = {stage: self._time(r, f"{stage}_at") for stage in STAGES}
        self._check_order(times, r)
        reporter = self._reporter(r, ticket)
        out: list[Event] = []

        def add(cls: type[TicketEvent], stage: str, role: ActorRole, actor_id: str, **facts: Any) -> None:
            at = times[stage]
            assert at is not None  # called only for the stages the row has a time for
            out.append(cls(event_id=event_id(self.source, ticket, stage), occurred_at=at,
                           actor=s.Actor(role=role, id=actor_id), source=SOURCE, org_id=org, ticket_id=ticket, **facts))


        title = r.get("title") or r.get("description", "")[:60]
        if not title:
            raise RowError("a ticket needs a title or a description", "title")
        raiser = r.get("raised_by") or ("resident" if reporter else "system")
        if raiser not in RAISERS:
            raise RowError(f"raised_by must be one of {sorted(RAISERS)}", "raised_by")
        raiser_id = reporter.resident_id if (reporter and raiser == "resident") else (
            org if raiser in ("enterprise", "unit") else f"{raiser}-{SOURCE}")
        add(s.TicketRaised, "raised", raiser, raiser_id, category=r["category"], title=_clip(title, 200),  # type: ignore[arg-type]  # raised_by is the row's text, checked against RAISERS above
            description=r.get("description", ""), channel=self._channel(r),
            personal=(reporter,) if reporter and raiser == "resident" else ())
        dispatcher = r.get("dispatcher_id") or f"dispatcher-{SOURCE}"
        if times["dispatched"]:
            deadline = self._time(r, "deadline") or times["dispatched"] + DEFAULT_DEADLINE
            if deadline <= times["dispatched"]:
                raise RowError("deadline is not after dispatched_at", "deadline")
            add(s.TicketDispatched, "dispatched", "dispatcher", dispatcher, deadline=deadline,
                to_unit=r.get("to_unit") or (None if r.get("to_worker") else org), to_worker=r.get("to_worker") or None)
        worker = r.get("receiver_id") or r.get("to_worker")
        receiver: tuple[ActorRole, str] = ("grid_worker", worker) if worker else ("unit", r.get("to_unit") or org)
        if times["accepted"]:
            add(s.TicketAccepted, "accepted", *receiver)
        if times["resolved"]:
            add(s.TicketResolved, "resolved", *receiver, resolution=r.get("resolution") or "(no resolution note in the source)",
                evidence_ref=r.get("evidence_ref") or None)
        if times["rated"]:
            satisfaction = SATISFACTION.get(r.get("satisfaction", "").lower())
            if satisfaction is None:
                raise RowError(f"satisfaction must be one of {sorted(set(SATISFACTION.values()))}", "satisfaction")
            if satisfaction == "dissatisfied" and times["closed"]:
                raise RowError("closed_at after a dissatisfied rating: that reopens the ticket", "closed_at")
            rater: tuple[ActorRole, str] = ("resident", reporter.resident_id) if reporter else ("dispatcher", dispatcher)  # a 12345 call-back
            add(s.TicketRated, "rated", *rater, contacted=self._bool(r, "contacted", True),
                resolved=self._bool(r, "resolved_ok", satisfaction != "dissatisfied"),
                satisfaction=satisfaction, comment=r.get("comment", ""))
        if times["closed"]:
            add(s.TicketClosed, "closed", "dispatcher", dispatcher)
        checked = []
        for event in out:
            outcome = check(event)
            if not isinstance(outcome, Checked):
                raise RowError(outcome.reason or "invalid", _column(event, outcome.field))
            checked.append(outcome)
        return checked

    def _time(self, r: dict[str, str], column: str) -> datetime | None:
        text = r.get(column, "")
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise RowError(f"{column} is not a date and time: {text!r}", column) from None
        return value if value.tzinfo else value.replace(tzinfo=self.tz)

    @staticmethod
    def _check_order(times: dict[str, datetime | None], r: dict[str, str]) -> None:
        for stage, before in NEEDS.items():
            if times[stage] and not times[before]:
                raise RowError(f"{stage}_at without {before}_at", f"{stage}_at")
        previous: tuple[str, datetime] | None = None
        for stage in STAGES:
            at = times[stage]
            if at is None:
                continue
            if previous and at < previous[1]:
                raise RowError(f"{stage}_at is before {previous[0]}_at", f"{stage}_at")
            previous = (stage, at)

    def _reporter(self, r: dict[str, str], ticket: str) -> s.PersonalData | None:
        name, phone, address = r.get("reporter_name"), r.get("reporter_phone"), r.get("reporter_address")
        if not (name or phone or address):
            return None
        # Without a phone the reporter cannot be recognised across tickets: a one-off pseudonym.
        resident = pseudonym(phone, self.key) if phone else pseudonym(f"{self.source}:{ticket}", self.key)
        return s.PersonalData(resident_id=resident, name=name or None, phone=phone or None, address=address or None)

    @staticmethod
    def _channel(r: dict[str, str]) -> str:
        text = r.get("channel", "")
        if not text:
            return "import"
        if text.lower() not in CHANNELS:
            raise RowError(f"unknown channel {text!r}", "channel")
        return CHANNELS[text.lower()]

    @staticmethod
    def _bool(r: dict[str, str], column: str, default: bool) -> bool:
        text = r.get(column, "").lower()
        if not text:
            return default
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise RowError(f"{column} must be yes or no, not {text!r}", column)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Where a field of an event comes from in the row, to name the column at fault.
_FIELD_COLUMN = {"ticket_id": "ticket_id", "org_id": "org_id", "category": "category", "title": "title",
                 "description": "description", "to_unit": "to_unit", "to_worker": "to_worker",
                 "resolution": "resolution", "evidence_ref": "evidence_ref", "comment": "comment",
                 "actor.id": "dispatcher_id", "personal": "reporter_name"}


def column_of(field: str | None) -> str | None:
    """The row's column an event field comes from, to name the column at fault."""
    if field is None:
        return None
    if field.startswith("personal"):
        return "reporter_" + field.rsplit(".", 1)[-1] if "." in field else "reporter_name"
    return _FIELD_COLUMN.get(field, field)


def _column(event: Event, field: str | None) -> str | None:
    return column_of(field)
