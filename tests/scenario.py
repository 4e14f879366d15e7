"""A scripted district whose every dashboard figure is computed by hand (tests/integration/
test_dashboard.py holds the expected values, docs/kpis.md the definitions).

District yn: town ta (community c1 with grid g1; village v1 with hamlet h1), town tb (village v2).
High-tech zone hz: work committee wc, park committee pk. Village v1 moves from ta to tb on 9 March.
All times are March 2026, China Standard Time.

`python -m tests.scenario` prints it as JSON Lines, for `civic emit` (the README's walk for
auditors); `--later` prints the five events that come after it (ticket T10, rated dissatisfied).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import schemas as s
from schemas.base import Event
from schemas.topology import intake_subject

CST = timezone(timedelta(hours=8))
SYSTEM = s.Actor(role="system", id="sys")
RESIDENT = s.Actor(role="resident", id="res-1")
DISPATCHER = s.Actor(role="dispatcher", id="disp-1")
WORKER = s.Actor(role="grid_worker", id="gw-1")
MEDIATOR = s.Actor(role="mediator", id="med-1")
COUNCIL = s.Actor(role="council", id="council-1")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


class Builder:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.paths: dict[str, tuple[str, ...]] = {}
        self.events: list[tuple[Event, str]] = []

    def _add(self, cls: type[Event], when: datetime, actor: s.Actor, org: str, **fields) -> None:  # type: ignore[no-untyped-def]
        event = cls(event_id=f"sc-{next(self.ids)}", occurred_at=when, source="scenario", actor=actor, org_id=org, **fields)
        self.events.append((event, intake_subject(event, self.paths[org])))

    def org(self, org: str, kind: str, parent: str | None = None) -> None:
        self.paths[org] = (*self.paths[parent], org) if parent else (org,)
        self._add(s.OrgUnitRegistered, at(1, 8), SYSTEM, org, kind=kind, name=f"{kind} {org}", parent_id=parent)

    def move(self, org: str, parent: str, when: datetime) -> None:
        self._add(s.OrgUnitMoved, when, SYSTEM, org, new_parent_id=parent)
        old = self.paths[org]
        for unit, path in list(self.paths.items()):
            if path[:len(old)] == old:
                self.paths[unit] = (*self.paths[parent], *path[len(old) - 1:])

    def raised(self, t: str, org: str, when: datetime, category: str = "parking") -> None:
        self._add(s.TicketRaised, when, RESIDENT, org, ticket_id=t, category=category, title=f"ticket {t}",
                  personal=(s.PersonalData(resident_id="res-1", name="Resident One", phone="13900000001"),))

    def dispatched(self, t: str, org: str, when: datetime, deadline: datetime) -> None:
        self._add(s.TicketDispatched, when, DISPATCHER, org, ticket_id=t, to_unit=org, to_worker="gw-1", deadline=deadline)

    def step(self, cls: type[Event], t: str, org: str, when: datetime, actor: s.Actor = WORKER, **fields) -> None:  # type: ignore[no-untyped-def]
        self._add(cls, when, actor, org, ticket_id=t, **fields)

    def rated(self, t: str, org: str, when: datetime, satisfaction: str) -> None:
        self._add(s.TicketRated, when, RESIDENT, org, ticket_id=t, contacted=True, resolved=True, satisfaction=satisfaction)

    def dispute(self, cls: type[Event], d: str, org: str, when: datetime, **fields) -> None:  # type: ignore[no-untyped-def]
        self._add(cls, when, MEDIATOR, org, dispute_id=d, **fields)

    def topic(self, cls: type[Event], p: str, org: str, when: datetime, **fields) -> None:  # type: ignore[no-untyped-def]
        self._add(cls, when, COUNCIL, org, topic_id=p, **fields)


def scenario() -> list[tuple[Event, str]]:
    b = Builder()
    for org, kind, parent in [("yn", "district", None), ("ta", "town", "yn"), ("tb", "town", "yn"), ("c1", "community", "ta"),
                              ("g1", "grid", "c1"), ("v1", "village", "ta"), ("h1", "hamlet", "v1"), ("v2", "village", "tb"),
                              ("hz", "zone", None), ("wc", "work_committee", "hz"), ("pk", "park_committee", "wc")]:
        b.org(org, kind, parent)

    # T1 at grid g1: the four orders in one day, satisfied.
    b.raised("T1", "g1", at(2, 9))
    b.dispatched("T1", "g1", at(2, 9, 30), deadline=at(4, 9, 30))
    b.step(s.TicketAccepted, "T1", "g1", at(2, 10))                       # accept: 1 h
    b.step(s.TicketResolved, "T1", "g1", at(2, 15), resolution="done")    # resolve: 6 h
    b.rated("T1", "g1", at(2, 18), "satisfied")
    b.step(s.TicketClosed, "T1", "g1", at(2, 19), actor=DISPATCHER)
    # T2 at c1: returned and re-dispatched; dissatisfied, reopened, re-resolved, basically satisfied.
    b.raised("T2", "c1", at(3, 9), category="environment")
    b.dispatched("T2", "c1", at(3, 9, 15), deadline=at(3, 18))
    b.step(s.TicketReturned, "T2", "c1", at(3, 10), reason="not ours")
    b.dispatched("T2", "c1", at(3, 11), deadline=at(5, 11))
    b.step(s.TicketAccepted, "T2", "c1", at(3, 12))                       # accept: 3 h
    b.step(s.TicketResolved, "T2", "c1", at(4, 9), resolution="cleaned")  # first resolution: 24 h
    b.rated("T2", "c1", at(4, 11), "dissatisfied")
    b.dispatched("T2", "c1", at(4, 12), deadline=at(6, 12))
    b.step(s.TicketAccepted, "T2", "c1", at(4, 13))
    b.step(s.TicketResolved, "T2", "c1", at(5, 10), resolution="cleaned again")
    b.rated("T2", "c1", at(5, 12), "basically_satisfied")
    b.step(s.TicketClosed, "T2", "c1", at(5, 13), actor=DISPATCHER)
    # T3 at v1: accepted, never resolved: open, overdue from 6 March.
    b.raised("T3", "v1", at(5, 8))
    b.dispatched("T3", "v1", at(5, 8, 30), deadline=at(6, 8))
    b.step(s.TicketAccepted, "T3", "v1", at(5, 9))                        # accept: 1 h
    # T4 at v1: resolved, no rating yet.
    b.raised("T4", "v1", at(5, 10))
    b.dispatched("T4", "v1", at(5, 10, 10), deadline=at(7, 10))
    b.step(s.TicketAccepted, "T4", "v1", at(5, 10, 30))                   # accept: 30 min
    b.step(s.TicketResolved, "T4", "v1", at(5, 16), resolution="fixed")   # resolve: 6 h
    # T5 at v2 (town tb): resolved a day after its deadline.
    b.raised("T5", "v2", at(6, 9))
    b.dispatched("T5", "v2", at(6, 9, 30), deadline=at(7, 9))
    b.step(s.TicketAccepted, "T5", "v2", at(6, 11))                       # accept: 2 h
    b.step(s.TicketResolved, "T5", "v2", at(8, 9), resolution="lamp replaced")  # resolve: 48 h
    b.rated("T5", "v2", at(8, 12), "satisfied")
    # T6 at c1: a duplicate of T2, voided.
    b.raised("T6", "c1", at(6, 10))
    b.step(s.TicketVoided, "T6", "c1", at(6, 11), actor=DISPATCHER, duplicate_of="T2")
    # T7 at the park committee: an enterprise problem, outside the district.
    b.raised("T7", "pk", at(7, 9), category="enterprise_problem")
    b.dispatched("T7", "pk", at(7, 9, 30), deadline=at(9, 9))
    b.step(s.TicketAccepted, "T7", "pk", at(7, 10), actor=s.Actor(role="unit", id="pk-office"))
    b.step(s.TicketResolved, "T7", "pk", at(7, 17), actor=s.Actor(role="unit", id="pk-office"), resolution="permit issued")
    b.rated("T7", "pk", at(7, 18), "satisfied")
    b.step(s.TicketClosed, "T7", "pk", at(7, 19), actor=DISPATCHER)
    # T8 at c1: re-categorised, never dispatched.
    b.raised("T8", "c1", at(7, 14))
    b.step(s.TicketRecategorised, "T8", "c1", at(7, 15), actor=DISPATCHER, category="compound_management")

    # Disputes: D1 at c1 (red) settled; D2 at v1 (yellow) failed; D3 at v2 (orange) in mediation.
    parties = (s.DisputeParty(resident_id="ra", role="applicant"), s.DisputeParty(resident_id="rb", role="respondent"))
    b.dispute(s.DisputeRegistered, "D1", "c1", at(3, 14), category="neighbours", risk_grade="red", summary="noise", parties=parties)
    b.dispute(s.MediationSessionHeld, "D1", "c1", at(4, 14))
    b.dispute(s.DisputeConcluded, "D1", "c1", at(5, 14), outcome="settled", agreement="quiet hours")
    b.dispute(s.DisputeRegistered, "D2", "v1", at(4, 14), category="land", risk_grade="yellow", summary="boundary", parties=parties)
    b.dispute(s.MediationSessionHeld, "D2", "v1", at(6, 14))
    b.dispute(s.DisputeConcluded, "D2", "v1", at(8, 14), outcome="failed")
    b.dispute(s.DisputeRegistered, "D3", "v2", at(8, 15), category="family", risk_grade="orange", summary="inheritance", parties=parties)

    # Deliberation: P1 in hamlet h1 all the way; P2 in v1 only proposed.
    b.topic(s.TopicProposed, "P1", "h1", at(2, 20), title="paving the hamlet road")
    b.topic(s.MeetingHeld, "P1", "h1", at(3, 20), attendees=23)
    b.topic(s.TopicDecided, "P1", "h1", at(4, 20), decision="two workdays per household",
            votes=s.Votes(in_favour=21, against=1, abstained=1))
    b.topic(s.TopicImplemented, "P1", "h1", at(20, 20), report="paved")
    b.topic(s.TopicProposed, "P2", "v1", at(8, 20), title="street lamps")

    # Village v1 moves to town tb; T9 is raised there afterwards and stays open.
    b.move("v1", "tb", at(9, 9))
    b.raised("T9", "v1", at(10, 9))
    return b.events


def later() -> list[tuple[Event, str]]:
    """T10 at community c1, raised and rated dissatisfied in March: it changes the March figures."""
    def step(n: int, cls: type[Event], actor: s.Actor, **fields) -> tuple[Event, str]:  # type: ignore[no-untyped-def]
        event = cls(event_id=f"later-{n}", occurred_at=datetime(2026, 3, 20, 9 + n, tzinfo=CST), source="scenario",
                    actor=actor, org_id="c1", ticket_id="T10", **fields)
        return event, intake_subject(event, ("yn", "ta", "c1"))
    return [step(0, s.TicketRaised, RESIDENT, category="parking", title="bikes again"),
            step(1, s.TicketDispatched, DISPATCHER, deadline=datetime(2026, 3, 22, tzinfo=CST), to_unit="c1"),
            step(2, s.TicketAccepted, WORKER), step(3, s.TicketResolved, WORKER, resolution="moved"),
            step(4, s.TicketRated, RESIDENT, contacted=True, resolved=False, satisfaction="dissatisfied")]


if __name__ == "__main__":
    import sys

    for event, _ in later() if "--later" in sys.argv[1:] else scenario():
        sys.stdout.buffer.write(s.encode(event) + b"\n")
