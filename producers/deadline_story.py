"""What a simulated ticket's units do about its deadlines (issue 13), added to a story the
simulator already told (producers/simulator.py): supporting units (协办) named on the dispatch
who sign for and complete their own tasks, first contact with the resident, extensions asked
for when the work will overrun (mostly approved), pauses while the resident is away. Late items
come from the story itself (a resolution after its deadline) and from the ledger's policy: the
dispatch leaves the sign-for, first-contact and supporting deadlines to it (config/deadlines.yaml).

Additive by construction: the story's own events keep their ids, times and order (a dispatch
that names supporting units is the same event with them added); the new events fall between
them, at instants the lifecycle allows, with ids of their own. Deterministic: every choice comes
from a generator seeded with the simulation's key and the ticket's id, so a seed still gives the
same events byte for byte, and a story told with or without this keeps every figure but the
deadlines' (and `resolved_late`/`overdue`, which follow an approved extension or a pause).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid5

import msgspec

import schemas as s
from producers.district import District
from schemas.base import Event

SUPPORTING_SHARE = 0.08
"""Of tickets resolved from a single dispatch: a supporting unit or two is named (协办)."""
CONTACT_SHARE = 0.9
"""Of residents' tickets signed for: the unit calls or visits the resident, mostly within hours
(the others are met by the resolution itself)."""
EXTENSION_SHARE = 0.5
"""Of tickets that will overrun their deadline: an extension is asked for before it passes."""
APPROVED_SHARE = 0.8
PAUSE_SHARE = 0.05
"""Of tickets worked for more than a day (and not extended): paused while the resident is away."""
TASKS = ("清理排水沟 clear the drain", "借用清运车 lend the truck", "现场联合勘查 joint site visit",
         "协调物业 talk to the property company", "提供台账资料 supply the records")


class DeadlineStory:
    """Adds the deadline events to a story's events (the simulator's Story, duck-typed: `events`,
    `entity_id`, `seed`)."""

    def __init__(self, district: District, key: str, namespace: Any):
        self.d, self.key, self.namespace = district, key, namespace

    def add_to(self, story: Any) -> None:
        events: list[Event] = story.events
        if not events or events[0].type != "TicketRaised" or any(e.type == "TicketVoided" for e in events):
            return
        rng = random.Random(f"{self.key}:deadlines:{story.entity_id}")
        added: list[Event] = []

        def new(cls: type[Event], at: datetime, actor: tuple[str, str], source: str, **facts: Any) -> None:
            event_id = str(uuid5(self.namespace, f"{self.key}:{story.entity_id}:deadline:{len(added) + 1}"))
            added.append(cls(event_id=event_id, occurred_at=at, source=source, actor=s.Actor(role=actor[0], id=actor[1]),  # type: ignore[arg-type]
                             org_id=events[0].org_id, ticket_id=story.entity_id, **facts))  # type: ignore[call-arg]

        first = _first_round(events)
        dispatch = next((e for e in first if isinstance(e, s.TicketDispatched)), None)
        accepted = next((e for e in first if e.type == "TicketAccepted"), None)
        resolved = next((e for e in first if e.type == "TicketResolved"), None)
        if dispatch is None or accepted is None:
            return
        receiver = (accepted.actor.role, accepted.actor.id)
        single = sum(isinstance(e, s.TicketDispatched) for e in first) == 1 and not any(e.type == "TicketReturned" for e in first)
        after = _next_after(events, resolved) if resolved is not None else None

        # 协办: one or two other units of the same town lend a hand, each signing for its own task.
        if single and resolved is not None and rng.random() < SUPPORTING_SHARE:
            helpers = self._helpers(dispatch.to_unit or dispatch.org_id, rng)
            if helpers:
                events[events.index(dispatch)] = msgspec.structs.replace(
                    dispatch, supporting=tuple(s.SupportingTask(unit=u, task=rng.choice(TASKS)) for u in helpers))
                for unit in helpers:
                    desk = ("unit", f"desk-{unit.removeprefix('yn-')}")
                    signed = dispatch.occurred_at + timedelta(hours=rng.uniform(0.3, 8))  # the policy gives 4 h: some are late
                    until = after.occurred_at if after is not None else resolved.occurred_at + timedelta(days=10)
                    done = signed + timedelta(hours=rng.expovariate(1 / 30))
                    if signed < resolved.occurred_at and done < until:
                        new(s.TicketTaskAccepted, signed, desk, "centre", unit=unit)
                        new(s.TicketTaskCompleted, done, desk, "centre", unit=unit, result="已完成 done")

        # First contact with the resident, while the unit works on it (the policy gives 24 h).
        if resolved is not None and events[0].actor.role == "resident" and rng.random() < CONTACT_SHARE:
            contact = accepted.occurred_at + timedelta(hours=rng.expovariate(1 / 5))
            if contact < resolved.occurred_at:
                new(s.TicketContacted, contact, receiver, "grid-app", how=rng.choice(["phone", "phone", "visit", "message"]))

        if not single or resolved is None or dispatch.deadline is None:
            return _merge(story, added)
        deadline, dispatched, done_at = dispatch.deadline, dispatch.occurred_at, resolved.occurred_at
        if done_at > deadline and rng.random() < EXTENSION_SHARE:
            # It will overrun: the unit asks before the deadline; dispatch decides within hours.
            asked = max(accepted.occurred_at, dispatched) + (deadline - max(accepted.occurred_at, dispatched)) * 0.6
            decided = asked + (min(deadline, done_at) - asked) * rng.uniform(0.2, 0.8)
            if accepted.occurred_at < asked < decided < min(deadline, done_at):
                new(s.TicketExtensionRequested, asked, receiver, "grid-app", until=done_at + timedelta(hours=rng.uniform(2, 48)),
                    reason=rng.choice(["配件待到货 the part is on order", "需业主配合 needs the owners' meeting"]))
                request = added[-1]
                dispatcher = (dispatch.actor.role, dispatch.actor.id)
                if rng.random() < APPROVED_SHARE:
                    new(s.TicketExtensionApproved, decided, dispatcher, "centre", request_id=request.event_id,
                        until=request.until)  # type: ignore[attr-defined]
                else:
                    new(s.TicketExtensionRefused, decided, dispatcher, "centre", request_id=request.event_id,
                        reason="请按时办结 within the deadline, please")
                return _merge(story, added)
        worked = done_at - accepted.occurred_at
        if worked > timedelta(days=1) and rng.random() < PAUSE_SHARE:
            paused = accepted.occurred_at + worked * 0.3
            resumed = accepted.occurred_at + worked * 0.7
            new(s.TicketPaused, paused, receiver, "grid-app", reason=rng.choice(["居民外出 the resident is away", "等待居民提供材料 waiting for papers"]))
            new(s.TicketResumed, resumed, receiver, "grid-app")  # the ledger writes the deadlines as they now stand
        return _merge(story, added)

    def _helpers(self, lead: str, rng: random.Random) -> list[str]:
        """Units of the lead's town other than the lead: the town's office and its communities and villages."""
        try:
            town = self.d.town_of(lead)
        except (KeyError, ValueError):
            return []
        others = [u.org_id for u in self.d.children(town) if u.kind in ("community", "village") and u.org_id != lead]
        pool = ([town] if town != lead else []) + sorted(others)
        return rng.sample(pool, min(len(pool), rng.choice([1, 1, 2]))) if pool else []


def _first_round(events: list[Event]) -> list[Event]:
    """The story's events up to the end of its first round (a dissatisfied rating or a reopening)."""
    out = []
    for e in events:
        out.append(e)
        if e.type == "TicketReopened" or (e.type == "TicketRated" and getattr(e, "satisfaction", None) == "dissatisfied"):
            break
    return out


def _next_after(events: list[Event], event: Event) -> Event | None:
    i = events.index(event)
    return events[i + 1] if i + 1 < len(events) else None


def _merge(story: Any, added: list[Event]) -> None:
    """The new events among the story's, by time; at an equal instant the story's own come first."""
    if added:
        story.events = sorted(story.events + added, key=lambda e: (e.occurred_at, e in added))
