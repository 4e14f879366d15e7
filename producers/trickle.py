"""The demo's live trickle: after the simulated history, new stories keep arriving, published
through intake like any producer's, so "this month" moves while someone watches.

Each story is one the simulator tells (producers/simulator.py: a ticket through the four orders,
now and then a dispute), told from the moment it starts and played back faster than life: a
story's hour passes in `seconds_per_hour` seconds (5 by default: a ticket dispatched within
seconds, resolved within minutes). Every event is published when its time comes and carries that
instant as `occurred_at`, never one in the future; deadlines keep their real length. Ids carry the
trickle's start (`MC-S1-L20261128093000-000001`), so a restarted demo tells new stories.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import msgspec

from producers.district import CST, build_district
from producers.sdk import Producer
from producers.simulator import Activity, Plan, Story
from schemas.base import Event

log = logging.getLogger("civic.demo")


@dataclass(frozen=True)
class Pace:
    every: float = 12.0
    """Mean seconds between two new stories."""
    seconds_per_hour: float = 5.0
    """Real seconds for one hour of a story."""
    disputes: float = 0.08
    """Share of new stories that are disputes (the rest are tickets)."""


class Trickle:
    """Stories starting at `start` and after it, each event due at a wall-clock instant."""

    def __init__(self, seed: int, start: datetime, pace: Pace = Pace()):
        self.pace, self.start = pace, start
        plan = Plan(seed=seed, tickets=0, end=start + timedelta(days=3650), series=f"-L{start.astimezone(CST):%Y%m%d%H%M%S}")
        self.activity = Activity(plan, build_district())
        self.rng = random.Random(f"civic-trickle:{seed}:{start.isoformat()}")
        self.tickets, self.disputes = itertools.count(), itertools.count()
        self.due: list[tuple[datetime, int, Event]] = []
        self.order = itertools.count()
        self.next_story = start

    def _tell(self, at: datetime) -> None:
        if self.rng.random() < self.pace.disputes:
            story: Story = self.activity.dispute(next(self.disputes), at)
        else:
            story = self.activity.ticket(next(self.tickets), at)
        speed = 3600 / self.pace.seconds_per_hour
        for event in story.events:
            when = at + (event.occurred_at - at) / speed
            heapq.heappush(self.due, (when, next(self.order), msgspec.structs.replace(event, occurred_at=when)))

    def ready(self, now: datetime) -> list[Event]:
        """The events due by `now`, in order; new stories are started as their time comes."""
        while self.next_story <= now:
            self._tell(self.next_story)
            self.next_story += timedelta(seconds=self.rng.expovariate(1 / self.pace.every))
        out = []
        while self.due and self.due[0][0] <= now:
            out.append(heapq.heappop(self.due)[2])
        return out

    def next_due(self) -> datetime:
        return min(self.next_story, self.due[0][0]) if self.due else self.next_story


async def run(producer: Producer, trickle: Trickle, stopping: Callable[[], bool], tick: float = 0.2) -> int:
    """Publish until `stopping()` says so; returns how many events were published."""
    published = 0
    while not stopping():
        now = datetime.now(timezone.utc).astimezone(CST)
        batch = trickle.ready(now)
        if batch:
            results = await producer.publish_many(batch)
            published += sum(r.accepted for r in results)
            for r in results:
                if not r.accepted:
                    log.warning("live trickle: %s", r.line())
        wait = (trickle.next_due() - datetime.now(timezone.utc)).total_seconds()
        await asyncio.sleep(min(max(wait, 0.0), tick))
    return published
