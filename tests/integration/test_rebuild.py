"""Blue/green rebuilds and crash safety of the projector: a read model rebuilt from the ledger
answers every query exactly as the live one did at the same ledger position."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import sqlite3
import subprocess
import sys
import time

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from civic.web import create_app
from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.rebuild import StoreReader, _catch_up, _fold_in_shares, rebuild
from projections.store import BuildUnderWay, Versions
from schemas import topology
from tests.conftest import RoleProcess
from tests.integration.test_ledger_alarm import civic
from tests.scenario import at, scenario
from tests.support import bearer, caught_up, many_tickets, publish_all, read_model_answers, until

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
    if settings.database_url is None:  # built without a journal or syncs, it is left as a live version is
        assert built_as_live(versions, done.version)
    from_stream = await rebuild(settings, switch=False, show_progress=False, from_store=False)  # as an auditor's machine would
    assert read_model_answers(versions.open(from_stream.version, readonly=True)) == before

    versions.switch(done.version)
    extra = s.TicketRaised(event_id="after-switch", occurred_at=events[-1][0].occurred_at, source="t",
                           actor=s.Actor(role="resident", id="r"), org_id="c1", ticket_id="T100", category="parking", title="new")
    await publish_all(js, [(extra, topology.intake_subject(extra, ("yn", "ta", "c1")))])
    moved = await caught_up(settings, js, intake=len(events) + 1, projector=True, version=done.version)
    assert moved.projected == len(events) + 1  # the projector moved over to the new version
    async with AsyncTestClient(create_app(settings)) as web:  # and the web reads it
        web.headers.update(bearer(settings.data_dir))
        answer = (await web.get("/api/orgs/c1/dashboard")).json()
    assert answer["position"] == len(events) + 1 and answer["tickets"]["raised"] >= 1


def built_as_live(versions: Versions, version: int) -> bool:
    """A built version's file is in WAL mode (kept in the file: every later opener gets it),
    alone under its version's name, nothing left under the name it was built as."""
    path = versions.folder / f"{NAME}-v{version}.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return mode == "wal" and not list(versions.folder.glob("building-*.sqlite*"))


def version_exists(versions: Versions, version: int) -> bool:
    if versions.pg_url:
        import psycopg

        with psycopg.connect(versions.pg_url, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name=%s",
                                (f"{NAME}_v{version}",)).fetchone() is not None
    return any(versions.folder.glob(f"*{NAME}-v{version}.sqlite*"))


