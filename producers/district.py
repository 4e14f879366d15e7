"""The simulated district's org tree, shaped like the seed (seed/README.md).

Yongning District (邕宁区): towns and a street; 81 villages and communities; a council
(党群理事会) in 70 villages; 452 hamlets (屯), each with its deliberation group (党群议事小组);
8 single and 37 joint compound party branches (小区党支部 / 联合党支部) in the communities; grids,
each with its grid worker. Nanning High-tech Zone: one two-new-organisation work committee
(两新组织工委) over 5 park committees (园区综合党委) over 741 enterprises.

The tree is the same whatever the simulation's seed, with the same event ids, so simulations
with different seeds can feed one ledger: the second one's org events are duplicates.
Yongning, Pumiao, Longxiang (龙象社区), the Nanpu Paper and Datang Shijia compounds and the
Jiejiarun company are named in the seed; the other names are drawn by producers/names.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from uuid import NAMESPACE_URL, uuid5

import schemas as s
from schemas.base import Event
from producers import names
from schemas.organisation import OrgKind

CST = timezone(timedelta(hours=8))
FOUNDED = datetime(2018, 1, 2, 9, 0, tzinfo=CST)
"""When the simulated tree is registered: before any simulated activity."""
ORG_NAMESPACE = uuid5(NAMESPACE_URL, "urn:civic-ledger:simulated-district")

TOWNS: list[tuple[str, OrgKind, str]] = [
("pm", "town", "蒲庙镇 Pumiao"), ("nl", "town", "那楼镇 Nalou"), ("xj", "town", "新江镇 Xinjiang"),
         ("bj", "town", "百济镇 Baiji"), ("zh", "town", "中和镇 Zhonghe"), ("lg", "street", "龙岗街道 Longgang")]
# (town, communities, villages): 9 communities + 72 villages = 81.
SPREAD = {"pm": (4, 14), "nl": (0, 16), "xj": (0, 14), "bj": (0, 13), "zh": (0, 15), "lg": (5, 0)}
COMMUNITY_NAMES = ["龙象社区 Longxiang", "南蒲社区 Nanpu", "蒲津社区 Pujin", "新兴社区 Xinxing", "龙岗社区 Longgang",
                   "江南社区 Jiangnan", "东盟社区 Dongmeng", "锦绣社区 Jinxiu", "凤凰社区 Fenghuang"]
VILLAGES_WITHOUT_COUNCIL = 2  # 72 villages, councils in 70
HAMLETS = 452
SINGLE_BRANCHES, JOINT_BRANCHES = 8, 37
GRIDS_PER_COMMUNITY, GRIDS_PER_VILLAGE = 8, 2
PARKS = [("高新园区", "Gaoxin Park"), ("安宁园区", "Anning Park"), ("总部基地", "HQ Base"), ("创新园区", "Innovation Park"),
         ("物流园区", "Logistics Park")]
ENTERPRISES = 741
NANPU = "yn-pm-c02"
"""南蒲社区 Nanpu: the Nanpu Paper compound is in it."""


@dataclass(frozen=True)
class Unit:
    org_id: str
    kind: OrgKind
    name: str
    parent: str | None


@dataclass
class District:
    units: list[Unit] = field(default_factory=list)
    """In registration order: every parent before its children."""
    workers: dict[str, str] = field(default_factory=dict)
    """grid id -> its grid worker's id."""
    by_id: dict[str, Unit] = field(default_factory=dict)

    def add(self, org_id: str, kind: OrgKind, name: str, parent: str | None) -> Unit:
        unit = Unit(org_id, kind, name, parent)
        self.units.append(unit)
        self.by_id[org_id] = unit
        return unit

    def of_kind(self, kind: OrgKind) -> list[Unit]:
        return [u for u in self.units if u.kind == kind]

    def parent_kind(self, unit: Unit) -> OrgKind | None:
        return self.by_id[unit.parent].kind if unit.parent else None

    def children(self, org_id: str, kind: str | None = None) -> list[Unit]:
        return [u for u in self.units if u.parent == org_id and (kind is None or u.kind == kind)]

    def path(self, org_id: str) -> tuple[str, ...]:
        out = []
        unit: Unit | None = self.by_id[org_id]
        while unit is not None:
            out.append(unit.org_id)
            unit = self.by_id[unit.parent] if unit.parent else None
        return tuple(reversed(out))

    def town_of(self, org_id: str) -> str:
        path = self.path(org_id)
        return path[1] if path[0] == "yn" and len(path) > 1 else path[0]


