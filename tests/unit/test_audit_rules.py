"""The audit's rules without a server: the chain walk against altered message lists, published
figures against the scripted district folded in memory, KPI versions, checkpoint signatures."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

import schemas as s
from audit.checkpoint import (
    Checkpoint, CheckpointsUnusable, anchors, load_checkpoints, load_or_create_key, public_hex, signed_bytes, trusted_key,
)
from audit.diff import ReportInvalid, check, load_report
from audit.kpi import CURRENT, UnknownKpiVersion, definitions, documented_version
from audit.reader import LedgerMessage
from audit.replay import BadInstant, Replayed, parse_instant
from audit.verify import Anchor, verify
from bench.replay import chained
from projections.facts import Clock
from projections.store import SQLiteDatabase
from schemas import topology
from tests.scenario import CST, DISPATCHER, RESIDENT, WORKER, scenario

LEDGER = [LedgerMessage(int(h[topology.POSITION_HEADER]), subject, data, h) for subject, data, h in chained(scenario())]


async def walk(messages: list[LedgerMessage], **kwargs):  # type: ignore[no-untyped-def]
    async def stream():
        for m in messages:
            yield m
    return await verify(stream(), **kwargs)


def at_sequence(messages: list[LedgerMessage]) -> list[LedgerMessage]:
    """The messages as a new stream would hold them: sequences 1..n, headers as they were."""
    return [replace(m, position=n) for n, m in enumerate(messages, 1)]


def faults(report) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[str]] = {}
    for f in report.faults:
        out.setdefault(f.position, []).append(f.problem)
    return out


async def test_the_scripted_ledger_verifies() -> None:
    report = await walk(LEDGER)
    assert report.ok and report.events == len(LEDGER) and report.head.hex() == LEDGER[-1].headers[topology.HASH_HEADER]


async def test_an_edited_event_breaks_the_chain_at_its_position_only() -> None:
    altered = list(LEDGER)
    altered[23] = replace(altered[23], data=altered[23].data.replace(b"dissatisfied", b"satisfied"))
    assert altered[23].data != LEDGER[23].data and b'"satisfaction":"satisfied"' in altered[23].data
    assert faults(await walk(altered)) == {24: ["hash chain broken: the bytes or an earlier event differ from what was chained"]}


async def test_a_dropped_event_is_named_once_whether_deleted_or_resequenced() -> None:
    deleted = LEDGER[:29] + LEDGER[30:]  # position 30 deleted: the stream jumps from 29 to 31
    found = faults(await walk(deleted))
    assert list(found) == [30, 31] and "missing" in found[30][0] and "hash chain broken" in found[31][0]
    resequenced = faults(await walk(at_sequence(deleted)))  # copied into a new stream: 31 now sits at 30
    assert list(resequenced) == [30]
    assert "holds the event chained at position 31" in resequenced[30][0] and "hash chain broken" in resequenced[30][1]


async def test_two_swapped_events_are_both_named() -> None:
    swapped = LEDGER[:29] + [LEDGER[30], LEDGER[29]] + LEDGER[31:]
    found = faults(await walk(at_sequence(swapped)))
    assert "chained at position 31" in found[30][0] and "chained at position 30" in found[31][0]
    assert min(found) == 30 and max(found) <= 32


async def test_subject_and_decoding_are_checked() -> None:
    moved = list(LEDGER)
    moved[5] = replace(moved[5], subject=moved[5].subject + ".x")
    assert "does not name the event's type" in faults(await walk(moved))[6][0]


async def test_a_rechained_rewrite_passes_the_chain_but_not_a_checkpoint() -> None:
    events = scenario()
    edited = [(e if e.event_id != "sc-24" else msgspec.structs.replace(e, satisfaction="satisfied"), subj) for e, subj in events]
    rewritten = [LedgerMessage(int(h[topology.POSITION_HEADER]), subject, data, h) for subject, data, h in chained(edited)]
    assert (await walk(rewritten)).ok, "a rewrite with a recomputed chain is consistent in itself"
    anchor = Anchor(65, LEDGER[64].headers[topology.HASH_HEADER], "of today at position 65")
    assert (await walk(LEDGER, anchors=[anchor])).anchors == 1
    assert "does not extend the checkpoint" in faults(await walk(rewritten, anchors=[anchor]))[65][0]
    assert "the ledger ends at 40" in faults(await walk(LEDGER[:40], anchors=[anchor]))[65][0]


def test_checkpoint_signatures_pin_the_key(tmp_path: Path) -> None:
    key, created = load_or_create_key(tmp_path / "k" / "checkpoint.key")
    assert created and (tmp_path / "k" / "checkpoint.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(tmp_path / "k" / "checkpoint.key")[0].public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    good = Checkpoint(65, "ab" * 32, "2026-11-26T00:00:00+00:00", public_hex(key), key.sign(signed_bytes(65, "ab" * 32, "2026-11-26T00:00:00+00:00")).hex())
    assert good.valid() and anchors([good], public_hex(key)) == ([Anchor(65, "ab" * 32, good.label)], [])
    forged = replace(good, hash="cd" * 32)
    assert not forged.valid() and "signature does not match" in anchors([forged], None)[1][0].problem
    other, _ = load_or_create_key(tmp_path / "other.key")
    resigned = Checkpoint(65, "cd" * 32, good.at, public_hex(other), other.sign(signed_bytes(65, "cd" * 32, good.at)).hex())
    assert resigned.valid() and "signed by another key" in anchors([resigned], public_hex(key))[1][0].problem


def test_unusable_checkpoint_files_and_keys_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "checkpoints.jsonl"
    bad.write_text('{"position": 3, "hash": "ab"}\n')
    with pytest.raises(CheckpointsUnusable, match="checkpoints.jsonl:1 is not a checkpoint"):
        load_checkpoints(bad)
    with pytest.raises(CheckpointsUnusable, match="cannot read"):
        load_checkpoints(tmp_path / "missing.jsonl")
    with pytest.raises(CheckpointsUnusable, match="neither 64 hex digits"):
        trusted_key("abc")
    assert trusted_key(None, tmp_path / "none.key") is None


def test_kpi_versions_follow_the_definitions_page() -> None:
    assert documented_version() == CURRENT == 1
    assert definitions(1).version == 1 and definitions().version == CURRENT
    with pytest.raises(UnknownKpiVersion, match="version 2 does not exist: this civic-ledger computes version 1"):
        definitions(2)


def test_as_of_instants() -> None:
    assert parse_instant("2026-03-09T18:00+08:00", "UTC") == datetime(2026, 3, 9, 10, tzinfo=timezone.utc)
    assert parse_instant("2026-03-09T18:00", "Asia/Shanghai") == datetime(2026, 3, 9, 18, tzinfo=CST)
    end_of_day = parse_instant("2026-03-09", "Asia/Shanghai")
    assert end_of_day < datetime(2026, 3, 10, tzinfo=CST) and end_of_day + timedelta(microseconds=1) == datetime(2026, 3, 10, tzinfo=CST)
    with pytest.raises(BadInstant):
        parse_instant("yesterday", "UTC")


def folded(tmp_path: Path, events) -> Replayed:  # type: ignore[no-untyped-def]
    """The ledger of these events, folded as a replay would, without a server."""
    defs = definitions()
    db = SQLiteDatabase(tmp_path / "replay.sqlite")
    defs.create_schema(db)
    projection = defs.projection(db, Clock())
    batch = [(int(h[topology.POSITION_HEADER]), s.decode(data, max_bytes=None)) for _, data, h in chained(events)]
    projection.apply(batch)
    return Replayed(db, defs, "Asia/Shanghai", datetime(2026, 3, 31, 23, tzinfo=CST), len(batch), tmp_path, len(batch), len(batch))


def report(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.yaml"
    path.write_text(text)
    return path


SEED_STYLE = """
title: March, district yn
org: yn
from: 2026-03-01
to: 2026-03-31
figures:
  collected: 7
  resolved: 4
  satisfaction_rate: 100 %
  disputes_mediated: 2
  dispute_success_rate: 100 %
  resolution_rate: 57.1%
  response_rate: 1
