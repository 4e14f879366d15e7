"""`civic audit verify`, `checkpoint` and `export` on a real ledger (nats-server, ledger, relay,
SQLite) and on copies of it altered the way an insider could: a stored event edited, dropped or
two swapped in a copy of the event store; the same in a copy of the stream on another server; a
rewrite of both with the chain recomputed, which only signed checkpoints catch; an exported
bundle with one line edited. Every command runs through the CLI, as an auditor runs it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nats
import pytest
from typer.testing import CliRunner

from audit.reader import LedgerMessage, read_ledger
from bench.replay import publish_ledger
from civic.cli import app
from adapters.natsserver import NatsServer, fixture_password
from config import Settings
from adapters.bus import stream_configs
from schemas import ledger as wire
from schemas import topology
from tests.conftest import running_pipeline
from tests.scenario import scenario
from tests.support import publish_all, stream_count, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Built:
    server: NatsServer
    data: Path
    messages: list[LedgerMessage]

    def at(self, needle: bytes) -> LedgerMessage:
        return next(m for m in self.messages if needle in m.data)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The scripted district through the real pipeline, once for the module."""
    root = tmp_path_factory.mktemp("ledger")
    server = NatsServer(root / "nats", password=fixture_password()).start()
    settings = Settings(data_dir=root / "data", nats_url=server.url, batch_size=500)

    async def fill() -> list[LedgerMessage]:
        async with running_pipeline(settings):
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await publish_all(js, scenario())

            async def relayed():
                return await stream_count(js, topology.LEDGER) == len(scenario())
            await wait_for(relayed)
            messages = [m async for m in read_ledger(js)]
            await nc.close()
        return messages

    yield Built(server, settings.data_dir, asyncio.run(fill()))
    server.stop()


