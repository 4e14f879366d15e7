"""Blue/green rebuilds and crash safety of the projector: a read model rebuilt from the ledger
answers every query exactly as the live one did at the same ledger position."""

from __future__ import annotations

import asyncio
import random

import pytest

import schemas as s
from projections.dashboard import NAME
from projections.rebuild import rebuild
from projections.store import Versions
from schemas import topology
from tests.conftest import RoleProcess
from tests.scenario import scenario
from tests.support import caught_up, many_tickets, publish_all, read_model_answers, until

pytestmark = pytest.mark.integration


async def test_rebuild_beside_the_live_version_then_switch(full_pipeline):
    settings = full_pipeline.settings
    js = full_pipeline.projector.js
    versions = Versions(NAME, settings.data_dir, settings.database_url)
    events = scenario()
    await publish_all(js, events)
    await caught_up(settings, js, intake=len(events), projector=True)
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
    moved = await caught_up(settings, js, intake=len(events) + 1, projector=True, version=done.version)
    assert moved.projected == len(events) + 1  # the projector moved over to the new version


@pytest.mark.slow
async def test_a_projector_killed_mid_stream_ends_equal_to_a_fresh_rebuild(tmp_path, settings, js, role_processes):
    settings.data_dir.mkdir(parents=True)
    roles = {r: RoleProcess(r, settings, tmp_path / f"{r}.log").start() for r in ("ledger", "relay", "projector")}
    role_processes.extend(roles.values())
    script = many_tickets(400)
    publisher = asyncio.create_task(publish_all(js, iter(script.events)))
    # Killed when its stored position reaches each of these (restarted at once), not at moments.
    rng, total = random.Random(7), len(script.events)
    targets = sorted(rng.randint(total // 20, total * 9 // 10) for _ in range(4))
    for target in targets:
        await until(settings, js, lambda p: p.projected >= target, f"the projector to reach {target}",
                    projector=True, timeout=90, interval=0.005)
        roles["projector"].kill()
        roles["projector"].start()
    await publisher
    versions = Versions(NAME, settings.data_dir)
    await caught_up(settings, js, intake=total, projector=True, timeout=90)
    for role in roles.values():
        role.stop()
    live = read_model_answers(versions.open(versions.current(), readonly=True))
    fresh = await rebuild(settings, switch=False, show_progress=False)
    assert fresh.events == len(script.events)
    assert read_model_answers(versions.open(fresh.version, readonly=True)) == live
