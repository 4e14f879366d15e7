"""Answers a user can act on (issue 15): `civic emit` and `civic import` wait for the ledger's
verdict and say accepted at position N or refused and why; `civic rejections` and the web list the
refusals, scoped and masked; clear errors for a user's mistakes, never a traceback; an event sent
without Nats-Msg-Id is found while it waits in intake. A real nats-server and pipeline; the CLI
as a subprocess, as a user runs it."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from producers.gateway import Tokens, tokens_path
from producers.sdk import Producer
from projections import event_index
from projections.event_index import RefusalQuery, event_status, refusals
from projections.projector import EventIndexer
from projections.store import Versions
from schemas import topology
from tests.support import bearer, small_district, stream_count, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
LOADED = "120"
"""--timeout for runs that expect every verdict: they return as soon as the last arrives; only a
machine loaded by other work needs more than the default 30 s without one."""


async def civic(settings, *args: str, url: str | None = None) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """`civic ARGS --data DIR` as a user runs it: (exit code, stdout, stderr)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}, "CIVIC_NATS_URL": url or settings.nats_url,
           "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "civic.cli", *args, "--data", str(settings.data_dir),
                                                   env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def district(settings, js) -> int:  # type: ignore[no-untyped-def]
    """The small district with one ticket's whole lifecycle (T0 at lx, closed); returns its event count."""
    events = small_district(tickets=1).events
    async with await Producer.connect(settings.nats_url) as producer:
        assert all(r.accepted for r in await producer.publish_many([e for e, _ in events]))

    async def in_ledger() -> bool:
        return await stream_count(js, topology.LEDGER) >= len(events)
    await wait_for(in_ledger, timeout=90)
    return len(events)


def event(event_id: str, kind: type = s.TicketRaised, **facts) -> dict:  # type: ignore[no-untyped-def]
    base = dict(event_id=event_id, occurred_at="2021-06-01T09:00:00+08:00", source="test", org_id="lx",
                actor={"role": "resident", "id": "r1"})
    if kind is s.TicketRaised:
        base.update(ticket_id="N1", category="parking", title="a car on the pavement")
    return {"type": kind.__name__, **base, **facts}


async def test_emit_waits_for_each_verdict_and_rejections_lists_the_refusals(settings, js, pipeline_with_projector, tmp_path):
    await district(settings, js)
    rating_on_closed = event("v-rate", s.TicketRated, ticket_id="T0", contacted=True, resolved=True, satisfaction="satisfied",
                             comment="call me on 138 1234 5678")
    lines = [json.dumps(event("v-good")), json.dumps(rating_on_closed),
             '{"type": "TicketRaised", "event_id": v-bad}',                       # line 3: malformed at the v, column 38
             json.dumps(event("v-cat", ticket_id="N2", category="Parking Lot"))]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")

    code, out, err = await civic(settings, "emit", "--timeout", LOADED, str(events))
    assert code == 1, out + err
    position = await stream_count(js, topology.LEDGER)  # v-good is the last event the ledger accepted
    assert f"accepted v-good at position {position}" in out, out
    assert "refused  v-rate: ticket_finished: The ticket is closed or voided; nothing more can happen to it." in out, out
    assert "refused  ?: line 3, column 38: malformed_json: JSON is malformed: invalid character" in out, out
    assert "refused  v-cat: line 4: invalid_field (category): `category` must be 1 to 48 characters, each a-z, 0-9 or _ " \
           "(A ticket or dispute category code, e.g. parking.)" in out, out
    assert "matching regex" not in out
    assert out.strip().endswith("1 accepted, 3 refused"), out

    # Again: v-good is a duplicate now, still "accepted" at its position; the refusal is still a refusal.
    again = tmp_path / "again.jsonl"
    again.write_text("\n".join(lines[:2]) + "\n")
    code, out, _ = await civic(settings, "emit", "--timeout", LOADED, str(again))
    assert code == 1 and f"accepted v-good at position {position}" in out and "refused  v-rate: ticket_finished" in out, out
    code, out, _ = await civic(settings, "emit", "--no-wait", str(again))
    assert code == 0 and "sent     v-good: in intake at #" in out and "accepted" not in out.splitlines()[0], out

    # The refusals, listed and filtered: the CLI (table and JSON) and the web for staff in scope.
    index = Versions(event_index.NAME, settings.data_dir)

    async def indexed() -> bool:
        db = index.open(index.current() or 1, readonly=True)
        try:
            return len(refusals(db, RefusalQuery(event_id="v-rate"))) == 1  # the resends were duplicates in intake
        finally:
            db.close()
    await wait_for(indexed, timeout=90)
    code, out, err = await civic(settings, "rejections", "--json", "--reason", "ticket_finished")
    assert code == 0, err
    found = json.loads(out)
    assert [(r["event_id"], r["reason"], r["org_path"]) for r in found] == [("v-rate", "ticket_finished", ["yn", "pm", "lx"])]
    assert all(r["at"] for r in found)
    code, out, _ = await civic(settings, "rejections", "--json", "--org", "nk")
    assert json.loads(out) == []
    code, out, _ = await civic(settings, "rejections", "--since", "2000-01-01", "--until", "2001-01-01", "--json")
    assert json.loads(out) == []
    # A detail that repeats what was sent shows phone numbers masked (an org id typed as a phone number).
    await js.publish("civic.intake.TicketRaised.13812345678", msgspec.json.encode(event("v-phone", org_id="13812345678")))

    async def masked():  # type: ignore[no-untyped-def]
        code, out, _ = await civic(settings, "rejections", "--json", "--event-id", "v-phone")
        return json.loads(out) if code == 0 and json.loads(out) else None
    (phone,) = await wait_for(masked, timeout=90)
    assert "138****5678" in phone["detail"] and "13812345678" not in phone["detail"], phone
    code, out, _ = await civic(settings, "rejections")
    assert code == 0 and "ticket_finished" in out and "v-rate" in out, out
    code, _, err = await civic(settings, "rejections", "--since", "last tuesday")
    assert code == 2 and "--since 'last tuesday' is neither a date" in err and "Traceback" not in err