def civic(url: str, data: Path, *args: str) -> tuple[int, str]:
    """`civic ARGS --data DATA` as an auditor runs it, against the NATS server at url: (exit code, output)."""
    result = CliRunner().invoke(app, [*args, "--data", str(data)],
                                env={"CIVIC_NATS_URL": url, "CIVIC_DATABASE_URL": None, "CIVIC_DATA_DIR": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def faulted(output: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for m in re.finditer(r"^position (\d+): (.*)$", output, re.M):
        found.setdefault(int(m.group(1)), []).append(m.group(2))
    return found


def store_copy(built: Built, folder: Path) -> sqlite3.Connection:
    """A copy of the event store (the backup API: the WAL included) in folder/ledger.sqlite."""
    folder.mkdir(parents=True, exist_ok=True)
    source, copy = sqlite3.connect(built.data / "ledger.sqlite"), sqlite3.connect(folder / "ledger.sqlite")
    source.backup(copy)
    source.close()
    return copy


def notification(m: LedgerMessage) -> int:
    return int(m.headers[topology.NOTIFICATION_ID_HEADER])


def test_the_ledger_as_written_verifies(built: Built) -> None:
    code, output = civic(built.server.url, built.data, "audit", "verify")
    assert code == 0 and output.startswith(f"ledger ok: {len(scenario())} events, head {built.messages[-1].headers[topology.HASH_HEADER]}")


@pytest.mark.parametrize("alteration", ["edit", "drop", "swap"])
def test_an_altered_event_store_is_caught_at_each_position(built: Built, tmp_path: Path, alteration: str) -> None:
    rated, closed = built.at(b'"satisfaction":"dissatisfied"'), built.at(b'"type":"TicketClosed"')
    db = store_copy(built, tmp_path)
    if alteration == "edit":
        db.execute("UPDATE stored_events SET state=? WHERE rowid=?",
                   (rated.data.replace(b'"dissatisfied"', b'"satisfied"'), notification(rated)))
        expected = {rated.position: ["differs from the event store"]}
    elif alteration == "drop":
        db.execute("DELETE FROM stored_events WHERE rowid=?", (notification(rated),))
        expected = {rated.position: [f"in the stream but not in the event store (notification {notification(rated)})"]}
    else:
        db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (closed.data, notification(rated)))
        db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (rated.data, notification(closed)))
        expected = {rated.position: ["differs from the event store"], closed.position: ["differs from the event store"]}
    db.commit()
    db.close()
    code, output = civic(built.server.url, tmp_path, "audit", "verify")
    assert code == 1 and faulted(output) == expected, output
    assert "ledger FAULTY" in output


def altered_stream(messages: list[LedgerMessage], alteration: str, p: int) -> list[LedgerMessage]:
    """The messages, in a new stream's order, with position p edited, dropped, or swapped with p+1."""
    out = list(messages)
    if alteration == "edit":
        out[p - 1] = LedgerMessage(p, out[p - 1].subject, out[p - 1].data.replace(b'"dissatisfied"', b'"satisfied"'), out[p - 1].headers)
    elif alteration == "drop":
        del out[p - 1]
    else:
        out[p - 1], out[p] = out[p], out[p - 1]
    return out


async def copy_stream(messages: list[LedgerMessage], root: Path, deletable: bool = False) -> NatsServer:
    """A second nats-server whose CIVIC_LEDGER holds these messages, headers and all."""
    server = NatsServer(root / "nats", password=fixture_password()).start()
    nc = await nats.connect(server.url)
    js = nc.jetstream(publish_async_max_pending=4000)
    config = next(c for c in stream_configs() if c.name == topology.LEDGER)
    config.deny_delete = not deletable  # an operator who can reconfigure the stream could do the same
    await js.add_stream(config)
    # Without the relay's Nats-Expected-Last-Sequence: the copy is resequenced where a message is dropped.
    civic_headers = lambda m: {k: v for k, v in m.headers.items() if k.startswith("Civic-")}  # noqa: E731
    await publish_ledger(js, [(m.subject, m.data, civic_headers(m)) for m in messages])
    await nc.close()
    return server


@pytest.mark.parametrize("alteration", ["edit", "drop", "swap"])
async def test_an_altered_copy_of_the_stream_is_caught_at_each_position(built: Built, tmp_path: Path, alteration: str) -> None:
    p = built.at(b'"satisfaction":"dissatisfied"').position
    server = await copy_stream(altered_stream(built.messages, alteration, p), tmp_path)
    try:
        code, output = await asyncio.to_thread(civic, server.url, tmp_path, "audit", "verify", "--no-store")
    finally:
        server.stop()
    found = faulted(output)
    assert code == 1 and min(found) == p, output
    if alteration == "edit":
        assert found == {p: ["hash chain broken: the bytes or an earlier event differ from what was chained"]}
    elif alteration == "drop":
        assert list(found) == [p] and f"holds the event chained at position {p + 1}" in found[p][0]
    else:
        assert f"chained at position {p + 1}" in found[p][0] and f"chained at position {p}" in found[p + 1][0]


async def test_a_message_deleted_from_the_stream_is_named(built: Built, tmp_path: Path) -> None:
    p = 30
    server = await copy_stream(built.messages, tmp_path, deletable=True)
    try:
        nc = await nats.connect(server.url)
        await nc.jetstream().delete_msg(topology.LEDGER, p)
        await nc.close()
        code, output = await asyncio.to_thread(civic, server.url, tmp_path, "audit", "verify", "--no-store")
    finally:
        server.stop()
    found = faulted(output)
    assert code == 1 and list(found) == [p, p + 1] and "position 30 deleted" in found[p][0]


async def test_a_rewrite_of_store_and_stream_is_caught_only_by_the_checkpoints(built: Built, tmp_path: Path) -> None:
    keys = tmp_path / "auditors"
    sign = ("audit", "checkpoint", "--key", str(keys / "checkpoint.key"), "--out", str(keys / "checkpoints.jsonl"))
    against_checkpoints = ("audit", "verify", "--checkpoints", str(keys / "checkpoints.jsonl"))
    code, output = await asyncio.to_thread(civic, built.server.url, built.data, *sign)
    assert code == 0 and f"checkpoint: position {len(built.messages)}" in output
    assert (keys / "checkpoint.key").stat().st_mode & 0o777 == 0o600
    public = (keys / "checkpoint.pub").read_text().strip()
    line = json.loads((keys / "checkpoints.jsonl").read_text())
    assert line["hash"] == built.messages[-1].headers[topology.HASH_HEADER] and line["public_key"] == public

    # An insider edits T2's dissatisfied rating and recomputes every later hash, in the store and the stream.
    rated = built.at(b'"satisfaction":"dissatisfied"')
    db = store_copy(built, tmp_path / "rewritten")
    rewritten, chain = [], wire.GENESIS
    for m in built.messages:
        data = m.data.replace(b'"dissatisfied"', b'"satisfied"') if m is rated else m.data
        chain = wire.chain_hash(chain, m.position, data)
        rewritten.append(LedgerMessage(m.position, m.subject, data, {**m.headers, topology.HASH_HEADER: chain.hex()}))
        db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (data, notification(m)))
    db.commit()
    db.close()
    server = await copy_stream(rewritten, tmp_path / "rewritten")
    try:
        code, output = await asyncio.to_thread(civic, server.url, tmp_path / "rewritten", "audit", "verify")
        assert code == 0 and output.startswith("ledger ok"), "consistent in itself: the chain alone cannot tell"
        code, output = await asyncio.to_thread(civic, server.url, tmp_path / "rewritten", *against_checkpoints, "--public-key", public)
        assert code == 1 and "does not extend the checkpoint" in faulted(output)[len(built.messages)][0], output
        # Nor does the next checkpoint extend the file over the rewrite: the signed position's hash changed.
        code, output = await asyncio.to_thread(civic, server.url, tmp_path / "rewritten", *sign)  # keys outside its data folder
        assert code == 1 and "no longer carries the hash of the checkpoint" in output
    finally:
        server.stop()
    code, output = await asyncio.to_thread(civic, built.server.url, built.data, *against_checkpoints,
                                           "--public-key", str(keys / "checkpoint.pub"))
    assert code == 0 and "extends 1 signed checkpoint(s)" in output


