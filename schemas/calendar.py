"""The working-day calendar and the one function that says when a deadline falls.

A deadline is a start instant plus an allowance, counted on one of two bases:
- `hours`: calendar hours, night and holidays included (an emergency is chased at 3 a.m.);
- `working_days`: working time, counted within office hours on working days only. One working
  day is one day's office hours (e.g. 7 h for 08:00-12:00 and 14:30-17:30), so a ticket
  dispatched on Monday at 10:00 with one working day is due on Tuesday at 10:00, and one
  dispatched on Saturday is due at the end of Monday's office hours.
A working day is a weekday that is not a public holiday, or a make-up working day (调休): a
Saturday or Sunday the State Council's schedule declares a working day. Each year's schedule is
one file (config/calendar/<year>.yaml, shipped for every year the `chinesecalendar` package
publishes); a year without one counts weekends only, and `missing()` says so for health and the
dashboard. Paused intervals (waiting for the resident) do not count on either basis.

Everything here is pure arithmetic on values: the ledger (deadlines at dispatch, after a pause),
the clock (when a chase or supervision falls due) and the read models all call these functions,
and replay reads the stored results, never this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

Basis = Literal["hours", "working_days"]

MAX_SEARCH_DAYS = 3660
"""advance() gives up after ten years without enough working time (a calendar with no office hours)."""
ZERO = timedelta(0)


class Allowance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long something may take: exactly one of `hours` (calendar hours) or `working_days`."""

    hours: float | None = None
    working_days: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.hours, self.working_days) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of hours or working_days")
        if given[0] < 0:
            raise ValueError("an allowance cannot be negative")

    @property
    def basis(self) -> Basis:
        return "hours" if self.hours is not None else "working_days"

    def __str__(self) -> str:
        return f"{self.hours:g} h" if self.hours is not None else f"{self.working_days:g} working days"


class OfficeSpan(msgspec.Struct, frozen=True):
    """One stretch of office hours in a working day, local wall time, e.g. 08:00-12:00."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"office hours {self.start}-{self.end} end before they start")


class YearSchedule(msgspec.Struct, frozen=True, kw_only=True):
    """One year's official schedule: public holidays and make-up working days (调休), each with
    the festival it belongs to. A weekday not listed is a working day, a weekend day not listed is not."""

    year: int
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    """Make-up working days: Saturdays or Sundays worked in lieu of a holiday's bridge day."""
    source: str = ""
    """Where the schedule comes from (the generator writes the package and its version)."""

    def __post_init__(self) -> None:
        for day in (*self.holidays, *self.workdays):
            if day.year != self.year:
                raise ValueError(f"{day} is not in {self.year}")
        if both := set(self.holidays) & set(self.workdays):
            raise ValueError(f"{min(both)} is both a holiday and a working day")


DEFAULT_OFFICE_HOURS = (OfficeSpan(time(8, 0), time(12, 0)), OfficeSpan(time(14, 30), time(17, 30)))
"""Nanning's government offices: mornings and afternoons, with the long southern lunch break."""


