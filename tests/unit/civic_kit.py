"""Builders shared by the unit tests: minimal valid events of every type, and a `Desk` that
drives a Ledger with intake messages (incrementing event ids and intake sequences, subjects
computed from the org tree the desk has seen accepted)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import schemas as s
from domain.aggregate import aggregate_id
from adapters.keys import KeyStore
from application.ledger import Incoming, Ledger, Outcome, Rejection
from schemas import topology

T0 = datetime(2026, 3, 1, 9, tzinfo=timezone(timedelta(hours=8)))
MEMORY_ENV = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}

LI_HUA = s.PersonalData(resident_id="r1", name="Li Hua", phone="13800138000", address="12 Longxiang Road, Pumiao")
WANG_FANG = s.PersonalData(resident_id="r2", name="Wang Fang", phone="13900139000", address="7 Nanhu Lane, Pumiao")

DEFAULT_ROLE = {
    "OrgUnitRegistered": "system", "OrgUnitRenamed": "system", "OrgUnitMoved": "system",
    "GridWorkerAssigned": "system",
    "TicketRaised": "resident", "TicketDispatched": "dispatcher", "TicketAccepted": "grid_worker",
    "TicketReturned": "grid_worker", "TicketProgressNoted": "grid_worker", "TicketResolved": "grid_worker",
    "TicketRated": "resident", "TicketReopened": "resident", "TicketClosed": "dispatcher",
    "TicketVoided": "dispatcher", "TicketRecategorised": "dispatcher", "TicketTransferred": "dispatcher",
    "TicketContacted": "grid_worker", "TicketExtensionRequested": "grid_worker", "TicketExtensionApproved": "dispatcher",
    "TicketExtensionRefused": "dispatcher", "TicketPaused": "grid_worker", "TicketResumed": "grid_worker",
    "TicketTaskAccepted": "unit", "TicketTaskCompleted": "unit",
    "DeadlineNearing": "system", "DeadlineBreached": "system", "TicketChased": "system", "TicketSupervised": "system",
    "DisputeRegistered": "mediator", "MediationSessionHeld": "mediator", "DisputeConcluded": "mediator",
    "TopicProposed": "council", "MeetingHeld": "council", "TopicDecided": "council", "TopicImplemented": "council",
    "PersonalDataErased": "system",
    "IntakeGap": "system", "IntakeGapAcknowledged": "system",
}

PARTIES = (s.DisputeParty(resident_id="r1", role="applicant"), s.DisputeParty(resident_id="r2", role="respondent"))

# The required facts of each type, beyond the envelope (TicketDispatched's deadline is added
# relative to occurred_at by `make`).
REQUIRED: dict[str, dict[str, Any]] = {
    "OrgUnitRegistered": dict(kind="district", name="Yongning"),
    "OrgUnitRenamed": dict(name="Yongning New"),
    "OrgUnitMoved": dict(new_parent_id="t2"),
    "GridWorkerAssigned": dict(worker_id="w-7"),
    "TicketRaised": dict(ticket_id="T1", category="parking", title="cars block the gate"),
    "TicketDispatched": dict(ticket_id="T1", to_unit="c1"),
    "TicketAccepted": dict(ticket_id="T1"),
    "TicketReturned": dict(ticket_id="T1", reason="not our area"),
    "TicketProgressNoted": dict(ticket_id="T1", note="talked to the owners"),
    "TicketResolved": dict(ticket_id="T1", resolution="bollards installed"),
    "TicketRated": dict(ticket_id="T1", contacted=True, resolved=True, satisfaction="satisfied"),
    "TicketReopened": dict(ticket_id="T1", reason="cars are back"),
    "TicketClosed": dict(ticket_id="T1"),
    "TicketVoided": dict(ticket_id="T1", duplicate_of="T9"),
    "TicketRecategorised": dict(ticket_id="T1", category="road_safety"),
    "TicketTransferred": dict(ticket_id="T1", from_org_id="c1", to_org_id="c2", reason="the gate is on c2's side of the road"),
    "TicketContacted": dict(ticket_id="T1", how="phone"),
    "TicketExtensionRequested": dict(ticket_id="T1", until=T0 + timedelta(days=9), reason="the part is on order"),
    "TicketExtensionApproved": dict(ticket_id="T1", request_id="x-1", until=T0 + timedelta(days=9)),
    "TicketExtensionRefused": dict(ticket_id="T1", request_id="x-1", reason="two days are enough"),
    "TicketPaused": dict(ticket_id="T1", reason="the resident is away until Monday"),
    "TicketResumed": dict(ticket_id="T1"),
    "TicketTaskAccepted": dict(ticket_id="T1", unit="c2"),
    "TicketTaskCompleted": dict(ticket_id="T1", unit="c2", result="trees cut back"),
    "DeadlineNearing": dict(ticket_id="T1", round=1, unit="c1", stage="resolve", deadline=T0 + timedelta(days=2)),
    "DeadlineBreached": dict(ticket_id="T1", round=1, unit="c1", stage="resolve", deadline=T0 + timedelta(days=2)),
    "TicketChased": dict(ticket_id="T1", round=1, unit="c1", stage="resolve", deadline=T0 + timedelta(days=2), chased_by="c1"),
    "TicketSupervised": dict(ticket_id="T1", round=1, unit="c1", stage="resolve", deadline=T0 + timedelta(days=2),
                             escalated_to="t1"),
    "DisputeRegistered": dict(dispute_id="D1", category="boundary", risk_grade="yellow",
                              summary="a fence over the line", parties=PARTIES),
    "MediationSessionHeld": dict(dispute_id="D1"),
    "DisputeConcluded": dict(dispute_id="D1", outcome="settled"),
    "TopicProposed": dict(topic_id="P1", title="street lights for the hamlet"),
    "MeetingHeld": dict(topic_id="P1", attendees=23),
    "TopicDecided": dict(topic_id="P1", decision="install six lights"),
    "TopicImplemented": dict(topic_id="P1", report="lights installed"),
    "PersonalDataErased": dict(erasure_id="E1", resident_id="r1", reason="the resident asked"),
    "IntakeGap": dict(gap_id="5", first_sequence=5, last_sequence=9),
    "IntakeGapAcknowledged": dict(gap_id="5", reason="re-sent by the hotline"),
}


def incoming(sequence: int, subject: str, data: bytes, deliveries: int = 1) -> Incoming:
    """An intake message as the consumer hands it to the ledger: its subject parsed the same way."""
    event_type, org_path = topology.parse_intake_subject(subject)
    return Incoming(sequence, event_type, org_path, data, deliveries)


def tag(cls: type[s.Event]) -> str:
    return cls.__struct_config__.tag  # type: ignore[return-value]


def make(event_type: str | type[s.Event], n: int = 1, *, org: str = "c1", role: str | None = None,
         actor_id: str | None = None, at: datetime | None = None, event_id: str | None = None,
         **fields: Any) -> s.Event:
    """A valid event of `event_type` (a tag or a class), the n-th of a test."""
    name = event_type if isinstance(event_type, str) else tag(event_type)
    cls = s.EVENTS_BY_TYPE[name]
    at = at or T0 + timedelta(minutes=n)
    facts = {**REQUIRED[name], **fields}
    if name == "TicketDispatched":
        facts.setdefault("deadline", at + timedelta(days=2))
    role = role or DEFAULT_ROLE[name]
    return cls(event_id=event_id or f"ev-{n}", occurred_at=at, source="test",
               actor=s.Actor(role=role, id=actor_id or f"{role}-1"), org_id=org, **facts)


# The standard org tree: one unit of every kind, each under an allowed parent.
TREE: list[tuple[str, str, str | None]] = [
    ("d1", "district", None),
    ("t1", "town", "d1"),
    ("t2", "town", "d1"),
    ("s1", "street", "d1"),
    ("c1", "community", "t1"),
    ("c2", "community", "t2"),
    ("g1", "grid", "c1"),
    ("v1", "village", "t1"),
    ("h1", "hamlet", "v1"),
    ("k1", "council", "h1"),
    ("b1", "party_branch", "c1"),
    ("z1", "zone", None),
    ("w1", "work_committee", "z1"),
    ("p1", "park_committee", "w1"),
    ("e1", "enterprise", "p1"),
]
UNIT_OF_KIND = {kind: org for org, kind, _ in TREE}


class Desk:
    """Drives one Ledger the way the intake consumer does."""

    def __init__(self, ledger: Ledger, keys: KeyStore):
        self.ledger, self.keys = ledger, keys
        self.n = 0
        self.seq = 0
        self.parent: dict[str, str | None] = {}
        self.tentative: set[str] = set()

    # -- building --------------------------------------------------------------------------

    def ev(self, event_type: str | type[s.Event], /, **kw: Any) -> s.Event:
        self.n += 1
        return make(event_type, self.n, **kw)

    def path(self, org_id: str) -> tuple[str, ...]:
        out = [org_id]
        while (p := self.parent.get(out[-1])) is not None:
            out.append(p)
        return tuple(reversed(out))

    def subject(self, event: s.Event) -> str:
        if isinstance(event, s.OrgUnitRegistered):
            path = (*self.path(event.parent_id), event.org_id) if event.parent_id else (event.org_id,)
        else:
            path = self.path(event.org_id)
        return topology.intake_subject(event, path)

    def msg(self, event: s.Event | bytes, *, subject: str | None = None, deliveries: int = 1,
            sequence: int | None = None) -> Incoming:
        if sequence is None:
            self.seq += 1
            sequence = self.seq
        else:
            self.seq = max(self.seq, sequence)
        if isinstance(event, bytes):
            assert subject is not None, "raw bytes need an explicit subject"
            return incoming(sequence, subject, event, deliveries)
        subject = subject or self.subject(event)
        if isinstance(event, s.OrgUnitRegistered) and event.org_id not in self.parent:
            # Later messages of the same batch may sit under this unit; forgotten if refused.
            self.parent[event.org_id] = event.parent_id
            self.tentative.add(event.org_id)
        return incoming(sequence, subject, s.encode(event), deliveries)

    # -- processing ------------------------------------------------------------------------

    def send(self, *items: s.Event | Incoming, deliveries: int = 1) -> Outcome:
        messages = [m if isinstance(m, Incoming) else self.msg(m, deliveries=deliveries) for m in items]
        tentative, self.tentative = self.tentative, set()
        try:
            outcome = self.ledger.process(messages)
        except BaseException:
            for org in tentative:
                self.parent.pop(org, None)
            raise
        refused = {id(r.message) for r in outcome.rejections}
        for m in messages:
            try:
                event = s.decode(m.data)
            except s.DecodeFailure:
                continue
            if id(m) in refused:
                if isinstance(event, s.OrgUnitRegistered) and event.org_id in tentative:
                    self.parent.pop(event.org_id, None)
            elif isinstance(event, s.OrgUnitRegistered):
                self.parent.setdefault(event.org_id, event.parent_id)
            elif isinstance(event, s.OrgUnitMoved):
                self.parent[event.org_id] = event.new_parent_id
        return outcome

    def ok(self, *items: s.Event | Incoming) -> Outcome:
        """Every item is accepted as new."""
        outcome = self.send(*items)
        assert outcome.rejections == [], [(r.code, r.detail) for r in outcome.rejections]
        assert (outcome.accepted, outcome.duplicates) == (len(items), 0), outcome
        return outcome

    def refused(self, item: s.Event | Incoming, code: str) -> Rejection:
        """The item alone is refused with `code`, and nothing is stored."""
        before = self.stored_count()
        outcome = self.send(item)
        assert [r.code for r in outcome.rejections] == [code], [(r.code, r.detail) for r in outcome.rejections]
        assert (outcome.accepted, outcome.duplicates) == (0, 0), outcome
        assert self.stored_count() == before
        return outcome.rejections[0]

    def codes(self, *items: s.Event | Incoming) -> list[str]:
        return [r.code for r in self.send(*items).rejections]

    # -- reading ---------------------------------------------------------------------------

    def stored(self) -> list[Any]:
        return list(self.ledger.recorder.select_notifications(start=1, limit=10_000))

    def stored_count(self) -> int:
        return len(self.stored())

    def stored_events(self) -> list[s.Event]:
        return [s.decode(n.state, max_bytes=None) for n in self.stored()]

    def get(self, family: str, entity_id: str) -> Any:
        return self.ledger.repository.get(aggregate_id(family, entity_id))

    # -- fixtures --------------------------------------------------------------------------

    def build_tree(self, units: Iterable[tuple[str, str, str | None]] = TREE) -> None:
        self.ok(*[self.ev("OrgUnitRegistered", org=org, kind=kind, name=f"unit {org}", parent_id=parent)
                  for org, kind, parent in units])

    def raise_ticket(self, ticket_id: str = "T1", org: str = "c1", **kw: Any) -> s.Event:
        event = self.ev("TicketRaised", ticket_id=ticket_id, org=org, **kw)
        self.ok(event)
        return event

    def drive_ticket(self, stage: str, ticket_id: str = "T1", org: str = "c1") -> None:
        """Raise a ticket and take it to `stage` by the shortest accepted route."""
        t = dict(ticket_id=ticket_id, org=org)
        steps = {
            "raised": [],
            "dispatched": ["TicketDispatched"],
            "accepted": ["TicketDispatched", "TicketAccepted"],
            "returned": ["TicketDispatched", "TicketReturned"],
            "resolved": ["TicketDispatched", "TicketAccepted", "TicketResolved"],
            "rated": ["TicketDispatched", "TicketAccepted", "TicketResolved", "TicketRated"],
            "reopened": ["TicketDispatched", "TicketAccepted", "TicketResolved", "TicketReopened"],
            "closed": ["TicketDispatched", "TicketAccepted", "TicketResolved", "TicketRated", "TicketClosed"],
            "voided": ["TicketVoided"],
        }[stage]
        self.raise_ticket(ticket_id, org)
        if stage == "voided":
            self.raise_ticket("T9", org)
        self.ok(*[self.ev(e, to_unit=org, **t) if e == "TicketDispatched" else self.ev(e, **t) for e in steps])
        assert self.get("ticket", ticket_id).stage == stage
