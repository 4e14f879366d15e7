"""The NATS topology, as names: streams, subjects, buckets and headers, and the subject builders.

Part of the wire contract: a producer in another language needs these as much as the event
shapes. Pure names and string functions, no nats-py: adapters/bus.py turns them into stream
configs, and every other package takes its names from here, so there is one spelling of each.

Subjects: civic.<stage>.<event type>.<org ids from root to leaf>, stage intake or ledger;
civic.rejected.<reason code>.<the intake subject after civic.intake.>.
"""

from __future__ import annotations

from typing import Protocol

# -- streams -----------------------------------------------------------------------------------

INTAKE = "CIVIC_INTAKE"
"""Raw facts as producers sent them (kept for days: they hold personal data in clear)."""
LEDGER = "CIVIC_LEDGER"
"""Accepted events, append-only and hash-chained; stream sequence = ledger position."""
REJECTED = "CIVIC_REJECTED"
"""Refused messages, their original bytes and the reason in the headers."""

CHECKPOINTS = "CIVIC_CHECKPOINTS"
"""On the checkpoint witness (another NATS server, CIVIC_CHECKPOINT_WITNESS): a copy of every signed
checkpoint, append-only, out of reach of whoever holds this server's data folder."""
CHECKPOINT_SUBJECT = "civic.checkpoints"

ROOT = "civic"
INTAKE_PREFIX = "civic.intake."
LEDGER_PREFIX = "civic.ledger."
REJECTED_PREFIX = "civic.rejected."
INTAKE_SUBJECTS = "civic.intake.>"
LEDGER_SUBJECTS = "civic.ledger.>"
REJECTED_SUBJECTS = "civic.rejected.>"
STREAM_SUBJECTS = {INTAKE: INTAKE_SUBJECTS, LEDGER: LEDGER_SUBJECTS, REJECTED: REJECTED_SUBJECTS}
"""Each stream's subject filter."""

LEDGER_CONSUMER = "ledger"
"""The ledger's durable pull consumer on CIVIC_INTAKE."""
ERASER_CONSUMER = "eraser"
"""The eraser's durable consumer on CIVIC_LEDGER, filtered to PersonalDataErased."""
CLOCK_CONSUMER_PREFIX = "clock-"
"""Each deadline clock instance's durable consumer on CIVIC_LEDGER: clock-<instance name>."""
CLOCK_INSTANCES = ("a", "b", "c")
"""The clock instance names the bus grants a consumer to (two or three run at once for availability)."""
NOTIFY_PREFIX = "civic.notify."
"""Core NATS: civic.notify.<unit> carries the clock events about that unit (reminders, breaches, chases, supervision)."""
LEDGER_NUDGE = "civic.nudge.ledger"
"""Core NATS subject the ledger pings after each commit, so the relay need not poll."""

# -- buckets -----------------------------------------------------------------------------------

ORG_DIRECTORY = "CIVIC_ORGS"
"""KV bucket org_id -> parent id ("" for a root), written by the relay, read by producers to
build subjects (civic.intake.<type>.<org path>) without asking the ledger. Its format, for
producers in other languages, is in docs/producers.md (or they ask GET /api/orgs/{id}/subject)."""


INSTANCE = "CIVIC_INSTANCE"
"""KV bucket holding one key, INSTANCE_KEY: the id of the instance whose streams this server keeps
(adapters/identity.py). Not a stream's own property: deleting and re-creating CIVIC_LEDGER (an alarm
for the relay) leaves it, so a stale address is told apart from a damaged ledger."""
INSTANCE_KEY = "id"

STATUS = "CIVIC_STATUS"
"""KV bucket (in memory: it must work when the disk is full) where each writer publishes its
progress and its last error under its own key; health reads it (schemas/status.py: the value)."""
LEDGER_STATUS_KEY = "ledger"
"""The ledger's key in CIVIC_STATUS: the only writer of the event store."""
DASHBOARD_STATUS_KEY = "projector.dashboard"
"""The projector's key in CIVIC_STATUS for the dashboard read model, its only writer: the version
and position after each commit (schemas/status.py ReadModelStatus), so the web knows the position
without asking the database. Another read model announced so would take projector.<its name>."""