def test_a_bundle_verifies_offline_and_names_an_edited_line(built: Built, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    code, output = civic(built.server.url, built.data, "audit", "export", str(bundle), "--org", "ta",
                         "--from", "2026-03-01", "--to", "2026-03-05")
    assert code == 0 and "exported" in output
    assert {p.name for p in bundle.iterdir()} == {"events.jsonl", "anchor.json", "kpis.md", "README.md"}
    lines = (bundle / "events.jsonl").read_bytes().splitlines()
    exported = [json.loads(x) for x in lines]
    assert all("ta" in msgspec.json.decode(x["stored"])["org_path"] for x in exported)
    ids = {x["event_id"] for x in exported}
    assert ids >= {"sc-2", "sc-12", "sc-24"} and "sc-1" not in ids, "the town, its subtree; not the district above it"
    assert max(x["occurred_at"] for x in exported) < "2026-03-06", "nothing after the window"
    assert not any(b"Resident One" in x or b"13900000001" in x for x in lines), "personal data stays sealed"
    code, output = civic(built.server.url, built.data, "audit", "export", str(tmp_path / "nowhere"), "--org", "nowhere",
                         "--from", "2026-03-01", "--to", "2026-03-05")
    assert code == 1 and "no such unit" in output
    code, output = civic("nats://127.0.0.1:1", tmp_path, "audit", "verify", "--bundle", str(bundle))
    assert code == 0 and output.startswith(f"bundle ok: {len(exported)} events of ta"), output

    number = next(i for i, x in enumerate(exported, 1) if x["event_id"] == "sc-24")
    lines[number - 1] = lines[number - 1].replace(b'\\"dissatisfied\\"', b'\\"satisfied\\"')
    (bundle / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    code, output = civic("nats://127.0.0.1:1", tmp_path, "audit", "verify", "--bundle", str(bundle))
    assert code == 1 and f"line {number} (position 24): the hash recomputed" in output, output
    # The bundle's own README check, with nothing but Python, names the same line.
    snippet = re.search(r"```python\n(.*?)```", (bundle / "README.md").read_text(), re.S).group(1)  # type: ignore[union-attr]
    ran = subprocess.run([sys.executable, "-c", snippet], cwd=bundle, capture_output=True, text=True, check=True)
    assert [x.split()[0] for x in ran.stdout.splitlines() if x.endswith("ALTERED")] == [str(number)]


def test_checkpoint_refuses_a_ledger_that_does_not_verify(built: Built, tmp_path: Path) -> None:
    async def check() -> tuple[int, str]:
        p = built.at(b'"satisfaction":"dissatisfied"').position
        server = await copy_stream(altered_stream(built.messages, "edit", p), tmp_path)
        try:
            return await asyncio.to_thread(civic, server.url, tmp_path, "audit", "checkpoint")
        finally:
            server.stop()
    code, output = asyncio.run(check())
    home = tmp_path.with_name(tmp_path.name + ".checkpoints")  # outside the data folder, by default its sibling
    assert code == 1 and "no checkpoint written" in output
    assert not (home / "checkpoints.jsonl").exists()
    assert (home / "checkpoint.key").exists(), "the key is made on first use all the same"


def test_civic_up_checkpoints_on_a_schedule(built: Built, tmp_path: Path) -> None:
    """The supervisor of `civic up` (here with no roles, on the module's NATS) signs the head every
    CIVIC_CHECKPOINT_MINUTES."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")},
           "CIVIC_NATS_URL": built.server.url, "CIVIC_CHECKPOINT_MINUTES": "0.01"}
    supervisor = subprocess.Popen([sys.executable, "-c", "from config import Settings; from civic.supervisor import Supervisor; "
                                   f"raise SystemExit(Supervisor(Settings.from_env({str(tmp_path)!r}), roles=()).run())"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    home = tmp_path.with_name(tmp_path.name + ".checkpoints")  # outside the data folder, by default its sibling
    checkpoints = home / "checkpoints.jsonl"
    try:
        deadline = time.monotonic() + 30
        while not (checkpoints.exists() and checkpoints.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(15) == 0
    line = json.loads(checkpoints.read_text().splitlines()[0])
    assert line["position"] == len(built.messages) and line["hash"] == built.messages[-1].headers[topology.HASH_HEADER]
    assert (home / "checkpoint.key").stat().st_mode & 0o777 == 0o600
