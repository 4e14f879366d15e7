"""The district simulator: the org tree of producers/district.py, then a period of activity in it.

Micro-list tickets through the four orders (with returns, re-dispatches, overdue resolutions,
ratings, dissatisfied rounds, duplicates voided, some still open at the end), disputes through
mediation, topics through village councils and hamlet groups, and enterprise problems through
the park committees. Every event obeys the rules of domain/ (roles, stages, deadlines).

Deterministic: the activity ends at the plan's `end` (by default END, a fixed date: the seed
reports on 2021; `civic demo` passes the minute it starts), never the wall clock read here, and
every random choice comes from generators seeded with the --seed, one per ticket, dispute or
topic. The same plan gives the same events, byte for byte.

With `article=True` the year is shaped to the seed article's published figures
(producers/article.py): where each ticket is raised and which of them are closed by the end are
drawn so that the history yields exactly those counts (the dashboards are not told anything).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import schemas as s
from producers import texts
from producers.article import LONGXIANG, Shape, Targets
from producers.deadline_story import DeadlineStory
from producers.district import CST, FOUNDED, District, build_district, org_events
from producers.people import Residents
from schemas.base import ActorRole, Event
from schemas.dispute import PartyRole

END = datetime(2021, 12, 31, 18, 0, tzinfo=CST)
SIM_NAMESPACE = uuid5(NAMESPACE_URL, "urn:civic-ledger:simulation")
PARTY_ROLES: tuple[PartyRole, ...] = ("applicant", "respondent", "other")
Who = tuple[ActorRole, str]

"""An actor as the stories write it: (role, pseudonymous id)."""
HOURS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 12, 13, 12, 11, 10, 9, 8, 6, 3, 2]
"""Relative number of tickets raised in each hour of the day."""
CATEGORIES = list(texts.TICKETS)
WEIGHTS = list(itertools.accumulate(texts.TICKETS[c][0] for c in CATEGORIES))
URBAN = {"compound_management", "parking", "civilised_city", "epidemic_control"}


@dataclass(frozen=True)
class Plan:
    seed: int = 1
    tickets: int = 2647
    """The seed's micro-list: 2,647 items collected."""
    days: float = 365.0
    end: datetime = END
    """The last instant of the history: nothing happens after it (tickets raised late stay open)."""
    article: bool = False
    """Shape the year to the article's figures, scaled by tickets / 2,647 (producers/article.py)."""
    series: str = ""
    """Appended to the seed in every id: the demo's live trickle tells new stories with the same seed."""

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError("the plan's end needs a time zone")
        if self.start <= FOUNDED:
            raise ValueError(f"the simulated period must start after the org tree is registered ({FOUNDED:%Y-%m-%d})")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def disputes(self) -> int:
        return self.tickets // 15

    @property
    def topics(self) -> int:
        return self.tickets // 20


def simulate(plan: Plan, district: District | None = None) -> Iterator[Event]:
    """Every event of the simulation, in the order they happened (the order to publish them)."""
    district = district or build_district()
    activity = Activity(plan, district)  # now, not at the first event: an impossible plan is refused before anything is sent
    return itertools.chain(org_events(district), activity.events())


class Story:
    """One ticket, dispute or topic: mints its events with deterministic ids and rising times."""

    def __init__(self, plan: Plan, entity_field: str, entity_id: str, org_id: str, at: datetime):
        self.seed, self.field, self.entity_id, self.org_id = f"{plan.seed}{plan.series}", entity_field, entity_id, org_id
        self.at, self.n = at, 0
        self.events: list[Event] = []

    def later(self, hours: float) -> datetime:
        self.at += timedelta(minutes=max(1, round(hours * 60)))
        return self.at

    def add(self, cls: type[Event], source: str, actor: Who, **facts: Any) -> Event:
        self.n += 1
        facts[self.field] = self.entity_id
        event = cls(event_id=str(uuid5(SIM_NAMESPACE, f"{self.seed}:{self.entity_id}:{self.n}")), occurred_at=self.at,
                    source=source, actor=s.Actor(role=actor[0], id=actor[1]), org_id=facts.pop("org_id", self.org_id),
                    **facts)

        self.events.append(event)
        return event


