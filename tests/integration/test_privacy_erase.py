"""Erasing a resident on a real nats-server and store (issue 11, "Residents' personal data").

The markers test: a resident whose name, phone and address carry known markers reports a ticket
(accepted) and sends one that is refused; `civic privacy erase` records PersonalDataErased, the
ledger destroys the key, the eraser deletes the intake and rejected messages; then no file under
the data folder (the nats-server's JetStream files included) and no stream holds a marker, and
`civic audit verify` still passes. The crash test SIGKILLs the ledger process while erasures and
later events for the same residents are being processed: after restarts every erasure is
recorded with its key destroyed, and every later event is readable under a fresh key.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

import msgspec
import nats
import pytest
from typer.testing import CliRunner

import schemas as s
from adapters.eventstore import open_position_reader, open_recorder
from adapters.keys import KeyStore
from adapters.natsserver import NatsServer, fixture_password
from civic.cli import app
from config import Settings
from consumers.eraser import Eraser
from domain.personal import unseal
from producers.privacy import erasure
from schemas import topology
from tests.conftest import RoleProcess, running_pipeline
from tests.scenario import scenario
from tests.support import publish_all, stream_count, wait_for

pytestmark = pytest.mark.integration

MARKERS = (b"Zq7Name", b"1300777", b"Zq7Road")
MARKED = s.PersonalData(resident_id="res-marked", name="Zq7Name Wang", phone="13007770000", address="9 Zq7Road, Pumiao")


def civic(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data", str(settings.data_dir)],
                                env={"CIVIC_NATS_URL": settings.nats_url, "CIVIC_DATABASE_URL": None, "CIVIC_DATA_DIR": None,
                                     "CIVIC_CHECKPOINT_DIR": None, "CIVIC_CHECKPOINT_WITNESS": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def ticket(n: int, personal: s.PersonalData, org: str = "g1", **kw) -> s.TicketRaised:  # type: ignore[no-untyped-def]
    at = scenario()[-1][0].occurred_at + timedelta(hours=n)
    return s.TicketRaised(event_id=f"mk-{n}", occurred_at=at, source="test", actor=s.Actor(role="resident", id=personal.resident_id),
                          org_id=org, ticket_id=f"MK{n}", category="parking", title="车位 parking", channel="hotline",
                          personal=(personal,), **kw)


PATHS = {"g1": ("yn", "ta", "c1", "g1"), "h1": ("yn", "ta", "v1", "h1")}


async def every_stream_message(js) -> list[bytes]:  # type: ignore[no-untyped-def]
    out = []
    for name in (topology.INTAKE, topology.LEDGER, topology.REJECTED, f"KV_{topology.ORG_DIRECTORY}"):
        info = (await js.stream_info(name)).state
        for seq in range(info.first_seq, info.last_seq + 1):
            try:
                m = await js.get_msg(name, seq=seq)
            except nats.js.errors.NotFoundError:
                continue  # deleted
            out.append((m.data or b"") + repr(m.headers).encode())
    return out


def files_with_markers(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(x in p.read_bytes() for x in MARKERS)]


async def test_an_erased_resident_is_nowhere_in_the_data_folder_or_the_streams(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = NatsServer(data / "nats", password=fixture_password()).start()  # as `civic up` runs it: JetStream files inside the data folder
    settings = Settings(data_dir=data, nats_url=server.url, batch_size=500)
    try:
        async with running_pipeline(settings):
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            eraser_stop = asyncio.Event()
            reader = open_position_reader(settings)
            eraser = asyncio.create_task(Eraser(await nats.connect(server.url), lambda: reader.max_tracking_id(topology.INTAKE) or 0).run(eraser_stop))
            events = scenario()
            await publish_all(js, events)
            accepted, refused = ticket(1, MARKED), ticket(2, MARKED)
            await js.publish(topology.intake_subject(accepted, PATHS["g1"]), s.encode(accepted), headers={"Nats-Msg-Id": accepted.event_id})
            # Refused (the subject names another unit): CIVIC_REJECTED keeps the bytes as sent.
            await js.publish(topology.intake_subject(refused, PATHS["h1"]), s.encode(refused), headers={"Nats-Msg-Id": refused.event_id})
            other = ticket(3, s.PersonalData(resident_id="res-other", name="Other Person", phone="13100000000"))
            await js.publish(topology.intake_subject(other, PATHS["g1"]), s.encode(other), headers={"Nats-Msg-Id": other.event_id})
            await wait_for(lambda: _at_least(js, topology.LEDGER, len(events) + 2))
            await wait_for(lambda: _at_least(js, topology.REJECTED, 1))
            assert any(any(x in m for x in MARKERS) for m in await every_stream_message(js)), "the markers are in intake before"

            code, output = await asyncio.to_thread(civic, settings, "privacy", "erase", "res-marked", "--reason", "asked", "--org", "yn")
            assert code == 0 and output.startswith("accepted erasure-") and " at position " in output, output  # the ledger's verdict

            async def gone() -> bool:
                return not any(any(x in m for x in MARKERS) for m in await every_stream_message(js))
            await wait_for(gone)
            await wait_for(lambda: _at_least(js, topology.LEDGER, len(events) + 3))
            eraser_stop.set()
            await eraser
            # The other resident's data is untouched and still readable.
            keys = KeyStore(settings.keys_path)
            stored = [s.decode(n.state, max_bytes=None) for n in open_recorder(settings).select_notifications(start=1, limit=10_000)]
            (kept,) = [e for e in stored if e.event_id == other.event_id]
            (erased,) = [e for e in stored if e.event_id == accepted.event_id]
            assert unseal(kept.event_id, kept.sealed[0], keys) == other.personal[0]
            assert unseal(erased.event_id, erased.sealed[0], keys) is None
            (record,) = [e for e in stored if e.type == "PersonalDataErased"]
            assert record.resident_id == "res-marked" and len(record.erased_keys) == 1
            keys.close()
            await nc.close()
    finally:
        server.stop()
    assert files_with_markers(data) == [], "no file under the data folder holds the erased resident's data"
    server = NatsServer(data / "nats", password=fixture_password()).start()
    try:
        code, output = await asyncio.to_thread(civic, Settings(data_dir=data, nats_url=server.url), "audit", "verify")
        assert code == 0 and output.startswith("ledger ok"), output
    finally:
        server.stop()


async def _at_least(js, stream: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await stream_count(js, stream) >= n


async def test_sigkill_during_erasure_ends_with_both_done(settings: Settings, js, role_processes, tmp_path: Path) -> None:
    ledger = RoleProcess("ledger", settings, tmp_path / "ledger.log").start()
    role_processes.append(ledger)
    await publish_all(js, [(e, subj) for e, subj in scenario() if isinstance(e, s.OrgUnitRegistered)])
    rng, rounds = random.Random(11), 4
    residents = [s.PersonalData(resident_id=f"res-k{i}", name=f"Killed {i}", phone=f"1390000{i:04d}") for i in range(rounds)]
    before = [ticket(10 + i, p) for i, p in enumerate(residents)]
    await publish_all(js, [(e, topology.intake_subject(e, PATHS["g1"])) for e in before])
    await wait_for(lambda: asyncio.sleep(0, (settings.data_dir / "ledger.sqlite").exists()))
    recorder = open_recorder(settings)
    await wait_for(lambda: asyncio.sleep(0, len(_stored(recorder)) >= len(before) + 11))
    after = []
    for i, person in enumerate(residents):
        gone = erasure(person.resident_id, "asked", "yn")
        later = ticket(20 + i, person)
        after.append((gone, later))
        await publish_all(js, [(gone, topology.intake_subject(gone, ("yn",))), (later, topology.intake_subject(later, PATHS["g1"]))])
        await asyncio.sleep(rng.uniform(0.0, 0.25))
        ledger.kill()
        ledger.start()
    await wait_for(lambda: asyncio.sleep(0, len(_stored(recorder)) >= len(before) + 11 + 2 * rounds), timeout=60)
    ledger.stop()
    stored = {e.event_id: e for e in (s.decode(n.state, max_bytes=None) for n in _stored(recorder))}
    keys = KeyStore(settings.keys_path)
    for old, (gone, later) in zip(before, after):
        record, fresh, first = stored[gone.event_id], stored[later.event_id], stored[old.event_id]
        assert first.sealed[0].key_id in record.erased_keys, "the erasure names the key that sealed the earlier data"
        assert unseal(first.event_id, first.sealed[0], keys) is None, "and that key is gone"
        assert fresh.sealed[0].key_id not in record.erased_keys, "nothing later is sealed with the old key"
        assert unseal(fresh.event_id, fresh.sealed[0], keys) == later.personal[0]
    keys.close()


def _stored(recorder) -> list:  # type: ignore[no-untyped-def]
    try:
        return list(recorder.select_notifications(start=1, limit=10_000))
    except Exception:  # the ledger has not created its tables yet
        return []
