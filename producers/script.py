"""Building valid event sequences by hand: org units, and tickets, disputes and topics through
their whole lifecycle, each with its intake subject. Used by tests and the benchmark; the
district simulator builds on it."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import schemas as s
from schemas.base import Event
from schemas.organisation import OrgKind
from schemas.ticket import Satisfaction
from schemas.topology import intake_subject

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
SYSTEM = s.Actor(role="system", id="sys")


class Script:
    """Builds valid events in order, tracking org paths so each gets its intake subject."""

    def __init__(self, prefix: str = "e", start: datetime = T0):
        self.prefix, self.clock = prefix, start
        self.ids = itertools.count(1)
        self.paths: dict[str, tuple[str, ...]] = {}
        self.events: list[tuple[Event, str]] = []

    def _env(self, actor: s.Actor, org_id: str) -> dict:
        self.clock += timedelta(minutes=7)
        return dict(event_id=f"{self.prefix}{next(self.ids)}", occurred_at=self.clock, source="test", actor=actor, org_id=org_id)

    def add(self, event: Event, path: tuple[str, ...]) -> Event:
        self.events.append((event, intake_subject(event, path)))
        return event

    def org(self, org_id: str, kind: OrgKind, parent: str | None = None) -> Event:
        path = (*self.paths[parent], org_id) if parent else (org_id,)
        self.paths[org_id] = path
        return self.add(s.OrgUnitRegistered(**self._env(SYSTEM, org_id), kind=kind, name=f"{kind} {org_id}", parent_id=parent), path)

    def ticket_lifecycle(self, ticket_id: str, org_id: str, resident: str = "r1", satisfaction: Satisfaction = "satisfied") -> None:

        path = self.paths[org_id]
        res = s.Actor(role="resident", id=resident)
        disp, recv = s.Actor(role="dispatcher", id="disp1"), s.Actor(role="grid_worker", id="gw1")
        self.add(s.TicketRaised(**self._env(res, org_id), ticket_id=ticket_id, category="parking", title=f"ticket {ticket_id}",
                                personal=(s.PersonalData(resident_id=resident, name="Resident Name", phone="13800000000"),)), path)
        env = self._env(disp, org_id)
        self.add(s.TicketDispatched(**env, ticket_id=ticket_id, to_unit=org_id, deadline=env["occurred_at"] + timedelta(days=3)), path)
        self.add(s.TicketAccepted(**self._env(recv, org_id), ticket_id=ticket_id), path)
        self.add(s.TicketResolved(**self._env(recv, org_id), ticket_id=ticket_id, resolution="fixed"), path)
        self.add(s.TicketRated(**self._env(res, org_id), ticket_id=ticket_id, contacted=True, resolved=True, satisfaction=satisfaction), path)
        if satisfaction != "dissatisfied":
            self.add(s.TicketClosed(**self._env(disp, org_id), ticket_id=ticket_id), path)

    def dispute(self, dispute_id: str, org_id: str) -> None:
        path, med = self.paths[org_id], s.Actor(role="mediator", id="m1")
        parties = (s.DisputeParty(resident_id="ra", role="applicant"), s.DisputeParty(resident_id="rb", role="respondent"))
        self.add(s.DisputeRegistered(**self._env(med, org_id), dispute_id=dispute_id, category="neighbours", risk_grade="yellow",
                                     summary="noise", parties=parties), path)
        self.add(s.MediationSessionHeld(**self._env(med, org_id), dispute_id=dispute_id), path)
        self.add(s.DisputeConcluded(**self._env(med, org_id), dispute_id=dispute_id, outcome="settled"), path)

    def topic(self, topic_id: str, org_id: str) -> None:
        path, council = self.paths[org_id], s.Actor(role="council", id="c1")
        self.add(s.TopicProposed(**self._env(council, org_id), topic_id=topic_id, title="parking in the compound"), path)
        self.add(s.MeetingHeld(**self._env(council, org_id), topic_id=topic_id, attendees=12), path)
        self.add(s.TopicDecided(**self._env(council, org_id), topic_id=topic_id, decision="paint bays",
                                votes=s.Votes(in_favour=10, against=1, abstained=1)), path)
        self.add(s.TopicImplemented(**self._env(council, org_id), topic_id=topic_id, report="done"), path)


def small_district(tickets: int = 10, prefix: str = "e") -> Script:
    """A district with towns, communities, villages, a hamlet and a park; tickets, disputes, topics."""
    sc = Script(prefix)
    sc.org("yn", "district")
    sc.org("pm", "town", "yn")
    sc.org("lx", "community", "pm")
    sc.org("nk", "village", "pm")
    sc.org("nk-h1", "hamlet", "nk")
    sc.org("lx-g1", "grid", "lx")
    sc.org("hz", "zone")
    sc.org("hz-wc", "work_committee", "hz")
    sc.org("pk1", "park_committee", "hz-wc")
    units = ["lx", "nk", "lx-g1", "pk1"]
    for i in range(tickets):
        sc.ticket_lifecycle(f"T{i}", units[i % len(units)], resident=f"r{i % 7}")
        if i % 5 == 0:
            sc.dispute(f"D{i}", units[i % len(units)])
        if i % 7 == 0:
            sc.topic(f"P{i}", "nk-h1")
    return sc


def many_tickets(n_tickets: int, prefix: str = "e") -> Script:
    sc = small_district(0, prefix)
    for i in range(n_tickets):
        sc.ticket_lifecycle(f"T{i}", ["lx", "nk", "lx-g1", "pk1"][i % 4], resident=f"r{i % 50}")
    return sc
