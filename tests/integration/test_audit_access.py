"""The auditor's NATS account (docs/audit.md, "Auditor access"): a real nats-server with a writer
and an auditor; the auditor verifies, replays, traces, exports and keeps its own checkpoints, and
every attempt to write, delete, purge or reconfigure, or to read intake (personal data in clear),
is refused by the server."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from bench.replay import chained, publish_ledger
from adapters.natsserver import NatsServer
from adapters.bus import ensure_streams
from schemas.topology import INTAKE, LEDGER
from producers.script import many_tickets
from schemas import topology
from tests.integration.test_audit_ledger import civic
from tests.scenario import scenario
from tests.support import wait_for

pytestmark = pytest.mark.integration

AUDITOR_PERMISSIONS = """
authorization {
  users = [
    {user: writer, password: writer-secret}
    {user: auditor, password: auditor-secret, permissions: {
      publish: {allow: [
        "$JS.API.STREAM.INFO.CIVIC_LEDGER",
        "$JS.API.STREAM.MSG.GET.CIVIC_LEDGER",
        "$JS.API.CONSUMER.CREATE.CIVIC_LEDGER",
        "$JS.API.CONSUMER.CREATE.CIVIC_LEDGER.>",
        "$JS.API.CONSUMER.MSG.NEXT.CIVIC_LEDGER.*",
        "$JS.API.CONSUMER.INFO.CIVIC_LEDGER.*",
        "$JS.FC.CIVIC_LEDGER.>"
      ]}
      subscribe: {allow: ["_INBOX.>"]}
    }}
  ]
}
"""


@asynccontextmanager
async def serving(root: Path, events: list):  # type: ignore[no-untyped-def]
    """A nats-server with the two users, its ledger filled by the writer with these events, chained."""
    config = root / "nats.conf"
    config.write_text(AUDITOR_PERMISSIONS)
    nats_server = NatsServer(root / "nats", config=config).start()
    writer = await nats.connect(f"nats://writer:writer-secret@127.0.0.1:{nats_server.port}")
    js = writer.jetstream(publish_async_max_pending=4000)
    await ensure_streams(js)
    await publish_ledger(js, chained(events))
    try:
        yield nats_server
    finally:
        await writer.close()
        nats_server.stop()


@pytest.fixture
async def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with serving(tmp_path, scenario()) as nats_server:
        yield nats_server


def auditor_url(server: NatsServer) -> str:
    return f"nats://auditor:auditor-secret@127.0.0.1:{server.port}"


async def test_the_auditor_reads_and_checks_everything_in_the_ledger(server: NatsServer, tmp_path: Path) -> None:
    url, events = auditor_url(server), len(scenario())
    code, output = await asyncio.to_thread(civic, url, tmp_path, "audit", "verify", "--no-store")
    assert code == 0 and output.startswith(f"ledger ok: {events} events"), output
    code, output = await asyncio.to_thread(civic, url, tmp_path, "audit", "replay", "--org", "yn", "--out", str(tmp_path / "yn.json"))
    assert code == 0 and f"ledger position {events}" in output, output
    code, output = await asyncio.to_thread(civic, url, tmp_path, "audit", "trail", "T2")  # no read model here: a full scan
    assert code == 0 and "found by a full scan" in output and output.count(" ok\n") == 12, output
    code, output = await asyncio.to_thread(civic, url, tmp_path, "audit", "export", str(tmp_path / "bundle"), "--org", "yn",
                                           "--from", "2026-03-01", "--to", "2026-03-31")
    assert code == 0, output
    code, output = await asyncio.to_thread(civic, url, tmp_path, "audit", "checkpoint")
    assert code == 0 and f"checkpoint: position {events}" in output, "auditors can keep checkpoints of their own"


async def test_a_long_ledger_needs_the_flow_control_replies(tmp_path: Path) -> None:
    """An ordered consumer stalls after a few thousand messages unless the auditor may answer the
    server's flow-control requests ($JS.FC.CIVIC_LEDGER.>): the reason that grant is there."""
    events = many_tickets(1500).events
    async with serving(tmp_path, events) as nats_server:
        code, output = await asyncio.to_thread(civic, auditor_url(nats_server), tmp_path, "audit", "verify", "--no-store")
    assert code == 0 and output.startswith(f"ledger ok: {len(events)} events"), output


async def test_the_auditor_can_change_nothing_and_cannot_read_intake(server: NatsServer) -> None:
    violations: list[str] = []

    async def on_error(e: Exception) -> None:
        violations.append(str(e).lower())

    auditor = await nats.connect(auditor_url(server), error_cb=on_error)
    js = auditor.jetstream(timeout=1.0)
    before = (await js.stream_info(LEDGER)).state
    refused = {  # what the auditor tries: the subject the server refuses it on
        js.publish("civic.ledger.TicketRaised.yn", b"{}"): "civic.ledger.ticketraised.yn",
        js.publish("civic.intake.TicketRaised.yn", b"{}"): "civic.intake.ticketraised.yn",
        js.delete_stream(LEDGER): "$js.api.stream.delete.civic_ledger",
        js.delete_msg(LEDGER, 1): "$js.api.stream.msg.delete.civic_ledger",
        js.purge_stream(LEDGER): "$js.api.stream.purge.civic_ledger",
        js.update_stream(StreamConfig(name=LEDGER, subjects=[topology.LEDGER_SUBJECTS], deny_delete=False)): "$js.api.stream.update.civic_ledger",
        js.add_stream(StreamConfig(name="AUDIT_COPY", subjects=["audit.>"])): "$js.api.stream.create.audit_copy",
        js.stream_info(INTAKE): "$js.api.stream.info.civic_intake",
        js.get_msg(INTAKE, 1): "$js.api.stream.msg.get.civic_intake",
        js.subscribe(topology.INTAKE_SUBJECTS, stream=INTAKE, ordered_consumer=True): "$js.api.consumer.create.civic_intake",
    }
    outcomes = await asyncio.gather(*refused, return_exceptions=True)  # each waits out its 1 s timeout: together
    await auditor.publish("civic.intake.TicketRaised.yn", b"{}")  # core NATS: dropped by the server, with an error
    await auditor.flush()

    async def each_refusal_reported() -> bool:  # the server's errors arrive asynchronously
        return all(any(f'permissions violation for publish to "{subject}"' in v for v in violations) for subject in refused.values())
    await wait_for(each_refusal_reported, timeout=10, interval=0.01)
    await auditor.close()
    for outcome, subject in zip(outcomes, refused.values()):
        assert isinstance(outcome, Exception), f"the auditor could act on {subject}"
        assert any(f'permissions violation for publish to "{subject}"' in v for v in violations), (subject, violations)

    writer = await nats.connect(f"nats://writer:writer-secret@127.0.0.1:{server.port}")
    after = (await writer.jetstream().stream_info(LEDGER)).state
    intake = (await writer.jetstream().stream_info(INTAKE)).state
    await writer.close()
    assert (after.messages, after.last_seq) == (before.messages, before.last_seq) == (len(scenario()), len(scenario()))
    assert intake.messages == 0
