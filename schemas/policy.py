"""The deadline policy: how long each stage may take, per category and org level, and what
happens after a deadline passes. Its shape and its lookup; the file is config/deadlines.yaml
(documented there), read by adapters/deadlines.py.

Terms are found field by field, the most specific rule winning: the defaults, then rules naming
only levels, then rules naming only categories, then rules naming both (in file order within
each). The level is the kind of the unit a ticket is dispatched to (town, community, grid, ...).
Every deadline the ledger computes from the policy is stored with the policy's `version`, so a
reader knows which policy set it and replay never reads the policy again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from schemas.calendar import Allowance, Basis, OfficeSpan, WorkingCalendar, deadline_after, resumed_deadline
from schemas.organisation import OrgKind

Stage = Literal["sign_for", "first_contact", "resolve", "supporting"]
"""The clocks a dispatch starts: the lead unit signs for it (接单), contacts the resident,
resolves it; each supporting unit (协办) completes its own task."""
STAGES: tuple[Stage, ...] = ("sign_for", "first_contact", "resolve", "supporting")
Chaser = Literal["dispatcher", "system"]


class Chase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """催办: which breached deadlines are chased, by whom, and when."""

    stages: tuple[Stage, ...] = STAGES
    """The deadlines whose breach is chased."""
    by: Chaser = "dispatcher"
    """Who the chase comes from: the dispatch centre, or the system on its behalf."""
    after: tuple[Allowance, ...] = ()
    """One chase each, counted from the breach (the first may be immediate: {hours: 0})."""


class Supervise(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """督办: after the chases, the matter is escalated to a higher org level."""

    after: Allowance
    """Counted from the breach."""
    levels: tuple[OrgKind, ...]
    """The kinds of unit that supervise: the nearest ancestor of the unit the ticket was dispatched
    to whose kind is one of these (a community's street, a village's town, a town's district)."""

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("supervise names at least one level")


class Terms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What applies to one ticket; in a rule, the fields it sets (the rest come from less specific rules)."""

    sign_for: Allowance | None = None
    first_contact: Allowance | None = None
    resolve: Allowance | None = None
    supporting: Allowance | None = None
    """A supporting unit's task, when the dispatch names no deadline for it."""
    reminder_before: Allowance | None = None
    """A reminder goes out this long before a deadline."""
    chase: Chase | None = None
    supervise: Supervise | None = None

    def over(self, base: Terms) -> Terms:
        """These terms, the unset ones taken from `base`."""
        return Terms(**{f: getattr(self, f) if getattr(self, f) is not None else getattr(base, f)
                        for f in Terms.__struct_fields__})

    def allowance(self, stage: Stage) -> Allowance:
        found: Allowance | None = getattr(self, stage)
        if found is None:  # the defaults set every stage (DeadlinePolicy.__post_init__)
            raise ValueError(f"no allowance for {stage}")
        return found


class Rule(Terms, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Terms for some categories and/or org levels (empty: any)."""

    categories: tuple[Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,48}$")], ...] = ()
    levels: tuple[OrgKind, ...] = ()

    def matches(self, category: str, level: str | None) -> bool:
        return (not self.categories or category in self.categories) and (not self.levels or level in self.levels)

    @property
    def specificity(self) -> int:
        return (2 if self.categories else 0) + (1 if self.levels else 0)


class DeadlinePolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,40}$")]
    """Stored with every deadline computed from this policy; change it with every edit."""
    office_hours: tuple[Annotated[str, Meta(pattern=r"^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$")], ...] = (
        "08:00-12:00", "14:30-17:30")
    """Local wall time, "HH:MM-HH:MM", on working days; working-day allowances count only these.
    Strings, not YAML times: YAML 1.1 would read 08:00 as the number 480."""
    defaults: Terms
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        unset = [f for f in ("sign_for", "first_contact", "resolve", "supporting") if getattr(self.defaults, f) is None]
        if unset:
            raise ValueError(f"defaults must set {', '.join(unset)}")
        self.office_spans  # raises on a span that ends before it starts

    @property
    def office_spans(self) -> tuple[OfficeSpan, ...]:
        return tuple(OfficeSpan(time.fromisoformat(a), time.fromisoformat(b))
                     for a, b in (span.split("-") for span in self.office_hours))

    def terms(self, category: str, level: str | None) -> Terms:
        """The terms for a ticket of `category` dispatched to a unit of kind `level`."""
        found = self.defaults
        for rule in sorted((r for r in self.rules if r.matches(category, level)), key=lambda r: r.specificity):
            found = rule.over(found)
        return found


def parse_policy(data: object) -> DeadlinePolicy:
    """A policy from decoded YAML/JSON; msgspec.ValidationError names the key that is wrong."""
    return msgspec.convert(data, DeadlinePolicy)


class DeadlineRules:
    """The policy and the calendar its working days are counted on: what the ledger and the
    clock are given (adapters/deadlines.py loads both from Settings)."""

    def __init__(self, policy: DeadlinePolicy, calendar: WorkingCalendar):
        self.policy, self.calendar = policy, calendar

    @property
    def version(self) -> str:
        return self.policy.version

    def terms(self, category: str, level: str | None) -> Terms:
        return self.policy.terms(category, level)

    def due(self, start: datetime, allowance: Allowance, pauses: Sequence[tuple[datetime, datetime]] = ()) -> datetime:
        """deadline_after on this calendar."""
        return deadline_after(self.calendar, start, allowance, pauses)

    def resumed(self, deadline: datetime, basis: Basis, paused: datetime, resumed: datetime) -> datetime:
        """resumed_deadline on this calendar."""
        return resumed_deadline(self.calendar, deadline, basis, paused, resumed)
