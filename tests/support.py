"""Shared test helpers: a deterministic scripted district, publishing, reading streams back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

import schemas as s
from producers.script import CST, SYSTEM, T0, Script, many_tickets, small_district  # noqa: F401  (re-exported for tests)
from collections.abc import Iterator

from schemas import topology
from schemas.base import Event


async def publish_all(js: JetStreamContext, events: list[tuple[Event, str]] | Iterator[tuple[Event, str]]) -> list[int]:
    """Acked publishes with Nats-Msg-Id = event_id; returns the intake sequences."""
    seqs = []
    for event, subject in events:
        ack = await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        seqs.append(ack.seq)
    return seqs


async def read_stream(js: JetStreamContext, stream: str, subject: str) -> list:
    """Every message of a stream, in order (an ordered consumer up to the current end)."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if info.state.messages == 0:
        return []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True,
                             config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL), pending_msgs_limit=200_000)
    out = []
    try:
        while True:
            m = await sub.next_msg(timeout=10)
            out.append(m)
            if m.metadata.sequence.stream >= last:
                return out
    finally:
        await sub.unsubscribe()


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Await an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate.__name__}: last value {value!r}")
        await asyncio.sleep(interval)


async def stream_count(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.last_seq


async def publish_applied(client, events) -> None:  # type: ignore[no-untyped-def]
    """Publish through a test web client that carries `js` (the pipeline's), then wait until the
    ledger holds them and the dashboards have applied them, as /healthz reports it."""
    await publish_all(client.js, events)
    want = await stream_count(client.js, topology.INTAKE)

    async def applied():  # type: ignore[no-untyped-def]
        health = (await client.get("/healthz")).json()
        return health.get("dashboard_lag") == 0 and health["streams"][1]["last_sequence"] == want
    await wait_for(applied, timeout=60)


# -- the pipeline's positions ------------------------------------------------------------------
#
# "Nothing more happened" is asserted at a barrier, never after a sleep: the barrier waits until
# every stage has processed exactly what the stage before it holds, then the test asserts. A stage
# that holds MORE than its upstream (a duplicate, an event published twice) fails at once: that
# never heals, so there is nothing to wait for. The project internals it reads are imported here
# and nowhere else in the tests' barrier code, so a module move is one edit.


@dataclass(frozen=True)
class Positions:
    """One reading of the pipeline, taken downstream first (so an upstream never reads as behind
    a downstream that had merely moved on between two reads)."""

    intake: int
    """CIVIC_INTAKE's last stream sequence."""
    ledger: int
    """The ledger's stored position: the last intake sequence it processed (its tracking record)."""
    stored: int
    """The ledger's event store's largest notification id (its event count on SQLite; PostgreSQL's ids may have gaps)."""
    relayed: int
    """CIVIC_LEDGER's last stream sequence (= the ledger position the relay has published up to)."""
    relayed_notification: int
    """The notification id carried by CIVIC_LEDGER's last message (0: the stream is empty)."""
    projected: int | None = None
    """The dashboard read model's stored position (None: not read)."""

    def overshoot(self) -> str | None:
        """A stage ahead of its upstream: an extra message, which no amount of waiting removes."""
        if self.ledger > self.intake:
            return "the ledger's stored position is beyond intake's last sequence"
        if self.relayed > self.stored or self.relayed_notification > self.stored:
            return "CIVIC_LEDGER holds more than the event store"
        if self.projected is not None and self.projected > self.relayed:
            return "the read model's position is beyond CIVIC_LEDGER's last sequence"
        return None

    def level(self) -> bool:
        """Every stage has taken in all its upstream holds."""
        return (self.ledger == self.intake and self.relayed_notification == self.stored
                and (self.projected is None or self.projected == self.relayed))


class _Reader:
    """Reads the positions; opened once per wait (a reader of the store, a reader of the read model)."""

    def __init__(self, settings, js: JetStreamContext, projector: bool, version: int | None):  # type: ignore[no-untyped-def]
        from eventsourcing.persistence import InfrastructureFactory
        from eventsourcing.utils import Environment

        self.settings, self.js, self.projector, self.version = settings, js, projector, version
        from adapters.eventstore import event_store_env

        env = Environment("ledger", event_store_env(settings, create_tables=False))  # the ledger's tables, created by it
        self.factory = InfrastructureFactory.construct(env)
        self.recorder = self.factory.process_recorder()

    def close(self) -> None:
        self.factory.close()

    def stored_events(self, upto: int) -> int:
        """Events in the store up to a notification id (equal to it on SQLite; PostgreSQL's ids may have gaps)."""
        n, start = 0, 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, stop=upto)
            n += len(page)
            if len(page) < 1000:
                return n
            start = page[-1].id + 1

    def _projected(self) -> int:
        from projections.dashboard import NAME, DashboardProjection
        from projections.store import Versions

        versions = Versions(NAME, self.settings.data_dir, self.settings.database_url)
        version = self.version or versions.current()
        if version is None:
            return 0
        db = versions.open(version, readonly=True)
        try:
            return DashboardProjection(db).position()
        finally:
            db.close()

    async def read(self) -> Positions:

        projected = await asyncio.to_thread(self._projected) if self.projector else None
        info = (await self.js.stream_info(topology.LEDGER)).state
        note = 0
        if info.last_seq:
            note = int((await self.js.get_msg(topology.LEDGER, seq=info.last_seq)).headers[topology.NOTIFICATION_ID_HEADER])  # type: ignore[index]
        # The ledger's position before the store's events: one commit writes both, so an event
        # committed between the two reads shows in `stored`, never as a position whose events
        # were not counted (read the other way round, a commit in between looked level).
        ledger = await asyncio.to_thread(self.recorder.max_tracking_id, topology.INTAKE) or 0  # the ledger's tracking name
        stored = await asyncio.to_thread(self.recorder.max_notification_id) or 0
        intake = (await self.js.stream_info(topology.INTAKE)).state.last_seq
        return Positions(intake, ledger, stored, info.last_seq, note, projected)


