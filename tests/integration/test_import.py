"""`civic import` on a real nats-server and pipeline: bad rows reported, each row's outcome in the
ledger, and a second import of the same file adding nothing."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import schemas as s
from producers.importer import import_file
from producers.rows import event_id
from producers.sdk import Producer
from schemas import topology
from tests.support import caught_up, read_stream, small_district, stream_count, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]

HEADER = ["ticket_id", "org_id", "category", "title", "description", "channel", "raised_at", "reporter_name",
          "reporter_phone", "dispatched_at", "deadline", "to_unit", "to_worker", "accepted_at", "resolved_at",
          "resolution", "rated_at", "satisfaction", "contacted", "resolved_ok", "closed_at"]


def row(ticket: str, org: str = "lx", **cells: str) -> dict[str, str]:
    base = dict(ticket_id=ticket, org_id=org, category="parking", title=f"ticket {ticket}", channel="12345",
                raised_at="2021-03-01 09:00")
    return {**base, **cells}


FULL = dict(reporter_name="李华", reporter_phone="138 0013 8000", dispatched_at="2021-03-01 10:00",
            deadline="2021-03-03 10:00", accepted_at="2021-03-01 11:00", resolved_at="2021-03-02 09:00",
            resolution="bays painted", rated_at="2021-03-02 18:00", satisfaction="满意", contacted="是",
            resolved_ok="yes", closed_at="2021-03-03 08:00")
GOOD = [
    row("H-001", **FULL),                                                          # all six stages
    row("H-002", org="nk", **{**FULL, "satisfaction": "dissatisfied", "closed_at": "", "resolved_ok": "no"}),
    row("H-003", org="lx-g1", to_worker="gw-9", dispatched_at="2021-03-01T10:00:00+08:00"),  # still open
    row("H-004", org="pk1", channel="enterprise_platform", dispatched_at="2021-03-01 10:00",
        accepted_at="2021-03-01 12:00", resolved_at="2021-03-05 12:00"),           # resolved, not rated
    row("H-005", title="", description="路灯不亮 the lamp at gate 2 is out", category="roads_and_lights"),
]
BAD = [  # (row, expected reason fragment, column)
    (row("", title="no id"), "missing ticket_id", "ticket_id"),
    (row("H-010", raised_at="yesterday"), "not a date", "raised_at"),
    (row("H-011", accepted_at="2021-03-01 11:00"), "accepted_at without dispatched_at", "accepted_at"),
    (row("H-001"), "repeats line 2", "ticket_id"),
    (row("H-012", channel="carrier pigeon"), "unknown channel", "channel"),
    (row("H-013", org="atlantis"), "unknown_org", "org_id"),
    (row("H-014", **{**FULL, "satisfaction": "不满意"}), "dissatisfied", "closed_at"),
    (row("H 015"), "invalid_field", "ticket_id"),
    (row("H-016", dispatched_at="2021-03-01 10:00", deadline="2021-03-01 09:00"), "deadline", "deadline"),
    (row("H-017", **{**FULL, "resolved_at": "2021-03-01 10:30"}), "resolved_at is before accepted_at", "resolved_at"),
    (row("H-018", category="Parking Lot"), "invalid_field", "category"),
]
EXPECTED_EVENTS = 6 + 5 + 2 + 4 + 1


def write_csv(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, HEADER)
        writer.writeheader()
        rows = [GOOD[0], *(bad for bad, *_ in BAD[:4]), *GOOD[1:], *(bad for bad, *_ in BAD[4:])]
        writer.writerows(rows)


async def org_tree(js, url: str) -> int:  # type: ignore[no-untyped-def]
    orgs = [e for e, _ in small_district(tickets=0).events]
    async with await Producer.connect(url) as producer:
        assert all(r.accepted for r in await producer.publish_many(orgs))

    async def in_ledger():
        return await stream_count(js, topology.LEDGER) >= len(orgs)
    await wait_for(in_ledger)  # the relay has filled CIVIC_ORGS by then
    return len(orgs)


def civic_import(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}, "CIVIC_NATS_URL": url}
    return subprocess.run([sys.executable, "-m", "civic.cli", "import", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


async def test_import_reports_bad_rows_stores_outcomes_and_is_idempotent(js, pipeline, settings, tmp_path):
    n_orgs = await org_tree(js, settings.nats_url)
    export = tmp_path / "longxiang-2021.csv"
    write_csv(export)

    first = await import_file(settings.nats_url, export, progress=False)
    assert first.rows == len(GOOD) + len(BAD) and first.imported == len(GOOD)
    assert first.events == first.new == EXPECTED_EVENTS

    # The report: one line per bad row, with its line number in the file, column and reason.
    with open(tmp_path / "longxiang-2021.csv.report.csv", encoding="utf-8") as f:
        reported = list(csv.DictReader(f))
    lines = [3, 4, 5, 6] + list(range(7 + len(GOOD) - 1, 7 + len(GOOD) - 1 + len(BAD) - 4))
    assert [int(r["line"]) for r in reported] == lines
    for r, (_, reason, column) in zip(reported, BAD):
        assert reason in r["reason"], (r, reason)
        assert r["column"] == column, (r, column)

    await caught_up(settings, js, intake=n_orgs + EXPECTED_EVENTS)
    assert await stream_count(js, topology.INTAKE) == await stream_count(js, topology.LEDGER) == n_orgs + EXPECTED_EVENTS

    # Each row's outcome, from the ledger.
    ledger = [s.decode(m.data, max_bytes=None) for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
    by_ticket: dict[str, list[s.Event]] = {}
    for e in ledger[n_orgs:]:
        by_ticket.setdefault(e.ticket_id, []).append(e)  # type: ignore[attr-defined]
    assert [e.type for e in by_ticket["H-001"]] == ["TicketRaised", "TicketDispatched", "TicketAccepted", "TicketResolved",
                                                    "TicketRated", "TicketClosed"]
    assert by_ticket["H-001"][4].satisfaction == "satisfied" and by_ticket["H-001"][4].actor.role == "resident"  # type: ignore[attr-defined]
    assert by_ticket["H-001"][0].event_id == event_id("longxiang-2021.csv", "H-001", "raised")
    assert by_ticket["H-001"][0].sealed and by_ticket["H-001"][0].channel == "hotline"  # type: ignore[attr-defined]
    assert by_ticket["H-002"][-1].satisfaction == "dissatisfied"  # type: ignore[attr-defined]
    assert [e.type for e in by_ticket["H-003"]] == ["TicketRaised", "TicketDispatched"]
    assert by_ticket["H-003"][1].to_worker == "gw-9" and by_ticket["H-003"][1].to_unit is None  # type: ignore[attr-defined]
    assert [e.actor.role for e in by_ticket["H-004"]] == ["system", "dispatcher", "unit", "unit"]
    assert by_ticket["H-005"][0].title.startswith("路灯不亮")  # type: ignore[attr-defined]
    # One resident, however the phone number was typed; no clear personal data in the ledger.
    assert all(b"13800138000" not in m.data and "李华".encode() not in m.data
               for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS))

    # Again, through the command line: nothing new, nothing conflicting.
    again = civic_import(str(export), "--report", str(tmp_path / "again.csv"), url=settings.nats_url)
    assert again.returncode == 1, again.stderr  # the same bad rows are reported again
    assert f"{len(GOOD)} of {len(GOOD) + len(BAD)} rows imported" in again.stdout
    assert f"0 new, {EXPECTED_EVENTS} already in intake" in again.stdout, again.stdout
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == (tmp_path / "longxiang-2021.csv.report.csv").read_text(encoding="utf-8")

    # As JSON Lines under the same --source name: the same events, so again nothing new.
    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in GOOD) + "\n", encoding="utf-8")
    third = await import_file(settings.nats_url, jsonl, source="longxiang-2021.csv", progress=False)
    assert third.imported == len(GOOD) and third.new == 0 and not third.problems

    await caught_up(settings, js)
    assert await stream_count(js, topology.INTAKE) == n_orgs + EXPECTED_EVENTS, "the imports again added nothing to intake"
    assert await stream_count(js, topology.LEDGER) == n_orgs + EXPECTED_EVENTS
    assert await stream_count(js, topology.REJECTED) == 0