def build_district() -> District:
    d = District()
    d.add("yn", "district", "邕宁区 Yongning District", None)
    communities: list[Unit] = []
    villages: list[Unit] = []
    community_names = iter(COMMUNITY_NAMES)
    village_names = names.PlaceNames("villages")
    for town_id, kind, town_name in TOWNS:
        town = d.add(f"yn-{town_id}", kind, town_name, "yn")
        n_communities, n_villages = SPREAD[town_id]
        for c in range(n_communities):
            cname = next(community_names)
            cid = "yn-pm-lx" if cname.startswith("龙象") else f"{town.org_id}-c{c + 1:02d}"
            communities.append(d.add(cid, "community", cname, town.org_id))
        for v in range(n_villages):
            villages.append(d.add(f"{town.org_id}-v{v + 1:02d}", "village", names.name(*village_names.village()), town.org_id))
    for i, village in enumerate(villages):
        if i >= VILLAGES_WITHOUT_COUNCIL:
            d.add(f"{village.org_id}-cl", "council", _of(village, "党群理事会", "council"), village.org_id)
    per_village, extra = divmod(HAMLETS, len(villages))
    hamlet_names = names.PlaceNames("hamlets")
    for i, village in enumerate(villages):
        for h in range(per_village + (i < extra)):
            zh, py = hamlet_names.draw()
            hamlet = d.add(f"{village.org_id}-h{h + 1}", "hamlet", names.name(f"{zh}屯", py), village.org_id)
            d.add(f"{hamlet.org_id}-g", "council", _of(hamlet, "党群议事小组", "deliberation group"), hamlet.org_id)
    estates = names.estates("compounds")
    for b in range(SINGLE_BRANCHES + JOINT_BRANCHES):
        community = communities[b % len(communities)]
        n = b // len(communities) + 1
        if b < SINGLE_BRANCHES:
            # The seed's Nanpu Paper compound lies in Nanpu community; each single branch is one compound's.
            zh, en = names.SEED_COMPOUNDS[0] if community.org_id == NANPU else next(c for c in estates if c != names.SEED_COMPOUNDS[0])
            d.add(f"{community.org_id}-b{n}", "party_branch", names.name(f"{zh}党支部", f"{en} branch"), community.org_id)
        else:
            d.add(f"{community.org_id}-b{n}", "party_branch",
                  names.name(f"{names.zh_part(community.name)}第{names.chinese_number(n)}联合党支部",
                             f"{names.other_part(community.name)} joint branch {n}"), community.org_id)
    for unit, grids in [(c, GRIDS_PER_COMMUNITY) for c in communities] + [(v, GRIDS_PER_VILLAGE) for v in villages]:
        for g in range(grids):
            grid = d.add(f"{unit.org_id}-g{g + 1:02d}", "grid", names.grid(unit.name, g + 1), unit.org_id)
            d.workers[grid.org_id] = f"gw-{grid.org_id.removeprefix('yn-')}"
    d.add("hz", "zone", "南宁高新区 Nanning High-tech Zone", None)
    d.add("hz-wc", "work_committee", "两新组织工委 two-new-organisation work committee", "hz")
    parks = [d.add(f"hz-p{p + 1}", "park_committee", names.name(f"{zh}综合党委", f"{en} committee"), "hz-wc")
             for p, (zh, en) in enumerate(PARKS)]
    firms = names.enterprises("enterprises", ENTERPRISES)
    for e in range(ENTERPRISES):
        park = parks[e % len(parks)]
        d.add(f"{park.org_id}-e{e // len(parks) + 1:03d}", "enterprise", firms[e], park.org_id)
    return d


def _of(unit: Unit, zh_kind: str, en_kind: str) -> str:
    """A body of a unit: 那桐村党群理事会 Natong council."""
    return names.name(names.zh_part(unit.name) + zh_kind, f"{names.other_part(unit.name)} {en_kind}")


def org_events(d: District) -> list[Event]:
    """The tree as events: each unit registered, then each grid's worker assigned."""
    admin = s.Actor(role="system", id="org-admin")
    out: list[Event] = []
    at = FOUNDED
    for unit in d.units:
        at += timedelta(seconds=1)
        out.append(s.OrgUnitRegistered(event_id=_id(f"registered:{unit.org_id}"), occurred_at=at, source="org-admin",
                                       actor=admin, org_id=unit.org_id, kind=unit.kind, name=unit.name,
                                       parent_id=unit.parent))
    for grid, worker in d.workers.items():
        at += timedelta(seconds=1)
        out.append(s.GridWorkerAssigned(event_id=_id(f"worker:{grid}:{worker}"), occurred_at=at, source="org-admin",
                                        actor=admin, org_id=grid, worker_id=worker))
    return out


def _id(key: str) -> str:
    return str(uuid5(ORG_NAMESPACE, key))
