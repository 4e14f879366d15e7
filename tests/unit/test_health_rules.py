"""Health's rules (dashboards/health.py RULES): the README table is the same table, and each
reading on its own makes exactly its reason fire, with its severity."""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path

from consumers.ledger import store_error_code
from adapters.alarm import Alarm
from projections.gaps import OpenGap
from dashboards.health import DEGRADED, FAULTY, LIMITS, OK, RULES, Readings, judge
from schemas.status import WriterStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


def healthy(**changes) -> Readings:  # type: ignore[no-untyped-def]
    r = Readings(now=NOW, nats_connected=True, streams_present=True, disk_free=10 << 30, disk_total=100 << 30,
                 postgres_up=None, ledger=WriterStatus(writer="ledger", pid=1, started_at=NOW - 100, committed_at=NOW - 1))
    for k, v in changes.items():
        setattr(r, k, v)
    return r


def test_the_readme_shows_the_rules_table():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| (ok|degraded|faulty) \|", text, re.M)
    assert rows == [(rule.code, rule.severity) for rule in RULES]


def test_codes_are_unique_and_severities_known():
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert {rule.severity for rule in RULES} <= {DEGRADED, FAULTY}


def test_nothing_wrong_is_ok():
    assert judge(healthy()) == (OK, [])


CASES = {
    "ledger_alarm": dict(ledger_alarm=Alarm("ledger_stream_emptied", "emptied", 7)),
    "nats_unreachable": dict(nats_connected=False, streams_present=False),
    "streams_missing": dict(streams_present=False),
    "jetstream_write_error": dict(jetstream="jetstream_write_error"),
    "jetstream_unhealthy": dict(jetstream="jetstream_disabled"),
    "nats_monitor_unreachable": dict(jetstream="monitor_unreachable"),
    "store_error": dict(ledger=WriterStatus(writer="ledger", pid=1, started_at=NOW, error="readonly", failures=1)),
    "ledger_stalled": dict(intake_ack_pending=5, progress_age=LIMITS.stall_seconds + 1),
    "intake_backlog": dict(intake_pending=LIMITS.backlog + 1),
    "redelivering": dict(redelivered=3, progress_age=LIMITS.stall_seconds / 3 + 1),
    "relay_lag": dict(relay_lag=LIMITS.relay_lag + 1),
    "clock_lag": dict(clock_lag={"clock-a": 0, "clock-b": LIMITS.clock_lag + 1}),
    "projector_lag": dict(projector_lag=LIMITS.projector_lag + 1),
    "postgres_unreachable": dict(postgres_up=False),
    "disk_full": dict(disk_free=1 << 20),
    "disk_low": dict(disk_free=LIMITS.disk_low_bytes - 1, disk_total=100 << 30),
    "intake_gap": dict(intake_gaps=[OpenGap(gap_id="g1", position=3, first_sequence=5, last_sequence=9, acknowledge="civic ops ack-gap g1")]),
    "read_model_upgrading": dict(read_model_upgrading=True),
    "process_down": dict(down=["ledger"]),
}


def test_each_reading_fires_its_own_reason_with_its_severity():
    assert set(CASES) == {rule.code for rule in RULES}, "a new rule needs its case here"
    severity = {rule.code: rule.severity for rule in RULES}
    for code, changes in CASES.items():
        status, reasons = judge(healthy(**changes))
        shown = "ledger_stream_emptied" if code == "ledger_alarm" else code  # the alarm shows its own code
        assert shown in reasons, (code, reasons)
        worst = FAULTY if any(severity.get(r, FAULTY) == FAULTY for r in reasons) else DEGRADED
        assert status == worst, (code, status, reasons)


def test_a_small_disk_with_room_is_not_low():
    assert judge(healthy(disk_free=200 << 20, disk_total=256 << 20)) == (OK, [])


def test_waiting_work_with_recent_progress_is_ok():
    assert judge(healthy(intake_pending=10, intake_ack_pending=10, progress_age=1.0)) == (OK, [])


def test_store_errors_are_told_apart_from_other_failures():
    def chained(outer: Exception, inner: BaseException) -> Exception:
        outer.__cause__ = inner
        return outer

    assert store_error_code(chained(RuntimeError("x"), sqlite3.OperationalError("attempt to write a readonly database"))) == "readonly"
    assert store_error_code(sqlite3.OperationalError("database or disk is full")) == "disk_full"
    assert store_error_code(OSError(errno.ENOSPC, "No space left on device")) == "disk_full"
    assert store_error_code(sqlite3.OperationalError("database is locked")) == "store"
    assert store_error_code(ValueError("a bad message")) is None