async def test_user_mistakes_are_one_line_and_an_exit_code_not_a_traceback(settings, js, tmp_path):
    code, out, err = await civic(settings, "emit", str(tmp_path / "nowhere.jsonl"))
    assert (code, out) == (2, "") and err.strip() == f"cannot read {tmp_path / 'nowhere.jsonl'}: no such file", err
    (tmp_path / "one.json").write_text(json.dumps(event("x-1")))
    code, out, err = await civic(settings, "emit", str(tmp_path / "one.json"), url="nats://127.0.0.1:1")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "NATS unreachable" in err
    code, _, err = await civic(settings, "emit", "--timeout", "soon", str(tmp_path / "one.json"))
    assert code == 2 and "Traceback" not in err and "--timeout" in err
    (tmp_path / "no-header.csv").write_text("ticket_id,title\nT1,cars\n")
    code, _, err = await civic(settings, "import", str(tmp_path / "no-header.csv"), url="nats://127.0.0.1:1")
    assert code == 2 and err.strip() == (f"cannot import: {tmp_path / 'no-header.csv'}: the header lacks required columns "
                                         "['org_id', 'category', 'raised_at'] (see docs/import.md)"), err


async def test_with_no_ledger_running_an_event_is_pending_not_accepted(settings, js, tmp_path):
    root = s.OrgUnitRegistered(event_id="root-1", occurred_at="2021-01-01T00:00:00+08:00", source="test",  # type: ignore[arg-type]
                               actor=s.Actor(role="system", id="sys"), org_id="yn", kind="district", name="yn")
    (tmp_path / "root.json").write_bytes(s.encode(root))
    code, out, err = await civic(settings, "emit", "--timeout", "1", str(tmp_path / "root.json"))
    assert code == 1, out + err
    assert out.splitlines() == ["pending  root-1: in intake at #1, no verdict from the ledger yet",
                                "0 accepted, 0 refused, 1 still pending (no verdict yet: run it again to wait again; nothing is stored twice)"]


async def test_import_counts_a_row_only_once_the_ledger_accepted_it(settings, js, pipeline, tmp_path):
    await district(settings, js)
    header = ["ticket_id", "org_id", "category", "title", "raised_at", "dispatched_at"]
    first = tmp_path / "longxiang.csv"
    with open(first, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerow(["I-1", "lx", "parking", "cars", "2021-03-01 09:00", "2021-03-01 10:00"])
        writer.writerow(["I-2", "nk", "parking", "lamps", "2021-03-01 09:00", ""])
    code, out, err = await civic(settings, "import", "--timeout", LOADED, str(first))
    assert code == 0, out + err
    assert "2 of 2 rows imported: 3 events, 3 new, 0 already in intake; the ledger accepted 3 events, refused 0 rows" in out, out

    # The same rows under another file name: new event ids, tickets the ledger already has.
    second = tmp_path / "longxiang-copy.csv"
    second.write_bytes(first.read_bytes())
    code, out, err = await civic(settings, "import", "--timeout", LOADED, str(second))
    assert code == 1, out + err
    assert "0 of 2 rows imported: 0 events, 3 new, 0 already in intake; the ledger accepted 0 events, refused 2 rows" in out, out
    with open(tmp_path / "longxiang-copy.csv.report.csv") as f:
        report = list(csv.DictReader(f))
    assert [(r["line"], r["ticket_id"]) for r in report] == [("2", "I-1"), ("3", "I-2")]
    assert all(r["reason"].startswith("refused by the ledger: ticket_exists: ") for r in report), report

    # A quote never closed: that row is reported at its line, the rows after it are imported.
    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(header) + "\n" + 'I-3,lx,parking,"cars on the pavement,2021-03-02 09:00,\n'
                      + "I-4,lx,parking,lamps,2021-03-02 09:00,\nI-5,nk,parking,bins,2021-03-02 09:00,\n")
    code, out, _ = await civic(settings, "import", "--timeout", LOADED, str(broken))
    assert code == 1 and "2 of 3 rows imported" in out, out
    with open(tmp_path / "broken.csv.report.csv") as f:
        (problem,) = list(csv.DictReader(f))
    assert problem["line"] == "2" and "quote" in problem["reason"], problem