"""


def test_a_seed_style_report_against_the_scripted_district(tmp_path: Path) -> None:
    diff = check(folded(tmp_path, scenario()), load_report(report(tmp_path, SEED_STYLE)))
    lines = {line.figure: line for line in diff.lines}
    assert [line.figure for line in diff.refuted] == ["dispute_success_rate"]
    assert lines["dispute_success_rate"].ledger == "50.0 % (1 of 2)"
    assert lines["dispute_success_rate"].behind == ["failed: D2", "still in mediation (not counted): D3"]
    # 100 % holds by the definition (latest rating; basically satisfied counts), and says what it rests on.
    assert lines["satisfaction_rate"].supported and lines["satisfaction_rate"].behind == [
        "basically satisfied (counted as satisfied): T2", "rated dissatisfied before a later rating: T2"]
    assert lines["resolution_rate"].supported and lines["response_rate"].supported and lines["collected"].supported


def test_one_dissatisfied_rating_refutes_satisfaction_100(tmp_path: Path) -> None:
    def step(n: int, cls, actor, **fields):  # type: ignore[no-untyped-def]
        event = cls(event_id=f"x-{n}", occurred_at=datetime(2026, 3, 20, 9 + n, tzinfo=CST), source="scenario", actor=actor,
                    org_id="c1", ticket_id="T10", **fields)
        return event, topology.intake_subject(event, ("yn", "ta", "c1"))

    extra = [step(0, s.TicketRaised, RESIDENT, category="parking", title="bikes again"),
             step(1, s.TicketDispatched, DISPATCHER, deadline=datetime(2026, 3, 22, tzinfo=CST), to_unit="c1"),
             step(2, s.TicketAccepted, WORKER), step(3, s.TicketResolved, WORKER, resolution="moved"),
             step(4, s.TicketRated, RESIDENT, contacted=True, resolved=False, satisfaction="dissatisfied")]
    events = scenario()
    diff = check(folded(tmp_path, events + extra), load_report(report(tmp_path, SEED_STYLE)))
    lines = {line.figure: line for line in diff.lines}
    assert not lines["satisfaction_rate"].supported and lines["satisfaction_rate"].ledger == "75.0 % (3 of 4)"
    assert lines["satisfaction_rate"].behind[0] == "dissatisfied (latest rating): T10"
    assert not lines["collected"].supported and lines["collected"].behind == [
        "counted (8): T1, T2, T3, T4, T5, T8, T9, T10", "voided as duplicates (not counted): T6"]


def test_a_lower_bound_is_supported_by_that_many_or_more(tmp_path: Path) -> None:
    """"50+ enterprise problems resolved": `resolved: 50+` in a report (7 raised, 4 resolved here)."""
    replayed = folded(tmp_path, scenario())
    doc = "org: yn\nfrom: 2026-03-01\nto: 2026-03-31\nfigures:\n  raised: 7+\n  resolved: '4+'\n  closed: ' 5+'\n  dispatched: 8+\n"
    lines = {line.figure: line for line in check(replayed, load_report(report(tmp_path, doc))).lines}
    assert {k: v.supported for k, v in lines.items()} == {"raised": True, "resolved": True, "closed": False, "dispatched": False}
    assert lines["resolved"].published == "4+" and lines["dispatched"].behind, "the items not counted are listed"
    with pytest.raises(ReportInvalid, match="not a rate"):
        check(replayed, load_report(report(tmp_path, "org: yn\nto: 2026-03-31\nfigures: {satisfaction_rate: 90+}")))


def test_rounding_counts_and_bad_reports(tmp_path: Path) -> None:
    replayed = folded(tmp_path, scenario())

    def verdicts(figures: str) -> dict[str, bool]:
        doc = f"org: yn\nfrom: 2026-03-01\nto: 2026-03-31\nfigures:\n{figures}"
        return {line.figure: line.supported for line in check(replayed, load_report(report(tmp_path, doc))).lines}

    assert verdicts("  resolution_rate: 57 %\n  dispute_success_rate: 0.5\n  raised: '7'\n") == {
        "resolution_rate": True, "dispute_success_rate": True, "raised": True}
    assert verdicts("  resolution_rate: 58 %\n  resolved: 5\n  topics_implemented: 1\n") == {
        "resolution_rate": False, "resolved": False, "topics_implemented": True}
    json_report = tmp_path / "r.json"
    json_report.write_text('{"org": "ta", "to": "2026-03-31", "figures": {"collected": 2647, "overdue": 1}}')
    lines = check(replayed, load_report(json_report)).lines
    assert [(x.figure, x.supported) for x in lines] == [("collected", False), ("overdue", True)]
    assert lines[0].behind[-1] == "voided as duplicates (not counted): T6"
    with pytest.raises(ReportInvalid, match="unknown figure.*happiness"):
        load_report(report(tmp_path, "org: yn\nto: 2026-03-31\nfigures: {happiness: 100 %}"))
    with pytest.raises(ReportInvalid, match="`org` and `to` are required"):
        load_report(report(tmp_path, "figures: {raised: 1}"))
    with pytest.raises(ReportInvalid, match="not a rate"):
        check(replayed, load_report(report(tmp_path, "org: yn\nto: 2026-03-31\nfigures: {satisfaction_rate: all of them}")))
    with pytest.raises(ReportInvalid, match="not a rate"):
        check(replayed, load_report(report(tmp_path, "org: yn\nto: 2026-03-31\nfigures: {satisfaction_rate: 130 %}")))
