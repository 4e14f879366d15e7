"""Simulated residents: who lives on each grid, with the personal data they give when raising a
ticket. The same whatever the simulation's seed (so one resident keeps one pseudonym and one
phone number across runs); never real people."""

from __future__ import annotations

import hashlib
import random

import schemas as s
from producers import texts
from producers.district import District

PER_GRID = 60


class Residents:
    def __init__(self, district: District):
        self.d = district
        self.grids: dict[str, list[str]] = {}
        for grid in district.of_kind("grid"):
            self.grids.setdefault(grid.parent or "", []).append(grid.org_id)
        self.cache: dict[tuple[str, int], s.PersonalData] = {}

    def pick(self, grid_id: str, rng: random.Random) -> s.PersonalData:
        """A resident of this grid (some raise more than one ticket)."""
        return self.person(grid_id, rng.randrange(PER_GRID))

    def several(self, unit_id: str, rng: random.Random, n: int) -> list[s.PersonalData]:
        """n different residents of a community or village (across its grids)."""
        grids = self.grids[unit_id]
        keys = rng.sample([(g, k) for g in grids for k in range(PER_GRID)], n)
        return [self.person(g, k) for g, k in keys]

    def person(self, grid_id: str, k: int) -> s.PersonalData:
        key = (grid_id, k)
        if key not in self.cache:
            rng = random.Random(f"resident:{grid_id}:{k}")
            digest = hashlib.sha256(f"{grid_id}:{k}".encode()).hexdigest()[:12]
            unit = self.d.by_id[self.d.by_id[grid_id].parent or grid_id]
            self.cache[key] = s.PersonalData(
                resident_id=f"res-{digest}",
                name=rng.choice(texts.SURNAMES) + "".join(rng.choices(texts.GIVEN, k=rng.choice([1, 2]))),
                phone="1" + rng.choice("3578") + "".join(rng.choices("0123456789", k=9)),
                address=f"{unit.name.split()[0]} {rng.randint(1, 30)}栋{rng.randint(1, 6)}0{rng.randint(1, 4)}",
            )
        return self.cache[key]
