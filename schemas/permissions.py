"""Who may do what on the bus: one row per identity, the only place a grant is written.

Every process connects to NATS as an identity of its own, and the server enforces the grants
below (nothing not granted is allowed). The NATS server configuration (adapters/credentials.py
renders it), README "Security" and docs/security.md are all derived from this table, and the
subjects come from schemas/topology.py. Pure names, no nats-py.

Rules the table keeps (tests/integration/test_bus_permissions.py tries to break each):
- nobody is anonymous; each identity replies only on its own inbox (_INBOX.<identity>.>), so no
  one can overhear another's deliveries (intake messages carry residents' data in clear);
- only the relay publishes to the ledger subjects; an upstream system publishes only to the intake
  subjects of its org subtrees; an auditor reads the ledger and nothing else;
- no runtime identity may delete, purge or reconfigure a stream: only `admin`, which `civic up`
  uses at start to create the streams and the buckets (org directory, status, instance id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.base import tag_of
from schemas.clock import CLOCK_EVENTS
from schemas.topology import (CLOCK_INSTANCES, DASHBOARD_STATUS_KEY, NOTIFY_PREFIX, clock_consumer, ERASER_CONSUMER, INSTANCE, INSTANCE_KEY, INTAKE, INTAKE_PREFIX, INTAKE_SUBJECTS, LEDGER, LEDGER_CONSUMER,
                              LEDGER_NUDGE, LEDGER_STATUS_KEY, LEDGER_SUBJECTS, ORG_DIRECTORY, REJECTED, REJECTED_SUBJECTS, STATUS,
                              status_subject)

API = "$JS.API"
ORG_DIRECTORY_STREAM = f"KV_{ORG_DIRECTORY}"
"""The stream behind the org directory bucket (NATS KV's naming)."""
SCOPE_DEPTH = 8
"""A producer's org may sit at any of the top SCOPE_DEPTH levels of the tree (one grant per level:
NATS wildcards match whole tokens, so `X` anywhere in the path is spelled level by level)."""
ANY_ORG = "*"
"""A producer scope of every org (the gateway's tokens use the same spelling)."""
PRODUCER_PREFIX = "producer-"
"""An upstream system's identity is producer-<system>."""
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""An identity name: one NATS subject token (it names its inbox)."""


def inbox_prefix(identity: str) -> str:
    """The inbox an identity's replies and deliveries come to; it may subscribe to no other."""
    return f"_INBOX.{identity}"


@dataclass(frozen=True)
class Identity:
    name: str
    does: str
    """What it does, in a line (rendered into docs/security.md)."""
    used_by: str
    """Which process or command connects as it."""
    publish: tuple[str, ...] = ()
    """Subjects it may publish to ($JS.API.* requests included)."""
    subscribe: tuple[str, ...] = ()
    unrestricted: bool = False
    """admin only: every subject."""
    reserved: bool = False
    """Declared for a role that does not exist yet (its credential is made all the same)."""
    why: tuple[str, ...] = field(default=(), compare=False)
    """One line per grant group: why it needs what it has."""

    @property
    def inbox(self) -> str:
        return inbox_prefix(self.name)

    def subscriptions(self) -> tuple[str, ...]:
        return (*self.subscribe, f"{self.inbox}.>")


# -- grant groups ---------------------------------------------------------------------------------

def stream_state(*streams: str) -> tuple[str, ...]:
    """A stream's configuration and counters (no message content)."""
    return tuple(f"{API}.STREAM.INFO.{s}" for s in streams)


def reads(stream: str) -> tuple[str, ...]:
    """Read a stream: its state, one message by sequence, and ephemeral consumers (ordered push
    or pull) of its own, answering the server's flow-control requests."""
    return (*stream_state(stream), f"{API}.STREAM.MSG.GET.{stream}", f"{API}.DIRECT.GET.{stream}",
            f"{API}.DIRECT.GET.{stream}.>", f"{API}.CONSUMER.CREATE.{stream}", f"{API}.CONSUMER.CREATE.{stream}.>",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.*", f"{API}.CONSUMER.INFO.{stream}.*", f"$JS.FC.{stream}.>")


def durable(stream: str, consumer: str) -> tuple[str, ...]:
    """Own one durable pull consumer: make it anew from a stored position, pull, ack."""
    return (f"{API}.CONSUMER.CREATE.{stream}.{consumer}", f"{API}.CONSUMER.CREATE.{stream}.{consumer}.>",
            f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{consumer}", f"{API}.CONSUMER.DELETE.{stream}.{consumer}",
            f"{API}.CONSUMER.INFO.{stream}.{consumer}", f"{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
            f"$JS.ACK.{stream}.{consumer}.>")


def reads_directory() -> tuple[str, ...]:
    """The org directory bucket, read (producers build intake subjects from it)."""
    return reads(ORG_DIRECTORY_STREAM)


def reads_key(bucket: str, key: str) -> tuple[str, ...]:
    """One key of a KV bucket, read (its stream's state, then the key's last value, direct or not)."""
    stream = f"KV_{bucket}"
    return (*stream_state(stream), f"{API}.STREAM.MSG.GET.{stream}", f"{API}.DIRECT.GET.{stream}.$KV.{bucket}.{key}")


def reads_instance() -> tuple[str, ...]:
    """The server's instance id (CIVIC_INSTANCE): a role adopts it, a command refuses another instance's server."""
    return reads_key(INSTANCE, INSTANCE_KEY)


def reads_ledger_status() -> tuple[str, ...]:
    """The ledger's report in CIVIC_STATUS (health's store error, last commit)."""
    return reads_key(STATUS, LEDGER_STATUS_KEY)


def writes_directory() -> tuple[str, ...]:
    return (*stream_state(ORG_DIRECTORY_STREAM), f"$KV.{ORG_DIRECTORY}.>")


def intake_of(orgs: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Intake subjects whose org path passes through one of `orgs`: civic.intake.<type>.<path>
    with the org at any of the top SCOPE_DEPTH levels, and anything under it."""
    if ANY_ORG in orgs:
        return (INTAKE_SUBJECTS,)
    out = []
    for org in orgs:
        if not NAME.match(org):
            raise ValueError(f"{org!r} is not an org id")
        for level in range(SCOPE_DEPTH):
            at = f"{INTAKE_PREFIX}*." + "*." * level + org
            out += [at, f"{at}.>"]
    return tuple(out)


def deletes_messages(*streams: str) -> tuple[str, ...]:
    return tuple(f"{API}.STREAM.MSG.DELETE.{s}" for s in streams)


# -- the table -----------------------------------------------------------------------------------

ADMIN = Identity(
    "admin", "creates and updates the streams and the buckets (org directory, status, instance id)", "`civic up` at start; `civic bus init`; `civic ledger recover`",
    unrestricted=True, why=("the only identity that may create, update, delete or purge a stream",))
LEDGER_ROLE = Identity(
    "ledger", "takes intake in order, stores accepted events, publishes refusals",
    "`python -m civic.roles ledger`",
    publish=(*durable(INTAKE, LEDGER_CONSUMER), *stream_state(INTAKE, REJECTED), REJECTED_SUBJECTS, LEDGER_NUDGE,
             status_subject(LEDGER_STATUS_KEY), *reads_ledger_status(), *reads_instance()),
    why=(f"its durable pull consumer `{LEDGER_CONSUMER}` on {INTAKE}, made anew from the store's position at start",
         f"publishes refusals to {REJECTED_SUBJECTS} and a nudge on {LEDGER_NUDGE} after each commit",
         f"publishes its status (last commit, last store error) to {STATUS} under its key; reads it back at start",
         f"reads the server's instance id ({INSTANCE})"))
RELAY = Identity(
    "relay", "publishes the event store's notification log to the ledger stream; keeps the org directory",
    "`python -m civic.roles relay`",
    publish=(LEDGER_SUBJECTS, *stream_state(LEDGER), f"{API}.STREAM.MSG.GET.{LEDGER}", *writes_directory(), *reads_instance()),
    subscribe=(LEDGER_NUDGE,),
    why=(f"the only publisher to {LEDGER_SUBJECTS}; resumes from the stream's last message",
         "puts org changes into the org directory bucket", f"woken by {LEDGER_NUDGE}",
         f"reads the server's instance id ({INSTANCE})"))
PROJECTOR = Identity(
    "projector", "builds the read models from the ledger, and the event index", "`python -m civic.roles projector`, `civic projections rebuild`",
    publish=(*reads(LEDGER), *reads(INTAKE), *reads(REJECTED), status_subject(DASHBOARD_STATUS_KEY), *reads_instance()),
    why=(f"reads {LEDGER} with consumers of its own",
         f"the event index (GET /v1/events/{{id}}) follows {INTAKE} and {REJECTED} for ids and reasons; it asks for "
         "headers only, which the server cannot enforce: this identity could read their bodies",
         f"announces the dashboard read model's version and position after each commit to {STATUS} under its key "
         f"`{DASHBOARD_STATUS_KEY}`, the only identity that may (a forged lower position would have the web serve older answers)",
         f"reads the server's instance id ({INSTANCE})"))
WEB = Identity(
    "web", "serves the dashboards, /healthz, /metrics, and the HTTP gateway and Open311 POST",
    "`python -m civic.roles web`",
    publish=(INTAKE_SUBJECTS, *stream_state(INTAKE, LEDGER, REJECTED), f"{API}.CONSUMER.INFO.{INTAKE}.{LEDGER_CONSUMER}",
             *(f"{API}.CONSUMER.INFO.{LEDGER}.{clock_consumer(n)}" for n in CLOCK_INSTANCES),
             f"{API}.STREAM.MSG.GET.{LEDGER}", *reads_directory(), *reads_ledger_status(), *reads_instance()),
    subscribe=(status_subject(DASHBOARD_STATUS_KEY),),
    why=("publishes to intake for the gateway and Open311, which check each token's org scope themselves",
         f"reads stream counters, the ledger's and the clocks' consumer lag and the ledger's status ({STATUS}) for /healthz and /metrics",
         f"reads one {LEDGER} message by position: a ticket's sealed reporter, for staff in scope (logged)",
         "reads the org directory to build subjects", f"reads the server's instance id ({INSTANCE})",
         f"hears the projector's announcements of the dashboard read model's position ({status_subject(DASHBOARD_STATUS_KEY)}): "
         "a remembered answer is given without asking the database where the read model is"))
CHECKPOINT = Identity(
    "checkpoint", "signs the chain head every few minutes", "`civic audit checkpoint` under `civic up`",
    publish=(*reads(LEDGER), *reads_instance()), why=(f"reads {LEDGER}, as an auditor does", f"reads the server's instance id ({INSTANCE})"))
def clock_grants() -> tuple[str, ...]:
    """The deadline clock: its own durable consumers on the ledger (one per instance name), the
    ledger's last sequence, the clock event types into intake and the units' notification subjects."""
    consumers = tuple(g for name in CLOCK_INSTANCES for g in durable(LEDGER, clock_consumer(name)))
    intake = tuple(f"{INTAKE_PREFIX}{tag_of(cls)}.>" for cls in CLOCK_EVENTS)
    return (*consumers, f"$JS.FC.{LEDGER}.>", *stream_state(LEDGER), *intake, f"{NOTIFY_PREFIX}>")


CLOCK = Identity(
    "clock", "the deadline clock: reminders, breaches, chases and supervision into intake; notifies the units",
    "`python -m civic.roles clock`", publish=(*clock_grants(), *reads_instance()),
    why=(f"reads {LEDGER} only through its own durable push consumers ({', '.join(clock_consumer(n) for n in CLOCK_INSTANCES)}), "
         "made anew from its stored position; answers the server's flow control; reads the stream's last sequence "
         "(the barrier: a rule fires only once the clock has read what the ledger held after the deadline)",
         "publishes only the clock's four event types to intake (as the system), never another type",
         f"publishes notifications to {NOTIFY_PREFIX}<unit> (core NATS)",
         f"reads the server's instance id ({INSTANCE})"))
ERASER = Identity(
    "eraser", "deletes an erased resident's messages from intake and the rejections", "`python -m civic.roles eraser`",
    publish=(*durable(LEDGER, ERASER_CONSUMER), *stream_state(LEDGER), *reads(INTAKE), *reads(REJECTED),
             *deletes_messages(INTAKE, REJECTED), *reads_instance()),
    why=(f"follows the erasures in {LEDGER} with its durable consumer `{ERASER_CONSUMER}`",
         f"finds the resident's messages in {INTAKE} and {REJECTED} and deletes them one by one (the only identity "
         "that may), only those at or below the ledger's stored position", f"reads the server's instance id ({INSTANCE})"))
EMIT = Identity(
    "emit", "local producers: publish events to intake", "`civic emit`, `civic import`, `civic simulate`, `civic demo`, `civic privacy erase`",
    publish=(INTAKE_SUBJECTS, *reads_directory(), *reads_instance(), *reads(LEDGER), *reads(REJECTED), *reads_ledger_status()),
    subscribe=(status_subject(LEDGER_STATUS_KEY),),
    why=("publishes to any org's intake subjects: it runs on the service's own host",
         "reads the org directory to build subjects", f"reads the server's instance id ({INSTANCE}): a stale address is refused",
         f"waits for the ledger's verdict on what it sent (producers/verdicts.py): follows {LEDGER} and {REJECTED} "
         f"headers only (ids, positions, reasons), which the server cannot enforce: this identity could read the "
         f"refused bodies, as the operator of the host that keeps them could anyway; hears the ledger's position on "
         f"{status_subject(LEDGER_STATUS_KEY)} and reads it from {STATUS}"))
NOTIFIED_PREFIX = "notified-"
"""A unit's notification receiver connects as notified-<unit>."""


def notified(unit: str) -> Identity:
    """A unit's receiver of clock notifications (a bridge to its app or SMS gateway): subscribes to
    its own unit's subject, nothing else; publishes nothing."""
    if not NAME.match(unit):
        raise ValueError(f"{unit!r} is not an org id")
    return Identity(f"{NOTIFIED_PREFIX}{unit}", f"receives the clock's notifications for unit {unit}",
                    "the unit's own receiver (an app bridge, an SMS gateway)", subscribe=(f"{NOTIFY_PREFIX}{unit}",),
                    why=(f"subscribes to {NOTIFY_PREFIX}{unit} only: one unit never sees another's reminders",))


AUDITOR = Identity(
    "auditor", "reads the ledger and nothing else", "`civic audit ...`, `civic ledger show`, `civic ledger tail`",
    publish=(*reads(LEDGER), *reads_instance()),
    why=(f"reads {LEDGER} (sealed personal data only); never intake or rejections",
         f"reads the server's instance id ({INSTANCE}): a stale address is refused"))

IDENTITIES: tuple[Identity, ...] = (ADMIN, LEDGER_ROLE, RELAY, PROJECTOR, WEB, CHECKPOINT, CLOCK, ERASER, EMIT, AUDITOR)
"""The service's own identities; upstream systems come on top (producer())."""
BY_NAME = {identity.name: identity for identity in IDENTITIES}


def producer(system: str, orgs: list[str] | tuple[str, ...]) -> Identity:
    """An upstream system's identity: publish to the intake subjects of its org subtrees, read the
    org directory; nothing else (not intake, not the ledger)."""
    if not NAME.match(system):
        raise ValueError(f"{system!r}: a system name is letters, digits, - and _")
    scope = "every org" if ANY_ORG in orgs else ", ".join(orgs)
    return Identity(f"{PRODUCER_PREFIX}{system}", f"upstream system {system}: publishes events at {scope}",
                    "the system's own NATS client (the SDK)", publish=(*intake_of(orgs), *reads_directory()),
                    why=("publishes only to the intake subjects of its org subtrees", "reads the org directory"))


# -- the table, as documentation ------------------------------------------------------------------

def markdown() -> str:
    """docs/security.md's "Who may do what" section, written from the table above (a unit test
    keeps the document equal to it)."""
    rows = ["| identity | connects as it | does |", "|---|---|---|"]
    for identity in (*IDENTITIES, producer("SYSTEM", ["ORG"])):
        note = " (reserved)" if identity.reserved else ""
        rows.append(f"| `{identity.name}`{note} | {identity.used_by} | {identity.does} |")
    parts = ["\n".join(rows)]
    for identity in (*IDENTITIES, producer("SYSTEM", ["ORG"])):
        lines = [f"#### `{identity.name}`", "", *[f"- {why}" for why in identity.why], ""]
        if identity.unrestricted:
            lines += ["Every subject (no `permissions` block).", ""]
        else:
            lines += ["```", "publish:", *[f"  {p}" for p in identity.publish], "subscribe:",
                      *[f"  {p}" for p in identity.subscriptions()], "```", ""]
        parts.append("\n".join(lines).strip())
    return "\n\n".join(parts) + "\n"
