"""The working-day calendar and the deadline function: worked examples on the official 2026
schedule (National Day week, a make-up Saturday, Spring Festival, a pause over a holiday), a year
without a schedule, and properties checked on random instants."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from adapters.deadlines import load_rules
from config import Settings
from schemas.calendar import Allowance, WorkingCalendar, deadline_after, resumed_deadline

CN = ZoneInfo("Asia/Shanghai")
RULES = load_rules(Settings(data_dir=__import__("pathlib").Path("/nonexistent")))
CAL = RULES.calendar


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CN)


def days(n: float) -> Allowance:
    return Allowance(working_days=n)


def hours(n: float) -> Allowance:
    return Allowance(hours=n)


# -- worked examples ------------------------------------------------------------------------------

def test_national_day_week_is_skipped() -> None:
    # Wed 30 Sep 10:00, five working days (35 office hours): 5 h that day, 1-7 Oct off, Thu 8 and
    # Fri 9, the make-up Saturday 10 Oct, Mon 12, and two hours of Tue 13.
    assert deadline_after(CAL, at(2026, 9, 30, 10), days(5)) == at(2026, 10, 13, 10)


def test_a_make_up_saturday_counts() -> None:
    # Fri 9 Oct 16:00 + one working day (7 h): 1.5 h on Friday, then Saturday 10 Oct (调休) is worked.
    assert not CAL.is_working_day(date(2026, 10, 3)) and CAL.is_working_day(date(2026, 10, 10))
    assert deadline_after(CAL, at(2026, 10, 9, 16), days(1)) == at(2026, 10, 10, 16)
    # An ordinary Saturday does not count: Fri 16 Oct 16:00 runs on into Monday.
    assert deadline_after(CAL, at(2026, 10, 16, 16), days(1)) == at(2026, 10, 19, 16)


def test_spring_festival() -> None:
    # Fri 13 Feb 09:00 + two working days (14 h): 6 h on Friday, Sat 14 Feb (调休) 7 h, 15-23 Feb
    # off, the last hour on Tue 24 Feb.
    assert deadline_after(CAL, at(2026, 2, 13, 9), days(2)) == at(2026, 2, 24, 9)


def test_calendar_hours_run_through_holidays() -> None:
    assert deadline_after(CAL, at(2026, 9, 30, 10), hours(48)) == at(2026, 10, 2, 10)


def test_a_pause_over_a_holiday() -> None:
    # Calendar hours: 24 h ran before the pause (30 Sep 10:00); it resumed on 8 Oct 10:00.
    pause = (at(2026, 9, 30, 10), at(2026, 10, 8, 10))
    assert deadline_after(CAL, at(2026, 9, 29, 10), hours(48), [pause]) == at(2026, 10, 9, 10)
    assert resumed_deadline(CAL, at(2026, 10, 1, 10), "hours", *pause) == at(2026, 10, 9, 10)
    # Working days: 7 of 21 office hours ran before the pause. The holiday would not have counted
    # anyway: only the office hours the pause covers (5 h on 30 Sep, 1 h on 8 Oct) move the
    # deadline, from 9 Oct 10:00 to the make-up Saturday 10 Oct, 09:00.
    pause = (at(2026, 9, 30, 10), at(2026, 10, 8, 9))
    assert deadline_after(CAL, at(2026, 9, 29, 10), days(3)) == at(2026, 10, 9, 10)
    assert deadline_after(CAL, at(2026, 9, 29, 10), days(3), [pause]) == at(2026, 10, 10, 9)


def test_a_deadline_passed_before_the_pause_stays() -> None:
    assert resumed_deadline(CAL, at(2026, 3, 2, 9), "hours", at(2026, 3, 3), at(2026, 3, 9)) == at(2026, 3, 2, 9)


def test_started_on_a_day_off_runs_from_the_next_morning() -> None:
    assert deadline_after(CAL, at(2026, 10, 3, 15), days(1)) == at(2026, 10, 8, 17, 30)
    assert deadline_after(CAL, at(2026, 3, 2, 12, 30), days(0.5)) == at(2026, 3, 3, 8, 30)  # lunch does not count


def test_a_year_without_a_schedule_counts_weekends_only_and_says_so() -> None:
    assert not CAL.covers(2027)
    assert CAL.missing_near(at(2026, 11, 28, 9)) == [2027]
    assert CAL.missing_near(at(2026, 3, 1)) == [2027]
    assert CAL.missing_near(at(2025, 3, 1)) == []
    # 1 Jan 2027 is a Friday: without the schedule it is a working day.
    assert CAL.is_working_day(date(2027, 1, 1)) and not CAL.is_working_day(date(2027, 1, 2))
    assert deadline_after(CAL, at(2026, 12, 31, 16), days(1)) == at(2027, 1, 1, 16)


def test_overlapping_office_hours_are_refused() -> None:
    from schemas.calendar import OfficeSpan
    from datetime import time

    with pytest.raises(ValueError, match="overlap"):
        WorkingCalendar([], [OfficeSpan(time(8), time(12)), OfficeSpan(time(11), time(17))])
    with pytest.raises(ValueError, match="no office hours"):
        WorkingCalendar([], []).advance(at(2026, 3, 2), timedelta(hours=1), "working_days")


# -- properties ---------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 20)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=CN))
allowances = st.one_of(st.integers(0, 400).map(lambda h: hours(h / 4)),
                       st.integers(0, 60).map(lambda n: days(n / 2)))
PROPERTY = settings(max_examples=150, deadline=None)


def in_office(t: datetime) -> bool:
    return any(a <= t <= b for a, b in CAL.office(t.astimezone(CN).date()))


@PROPERTY
@given(instants, allowances)
def test_the_deadline_counts_exactly_the_allowance(start: datetime, allowance: Allowance) -> None:
    due = deadline_after(CAL, start, allowance)
    assert due >= start
    assert CAL.counted(start, due, allowance.basis) == CAL.budget(allowance)
    if allowance.basis == "working_days" and due > start:
        assert in_office(due)  # never at night or on a holiday
        # and it is the earliest such instant: a minute less has not counted it all
        assert CAL.counted(start, due - timedelta(minutes=1), "working_days") < CAL.budget(allowance)


@PROPERTY
@given(instants, allowances, st.integers(0, 600), st.integers(0, 20_000))
def test_a_pause_is_the_time_left_counted_again_from_the_resumption(start: datetime, allowance: Allowance,
                                                                      into: int, length: int) -> None:
    plain = deadline_after(CAL, start, allowance)
    paused = start + timedelta(minutes=into * 10)
    resumed = paused + timedelta(minutes=length)
    with_pause = deadline_after(CAL, start, allowance, [(paused, resumed)])
    if paused >= plain:
        assert with_pause == plain
    else:
        assert with_pause == resumed_deadline(CAL, plain, allowance.basis, paused, resumed)
        assert with_pause >= plain
    if allowance.basis == "hours" and paused < plain:
        assert with_pause - plain == resumed - paused


@PROPERTY
@given(instants, allowances, allowances)
def test_more_allowance_never_falls_earlier(start: datetime, a: Allowance, b: Allowance) -> None:
    if a.basis == b.basis and CAL.budget(a) <= CAL.budget(b):
        assert deadline_after(CAL, start, a) <= deadline_after(CAL, start, b)
