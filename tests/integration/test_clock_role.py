"""The clock as its own process (`python -m civic.roles clock`), as `civic up` runs it: its own
identity and key, the shipped deadline policy, "now" read from CIVIC_CLOCK_NOW_FILE. SIGKILLed
mid-escalation and restarted: every step is recorded once, none is missed, each at the instant
the policy says."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import nats
import pytest

from adapters.bus import connect_options
from adapters.deadlines import load_rules
from config import Settings
from consumers.clock_state import policy_escalation
from schemas import topology
from schemas.clock import Deadline
from tests.conftest import RoleProcess, running_pipeline
from tests.integration.test_clock import CLOCK_TYPES, DUE, T0, ticket, tree
from tests.support import caught_up, publish_all, read_stream, wait_for
import schemas as s

pytestmark = pytest.mark.integration


async def clock_steps(js) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    msgs = await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)
    return [(e.step_key, e.occurred_at) for e in (s.decode(m.data, max_bytes=None) for m in msgs)  # type: ignore[attr-defined]
            if e.type in CLOCK_TYPES]


async def consumer_read_all(js, last: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        info = await js.consumer_info(topology.LEDGER, topology.clock_consumer("a"))
    except nats.js.errors.NotFoundError:
        return False
    return (info.num_pending or 0) == 0 and (info.num_ack_pending or 0) == 0 and info.delivered.stream_seq >= last


async def test_the_clock_role_killed_mid_escalation_records_each_step_once(tmp_path: Path, nats_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    now_file = tmp_path / "now"
    now_file.write_text((T0 + timedelta(minutes=10)).isoformat())
    monkeypatch.setenv("CIVIC_CLOCK_NOW_FILE", str(now_file))
    monkeypatch.setenv("CIVIC_CLOCK_TICK", "0.1")
    monkeypatch.setenv("CIVIC_CLOCK_QUIET", "0.3")
    monkeypatch.setenv("CIVIC_CREDENTIALS_DIR", str(nats_server.credentials.folder))
    as_clock = Settings(data_dir=settings.data_dir, nats_url=nats_server.plain_url)  # its own key, not the admin's
    terms = policy_escalation(load_rules(settings))("parking", "community")
    plan = [(p.step_key, p.at) for p in terms.plan(Deadline(1, "c1", "lead", "resolve", DUE))]
    assert [k for k, _ in plan] == ["reminder", "breach", "chase-1", "chase-2", "supervision"]
    async with running_pipeline(settings):
        nc = await nats.connect(**connect_options(settings, "admin"))
        js = nc.jetstream()
        await publish_all(js, [*tree(), *ticket("T1", 10)])
        seen = await caught_up(settings, js)
        role = RoleProcess("clock", as_clock, tmp_path / "clock.log").start()
        try:
            await wait_for(lambda: consumer_read_all(js, seen.relayed), timeout=30)
            await asyncio.sleep(0.5)  # ticks at the first now: the ledger has been quiet for CIVIC_CLOCK_QUIET since
            now_file.write_text((plan[2][1] + timedelta(minutes=1)).isoformat())  # past the first chase
            await wait_for(lambda: _has(js, 3), timeout=30)
            role.kill()
            assert await clock_steps(js) == plan[:3]
            now_file.write_text((plan[-1][1] + timedelta(minutes=1)).isoformat())  # time passed while it was down
            role.start()
            await wait_for(lambda: _has(js, 5), timeout=30)
            await caught_up(settings, js)
            assert await clock_steps(js) == plan
        finally:
            role.stop()
            await nc.close()


async def _has(js, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await clock_steps(js)) >= n
