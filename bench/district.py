"""The benchmark's district: 5,000 org units and as many events as asked, generated lazily and
deterministically (tickets through the four orders, some returned, some rated dissatisfied and
reopened, some left open), so a million events never sit in memory at once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import schemas as s
from schemas.organisation import OrgKind
from schemas.ticket import Satisfaction
from schemas.topology import intake_subject


CST = timezone(timedelta(hours=8))
START = datetime(2025, 1, 1, 8, tzinfo=CST)
SYSTEM = s.Actor(role="system", id="sys")
EVENT_IDS = uuid5(NAMESPACE_URL, "urn:civic-ledger:bench-district")


def event_id(key: str) -> str:
    """An event's id as every producer makes one (the SDK, the simulator, the importer: a uuid, here
    uuid5 of the event's place in the district): spread evenly over the key space, so each index
    keyed by event id (the ledger's uniqueness index, the event index) takes its inserts on random
    pages, as it does in service. Ids that grew in order ("T25554-4") had every insert land on the
    last page and hid what those indexes cost as history grows."""
    return str(uuid5(EVENT_IDS, key))
CATEGORIES = ("parking", "environment", "roads_and_lights", "compound_management", "elderly_care", "civilised_city")


def org_tree(units: int = 5000) -> list[tuple[str, OrgKind, str | None]]:
    """(org_id, kind, parent) for a district of towns, villages and communities, hamlets and grids."""
    tree: list[tuple[str, OrgKind, str | None]] = [("d", "district", None)]
    towns = [f"t{i}" for i in range(20)]
    tree += [(t, "town", "d") for t in towns]
    villages = [f"{t}v{j}" for t in towns for j in range(12)]
    tree += [(v, "village" if j % 2 else "community", v[: v.index("v")]) for j, v in enumerate(villages)]
    leaves = 0
    while len(tree) < units:
        v = villages[leaves % len(villages)]
        kind: OrgKind = "hamlet" if v.endswith(("1", "3", "5", "7", "9")) else "grid"
        tree.append((f"{v}{'h' if kind == 'hamlet' else 'g'}{leaves // len(villages)}", kind, v))
        leaves += 1
    return tree


LIVE_SPACING = (5, 60)
"""Seconds between two tickets' arrivals (uniform): about 2,650 tickets and 14,500 events a day,
a city's hotline more than a district's. `civic bench` replays them as fast as it can, so their
dates only decide which day rows they land on."""
HISTORY_SPACING = (60, 240)
"""The same for `civic bench --growth`: about 580 tickets and 3,100 events a day, so the smallest
history (100,000 events and the 50,000 measured on top, about 47 days) already fills the
dashboard's 30-day window and passes a month's end, and 5,000,000 events are four years and a half.
With the live spacing the smallest history was a week: its "last 30 days" held 7 days of rows
against 30 at 1M, which compared a week's answer with a month's, not a short history with a long."""


def events(n: int, units: int = 5000, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """(intake subject, bytes) for the org tree, then tickets, until n events in all."""
    return Stream(units, seed).take(n)


class Stream:
    """The district's events as a stream that can stop and, in another process, go on where it
    stopped (`state`, `resume`): `civic bench --growth` makes millions of them across its stages,
    and each stage would otherwise generate (and throw away) every event before its own first."""

    def __init__(self, units: int = 5000, seed: int = 1, spacing: tuple[int, int] = LIVE_SPACING):
        self.tree = org_tree(units)
        self.paths: dict[str, tuple[str, ...]] = {}
        for org, _, parent in self.tree:
            self.paths[org] = (*self.paths[parent], org) if parent else (org,)
        self.leaves = [org for org, kind, _ in self.tree if kind in ("hamlet", "grid")]
        self.units, self.seed, self.spacing = units, seed, spacing
        self.rng = random.Random(seed)
        self.clock = START
        self.ticket = 0
        self.count = 0  # events given so far
        self.pending: list[tuple[str, bytes]] = []  # the rest of the ticket the last event belonged to

    def take(self, n: int) -> Iterator[tuple[str, bytes]]:
        """The next n events."""
        end = self.count + n
        while self.count < min(end, len(self.tree)):
            org, kind, parent = self.tree[self.count]
            e = s.OrgUnitRegistered(event_id=event_id(f"o-{org}"), occurred_at=START, source="bench", actor=SYSTEM, org_id=org,
                                    kind=kind, name=org, parent_id=parent)
            self.count += 1
            yield intake_subject(e, self.paths[org]), s.encode(e)
        while self.count < end:
            if not self.pending:
                self.clock += timedelta(seconds=self.rng.randint(*self.spacing))
                org = self.rng.choice(self.leaves)
                self.pending = [(intake_subject(fact, self.paths[org]), s.encode(fact))
                                for fact in lifecycle(f"T{self.ticket}", org, self.clock, self.rng)]
                self.pending.reverse()
                self.ticket += 1
            self.count += 1
            yield self.pending.pop()

    def state(self) -> dict[str, Any]:
        """Where the stream stands, as JSON-able values."""
        version, internal, gauss = self.rng.getstate()
        return {"units": self.units, "seed": self.seed, "spacing": list(self.spacing), "count": self.count, "ticket": self.ticket,
                "clock": self.clock.isoformat(), "rng": [version, list(internal), gauss],
                "pending": [[subject, data.decode()] for subject, data in reversed(self.pending)]}

    @classmethod
    def resume(cls, state: dict[str, Any]) -> Stream:
        low, high = state.get("spacing", LIVE_SPACING)
        stream = cls(state["units"], state["seed"], (low, high))
        version, internal, gauss = state["rng"]
        stream.rng.setstate((version, tuple(internal), gauss))
        stream.count, stream.ticket = state["count"], state["ticket"]
        stream.clock = datetime.fromisoformat(state["clock"])
        stream.pending = [(subject, data.encode()) for subject, data in reversed(state["pending"])]
        return stream


def lifecycle(tid: str, org: str, t0: datetime, rng: random.Random) -> Iterator[s.Event]:
    resident, disp, worker = s.Actor(role="resident", id=f"r{rng.randint(0, 99999)}"), s.Actor(role="dispatcher", id="disp"), \
        s.Actor(role="grid_worker", id=f"gw-{org}")
    n = 0

    def env(actor: s.Actor, minutes: float) -> dict:
        nonlocal n
        n += 1
        return dict(event_id=event_id(f"{tid}-{n}"), occurred_at=t0 + timedelta(minutes=minutes), source="bench", actor=actor, org_id=org)

    yield s.TicketRaised(**env(resident, 0), ticket_id=tid, category=rng.choice(CATEGORIES), title=f"item {tid}",
                         personal=(s.PersonalData(resident_id=resident.id, phone="13800000000"),))
    if rng.random() < 0.05:
        return  # still waiting for dispatch
    # Every deadline named, as a centre that sets its own does: the ledger fills none, so the bulk
    # history (civic/growth.py, written without the ledger's rules) is what the ledger would store.
    yield s.TicketDispatched(**env(disp, 20), ticket_id=tid, to_unit=org, to_worker=worker.id, deadline=t0 + timedelta(days=2),
                             sign_for_by=t0 + timedelta(hours=6), contact_by=t0 + timedelta(hours=12))
    if rng.random() < 0.05:
        yield s.TicketReturned(**env(worker, 40), ticket_id=tid, reason="not ours")
        yield s.TicketDispatched(**env(disp, 60), ticket_id=tid, to_unit=org, deadline=t0 + timedelta(days=3),
                                 sign_for_by=t0 + timedelta(hours=8), contact_by=t0 + timedelta(hours=14))
    yield s.TicketAccepted(**env(worker, rng.uniform(60, 300)), ticket_id=tid)
    if rng.random() < 0.05:
        return  # open, and soon overdue
    yield s.TicketResolved(**env(worker, rng.uniform(300, 4000)), ticket_id=tid, resolution="done")
    ratings: tuple[Satisfaction, ...] = ("satisfied", "basically_satisfied", "dissatisfied")
    satisfaction = rng.choices(ratings, (85, 12, 3))[0]
    yield s.TicketRated(**env(resident, 4100), ticket_id=tid, contacted=True, resolved=satisfaction != "dissatisfied",
                        satisfaction=satisfaction)
    if satisfaction != "dissatisfied":
        yield s.TicketClosed(**env(disp, 4200), ticket_id=tid)
