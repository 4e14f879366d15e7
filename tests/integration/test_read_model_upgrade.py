"""A read model stored in the layout before month-major keys, rewritten in place by the projector
at its start (projections/layout.py bring_up_to_date), while the web answers: a dashboard not yet
remembered is a plain 503 with Retry-After and the reason, /healthz says read_model_upgrading,
and once the rewrite commits the same dashboard answers 200 with the figures it had before,
without a restart. On SQLite (a reader there sees the old tables, which lack the new columns)
and on PostgreSQL (a reader there waits on the rewrite's lock, then reads the new table with a
snapshot taken before it was filled: nothing). The rewrite's transaction is held open by the
test, at a point it controls, in a thread; nothing sleeps."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from civic.web import create_app
from config import Settings
from projections.dashboard import LAID_OUT, NAME
from projections.facts import Clock
from projections.layout import bring_up_to_date
from projections.queries import DashboardQueries
from projections.store import Database, Versions
from tests.support import bearer
from tests.unit.test_month_rollups import fold_spread_district
from tests.unit.test_read_model_layout import unit_first

pytestmark = pytest.mark.integration

DASHBOARD = "/api/orgs/d1/dashboard?from=2026-02-20&to=2026-04-10"


async def answer(settings: Settings) -> tuple[int, dict, dict[str, str]]:
    """A new web process's first answer to DASHBOARD (none remembered): status, body, headers."""
    async with AsyncTestClient(create_app(settings)) as web:
        web.headers.update(bearer(settings.data_dir))
        got = await web.get(DASHBOARD)
        return got.status_code, got.json(), dict(got.headers)


class Rewrite:
    """The projector's rewrite of version 1 (bring_up_to_date in its transaction) on its own
    connection in a thread, held open after the rewrite until `commit()`."""

    def __init__(self, versions: Versions):
        self.done, self.release = threading.Event(), threading.Event()
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(versions,))
        self.thread.start()
        assert self.done.wait(60), "the rewrite did not get done"
        assert self.failed is None, self.failed

    def _run(self, versions: Versions) -> None:
        db = versions.open(1)
        try:
            with db.transaction():
                bring_up_to_date(db, LAID_OUT)
                self.done.set()
                self.release.wait()
        except BaseException as e:  # noqa: BLE001  (reported to the test)
            self.failed = e
            self.done.set()
        finally:
            db.close()

    def commit(self) -> None:
        self.release.set()
        self.thread.join()
        assert self.failed is None, self.failed


async def assert_upgrade_answered_plainly(settings: Settings, during: object = None) -> Database:
    versions = Versions(NAME, settings.data_dir, settings.database_url)
    writer = versions.open(1)
    fold_spread_district(writer)
    versions.switch(1)
    status, before, _ = await answer(settings)
    assert status == 200 and before["tickets"]["raised"] > 0
    unit_first(writer)  # as stored before month-major keys
    rewrite = Rewrite(versions)
    try:
        if callable(during):
            during(versions)
        status, body, headers = await answer(settings)
        assert status == 503, body
        assert headers["retry-after"] == "10"
        assert "read model is being upgraded" in body["detail"] and "ticket_daily" in body["detail"], body
        async with AsyncTestClient(create_app(settings)) as web:
            assert "read_model_upgrading" in (await web.get("/healthz")).json()["reasons"]
    finally:
        rewrite.commit()
    status, after, _ = await answer(settings)
    assert status == 200 and after == before
    async with AsyncTestClient(create_app(settings)) as web:
        assert "read_model_upgrading" not in (await web.get("/healthz")).json()["reasons"]
    versions.close()
    return writer


async def test_on_sqlite(tmp_path: Path, nats_server) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url)

    def what_a_reader_met_before(versions: Versions) -> None:
        """The error every uncached answer was: the old tables, read while the rewrite is open."""
        reader = versions.open(1, readonly=True)
        with pytest.raises(sqlite3.OperationalError, match="month"):
            DashboardQueries(reader, Clock()).dashboard("d1", None, date(2026, 4, 10))
        reader.close()

    (await assert_upgrade_answered_plainly(settings, what_a_reader_met_before)).close()