def status_subject(key: str) -> str:
    """The subject a put of `key` into the status bucket is published on (NATS KV's layout)."""
    return f"$KV.{STATUS}.{key}"


def org_directory_key(org_id: str) -> str:
    """The subject a put of `org_id` into the org directory is published on (NATS KV's layout)."""
    return f"$KV.{ORG_DIRECTORY}.{org_id}"


# -- headers -----------------------------------------------------------------------------------
# On CIVIC_LEDGER (schemas/ledger.py says what they mean for the hash chain):
POSITION_HEADER = "Civic-Position"
HASH_HEADER = "Civic-Hash"
NOTIFICATION_ID_HEADER = "Civic-Notification-Id"
"""The event store's notification id; the relay resumes from the last one published."""
EVENT_ID_HEADER = "Civic-Event-Id"
"""On CIVIC_LEDGER and on CIVIC_REJECTED (when the message could be read that far)."""
# On CIVIC_REJECTED (schemas/rejected.py holds the reason codes):
REASON_HEADER = "Civic-Reason"
REASON_TEXT_HEADER = "Civic-Reason-Text"
FIELD_HEADER = "Civic-Field"
INTAKE_SEQUENCE_HEADER = "Civic-Intake-Sequence"
INTAKE_SUBJECT_HEADER = "Civic-Intake-Subject"

# -- subjects ----------------------------------------------------------------------------------


class Typed(Protocol):
    @property
    def type(self) -> str: ...


def subject(stage: str, event_type: str, org_path: tuple[str, ...] | list[str]) -> str:
    """civic.<stage>.<type>.<org ids from root to leaf>."""
    return ".".join((ROOT, stage, event_type, *org_path))


def intake_subject(event: Typed, org_path: tuple[str, ...] | list[str]) -> str:
    return subject("intake", event.type, org_path)


def ledger_subject(event_type: str, org_path: tuple[str, ...] | list[str]) -> str:
    return subject("ledger", event_type, org_path)


def parse_intake_subject(intake: str) -> tuple[str, tuple[str, ...]]:
    """The event type token and the org path of civic.intake.<type>.<org path>; ("", ()) for a
    subject outside intake (no event type is empty, so such a subject names none)."""
    tokens = intake.split(".")
    if tokens[:2] != [ROOT, "intake"] or len(tokens) < 3:
        return "", ()
    return tokens[2], tuple(tokens[3:])


MSG_ID_PATH = "@"
"""Separates an event id from the org path in the clock's Nats-Msg-Id (never part of an event id)."""


def clock_message_id(event_id: str, org_path: tuple[str, ...] | list[str]) -> str:
    """The clock's Nats-Msg-Id: its event's id at the org path it was published under.

    A unit may move while a clock event is on its way; the ledger then refuses it (subject_mismatch)
    and the clock publishes it again at the new path. JetStream's duplicate window would drop a
    second message with the same id for minutes, so the path is part of the message id: a new
    path is a new message for intake, and the same event for the ledger, whose event-id index
    keeps one."""
    return f"{event_id}{MSG_ID_PATH}{'.'.join(org_path)}"


def event_id_of_message_id(message_id: str) -> str:
    """The event id a Nats-Msg-Id names (the clock's carries the path after it)."""
    return message_id.partition(MSG_ID_PATH)[0]


def clock_consumer(instance: str) -> str:
    return f"{CLOCK_CONSUMER_PREFIX}{instance}"


def notification_subject(unit: str) -> str:
    """Where a unit's clock notifications are published: civic.notify.<unit>."""
    return f"{NOTIFY_PREFIX}{unit}"


def rejected_subject(code: str, intake: str) -> str:
    """civic.rejected.<code>.<the intake subject's tokens after civic.intake.>."""
    rest = intake.split(".", 2)[2] if intake.count(".") >= 2 else "unknown"
    return f"{REJECTED_PREFIX}{code}.{rest}"