async def until(settings, js: JetStreamContext, reached: Callable[[Positions], bool], what: str,  # type: ignore[no-untyped-def]
                *, projector: bool = False, version: int | None = None, timeout: float = 60.0,
                interval: float = 0.05) -> Positions:
    """Poll the pipeline's positions until `reached(positions)`; fail at once on an overshoot, and
    after `timeout` with the last positions seen. Errors while reading (NATS restarting, a store
    not yet created) count as "not yet"."""
    reader: _Reader | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: Positions | str = "nothing read"
    try:
        while True:
            try:
                reader = reader or await asyncio.to_thread(_Reader, settings, js, projector, version)
                seen = await reader.read()
            except Exception as e:  # noqa: BLE001  (retried until the deadline)
                seen = f"{type(e).__name__}: {e}"
            if isinstance(seen, Positions):
                wrong = seen.overshoot()
                if wrong:
                    raise AssertionError(f"{wrong}: {seen}")
                if reached(seen):
                    return seen
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: last read {seen}")
            await asyncio.sleep(interval)  # paces the poll
    finally:
        if reader is not None:
            await asyncio.to_thread(reader.close)


async def caught_up(settings, js: JetStreamContext, *, intake: int = 0, projector: bool = False,  # type: ignore[no-untyped-def]
                    version: int | None = None, timeout: float = 60.0) -> Positions:
    """The barrier before asserting that nothing more happened: wait until intake holds at least
    `intake` messages, the ledger's stored position equals intake's last sequence, the relay has
    published every stored event (CIVIC_LEDGER's last message carries the store's last notification
    id, and the stream holds exactly as many messages as the store holds events) and, with
    `projector`, the read model's stored position (of `version`, default the current one) equals
    CIVIC_LEDGER's last sequence. Returns the positions it saw."""
    def level(p: Positions) -> bool:
        return p.intake >= intake and p.level()

    seen = await until(settings, js, level, "the pipeline to catch up", projector=projector, version=version, timeout=timeout)
    reader = await asyncio.to_thread(_Reader, settings, js, False, None)
    try:
        stored = await asyncio.to_thread(reader.stored_events, seen.relayed_notification)
    finally:
        await asyncio.to_thread(reader.close)
    assert seen.relayed == stored, f"CIVIC_LEDGER holds {seen.relayed} messages for {stored} stored events: {seen}"
    return seen


