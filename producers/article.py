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

Its other figures are not about items in our ledger (81 service centres, 70 councils and 452
hamlet groups are the org tree's shape; "50+ enterprise problems resolved" has no exact count,
and a report's counts must be exact) and are left out.

`Targets.scaled(n)` scales every count by n / 2,647 (rounded), so a small simulation has the
same shares; the demo's own run is the real scale (n = 2,647, factor 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

YONGNING, LONGXIANG = "yn", "yn-pm-lx"
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
    def stories(self) -> int:
        """Ticket stories the simulation tells: Yongning's, the duplicates, the enterprises'."""
        return self.raised + self.voided + self.enterprise

    def claims(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(file stem, unit, figures) of each report, in the article's words."""
        yn = {"collected": self.raised, "closed": self.closed, "satisfaction_rate": "100 %"}
        lx = {"raised": self.longxiang_raised, "closed": self.longxiang_closed, "satisfaction_rate": "100 %",
              "disputes_mediated": self.longxiang_mediated, "dispute_success_rate": "100 %"}
        return [("article-yongning", YONGNING, yn), ("article-longxiang", LONGXIANG, lx)]


TITLES = {YONGNING: "邕宁区微清单 Yongning micro-list: 2,647 collected, 1,508 handled and closed, satisfaction 100 %",
          LONGXIANG: "龙象社区综治中心 Longxiang centre: 56 raised, 50 closed, 46 disputes mediated, success 100 %, satisfaction 100 %"}


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