async def test_a_rebuild_that_fails_midway_leaves_no_version(full_pipeline, monkeypatch):
    settings = full_pipeline.settings
    versions = Versions(NAME, settings.data_dir, settings.database_url)
    events = scenario()
    await publish_all(full_pipeline.projector.js, events)
    await caught_up(settings, full_pipeline.projector.js, intake=len(events), projector=True)
    live, taken = versions.current(), versions.next_version()
    assert live is not None
    apply, calls = DashboardProjection.apply, []

    def failing(self, batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        if len(calls) == 3:
            raise OSError("disk full")  # as a real failure would come: out of the database's write
        return apply(self, batch)

    monkeypatch.setattr(DashboardProjection, "apply", failing)
    with pytest.raises(OSError, match="disk full"):
        await rebuild(settings, show_progress=False, batch=5)
    assert len(calls) == 3 and len(events) > 15, "it failed midway, with batches folded before"
    assert versions.current() == live and not version_exists(versions, taken), "nothing left to switch to"
    assert versions.next_version() == taken

    monkeypatch.setattr(DashboardProjection, "apply", apply)
    again = await rebuild(settings, switch=False, show_progress=False, batch=5)
    assert again.version == taken and again.events == len(events)
    assert read_model_answers(versions.open(again.version, readonly=True)) == read_model_answers(versions.open(live, readonly=True))


async def projected(pipeline, events):  # type: ignore[no-untyped-def]
    """`events` published and folded by the pipeline's live projector: (settings, js, versions)."""
    settings, js = pipeline.settings, pipeline.projector.js
    await publish_all(js, events)
    await caught_up(settings, js, intake=len(events), projector=True)
    return settings, js, Versions(NAME, settings.data_dir)


HALF_BUILT = """
import sys, time
from pathlib import Path
from projections.dashboard import NAME, create_schema
from projections.store import Versions
with Versions(NAME, Path(sys.argv[1])).building(int(sys.argv[2])) as db:
    create_schema(db)
    db.execute("INSERT INTO tracking VALUES (?, ?)", (NAME, 10**9))  # folded far: if it were taken, nothing would be folded
    print("half-built", flush=True)
    time.sleep(120)
"""


async def test_a_rebuild_after_a_crash_starts_the_half_built_version_again(pipeline_with_projector):
    events = scenario()
    settings, js, versions = await projected(pipeline_with_projector, events)
    live, taken = versions.current(), versions.next_version()
    builder = subprocess.Popen([sys.executable, "-c", HALF_BUILT, str(settings.data_dir), str(taken)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert builder.stdout is not None and builder.stdout.readline().strip() == "half-built"
        with pytest.raises(BuildUnderWay, match="already under way"):  # one build at a time
            await rebuild(settings, switch=False, show_progress=False)
        code, said = await asyncio.to_thread(civic, settings, "projections", "rebuild")  # said so, plainly
        assert code == 1 and "a rebuild of dashboard is already under way" in said and "Traceback" not in said
    finally:
        builder.kill()  # the machine dies mid-build: no clean-up runs
        builder.wait()
    assert version_exists(versions, taken) and versions.current() == live
    assert versions.next_version() == taken, "the half-built version was never named: its number is free"

    done = await rebuild(settings, switch=False, show_progress=False)
    assert done.version == taken and done.events == len(events), "started again from nothing"
    assert read_model_answers(versions.open(taken, readonly=True)) == read_model_answers(versions.open(live, readonly=True))
    assert built_as_live(versions, taken)


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


# -- a rebuild in shares (projections/rebuild.py: the items split between processes by aggregate) --

RESIDENT, DISPATCHER, WORKER = (s.Actor(role="resident", id="r9"), s.Actor(role="dispatcher", id="disp"),
                                s.Actor(role="grid_worker", id="w9"))
PATHS = {"c1": ("yn", "ta", "c1"), "v2": ("yn", "tb", "v2")}


def transfers(tickets: int) -> list[tuple[s.Event, str]]:
    """Tickets raised at c1 after the scenario, each dispatched; every third returned, transferred to v2 and
    dispatched there (its figures move, and its path is read from the org tree every share folds);
    every other one resolved."""
    out = []
    for i in range(tickets):
        tid, n = f"X{i}", iter(range(10))

        def add(cls: type[s.Event], org: str, actor: s.Actor, **fields) -> None:  # type: ignore[no-untyped-def]
            e = cls(event_id=f"x-{tid}-{next(n)}", occurred_at=at(20 + i % 5, 8 + i % 9, i % 60), source="t", actor=actor,
                    org_id=org, ticket_id=tid, **fields)
            out.append((e, topology.intake_subject(e, PATHS[org])))

        add(s.TicketRaised, "c1", RESIDENT, category="roads", title=f"item {i}")
        add(s.TicketDispatched, "c1", DISPATCHER, to_unit="c1", deadline=at(23 + i % 5, 9))
        unit = "c1"
        if i % 3 == 0:  # returned as not c1's, then transferred
            add(s.TicketReturned, "c1", WORKER, reason="not ours")
            add(s.TicketTransferred, "c1", DISPATCHER, from_org_id="c1", to_org_id="v2", reason="a village road")
            add(s.TicketDispatched, "v2", DISPATCHER, to_unit="v2", deadline=at(24 + i % 5, 9))
            unit = "v2"
        add(s.TicketAccepted, unit, WORKER)
        if i % 2 == 0:
            add(s.TicketResolved, unit, WORKER, resolution="done")
    return sorted(out, key=lambda pair: pair[0].occurred_at)


@pytest.mark.parametrize("shares", [2, 3])
async def test_a_rebuild_in_shares_answers_as_the_live_version(pipeline_with_projector, shares):
    events = scenario() + transfers(24)  # the org tree, a unit moved, disputes, topics; transfers
    settings, js, versions = await projected(pipeline_with_projector, events)
    before = read_model_answers(versions.open(versions.current(), readonly=True))

    store = StoreReader(settings)
    try:
        assert store.shares_readable(len(events)) and not store.shares_readable(len(events) + 1)
        read = [store.read_share(0, len(events), k, shares) for k in range(shares)]
    finally:
        store.close()
    org_tree = {p for p, e in read[0] if e.family.name == "org"}
    assert all({p for p, e in part if e.family.name == "org"} == org_tree for part in read), "the org tree in every share"
    items = [p for part in read for p, e in part if p not in org_tree]
    assert sorted(items) == sorted(set(range(1, len(events) + 1)) - org_tree), "every other event in one share"
    assert all(len(part) > len(org_tree) for part in read), "each share has items"

    done = await rebuild(settings, switch=False, show_progress=False, batch=7, shares=shares)
    assert done.shares == shares and done.events == len(events)
    assert read_model_answers(versions.open(done.version, readonly=True)) == before
    assert built_as_live(versions, done.version), "no share's file left beside it"
    one = await rebuild(settings, switch=False, show_progress=False, batch=7, shares=1)
    assert one.shares == 1 and read_model_answers(versions.open(one.version, readonly=True)) == before


async def test_a_rebuild_in_shares_folds_the_tail_after_them(pipeline_with_projector):
    """What the ledger gained after the shares' end (events stored while they folded) is folded
    after them by the same reader, from where the shares stopped."""
    events = scenario() + transfers(12)
    settings, js, versions = await projected(pipeline_with_projector, events)
    before = read_model_answers(versions.open(versions.current(), readonly=True))
    taken, store = versions.next_version(), StoreReader(settings)
    try:
        with versions.building(taken) as db:
            create_schema(db)
            projection = DashboardProjection(db)
            shared = await _fold_in_shares(settings, versions, taken, projection, store, len(events) - 20, 2, 5, False)
            assert shared == projection.position() == store.position == len(events) - 20
            tail = await _catch_up(projection, store, js, NAME, taken, 5, False, time.perf_counter())
            assert tail == 20
    finally:
        store.close()
    assert read_model_answers(versions.open(taken, readonly=True)) == before


def failing_share(settings, path, share, shares, end, batch):  # type: ignore[no-untyped-def]
    """A share's process that fails (module level: a spawned process imports it by name)."""
    raise OSError(f"share {share}: disk full")


def stuck_share(settings, path, share, shares, end, batch):  # type: ignore[no-untyped-def]
    """A share's process that would fold for ever."""
    time.sleep(600)


@pytest.mark.parametrize("process, fails_here", [(failing_share, False), (stuck_share, True)])
async def test_a_failed_share_fails_the_rebuild_stops_the_others_and_leaves_nothing(pipeline_with_projector, monkeypatch,
                                                                                     process, fails_here):
    events = scenario()
    settings, js, versions = await projected(pipeline_with_projector, events)
    live, taken = versions.current(), versions.next_version()
    if fails_here:  # this process's own share fails while another still folds: that one is stopped
        def failing(self, batch):  # type: ignore[no-untyped-def]
            raise OSError("disk full")
        monkeypatch.setattr(DashboardProjection, "apply", failing)
    store = StoreReader(settings)
    try:
        with pytest.raises((OSError, RuntimeError), match="disk full" if fails_here else "rebuild share 2 of 2 failed"):
            with versions.building(taken) as db:
                create_schema(db)
                await _fold_in_shares(settings, versions, taken, DashboardProjection(db), store, len(events), 2, 5, False,
                                      share_process=process)
    finally:
        store.close()
    assert not multiprocessing.active_children(), "no share is left folding"
    assert versions.current() == live and not version_exists(versions, taken)
    assert not list(versions.folder.glob("building-*.sqlite*")), "neither the version nor a share's file is left"
