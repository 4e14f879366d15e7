"""Upgrading to an authorized bus: `civic up` on a data folder written before it had credentials
makes them (owner-only), keeps all history and carries on; the attack that used to work, an
anonymous client forging a ledger event, is refused."""

from __future__ import annotations

import asyncio
import shutil
import stat
from pathlib import Path

import nats
import pytest

import schemas as s
from schemas import permissions
from tests.e2e.test_civic_up import Up, civic, free_port, wait_until, write_events
from tests.support import caught_up_in, small_district

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def anonymous_forgery(url: str) -> str:
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    except nats.errors.Error as e:
        return str(e)
    await nc.jetstream().publish("civic.ledger.TicketRaised.yn", b'{"forged":true}')
    await nc.close()
    return "published"


async def connects(url: str, seed: Path) -> bool:
    from adapters.bus import credential_options

    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2, **credential_options([url], seed))
    except nats.errors.Error:
        return False
    await nc.close()
    return True


def test_civic_up_on_a_folder_from_before_credentials_makes_them_and_carries_on(tmp_path: Path) -> None:
    data, port = tmp_path / "civic-data", free_port()
    script = small_district(tickets=2)
    up = Up(data, port, tmp_path / "up.log")
    try:
        up.ready()
        assert civic("emit", str(write_events(tmp_path / "a.jsonl", script.events)), data=data).returncode == 0
        n = len(script.events)
        caught_up_in(data, intake=n)  # the ledger filled (as the folder's admin: /healthz shows no counts anonymously)
    finally:
        assert up.stop() == 0
    shutil.rmtree(data / "credentials")  # now it is a data folder as the previous version left it

    up = Up(data, port, tmp_path / "up2.log")
    try:
        up.ready()
        folder = data / "credentials"
        assert mode(folder) == 0o700
        for identity in permissions.IDENTITIES:
            assert mode(folder / f"{identity.name}.nk") == 0o600, identity.name
        assert mode(folder / "roles.json") == 0o600 and mode(folder / "nats-server.conf") == 0o600

        url = (data / "nats.url").read_text().strip()
        assert "Authorization Violation" in asyncio.run(anonymous_forgery(url))

        later = small_district(tickets=0, prefix="later")
        extra = [(s.TicketRaised(event_id="later-1", occurred_at=later.clock, source="test",
                                 actor=s.Actor(role="resident", id="r5"), org_id="lx", ticket_id="LATER", category="roads",
                                 title="street lamp"), "")]
        emitted = civic("emit", str(write_events(tmp_path / "b.jsonl", extra)), data=data)
        assert emitted.returncode == 0, emitted.stdout + emitted.stderr
        caught_up_in(data, intake=n + 1)
        verified = civic("audit", "verify", data=data)
        assert f"ledger ok: {n + 1} events" in verified.stdout, verified.stdout + verified.stderr

        # An upstream system added while it runs: its key and its gateway token, taken at once.
        added = civic("producer", "add", "village-lx", "--org", "lx", data=data)
        assert added.returncode == 0 and "HTTP gateway token" in added.stdout, added.stdout + added.stderr
        seed = folder / "producer-village-lx.nk"
        assert mode(seed) == 0o600
        wait_until(lambda: asyncio.run(connects(url, seed)), 10, "the new producer's key accepted")
    finally:
        assert up.stop() == 0
