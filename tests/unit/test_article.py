"""The demo's year: it ends when the plan says, it shows the seed article's figures on the
dashboards (through the real ledger and read model, as of its end), its reports parse as
`civic audit diff` reads them, and the live trickle after it tells stories the rules accept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import schemas as s
from audit.diff import load_report
from civic_kit import MEMORY_ENV, Desk, KeyStore, Ledger
from fold_kit import project
from producers.article import Targets, write_reports
from producers.district import CST, build_district, org_events
from producers.simulator import END, Plan, simulate
from producers.trickle import Pace, Trickle
from projections.queries import DashboardQueries

DEMO_END = datetime(2026, 11, 28, 15, 40, tzinfo=CST)
"""A fixed end (the demo passes the minute it starts), so this year is the same in every run."""


def ledger_of(events: list[s.Event]) -> list[s.Event]:
    """The events as the ledger stores them (org paths, sealed data); every one accepted."""
    keys = KeyStore(":memory:")
    desk = Desk(Ledger(env=dict(MEMORY_ENV), keys=keys), keys)
    for i in range(0, len(events), 1000):
        outcome = desk.send(*events[i:i + 1000])
        assert outcome.rejections == [], [(r.code, r.detail) for r in outcome.rejections[:3]]
    stored: list[s.Event] = []
    while page := list(desk.ledger.recorder.select_notifications(start=len(stored) + 1, limit=10_000)):
        stored += [s.decode(n.state, max_bytes=None) for n in page]
    keys.close()
    return stored


def dashboards(tmp_path: Path, plan: Plan) -> DashboardQueries:
    stored = ledger_of(list(simulate(plan)))
    return DashboardQueries(project(tmp_path, list(enumerate(stored, 1)), "one").db)


def test_the_articles_year_shows_the_articles_figures(tmp_path: Path) -> None:
    """The figures the article publishes (seed/README.md), on the dashboards over the year, with
    nothing told to the dashboards: Yongning 2,647 collected, 1,508 closed, satisfaction 100 %;
    Longxiang 56 raised, 50 closed, 46 disputes mediated, success 100 %, satisfaction 100 %."""
    plan = Plan(seed=1, end=DEMO_END, article=True)  # the demo's
    q = dashboards(tmp_path, plan)
    yn = q.dashboard("yn", plan.start.date(), plan.end.date())
    assert (yn.tickets.raised, yn.tickets.closed, yn.tickets.satisfaction_rate) == (2647, 1508, 1.0)
    assert yn.tickets.rated > 500 and yn.tickets.dissatisfied == 0 and yn.tickets.voided > 0, "duplicates voided, not counted"
    lx = q.dashboard("yn-pm-lx", plan.start.date(), plan.end.date())
    assert (lx.tickets.raised, lx.tickets.closed, lx.tickets.satisfaction_rate) == (56, 50, 1.0)
    assert (lx.disputes.mediated, lx.disputes.failed, lx.disputes.success_rate) == (46, 0, 1.0)
    # The rest of the district is a district's: other units have failures, the zone its enterprises.
    assert yn.disputes.failed > 0 and yn.disputes.mediated > 46
    hz = q.dashboard("hz", plan.start.date(), plan.end.date())
    assert hz.tickets.resolved >= 50, "50+ enterprise problems resolved"
    # The unclosed items are spread over the year, most of them recent, none of them rated.
    months = [m for m in yn.by_month if m.tickets.raised]
    assert len(months) >= 12 and all(m.tickets.closed < m.tickets.raised for m in months[-3:])
    assert months[0].tickets.closed > 0.7 * months[0].tickets.raised


def test_a_smaller_year_shows_the_figures_scaled(tmp_path: Path) -> None:
    targets = Targets.scaled(265)
    assert (targets.raised, targets.closed, targets.longxiang_raised, targets.longxiang_closed, targets.longxiang_mediated) == (
        265, 151, 6, 5, 5)
    plan = Plan(seed=2, tickets=265, days=120, end=DEMO_END, article=True)
    q = dashboards(tmp_path, plan)
    yn = q.dashboard("yn", plan.start.date(), plan.end.date())
    lx = q.dashboard("yn-pm-lx", plan.start.date(), plan.end.date())
    assert (yn.tickets.raised, yn.tickets.closed, yn.tickets.satisfaction_rate) == (265, 151, 1.0)
    assert (lx.tickets.raised, lx.tickets.closed, lx.disputes.mediated, lx.disputes.success_rate) == (6, 5, 5, 1.0)
    assert targets.enterprise_resolved == 5 and q.dashboard("hz", plan.start.date(), plan.end.date()).tickets.resolved >= 5


def test_a_year_too_short_for_the_figures_is_refused() -> None:
    with pytest.raises(ValueError, match="plan more days"):
        list(simulate(Plan(seed=1, days=3, end=DEMO_END, article=True)))
    with pytest.raises(ValueError, match="time zone"):
        Plan(end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="after the org tree"):
        Plan(end=datetime(2018, 6, 1, tzinfo=CST))


def test_the_year_ends_when_the_plan_says_and_a_plan_gives_the_same_bytes() -> None:
    assert Plan().end == END  # `civic simulate` without --end: the seed's year, as before
    wire = lambda plan: b"\n".join(s.encode(e) for e in simulate(plan))  # noqa: E731
    plan = Plan(seed=6, tickets=200, days=90, end=DEMO_END, article=True)
    events = list(simulate(plan))
    activity = events[len(org_events(build_district())):]
    assert plan.start <= min(e.occurred_at for e in activity) and max(e.occurred_at for e in activity) <= DEMO_END
    assert max(e.occurred_at for e in activity) > DEMO_END - timedelta(days=2)
    assert wire(plan) == wire(Plan(seed=6, tickets=200, days=90, end=DEMO_END, article=True))
    assert wire(plan) != wire(Plan(seed=6, tickets=200, days=90, end=DEMO_END + timedelta(days=1), article=True))


def test_the_reports_state_the_claims_over_the_year(tmp_path: Path) -> None:
    plan = Plan(seed=1, end=DEMO_END, article=True)
    published = datetime(2026, 11, 28, 7, 41, 3, tzinfo=timezone.utc)
    paths = write_reports(tmp_path, Targets(), plan.start, plan.end, published)
    reports = {p.stem: load_report(p) for p in paths}
    yn, lx, hz = reports["article-yongning"], reports["article-longxiang"], reports["article-hightech"]
    assert (hz.org, dict(hz.figures)) == ("hz", {"resolved": "50+"})
    assert (yn.org, yn.start, yn.end) == ("yn", plan.start.date(), DEMO_END.date())
    assert dict(yn.figures) == {"collected": 2647, "closed": 1508, "satisfaction_rate": "100 %"}
    assert dict(lx.figures) == {"raised": 56, "closed": 50, "satisfaction_rate": "100 %", "disputes_mediated": 46,
                                "dispute_success_rate": "100 %"}
    assert yn.published_at is not None and datetime.fromisoformat(yn.published_at) == published
    assert "x 0.1" in load_report(write_reports(tmp_path / "small", Targets.scaled(265), plan.start, plan.end, published)[0]).title


def test_the_live_trickle_tells_new_stories_as_their_time_comes() -> None:
    start = DEMO_END.astimezone(timezone.utc)
    trickle = Trickle(1, start, Pace(every=6.0, seconds_per_hour=2.0))
    told: list[s.Event] = []
    now = start
    for _ in range(600):  # ten minutes, a second at a time
        batch = trickle.ready(now)
        assert all(e.occurred_at <= now for e in batch), "never an event from the future"
        told += batch
        now += timedelta(seconds=1)
    assert [e.occurred_at for e in told] == sorted(e.occurred_at for e in told)
    raised = [e for e in told if isinstance(e, s.TicketRaised)]
    assert 60 < len(raised) < 140 and any(isinstance(e, s.DisputeRegistered) for e in told)
    assert any(isinstance(e, s.TicketClosed) for e in told), "a story's days pass in minutes"
    assert all(e.ticket_id.startswith("MC-S1-L20261128154000-") for e in raised)
    # After the year, as a producer would send them: the rules accept every one.
    ledger_of(org_events(build_district()) + told)
    other = Trickle(1, start + timedelta(seconds=1)).ready(start + timedelta(minutes=1))
    assert {e.event_id for e in other}.isdisjoint(e.event_id for e in told), "a restarted demo tells new stories"


def test_a_data_folder_keeps_its_year(tmp_path: Path) -> None:
    """The demo's year ends when it first ran on the folder (DIR/demo.json): a restart tells the
    same year again, whose events are then all duplicates, and its reports stay true."""
    from config import Settings
    from producers.demo import Demo

    settings = Settings.from_env(tmp_path)
    first = Demo(settings, seed=1, tickets=265, end=DEMO_END + timedelta(seconds=42))._year_end()
    assert first == DEMO_END  # to the minute, in the district's time
    assert Demo(settings, seed=1, tickets=265)._year_end() == first, "a restart, later: the same year"
    assert Demo(settings, seed=2, tickets=265, end=DEMO_END + timedelta(days=3))._year_end() == DEMO_END + timedelta(days=3)
