"""The seed article's published figures, as the simulator's targets and as reports to audit.

The article (seed/000_096027dd424f089d.txt; digest in seed/README.md) publishes, for Yongning
District and its Longxiang community, figures that map onto KPIs of docs/kpis.md:

| the article says | KPI (docs/kpis.md) | unit |
|---|---|---|
| 微清单 2,647 items collected (收集) | `raised` (`collected`): raised in the window, not voided | `yn` |
| 1,508 handled and closed (办结) | `closed` | `yn` |
| satisfaction 100 % | `satisfaction_rate`, exact (no latest rating dissatisfied) | `yn` |
| 56 orders raised (点单) | `raised` | `yn-pm-lx` |
| 50 closed (办结) | `closed` | `yn-pm-lx` |
| 46 disputes mediated (调处) | `disputes_mediated`: registered, at least one session | `yn-pm-lx` |
| mediation success 100 % | `dispute_success_rate`: settled / concluded | `yn-pm-lx` |
| rating satisfaction 100 % | `satisfaction_rate` | `yn-pm-lx` |
| 50+ enterprise problems resolved | `resolved`, a lower bound (`50+`) | `hz` |

Its other figures are not about items in our ledger (81 service centres, 70 councils and 452
hamlet groups are the org tree's shape; visits, allowances, members are not events) and are left
out.

`Shape` draws the simulated year so that its history yields exactly these counts (see its
docstring); `write_reports` writes the claims for `civic audit diff`.

`Targets.scaled(n)` scales every count by n / 2,647 (rounded), so a small simulation has the
same shares; the demo's own run is the real scale (n = 2,647, factor 1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the simulator builds a Shape; at run time this module needs nothing of it
    from producers.simulator import Activity, Story

YONGNING, LONGXIANG, HIGH_TECH_ZONE = "yn", "yn-pm-lx", "hz"
ARTICLE_TICKETS = 2647
VOIDED_SHARE, ENTERPRISE_SHARE = 0.01, 0.03
"""Beyond the article's items: duplicates voided (never counted) and the high-tech zone's
enterprise problems (not Yongning's), in the shares the plain simulation has."""


@dataclass(frozen=True)
class Targets:
    """What the simulated history must show, as of its end, for the tickets raised in it."""

    raised: int = 2647
    closed: int = 1508
    longxiang_raised: int = 56
    longxiang_closed: int = 50
    longxiang_mediated: int = 46

    @classmethod
    def scaled(cls, tickets: int) -> Targets:
        """The article's figures times tickets / 2,647: `tickets` is Yongning's `raised`."""
        full = cls()
        f = tickets / full.raised
        return cls(raised=tickets, closed=round(full.closed * f), longxiang_raised=round(full.longxiang_raised * f),
                   longxiang_closed=round(full.longxiang_closed * f), longxiang_mediated=round(full.longxiang_mediated * f))

    @property
    def factor(self) -> float:
        return self.raised / ARTICLE_TICKETS

    @property
    def voided(self) -> int:
        return round(self.raised * VOIDED_SHARE)

    @property
    def enterprise(self) -> int:
        return round(self.raised * ENTERPRISE_SHARE)

    @property
    def enterprise_resolved(self) -> int:
        """"50+ enterprise problems resolved": a lower bound, the report says `50+`."""
        return round(50 * self.factor)

    @property
    def stories(self) -> int:
        """Ticket stories the simulation tells: Yongning's, the duplicates, the enterprises'."""
        return self.raised + self.voided + self.enterprise

    def claims(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(file stem, unit, figures) of each report, in the article's words."""
        # A rate over nothing has no value, and "100 %" of nothing is refuted: at a tiny scale a
        # rate is claimed only where the year has something to count it over (a closed Longxiang
        # item is always rated; a Longxiang dispute always concludes by the end).
        rated = {"satisfaction_rate": "100 %"} if self.longxiang_closed else {}
        yn = {"collected": self.raised, "closed": self.closed, **rated}
        lx = {"raised": self.longxiang_raised, "closed": self.longxiang_closed, **rated,
              "disputes_mediated": self.longxiang_mediated,
              **({"dispute_success_rate": "100 %"} if self.longxiang_mediated else {})}
        reports = [("article-yongning", YONGNING, yn), ("article-longxiang", LONGXIANG, lx)]
        if self.enterprise_resolved:
            reports.append(("article-hightech", HIGH_TECH_ZONE, {"resolved": f"{self.enterprise_resolved}+"}))
        return reports


TITLES = {YONGNING: "邕宁区微清单 Yongning micro-list: 2,647 collected, 1,508 handled and closed, satisfaction 100 %",
          LONGXIANG: "龙象社区综治中心 Longxiang centre: 56 raised, 50 closed, 46 disputes mediated, success 100 %, satisfaction 100 %",
          HIGH_TECH_ZONE: "南宁高新区 Nanning High-tech Zone: 50+ enterprise problems resolved (政企通)"}


def write_reports(folder: Path, targets: Targets, start: datetime, end: datetime, published_at: datetime) -> list[Path]:
    """The article's claims over the simulated year, one report per unit, for `civic audit diff`
    (docs/audit.md, "Published reports"): the window is the history's first and last day, and
    `published_at` the instant the history was stored, before the live trickle began."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    scale = "" if targets.factor == 1 else f" (the article's figures x {targets.factor:.4f}, rounded)"
    paths = []
    for stem, org, figures in targets.claims():
        doc = {"title": TITLES[org] + scale, "org": org, "from": start.date().isoformat(), "to": end.date().isoformat(),
               "published_at": published_at.isoformat(), "source": "seed/000_096027dd424f089d.txt", "figures": figures}
        path = folder / f"{stem}.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


class Shape:
    """The article's year (producers/article.py): a roster says where each ticket is raised
    (Longxiang, elsewhere in Yongning, the high-tech zone, or a duplicate to void), and which of
    Yongning's tickets are closed by the end is drawn among those whose story closes in time, the
    older ones likelier (a recent item is likelier to be still open). The others stop before any
    rating, still in work or resolved and awaiting the resident's confirmation. Nothing is left to
    chance that the figures depend on: an impossible plan (too few days) is refused."""

    CUT_AT = {"dispatched": "TicketDispatched", "accepted": "TicketAccepted", "resolved": "TicketResolved"}

    def __init__(self, activity: Activity):
        self.a = activity
        plan, targets = activity.plan, activity.targets
        assert targets is not None
        self.longxiang_grids = [g for g in activity.community_grids if g.parent == LONGXIANG]
        raised_at = [at for at, kind, _ in activity.starts if kind == 0]
        self.places = self._roster(targets, raised_at)
        activity.duplicate = [p == "dup" for p in self.places]
        # Longxiang's disputes: registered early enough that they are mediated (a first session
        # within 10 days) and concluded (at most 3 sessions 10 days apart, then 2 days) by the end.
        early = [i for at, kind, i in activity.starts if kind == 1 and at <= plan.end - timedelta(days=33)]
        if len(early) < targets.longxiang_mediated:
            raise ValueError(f"the article's year needs {targets.longxiang_mediated} disputes in Longxiang: plan more days")
        self.longxiang_disputes = set(random.Random(f"{activity.key}:longxiang-disputes").sample(early, targets.longxiang_mediated))
        self.stories: dict[int, Story] = {}
        activity.shape = self
        for number, at in enumerate(raised_at):
            self.stories[number] = activity.ticket(number, at)
        self._close(targets, raised_at)

    def _roster(self, targets: Targets, raised_at: list[datetime]) -> list[str]:
        rng = random.Random(f"{self.a.key}:roster")
        end = self.a.plan.end
        # A duplicate is voided within hours, an enterprise problem resolved within 10 days (at
        # most 16 h to accept, a 120 h deadline, 96 h over it): each only where that happens
        # before the end, so that the figures hold (a duplicate not yet voided would count).
        room = [k for k in range(1, len(raised_at)) if raised_at[k] <= end - timedelta(days=1)]
        duplicates = set(rng.sample(room, targets.voided))
        early = [k for k in room if raised_at[k] <= end - timedelta(days=10) and k not in duplicates]
        if len(early) < targets.enterprise:
            raise ValueError(f"the article's year needs {targets.enterprise} enterprise problems resolved: plan more days")
        enterprises = set(rng.sample(early, targets.enterprise))
        rest = ["lx"] * targets.longxiang_raised + ["yn"] * (targets.raised - targets.longxiang_raised)
        rng.shuffle(rest)
        it = iter(rest)  # the first ticket is a resident's (k = 0 is in neither sample): every duplicate has an original
        return ["dup" if k in duplicates else "hz" if k in enterprises else next(it) for k in range(len(raised_at))]

    def _close(self, targets: Targets, raised_at: list[datetime]) -> None:
        end, span = self.a.plan.end, (self.a.plan.end - self.a.plan.start).total_seconds()
        self.cut: dict[int, str] = {}
        for place, need in (("lx", targets.longxiang_closed), ("yn", targets.closed - targets.longxiang_closed)):
            mine = [k for k, p in enumerate(self.places) if p == place]
            closing = [k for k in mine if self.stories[k].events[-1].type == "TicketClosed"
                       and self.stories[k].events[-1].occurred_at <= end]
            if len(closing) < need:
                raise ValueError(f"the article's year needs {need} tickets closed in {place}, only {len(closing)} can be: plan more days")
            rng = random.Random(f"{self.a.key}:closed:{place}")
            # Weighted sampling without replacement (Efraimidis-Spirakis): weight 1 for a ticket
            # raised at the end, 4 for one raised at the start.
            weight = {k: 1 + 3 * (end - raised_at[k]).total_seconds() / span for k in closing}
            keys = {k: rng.random() ** (1 / weight[k]) for k in closing}
            closers = set(sorted(closing, key=keys.__getitem__, reverse=True)[:need])
            stages = list(self.CUT_AT)
            for k in mine:
                if k not in closers:
                    self.cut[k] = random.Random(f"{self.a.key}:cut:{k}").choices(stages, [1, 3, 6])[0]

    def ticket(self, number: int) -> Story:
        story = self.stories.pop(number)
        stage = self.cut.get(number)
        if stage is not None:
            kept = []
            for event in story.events:
                if event.type in ("TicketRated", "TicketReopened", "TicketClosed"):
                    break
                kept.append(event)
                if event.type == self.CUT_AT[stage]:
                    break
            story.events = kept
        return story