def caught_up_in(data_dir: Path, **kw: Any) -> Positions:
    """caught_up() for a `civic up` or `civic demo` running on its own data folder (and the NATS
    server it wrote into it), from synchronous code."""
    async def barrier() -> Positions:
        from adapters.bus import connect
        from config import Settings

        settings = Settings(data_dir=data_dir)
        nc = await connect(settings, "admin")  # the data folder's admin key: this barrier reads every stream
        try:
            return await caught_up(settings, nc.jetstream(), **kw)
        finally:
            await nc.close()
    return asyncio.run(barrier())


def event_id_of(data: bytes) -> str:
    return msgspec.json.decode(data)["event_id"]


def read_model_answers(db, to: str = "2026-12-31") -> bytes:  # type: ignore[no-untyped-def]
    """Every answer a read-model version gives through its documented queries, as bytes: two
    versions at the same ledger position must give the same."""
    from datetime import date

    from projections.casework import CaseworkQueries
    from projections.deadline_queries import DeadlineQueries
    from projections.evidence import EvidenceQueries
    from projections.facts import Clock
    from projections.queries import DashboardQueries, TicketQueries
    from projections.service_requests import ServiceRequestQueries

    clock = Clock()
    boards, tickets = DashboardQueries(db, clock), TicketQueries(db, clock)
    casework, evidence, requests = CaseworkQueries(db, clock), EvidenceQueries(db, clock), ServiceRequestQueries(db, clock)
    deadlines = DeadlineQueries(db, clock)
    end = date.fromisoformat(to)
    now = clock.start_of(end)
    answers: list = [boards.position(), boards.orgs()]
    for org in boards.orgs():
        prefixes = boards.prefixes(org.org_id)
        answers += [boards.dashboard(org.org_id, None, end),
                    boards.dashboard(org.org_id, date(2026, 3, 1), date(2026, 3, 5)),
                    tickets.tickets(prefixes, "all", None, 1, 500, now), tickets.workload(prefixes, now),
                    casework.disputes(prefixes, None, end), casework.topics(prefixes, None, end),
                    evidence.cohort(prefixes, None, end),
                    deadlines.board(org.org_id, None, end), deadlines.board(org.org_id, date(2026, 3, 1), date(2026, 3, 5)),
                    deadlines.supervision(org.org_id), deadlines.ranking(org.org_id, "2026-03", min_settled=1)]
        listed = [t.ticket_id for t in tickets.tickets(prefixes, "all", None, 1, 500, now).tickets]
        answers.append(requests.by_ids(listed))
        for ticket_id in listed:
            answers += [tickets.timeline(ticket_id, now), boards.trail_index("ticket", ticket_id)]
    return msgspec.json.encode(answers)


def bearer(data_dir, name: str = "test-auditor", role: str = "auditor", org: str | None = None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An Authorization header for a new account of the web (an auditor, reading every unit, by default)."""
    from dashboards.accounts import Accounts, accounts_path

    accounts = Accounts(accounts_path(data_dir))
    if accounts.get(name) is None:
        accounts.add(name, role, org, "a test password", "tests")
    token = accounts.issue_token(name, "tests")
    accounts.close()
    return {"Authorization": f"Bearer {token}"}