async def test_a_producer_sees_verdicts_only_in_its_subtrees_and_details_masked(settings, js, pipeline_with_projector):
    from civic.web import create_app

    await district(settings, js)
    tokens = Tokens(tokens_path(settings.data_dir))
    lx, nk = tokens.issue("test", ["lx"]), tokens.issue("test", ["nk"])
    bad = event("w-bad", s.TicketRated, ticket_id="T0", contacted=True, resolved=True, satisfaction="satisfied")
    async with await Producer.connect(settings.nats_url) as producer:
        (sent,) = await producer.publish_many([msgspec.json.encode(bad)])
    assert sent.accepted
    async with AsyncTestClient(create_app(settings)) as client:
        async def listed():  # type: ignore[no-untyped-def]
            answer = await client.get("/v1/rejections", params={"event_id": "w-bad"}, headers={"Authorization": f"Bearer {lx}"})
            return answer.json() if answer.status_code == 200 and answer.json() else None
        (refusal,) = await wait_for(listed, timeout=90)
        assert refusal["reason"] == "ticket_finished" and refusal["org_path"] == ["yn", "pm", "lx"]
        other = {"Authorization": f"Bearer {nk}"}
        assert (await client.get("/v1/rejections", headers=other)).json() == []
        assert (await client.get("/v1/events/w-bad", headers=other)).json()["status"] == "unknown"
        assert (await client.get("/v1/events/w-bad", headers={"Authorization": f"Bearer {lx}"})).json()["status"] == "rejected"
        assert (await client.get("/v1/rejections", headers={"Authorization": "Bearer nonsense"})).status_code == 401
        for since in ("2021-01-01T00:00:00", "0.5"):  # no offset; not a date-time
            answer = await client.get("/v1/rejections", params={"since": since}, headers={"Authorization": f"Bearer {lx}"})
            assert answer.status_code == 422 and answer.json()["extra"]["field"] == "since", answer.text

        # The web's readers: staff see the refusals in their unit's subtree, auditors all.
        for reader, seen in ((bearer(settings.data_dir, "lx-staff", "staff", "lx"), ["w-bad"]),
                             (bearer(settings.data_dir, "nk-staff", "staff", "nk"), []),
                             (bearer(settings.data_dir), ["w-bad"])):
            answer = await client.get("/api/rejections", params={"reason": "ticket_finished"}, headers=reader)
            assert answer.status_code == 200 and [r["event_id"] for r in answer.json()] == seen, answer.text
        assert (await client.get("/api/rejections")).status_code == 401


async def test_an_event_sent_without_nats_msg_id_is_pending_while_in_intake(settings, js):
    """No ledger runs: the event waits in intake, and the index (headers only) still finds it."""
    indexer = EventIndexer(js, Versions(event_index.NAME, settings.data_dir), 100)
    stop = asyncio.Event()
    task = asyncio.create_task(indexer.run(stop))
    try:
        raised = msgspec.json.encode(event("no-header-1"))
        ack = await js.publish("civic.intake.TicketRaised.yn.pm.lx", raised)  # no Nats-Msg-Id, as a plain NATS client sends

        async def found():  # type: ignore[no-untyped-def]
            versions = Versions(event_index.NAME, settings.data_dir)
            if versions.current() is None:
                return None
            db = versions.open(versions.current() or 1, readonly=True)
            try:
                got = event_status(db, "no-header-1")
            finally:
                db.close()
            return got if got.status != "unknown" else None
        got = await wait_for(found, timeout=90)
        assert (got.status, got.intake_sequence) == ("pending", ack.seq)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_an_unknown_parent_is_reported_at_parent_id(settings, js):
    from adapters.bus import ensure_org_directory

    await ensure_org_directory(js)
    orphan = s.OrgUnitRegistered(event_id="o-1", occurred_at="2021-06-01T09:00:00+08:00", source="test",  # type: ignore[arg-type]
                                 actor=s.Actor(role="system", id="sys"), org_id="h9", kind="hamlet", name="h9", parent_id="nowhere")
    async with await Producer.connect(settings.nats_url, org_grace=0.0) as producer:
        result = await producer.publish(msgspec.json.encode(orphan))
    assert not result.accepted and result.field == "parent_id", result
    assert "nowhere" in (result.reason or "")