class WorkingCalendar:
    """Working days and office hours of one district, in its time zone."""

    def __init__(self, schedules: Iterable[YearSchedule] = (), office_hours: Sequence[OfficeSpan] = DEFAULT_OFFICE_HOURS,
                 tz: str = "Asia/Shanghai"):
        spans = sorted(office_hours, key=lambda s: s.start)
        for before, after in zip(spans, spans[1:]):
            if after.start < before.end:
                raise ValueError(f"office hours {before.start}-{before.end} and {after.start}-{after.end} overlap")
        self.office_hours = tuple(spans)
        self.tz = ZoneInfo(tz)
        self.years: dict[int, YearSchedule] = {s.year: s for s in schedules}
        self.day_length = sum((_minutes(s.end) - _minutes(s.start) for s in spans), 0)
        """Minutes of office hours in one working day: the length of one working day."""
        self._office: dict[date, list[tuple[datetime, datetime]]] = {}
        """Each day's office spans, computed once: a working-day deadline walks a week of them, and
        the ledger computes several per dispatch (time zones make each ~15 µs to build)."""

    # -- days ------------------------------------------------------------------------------------

    def covers(self, year: int) -> bool:
        """Whether the official schedule of `year` is loaded (else weekends only are counted)."""
        return year in self.years

    def missing(self, years: Iterable[int]) -> list[int]:
        """The years among `years` without a schedule, for health and the dashboard."""
        return sorted({y for y in years if y not in self.years})

    def missing_near(self, now: datetime) -> list[int]:
        """Years a deadline set now may fall in (this one and the next) whose schedule is missing."""
        year = now.astimezone(self.tz).year
        return self.missing((year, year + 1))

    def is_working_day(self, day: date) -> bool:
        schedule = self.years.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True
            if day in schedule.holidays:
                return False
        return day.weekday() < 5

    def office(self, day: date) -> list[tuple[datetime, datetime]]:
        """The office spans of `day` as UTC instants; none on a day off."""
        spans = self._office.get(day)
        if spans is None:
            spans = [(_at(day, s.start, self.tz), _at(day, s.end, self.tz)) for s in self.office_hours] \
                if self.is_working_day(day) else []
            if len(self._office) > 20_000:  # some fifty years of days: a bound, never reached in practice
                self._office.clear()
            self._office[day] = spans
        return spans

    # -- durations -------------------------------------------------------------------------------

    def budget(self, allowance: Allowance) -> timedelta:
        """An allowance as time to count on its basis: hours as they are, a working day as one
        day's office hours."""
        if allowance.hours is not None:
            return timedelta(hours=allowance.hours)
        assert allowance.working_days is not None  # __post_init__: exactly one is set
        return timedelta(minutes=allowance.working_days * self.day_length)

    def counted(self, start: datetime, end: datetime, basis: Basis) -> timedelta:
        """How much time between `start` and `end` counts on `basis` (zero if end is not after start)."""
        if end <= start:
            return ZERO
        if basis == "hours":
            return end - start
        total = ZERO
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)  # compared with UTC spans: fast
        while day <= last:
            for a, b in self.office(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def advance(self, start: datetime, budget: timedelta, basis: Basis) -> datetime:
        """The earliest instant at which `budget` has been counted on `basis` since `start`,
        in the calendar's time zone. A working-time deadline falls within office hours (at the
        end of a span at the latest), never in a night or on a holiday."""
        if basis == "hours" or budget <= ZERO:
            return (start + max(budget, ZERO)).astimezone(self.tz)
        left = budget
        day = start.astimezone(self.tz).date()
        start = start.astimezone(timezone.utc)  # compared with UTC spans: an aware comparison across zones is slow
        for _ in range(MAX_SEARCH_DAYS):
            for a, b in self.office(day):
                a = max(a, start)
                if b <= a:
                    continue
                if b - a >= left:
                    return (a + left).astimezone(self.tz)
                left -= b - a
            day += timedelta(days=1)
        raise ValueError(f"no {budget} of working time within {MAX_SEARCH_DAYS} days of {start}: no office hours?")


def deadline_after(calendar: WorkingCalendar, start: datetime, allowance: Allowance,
                   pauses: Sequence[tuple[datetime, datetime]] = ()) -> datetime:
    """When something started at `start` with `allowance` is due, the paused intervals not
    counting: THE deadline function (the ledger at dispatch, the clock for its chases).

    Pauses are closed intervals (paused, resumed); they may overlap or lie before `start`.
    """
    basis = allowance.basis
    left = calendar.budget(allowance)
    at = start
    for paused, resumed in sorted(pauses):
        if resumed <= at:
            continue
        due = calendar.advance(at, left, basis)
        if due <= paused:
            return due
        left -= calendar.counted(at, paused, basis)
        at = max(at, resumed)
    return calendar.advance(at, left, basis)


def resumed_deadline(calendar: WorkingCalendar, deadline: datetime, basis: Basis, paused: datetime,
                     resumed: datetime) -> datetime:
    """A deadline after a pause: the time that was left when the clock stopped, counted again
    from the resumption. A deadline already passed when the pause began stays where it was (the
    breach happened; a pause does not undo it)."""
    if deadline <= paused:
        return deadline
    return calendar.advance(resumed, calendar.counted(paused, deadline, basis), basis)


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tz).astimezone(timezone.utc)