class Activity:
    def __init__(self, plan: Plan, district: District):
        self.plan, self.d = plan, district
        self.community_grids = [g for g in district.of_kind("grid") if district.parent_kind(g) == "community"]
        self.village_grids = [g for g in district.of_kind("grid") if district.parent_kind(g) == "village"]
        self.communities, self.villages = district.of_kind("community"), district.of_kind("village")
        self.groups = [u for u in district.of_kind("council") if district.parent_kind(u) == "hamlet"]
        self.councils = [u for u in district.of_kind("council") if district.parent_kind(u) == "village"]
        self.enterprises = district.of_kind("enterprise")
        self.residents = Residents(district)
        self.key = key = f"{plan.seed}{plan.series}"
        self.deadlines = DeadlineStory(district, key, SIM_NAMESPACE)
        self.targets = Targets.scaled(plan.tickets) if plan.article else None
        n_tickets = self.targets.stories if self.targets else plan.tickets
        rng = random.Random(f"civic-sim:{key}")
        self.duplicate = [i > 0 and random.Random(f"{key}:dup:{i}").random() < 0.01 for i in range(n_tickets)]
        self.starts = sorted(
            [(self._arrival(rng), 0, i) for i in range(n_tickets)]
            + [(self._arrival(rng), 1, i) for i in range(plan.disputes)]
            + [(self._arrival(rng), 2, i) for i in range(plan.topics)])
        self.shape: Shape | None = None
        if self.targets:
            Shape(self)  # installs itself as self.shape before it tells the tickets' stories

    def _arrival(self, rng: random.Random) -> datetime:
        day = rng.randrange(max(1, int(self.plan.days)))
        hour = rng.choices(range(24), HOURS)[0]
        at = self.plan.start.replace(hour=0, minute=0) + timedelta(days=day, hours=hour, minutes=rng.randrange(60))
        return min(max(at, self.plan.start), self.plan.end)

    def events(self) -> Iterator[Event]:
        """Merge the stories by time: each story's events are queued when it starts."""
        queue: list[tuple[datetime, int, Event]] = []
        order = itertools.count()
        ticket_no = itertools.count()
        for at, kind, i in self.starts:
            while queue and queue[0][0] <= at:
                yield heapq.heappop(queue)[2]
            if kind == 0:
                number = next(ticket_no)  # numbered in the order raised
                story = self.shape.ticket(number) if self.shape else self.ticket(number, at)
                self.deadlines.add_to(story)  # supporting units, contacts, extensions, pauses (issue 13)
            elif kind == 1:
                story = self.dispute(i, at)
            else:
                story = self.topic(i, at)
            for event in story.events:
                if event.occurred_at > self.plan.end:
                    break  # still open when the period ends
                heapq.heappush(queue, (event.occurred_at, next(order), event))
        while queue:
            yield heapq.heappop(queue)[2]

    # -- tickets ---------------------------------------------------------------------------

    def ticket_id(self, i: int) -> str:
        return f"MC-S{self.key}-{i + 1:06d}"

    def ticket(self, i: int, at: datetime) -> Story:
        rng = random.Random(f"{self.key}:ticket:{i}")
        shape = self.shape
        place = shape.places[i] if shape else None
        if (rng.random() < 0.03) if place is None else place == "hz":
            return self.enterprise_problem(i, at, rng)
        category = CATEGORIES[bisect.bisect(WEIGHTS, rng.random() * WEIGHTS[-1])]
        urban = category in URBAN and rng.random() < 0.8
        grids = self.community_grids if urban or (category not in URBAN and rng.random() < 0.4) else self.village_grids
        if category == "collective_economy":
            grids = self.village_grids
        if shape is not None:  # the article's Longxiang figures: its tickets are exactly the roster's
            grids = shape.longxiang_grids if place == "lx" else [g for g in grids if g.parent != LONGXIANG]
            if place == "lx" and category == "collective_economy":  # a village's matter, not an urban community's
                category = "compound_management"
        grid = rng.choice(grids)
        unit, worker = grid.parent, self.d.workers[grid.org_id]
        town = self.d.town_of(grid.org_id)
        title, resolution = rng.choice(texts.TICKETS[category][3])
        story = Story(self.plan, "ticket_id", self.ticket_id(i), grid.org_id, at)
        channel = rng.choices(["mini_program", "hotline", "walk_in", "grid_patrol"], [45, 25, 10, 20])[0]
        if place == "lx" and channel == "grid_patrol":  # Longxiang's four orders: a resident places each one
            channel = "mini_program"
        resident = None
        if channel == "grid_patrol":
            story.add(s.TicketRaised, "grid-app", ("grid_worker", worker), category=category, title=title, channel=channel)
        else:
            resident = self.residents.pick(grid.org_id, rng)
            story.add(s.TicketRaised, {"hotline": "hotline-12345", "walk_in": "centre"}.get(channel, "mini-program"),
                      ("resident", resident.resident_id), category=category, title=title, channel=channel,
                      personal=(resident,))
        dispatcher: Who = ("dispatcher", f"disp-{town.removeprefix('yn-')}-{rng.randint(1, 3)}")
        if i < len(self.duplicate) and self.duplicate[i]:  # the live trickle (producers/trickle.py) has no duplicates
            original = next(j for j in range(i - 1, -1, -1) if not self.duplicate[j] and (shape is None or shape.places[j] != "hz"))
            story.later(rng.uniform(0.3, 4))
            story.add(s.TicketVoided, "centre", dispatcher, duplicate_of=self.ticket_id(original))
            return story
        deadline_hours, typical = texts.TICKETS[category][1:3]
        # The article's 100 %: a resident who was dissatisfied rates the next round too; and at
        # Longxiang's centre every order is rated (群众评单), so its satisfaction is never "no ratings".
        owed = place == "lx"
        for round_no in range(1, 4):
            receiver: Who = ("grid_worker", worker)
            story.later(rng.uniform(0.1, 3) if round_no == 1 else rng.uniform(1, 24))
            deadline = story.at + timedelta(hours=deadline_hours)
            story.add(s.TicketDispatched, "centre", dispatcher, deadline=deadline, to_unit=unit, to_worker=worker)
            if round_no == 1 and rng.random() < 0.02:
                story.later(0.2)
                story.add(s.TicketRecategorised, "centre", dispatcher, category=rng.choice([c for c in CATEGORIES if c != category]))
            if rng.random() < 0.05:  # the receiver hands it back; the centre sends it to the town
                story.later(rng.uniform(0.5, 6))
                story.add(s.TicketReturned, "grid-app", receiver, reason=rng.choice(texts.RETURN_REASONS))
                story.later(rng.uniform(0.5, 4))
                deadline = story.at + timedelta(hours=deadline_hours)
                receiver = ("unit", town)
                story.add(s.TicketDispatched, "centre", dispatcher, deadline=deadline, to_unit=town)
            story.later(rng.uniform(0.1, 6))
            story.add(s.TicketAccepted, "grid-app", receiver)
            self._work(story, rng, receiver, deadline, typical, resolution)
            if resident is None:
                break
            verdict = self._rate(story, rng, resident, channel, dispatcher, round_no, must=owed)
            owed = verdict == "dissatisfied" and self.shape is not None
            if verdict == "dissatisfied":
                continue  # the rating reopened it: a new round
            if verdict is not None and rng.random() < 0.01:
                story.later(rng.uniform(24, 240))
                story.add(s.TicketReopened, "hotline-12345", ("resident", resident.resident_id), reason=rng.choice(texts.REOPEN_REASONS))
                continue
            break
        else:
            return story  # three unhappy rounds: left with the centre
        if story.events[-1].type == "TicketRated":
            story.later(rng.uniform(1, 48))
        else:  # found on patrol: closed when checked; a resident who never rated: after a week
            story.later(rng.uniform(2, 24) if resident is None else 168)
        story.add(s.TicketClosed, "centre", dispatcher)
        return story

    def _work(self, story: Story, rng: random.Random, receiver: Who, deadline: datetime, typical: float,
              resolution: str) -> None:
        left = (deadline - story.at).total_seconds() / 3600
        if rng.random() < 0.08:  # overdue: resolved after the deadline
            hours = left + rng.uniform(2, 96)
        else:
            hours = min(rng.expovariate(1 / typical), 0.9 * left)
        if hours > 4 and rng.random() < 0.3:
            story.later(hours / 2)
            story.add(s.TicketProgressNoted, "grid-app", receiver, note=rng.choice(texts.PROGRESS_NOTES))
            hours /= 2
        story.later(max(hours, 0.2))
        story.add(s.TicketResolved, "grid-app", receiver, resolution=resolution,
                  evidence_ref=f"photo-{rng.randrange(10**6):06d}" if rng.random() < 0.6 else None)

    def _rate(self, story: Story, rng: random.Random, resident: s.PersonalData, channel: str,
              dispatcher: Who, round_no: int, must: bool = False) -> str | None:
        if rng.random() > 0.85 and not must:
            return None
        story.later(rng.uniform(1, 48))
        unhappy = 0.03 if round_no < 3 else 0.0
        verdict = rng.choices(["satisfied", "basically_satisfied", "dissatisfied"], [0.9 - unhappy, 0.1, unhappy])[0]
        by_phone = channel == "hotline" and rng.random() < 0.5  # a 12345 call-back records it for the resident
        story.add(s.TicketRated, "hotline-12345" if by_phone else "mini-program",
                  dispatcher if by_phone else ("resident", resident.resident_id),
                  contacted=rng.random() < 0.97, resolved=verdict != "dissatisfied" or rng.random() < 0.3,
                  satisfaction=verdict, comment=rng.choice(texts.COMMENTS[verdict]))
        return verdict

    def enterprise_problem(self, i: int, at: datetime, rng: random.Random) -> Story:
        enterprise = rng.choice(self.enterprises)
        park = enterprise.parent or ""
        title, resolution = rng.choice(texts.ENTERPRISE_PROBLEMS)
        story = Story(self.plan, "ticket_id", self.ticket_id(i), enterprise.org_id, at)
        firm: Who = ("enterprise", enterprise.org_id)
        desk: Who = ("dispatcher", f"disp-{park}")
        office: Who = ("unit", park)
        story.add(s.TicketRaised, "enterprise-platform", firm, category="enterprise_problem", title=title, channel="enterprise_platform")
        story.later(rng.uniform(0.5, 8))
        deadline = story.at + timedelta(hours=texts.ENTERPRISE_DEADLINE_HOURS)
        story.add(s.TicketDispatched, "enterprise-platform", desk, deadline=deadline, to_unit=park)
        story.later(rng.uniform(0.5, 8))
        story.add(s.TicketAccepted, "enterprise-platform", office)
        self._work(story, rng, office, deadline, texts.ENTERPRISE_RESOLVE_HOURS, resolution)
        story.later(rng.uniform(4, 72))
        verdict = rng.choices(["satisfied", "basically_satisfied"], [0.92, 0.08])[0]
        story.add(s.TicketRated, "enterprise-platform", firm, contacted=True, resolved=True, satisfaction=verdict)
        story.later(rng.uniform(1, 24))
        story.add(s.TicketClosed, "enterprise-platform", desk)
        return story

    # -- disputes and deliberation -----------------------------------------------------------

    def dispute(self, i: int, at: datetime) -> Story:
        rng = random.Random(f"{self.key}:dispute:{i}")
        unit = rng.choice(self.communities if rng.random() < 0.5 else self.villages)
        longxiang = self.shape is not None and i in self.shape.longxiang_disputes
        if self.shape is not None and (longxiang or unit.org_id == LONGXIANG):  # Longxiang's are exactly the roster's
            unit = self.d.by_id[LONGXIANG] if longxiang else rng.choice([c for c in self.communities if c.org_id != LONGXIANG])
        mediator: Who = ("mediator", f"med-{unit.org_id.removeprefix('yn-')}")
        story = Story(self.plan, "dispute_id", f"MD-S{self.key}-{i + 1:05d}", unit.org_id, at)
        people = self.residents.several(unit.org_id, rng, 3 if rng.random() < 0.2 else 2)
        parties = tuple(s.DisputeParty(resident_id=p.resident_id, role=r)
                        for p, r in zip(people, PARTY_ROLES))
        category, summary = rng.choice(texts.DISPUTE_CATEGORIES)
        registrar: Who = mediator if rng.random() < 0.8 else ("grid_worker", self.d.workers[f"{unit.org_id}-g01"])
        story.add(s.DisputeRegistered, "mediation", registrar, category=category, summary=summary, parties=parties,
                  risk_grade=rng.choices(["yellow", "orange", "red"], [75, 20, 5])[0],
                  personal=tuple(people[:1 + (rng.random() < 0.5)]))
        for _ in range(rng.choices([1, 2, 3], [60, 30, 10])[0]):
            story.later(rng.uniform(4, 240))
            story.add(s.MediationSessionHeld, "mediation", mediator, notes="双方到场 both parties present")
        story.later(rng.uniform(0, 48))
        if rng.random() < 0.97 or longxiang:  # the article: Longxiang's mediation succeeded every time
            story.add(s.DisputeConcluded, "mediation", mediator, outcome="settled", agreement=rng.choice(texts.AGREEMENTS))
        else:
            story.add(s.DisputeConcluded, "mediation", mediator, outcome="failed")
        return story

    def topic(self, i: int, at: datetime) -> Story:
        rng = random.Random(f"{self.key}:topic:{i}")
        place = rng.choice(self.groups if rng.random() < 0.7 else self.councils)
        council: Who = ("council", place.org_id)
        title, decision, report = rng.choice(texts.TOPICS)
        story = Story(self.plan, "topic_id", f"YS-S{self.key}-{i + 1:05d}", place.org_id, at)
        story.add(s.TopicProposed, "council-app", council, title=title)
        attendees = 0
        for _ in range(rng.choice([1, 1, 2])):
            story.later(rng.uniform(24, 336))
            attendees = rng.randint(8, 60)
            story.add(s.MeetingHeld, "council-app", council, attendees=attendees)
        story.later(rng.uniform(0, 72))
        against = rng.randint(0, attendees // 6)
        abstained = rng.randint(0, attendees // 10)
        story.add(s.TopicDecided, "council-app", council, decision=decision,
                  votes=s.Votes(in_favour=attendees - against - abstained, against=against, abstained=abstained))
        if rng.random() < 0.85:
            story.later(rng.uniform(72, 1440))
            story.add(s.TopicImplemented, "council-app", council, report=report)
        return story

