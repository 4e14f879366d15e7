"""History is never rebuilt silently (DESIGN.md invariant 9), on a real nats-server and store.

The attack of issue 11: a checkpoint is signed (outside the data folder), one stored event is
edited (a "satisfied" rating made "dissatisfied"), CIVIC_LEDGER is deleted by an admin client and
one more event is published: the relay must not rebuild the stream from the edited store (alarm,
health faulty), `civic audit verify` names the position and the checkpoint it contradicts, and
`civic ledger recover` refuses. The benign cases: a stream that lost its tail is completed from
the store; a message the relay did not write raises the alarm, and recover rebuilds the stream.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta

import nats
import pytest
from typer.testing import CliRunner

import schemas as s
from adapters.alarm import read_alarm
from adapters.bus import ensure_streams
from audit.reader import read_ledger
from civic.cli import app
from config import Settings
from dashboards.health import HealthProbe
from schemas import topology
from tests.conftest import running_pipeline
from tests.scenario import scenario
from tests.support import publish_all, stream_count, wait_for

pytestmark = pytest.mark.integration


def civic(settings: Settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data", str(settings.data_dir)],
                                env={"CIVIC_NATS_URL": settings.nats_url, "CIVIC_DATABASE_URL": None, "CIVIC_DATA_DIR": None,
                                     "CIVIC_CHECKPOINT_DIR": None, "CIVIC_CHECKPOINT_WITNESS": None, **(env or {})})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


async def filled(settings: Settings) -> int:
    """The scripted district through ledger and relay; returns how many events the ledger holds."""
    events = scenario()
    async with running_pipeline(settings):
        nc = await nats.connect(settings.nats_url)
        await publish_all(nc.jetstream(), events)
        await wait_for(lambda: _count(nc, len(events)))
        await nc.close()
    return len(events)


async def _count(nc: nats.NATS, n: int) -> bool:
    return await stream_count(nc.jetstream(), topology.LEDGER) == n


async def one_more(settings: Settings) -> None:
    """An event the ledger accepts after the attack: grid g1 renamed."""
    last = scenario()[-1][0]
    event = s.OrgUnitRenamed(event_id="after-attack", occurred_at=last.occurred_at + timedelta(hours=1), source="test",
                             actor=s.Actor(role="system", id="admin-1"), org_id="g1", name="Grid 1 (renamed)")
    subject = next(subject for e, subject in scenario() if e.org_id == "g1" and e.type == "TicketRaised")
    nc = await nats.connect(settings.nats_url)
    await nc.jetstream().publish(subject.replace("TicketRaised", event.type), s.encode(event), headers={"Nats-Msg-Id": event.event_id})
    await nc.close()


async def test_an_edited_store_and_a_deleted_stream_raise_the_alarm_and_fail_verify(settings: Settings, js) -> None:
    events = await filled(settings)
    code, output = await asyncio.to_thread(civic, settings, "audit", "checkpoint")
    home = settings.data_dir.with_name(settings.data_dir.name + ".checkpoints")
    assert code == 0 and f"checkpoint: position {events}" in output and str(home) in output
    assert (home / "checkpoint.key").stat().st_mode & 0o777 == 0o600
    assert not (settings.data_dir / "audit").exists(), "nothing of the checkpoints stays in the data folder"
    code, output = await asyncio.to_thread(civic, settings, "audit", "verify")
    assert code == 0 and "extends 1 signed checkpoint(s)" in output, output

    # The attacker with the data folder edits T1's satisfied rating ...
    db = sqlite3.connect(settings.data_dir / "ledger.sqlite")
    rowid, state = next((r, s) for r, s in db.execute("SELECT rowid, state FROM stored_events ORDER BY rowid")
                        if b'"ticket_id":"T1"' in s and b'"satisfaction":"satisfied"' in s)
    db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (state.replace(b'"satisfied"', b'"dissatisfied"'), rowid))
    db.commit()
    db.close()
    position = [m.position async for m in read_ledger(js) if m.data == state][0]
    # ... and, with an admin client, deletes the ledger stream; then one more event arrives.
    await js.delete_stream(topology.LEDGER)
    async with running_pipeline(settings):
        await one_more(settings)
        await wait_for(lambda: asyncio.sleep(0, read_alarm(settings.ledger_alarm_path) is not None))
        await asyncio.sleep(1.5)  # give a wrong relay every chance to rebuild
        try:
            rebuilt = (await js.stream_info(topology.LEDGER)).state.messages
        except nats.js.errors.NotFoundError:
            rebuilt = 0
        assert rebuilt == 0, "the relay must not rebuild the stream from the edited store"
    alarm = read_alarm(settings.ledger_alarm_path)
    assert alarm is not None and alarm.code in ("ledger_stream_missing", "ledger_stream_emptied") and str(events) in alarm.problem
    probe = HealthProbe(settings.nats_url, settings.ledger_alarm_path)
    health = await probe.check()
    await probe.close()
    assert health.status == "faulty" and health.reasons == [alarm.code]

    await ensure_streams(js)  # as any role's start would: an empty CIVIC_LEDGER
    code, output = await asyncio.to_thread(civic, settings, "audit", "verify")
    assert code == 1, output
    assert f"position {events}: the ledger ends at 0, before the checkpoint of" in output
    assert f"position {events}: the event store does not extend the checkpoint of" in output
    assert f"at or before position {events} was edited" in output and position <= events

    code, output = await asyncio.to_thread(civic, settings, "ledger", "recover", "--republish-from-store", "--reason", "try it")
    assert code == 1 and "REFUSED: the event store contradicts the newest checkpoint" in output, output
    assert read_alarm(settings.ledger_alarm_path) is not None, "a refused recovery leaves the alarm raised"
    logged = [json.loads(x) for x in (home / "recoveries.jsonl").read_text().splitlines()]
    assert logged[-1]["outcome"] == "refused" and logged[-1]["reason"] == "try it"


async def test_a_lost_tail_is_republished_and_a_foreign_message_needs_the_operator(settings: Settings, js) -> None:
    events = await filled(settings)
    messages = [m async for m in read_ledger(js)]
    code, _ = await asyncio.to_thread(civic, settings, "audit", "checkpoint")
    assert code == 0
    # A nats-server that lost its last 5 writes: the stream ends early, its last message the store's.
    await js.delete_stream(topology.LEDGER)
    await ensure_streams(js)
    for m in messages[:-5]:
        await js.publish(m.subject, m.data, headers={k: v for k, v in m.headers.items() if k.startswith("Civic-")})
    async with running_pipeline(settings):
        nc = await nats.connect(settings.nats_url)
        await wait_for(lambda: _count(nc, events))
        # A client the relay is not publishes to the ledger subjects.
        await nc.jetstream().publish("civic.ledger.TicketRaised.yn", b'{"forged":true}')
        await one_more(settings)
        await wait_for(lambda: asyncio.sleep(0, read_alarm(settings.ledger_alarm_path) is not None))
        alarm = read_alarm(settings.ledger_alarm_path)
        assert alarm is not None and alarm.code == "ledger_foreign_message" and f"position {events + 1}" in alarm.problem
        assert await stream_count(nc.jetstream(), topology.LEDGER) == events + 1, "nothing published after the alarm"
        code, output = await asyncio.to_thread(civic, settings, "ledger", "recover", "--republish-from-store", "--reason", "forged message")
        assert code == 0 and "deleted CIVIC_LEDGER" in output and "extends the newest checkpoint" in output, output
        await wait_for(lambda: _count(nc, events + 1))
        await nc.close()
    code, output = await asyncio.to_thread(civic, settings, "audit", "verify")
    assert code == 0 and f"ledger ok: {events + 1} events" in output and "extends 1 signed checkpoint(s)" in output, output
    assert read_alarm(settings.ledger_alarm_path) is None


async def test_checkpoints_go_to_a_witness_server_and_verify_reads_them(settings: Settings, js, tmp_path: Path) -> None:
    from dataclasses import replace

    from adapters.natsserver import NatsServer, fixture_password

    events = await filled(settings)
    witness = NatsServer(tmp_path / "witness", password=fixture_password()).start()  # another nats-server: out of reach of this data folder
    try:
        env = {"CIVIC_CHECKPOINT_WITNESS": witness.url}
        code, output = await asyncio.to_thread(civic, settings, "audit", "checkpoint", env=env)
        assert code == 0 and f"sent to the witness {witness.url}" in output, output
        nc = await nats.connect(witness.url)
        held = json.loads((await nc.jetstream().get_msg(topology.CHECKPOINTS, seq=1)).data)
        await nc.close()
        assert held["position"] == events
        # The local copies are lost (or doctored): the witness's copy still anchors verify.
        home = settings.data_dir.with_name(settings.data_dir.name + ".checkpoints")
        (home / "checkpoints.jsonl").unlink()
        code, output = await asyncio.to_thread(civic, settings, "audit", "verify", env=env)
        assert code == 0 and "extends 1 signed checkpoint(s)" in output, output
        code, output = await asyncio.to_thread(civic, replace(settings, data_dir=home / "inside"), "audit", "checkpoint",
                                               env={"CIVIC_CHECKPOINT_DIR": str(home / "inside" / "cp")})
        assert code == 2 and "is inside the data folder" in output, output
    finally:
        witness.stop()
