"""Blue/green rebuilds and crash safety of the projector: a read model rebuilt from the ledger
answers every query exactly as the live one did at the same ledger position."""

from __future__ import annotations

import asyncio
import random

import pytest

import schemas as s
from projections.dashboard import NAME
from projections.queries import DashboardQueries
from projections.rebuild import rebuild
from projections.store import Versions
from schemas import topology
from tests.conftest import RoleProcess
from tests.scenario import scenario
from tests.support import many_tickets, publish_all, read_model_answers, stream_count, wait_for

pytestmark = pytest.mark.integration


async def caught_up(versions: Versions, js, events: int, version: int | None = None) -> int:  # type: ignore[no-untyped-def]
    """Wait until the ledger holds `events` and the read model (current, or `version`) has them all."""
    async def relayed():
        return await stream_count(js, topology.LEDGER) >= events
    await wait_for(relayed, timeout=60)
    end = await stream_count(js, topology.LEDGER)

    async def done():
        v = version or versions.current()
        if v is None:
            return False
        db = versions.open(v, readonly=True)
        try:
            return DashboardQueries(db).position() >= end
        finally:
            db.close()
    await wait_for(done, timeout=60)
    return end


async def test_rebuild_beside_the_live_version_then_switch(full_pipeline):
    settings = full_pipeline.settings
    js = full_pipeline.projector.js
    versions = Versions(NAME, settings.data_dir, settings.database_url)
    events = scenario()
    await publish_all(js, events)
    await caught_up(versions, js, len(events))
    live = versions.current()
    before = read_model_answers(versions.open(live, readonly=True))

    done = await rebuild(settings, switch=False, show_progress=False)
    assert versions.current() == live, "dashboards answer from the live version until the switch"
    assert done.events == len(events) and done.version != live
    assert read_model_answers(versions.open(done.version, readonly=True)) == before
    from_stream = await rebuild(settings, switch=False, show_progress=False, from_store=False)  # as an auditor's machine would
    assert read_model_answers(versions.open(from_stream.version, readonly=True)) == before

    versions.switch(done.version)
    extra = s.TicketRaised(event_id="after-switch", occurred_at=events[-1][0].occurred_at, source="t",
                           actor=s.Actor(role="resident", id="r"), org_id="c1", ticket_id="T100", category="parking", title="new")
    await publish_all(js, [(extra, topology.intake_subject(extra, ("yn", "ta", "c1")))])
    await caught_up(versions, js, len(events) + 1, done.version)  # the projector moved over to the new version


@pytest.mark.slow
async def test_a_projector_killed_mid_stream_ends_equal_to_a_fresh_rebuild(tmp_path, settings, js, role_processes):
    settings.data_dir.mkdir(parents=True)
    roles = {r: RoleProcess(r, settings, tmp_path / f"{r}.log").start() for r in ("ledger", "relay", "projector")}
    role_processes.extend(roles.values())
    script = many_tickets(400)
    publisher = asyncio.create_task(publish_all(js, iter(script.events)))
    rng, kills = random.Random(7), 0
    while not publisher.done() or kills < 4:
        await asyncio.sleep(rng.uniform(0.1, 0.4))
        roles["projector"].kill()
        kills += 1
        roles["projector"].start()
    await publisher
    versions = Versions(NAME, settings.data_dir)
    await caught_up(versions, js, len(script.events))
    for role in roles.values():
        role.stop()
    live = read_model_answers(versions.open(versions.current(), readonly=True))
    fresh = await rebuild(settings, switch=False, show_progress=False)
    assert fresh.events == len(script.events)
    assert read_model_answers(versions.open(fresh.version, readonly=True)) == live