async def test_on_postgres(tmp_path: Path, nats_server, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, database_url=postgres_url)
    (await assert_upgrade_answered_plainly(settings)).close()


def test_a_postgres_reader_in_a_snapshot_waits_then_reads_nothing(postgres_url: str, tmp_path: Path) -> None:
    """Why the read side asks the catalog (projections/readside.py ReadSide._check_layout): without
    it, a PostgreSQL reader that took its snapshot while the rewrite was open (the position first,
    as a remembered answer's read does) waits on the rewrite's lock and then answers as if the
    district had no tickets."""
    import psycopg

    versions = Versions(NAME, tmp_path, postgres_url)
    writer = versions.open(1)
    fold_spread_district(writer)
    versions.switch(1)
    want = DashboardQueries(writer, Clock()).dashboard("d1", None, date(2026, 4, 10))
    assert want.tickets.raised > 0
    unit_first(writer)
    rewrite = Rewrite(versions)
    reader = versions.open(1, readonly=True)
    read: dict[str, object] = {}

    def read_in_a_snapshot() -> None:
        with reader.snapshot():
            DashboardQueries(reader, Clock()).position()
            read["answer"] = DashboardQueries(reader, Clock()).dashboard("d1", None, date(2026, 4, 10))

    thread = threading.Thread(target=read_in_a_snapshot)
    try:
        thread.start()
        with psycopg.connect(postgres_url, autocommit=True) as server:  # until the reader waits on the rewrite's lock
            deadline = time.monotonic() + 30
            while not server.execute("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").fetchall():
                assert thread.is_alive() and time.monotonic() < deadline, read
                time.sleep(0.01)
    finally:
        rewrite.commit()
        thread.join()
    assert read["answer"].tickets.raised == 0  # type: ignore[attr-defined]
    assert DashboardQueries(reader, Clock()).dashboard("d1", None, date(2026, 4, 10)) == want  # a new snapshot: all there
    for db in (reader, writer):
        db.close()
    versions.close()


def test_the_event_index_being_keyed_by_segment_is_upgrading_too(tmp_path: Path) -> None:
    """The web's event-index read side (the gateway's GET /v1/events/{id}, the refusals) is told
    the same while an index from before segments is rewritten (projections/event_index.py), and
    reads once it commits."""
    from dashboards.app import Web
    from projections import event_index
    from projections.readside import Upgrading
    from tests.integration.test_event_index_segments import BEFORE

    settings = Settings(data_dir=tmp_path / "data", nats_url="nats://127.0.0.1:1")  # never connected here
    reads = Web(settings).events
    versions = Versions(event_index.NAME, settings.data_dir)
    old = versions.open(1)
    for sql in BEFORE:
        old.execute(sql.format(text="TEXT"))
    old.execute("INSERT INTO accepted VALUES ('a', 7, 'civic.ledger.ticket.raised.d.t1')")
    versions.switch(1)
    done, release = threading.Event(), threading.Event()

    def indexer_starts() -> None:  # create_schema's transaction, held open after its rewrite
        real = old.transaction

        @contextlib.contextmanager
        def held():  # type: ignore[no-untyped-def]
            with real():
                yield
                done.set()
                release.wait()
        old.transaction = held  # type: ignore[method-assign]
        event_index.create_schema(old)

    thread = threading.Thread(target=indexer_starts)
    thread.start()
    try:
        assert done.wait(60)
        with pytest.raises(Upgrading, match="being upgraded: intake, accepted"):
            reads.db()
    finally:
        release.set()
        thread.join()
    assert event_index.event_status(reads.db(), "a").status == "ledger"
    reads.close()
    old.close()
