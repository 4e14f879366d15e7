"""Which KPI definitions a replay computes with.

docs/kpis.md states the version of its definitions ("KPI definitions version: **1**"); a replay
states the version it used, and `--kpi-version N` recomputes history with the definitions that
were in force then. Each version is a way to build the dashboard read model (schema, projection,
queries): a future version 2 registers its own classes here beside version 1, so a report
published under version 1 can still be checked with the rules it was computed by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from datetime import date
from typing import Any, Callable, Protocol

from projections import KPI_VERSION
from projections.dashboard import DashboardProjection, create_schema
from projections.deadline_queries import DeadlineQueries
from projections.queries import Dashboard, DashboardQueries, Org


class KpiQueries(Protocol):
    """What audit asks of a version's queries (projections.queries.DashboardQueries for version 1)."""

    def orgs(self) -> list[Org]: ...
    def prefixes(self, org_id: str) -> list[str]: ...
    def dashboard(self, org_id: str, start: date | None, end: date) -> Dashboard: ...

KPI_DOC = Path(__file__).resolve().parents[1] / "docs" / "kpis.md"
_VERSION_LINE = re.compile(r"KPI definitions version:\s*\**(\d+)\**")


@dataclass(frozen=True)
class Definitions:
    version: int
    create_schema: Callable[[Any], None]
    projection: Callable[..., Any]
    """(db, clock) -> an object with apply(batch of (position, event)) and position()."""
    queries: Callable[..., KpiQueries]

    """(db, clock, timezone) -> an object with dashboard(org_id, start, end), orgs(), ..."""
    deadlines: Callable[..., Any] = DeadlineQueries
    """(db, clock, timezone) -> the deadline figures' queries (board, supervision, ranking)."""


VERSIONS: dict[int, Definitions] = {
    KPI_VERSION: Definitions(KPI_VERSION, create_schema, DashboardProjection, DashboardQueries),
}
CURRENT = max(VERSIONS)


class UnknownKpiVersion(ValueError):
    pass


def definitions(version: int | None = None) -> Definitions:
    """The definitions of that version (default: the current one), or UnknownKpiVersion."""
    chosen = CURRENT if version is None else version
    if chosen not in VERSIONS:
        known = ", ".join(str(v) for v in sorted(VERSIONS))
        raise UnknownKpiVersion(f"KPI definitions version {chosen} does not exist: this civic-ledger computes "
                                f"version {known} (see docs/kpis.md, 'Versions')")
    return VERSIONS[chosen]


def documented_version(doc: Path = KPI_DOC) -> int | None:
    """The version docs/kpis.md states, or None where the page is not shipped (a wheel install)."""
    try:
        m = _VERSION_LINE.search(doc.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return int(m.group(1)) if m else None
