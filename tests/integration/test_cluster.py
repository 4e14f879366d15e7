"""The scale-out topology of docker-compose.yml, natively: a 3-node JetStream cluster with
3-replica streams. A node is killed mid-run; the ledger still holds every acked event once."""

from __future__ import annotations

import asyncio
import socket

import msgspec
import nats
import nats.js.errors
import pytest

import schemas as s
from audit.reader import read_ledger
from audit.verify import store_states, verify
from adapters.bus import connect_options
from adapters.natsserver import NatsServer
from config import Settings
from adapters.eventstore import open_recorder
from schemas import topology
from tests.conftest import running_pipeline
from tests.support import caught_up, many_tickets, read_stream, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


@pytest.fixture
def cluster(tmp_path):
    """Three nodes, each with the authorization `civic nats-config` renders from a roles file."""
    from typer.testing import CliRunner

    from adapters.credentials import Credentials
    from civic.cli import app

    roles = Credentials(tmp_path / "credentials").ensure().roles_path
    config = tmp_path / "auth.conf"
    rendered = CliRunner().invoke(app, ["nats-config", str(roles), "--out", str(config)])
    assert rendered.exit_code == 0, rendered.output
    ports = free_ports(6)
    client, route = ports[:3], ports[3:]
    nodes = [NatsServer(tmp_path / f"n{i}", port=client[i], name=f"n{i}", cluster="civic", cluster_port=route[i],
                        routes=[f"nats://127.0.0.1:{route[j]}" for j in range(3) if j != i], config=config) for i in range(3)]
    import threading

    threads = [threading.Thread(target=node.start, kwargs={"timeout": 60}) for node in nodes]  # nodes wait for each other
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield nodes
    for node in nodes:
        node.stop()


async def test_a_node_dies_mid_run_and_nothing_is_lost(tmp_path, cluster):
    urls = ",".join(node.url for node in cluster)
    # Every role connects as its own identity (running_pipeline), the test as admin.
    settings = Settings(data_dir=tmp_path / "data", nats_url=urls, stream_replicas=3, batch_size=500,
                        credentials_dir=tmp_path / "credentials")
    nc = await nats.connect(**connect_options(settings, "admin"), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    from adapters.bus import ensure_org_directory, ensure_streams

    async def streams_up():
        try:
            await ensure_streams(js, replicas=3)
            await ensure_org_directory(js, replicas=3)
            return True
        except Exception:
            return False
    await wait_for(streams_up, timeout=60, interval=0.5)
    assert (await js.stream_info(topology.LEDGER)).config.num_replicas == 3

    script = many_tickets(150)
    async with running_pipeline(settings):
        half = len(script.events) // 2
        for event, subject in script.events[:half]:
            await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        cluster[1].kill()  # one node of three: the streams keep their quorum
        for event, subject in script.events[half:]:
            for attempt in range(50):
                try:
                    await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id}, timeout=2)
                    break
                except (nats.errors.Error, nats.js.errors.Error):
                    await asyncio.sleep(0.2)

        # The barrier retries its reads while this client's node is gone and it reconnects.
        await caught_up(settings, js, intake=len(script.events), timeout=120)

    async def ledger_ids() -> list[str] | None:  # retried like the barrier's reads: this client may still be reconnecting
        try:
            return [msgspec.json.decode(m.data)["event_id"] for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
        except (nats.errors.Error, nats.js.errors.Error):
            return None
    assert await wait_for(ledger_ids, timeout=60) == [e.event_id for e, _ in script.events]
    report = await verify(read_ledger(js), store_states(open_recorder(settings)))
    assert report.ok and report.events == len(script.events), report.summary()
    await nc.close()
