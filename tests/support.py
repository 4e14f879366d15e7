"""Shared test helpers: a deterministic scripted district, publishing, reading streams back."""

from __future__ import annotations

import asyncio

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

import schemas as s
from producers.script import CST, SYSTEM, T0, Script, many_tickets, small_district  # noqa: F401  (re-exported for tests)
from collections.abc import Iterator

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


def event_id_of(data: bytes) -> str:
    return msgspec.json.decode(data)["event_id"]


def read_model_answers(db, to: str = "2026-12-31") -> bytes:  # type: ignore[no-untyped-def]
    """Every answer a read-model version gives through its documented queries, as bytes: two
    versions at the same ledger position must give the same."""
    from datetime import date

    from projections.casework import CaseworkQueries
    from projections.evidence import EvidenceQueries
    from projections.facts import Clock
    from projections.queries import DashboardQueries, TicketQueries
    from projections.service_requests import ServiceRequestQueries

    clock = Clock()
    boards, tickets = DashboardQueries(db, clock), TicketQueries(db, clock)
    casework, evidence, requests = CaseworkQueries(db, clock), EvidenceQueries(db, clock), ServiceRequestQueries(db, clock)
    end = date.fromisoformat(to)
    now = clock.start_of(end)
    answers: list = [boards.position(), boards.orgs()]
    for org in boards.orgs():
        prefixes = boards.prefixes(org.org_id)
        answers += [boards.dashboard(org.org_id, None, end),
                    boards.dashboard(org.org_id, date(2026, 3, 1), date(2026, 3, 5)),
                    tickets.tickets(prefixes, "all", None, 1, 500, now), tickets.workload(prefixes, now),
                    casework.disputes(prefixes, None, end), casework.topics(prefixes, None, end),
                    evidence.cohort(prefixes, None, end)]
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
