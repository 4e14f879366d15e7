"""The clock's FastStream wiring with FastStream's TestNatsBroker (in memory, no server): ledger
messages reach the handler and are folded in order, acked or left for redelivery; what falls due is
published to the intake subject of the ticket's org path with its event id at that path as
Nats-Msg-Id; clock
events read back from the ledger are notified on the unit's subject. The real server: tests/integration/test_clock.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
from faststream.nats import JStream, NatsBroker, NatsMessage, TestNatsBroker

import schemas as s
from consumers.clock import Clock, ClockConfig, build
from consumers.clock_state import ClockState, FixedEscalation
from schemas import topology
from schemas.topology import ledger_subject

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, tzinfo=CST)
DUE = T0 + timedelta(hours=4)
TERMS = FixedEscalation(timedelta(hours=1), (timedelta(hours=2),), timedelta(hours=6), ("street",))
PATH = ("d1", "s1", "c1")
ACTOR = s.Actor(role="dispatcher", id="d")


def stored(cls: type[s.Event], n: int, org: str, path: tuple[str, ...], **fields: Any) -> tuple[str, bytes]:
    event = cls(event_id=f"e{n}", occurred_at=T0, source="t", actor=ACTOR, org_id=org, org_path=path, **fields)
    return ledger_subject(event.type, path), s.encode(event)


def ack_subject(seq: int) -> str:
    """The reply subject JetStream delivers a message with: its stream sequence is the 6th token."""
    return f"$JS.ACK.{topology.LEDGER}.clock-a.1.{seq}.{seq}.1772413200000000000.0"


LEDGER = [
    stored(s.OrgUnitRegistered, 1, "d1", ("d1",), kind="district", name="D"),
    stored(s.OrgUnitRegistered, 2, "s1", ("d1", "s1"), kind="street", name="S", parent_id="d1"),
    stored(s.OrgUnitRegistered, 3, "c1", PATH, kind="community", name="C", parent_id="s1"),
    stored(s.TicketRaised, 4, "c1", PATH, ticket_id="T1", category="parking", title="cars"),
    stored(s.TicketDispatched, 5, "c1", PATH, ticket_id="T1", to_unit="c1", deadline=DUE),
]


class Now:
    at = T0

    def __call__(self) -> datetime:
        return self.at


async def test_ledger_messages_fold_in_order_and_due_steps_go_to_intake(tmp_path: Path) -> None:
    broker, now = NatsBroker(), Now()
    clock = Clock(ClockState(tmp_path / "clock.sqlite"), ClockConfig(name="a", escalation=lambda c, k: TERMS, quiet=0), now)
    build(broker, clock, 0)
    published: list[tuple[str, bytes, dict[str, str]]] = []

    @broker.subscriber(topology.INTAKE_SUBJECTS, stream=JStream(topology.INTAKE, declare=False))
    async def intake(msg: NatsMessage) -> None:
        published.append((msg.raw_message.subject, msg.body, dict(msg.headers)))

    async with TestNatsBroker(broker):
        await broker.publish(LEDGER[1][1], LEDGER[1][0], reply_to=ack_subject(2))  # out of order: left for redelivery
        assert clock.state.position == 0
        for seq, (subject, data) in enumerate(LEDGER, 1):
            await broker.publish(data, subject, reply_to=ack_subject(seq))
        await broker.publish(LEDGER[0][1], LEDGER[0][0], reply_to=ack_subject(1))  # a redelivery: a no-op
        assert clock.state.position == 5
        assert await clock.tick(5) == 0  # now is before the reminder
        now.at = DUE + timedelta(hours=2)
        assert await clock.tick(5) == 3
        assert await clock.tick(5) == 0  # sent, not yet read back: not sent again
    subjects = [p[0] for p in published]
    assert subjects == [topology.subject("intake", t, PATH) for t in ("DeadlineNearing", "DeadlineBreached", "TicketChased")]
    events = [s.decode(p[1]) for p in published]
    assert [p[2]["Nats-Msg-Id"] for p in published] == [f"{e.event_id}@d1.s1.c1" for e in events]
    assert [e.occurred_at for e in events] == [DUE - timedelta(hours=1), DUE, DUE + timedelta(hours=2)]
    assert {e.actor.role for e in events} == {"system"}


async def test_clock_events_read_back_are_notified_to_the_unit(tmp_path: Path) -> None:
    broker, now = NatsBroker(), Now()
    now.at = DUE + timedelta(hours=7)
    clock = Clock(ClockState(tmp_path / "clock.sqlite"), ClockConfig(name="a", escalation=lambda c, k: TERMS, quiet=0), now)
    build(broker, clock, 0)
    heard: dict[str, list[str]] = {"c1": [], "s1": []}

    @broker.subscriber(topology.notification_subject("c1"))
    async def c1(msg: NatsMessage) -> None:
        heard["c1"].append(msgspec.json.decode(msg.body)["type"])

    @broker.subscriber(topology.notification_subject("s1"))
    async def s1(msg: NatsMessage) -> None:
        heard["s1"].append(msgspec.json.decode(msg.body)["type"])

    async with TestNatsBroker(broker):
        for seq, (subject, data) in enumerate(LEDGER, 1):
            await broker.publish(data, subject, reply_to=ack_subject(seq))
        events = [d.event for d in clock.state.due(now.at, lambda c, k: TERMS)]
        for seq, event in enumerate(events, 6):
            await broker.publish(s.encode(msgspec.structs.replace(event, org_path=PATH)), ledger_subject(event.type, PATH),
                                 reply_to=ack_subject(seq))
    assert heard == {"c1": ["DeadlineNearing", "DeadlineBreached", "TicketChased", "TicketSupervised"],
                     "s1": ["TicketSupervised"]}

