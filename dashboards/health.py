"""Health of the pipeline, as the web role reports it at GET /healthz (and /metrics).

The rules are the table RULES below, and nowhere else: each reason is a code, a severity and a
test on one set of readings taken from the bus, the ledger's own report (CIVIC_STATUS),
nats-server's monitoring endpoint, the supervisor's status file, PostgreSQL and the disk.
`ok` only when no rule fires; `faulty` when events may not be recorded at all; `degraded` when
they are, but late or with a part restarting. README "Operations" shows the same table
(tests/unit/test_health_rules.py keeps the two equal). A new reason is one more Rule line (and
its row in the README and its case in that test); a condition only the ledger can see reaches
health as an alarm code in its status (WriterStatus.alarms, Readings.alarms).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.alarm import Alarm, read_alarm
from adapters.deadlines import PolicyError, load_rules
from adapters.eventstore import postgres_reachable
from adapters.natsserver import jetstream_problem
from adapters.status import read_status
from config import Settings
from projections.gaps import OpenGap
from projections.readside import Upgrading
from schemas import status as wire
from schemas.calendar import WorkingCalendar
from schemas.topology import CLOCK_INSTANCES, clock_consumer, INTAKE, LEDGER, LEDGER_CONSUMER, LEDGER_STATUS_KEY, NOTIFICATION_ID_HEADER, REJECTED

OK, DEGRADED, FAULTY = "ok", "degraded", "faulty"
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Every threshold health uses."""

    stall_seconds: float = 30.0
    """Work waits in intake and the ledger has committed nothing for this long."""
    backlog: int = 5_000
    """Intake messages waiting (pending + delivered, unacked) before the ledger counts as behind."""
    relay_lag: int = 5_000
    """Stored events not yet in CIVIC_LEDGER."""
    projector_lag: int = 5_000
    """CIVIC_LEDGER events the dashboards have not applied."""
    clock_lag: int = 5_000
    """CIVIC_LEDGER events a deadline clock has not read (its rules cannot fire past what it has read)."""
    disk_full_bytes: int = 64 * MiB
    disk_low_bytes: int = 512 * MiB
    disk_low_fraction: float = 0.05
    """Low: below disk_low_bytes AND below this fraction of the disk (a small disk is not low by itself)."""


LIMITS = Limits()


@dataclass
class Readings:
    """What health measured, one check's worth; None: not measured (not configured, or unknown)."""

    now: float
    nats_connected: bool = False
    streams_present: bool = False
    intake_pending: int = 0
    """Not yet delivered to the ledger."""
    intake_ack_pending: int = 0
    """Delivered to the ledger, not yet acknowledged (a batch in flight, or one that keeps failing)."""
    redelivered: int = 0
    progress_age: float = 0.0
    """Seconds since the ledger last moved forward (its last commit, or the consumer's ack floor)."""
    ledger: wire.WriterStatus | None = None
    relay_lag: int | None = None
    projector_lag: int | None = None
    clock_lag: dict[str, int] = field(default_factory=dict)
    """Per running clock instance (its consumer, e.g. clock-a): ledger events not yet read and acknowledged."""
    postgres_up: bool | None = None
    jetstream: str | None = None
    """nats-server's own verdict on JetStream (adapters/natsserver.jetstream_problem), None when fine or unknown."""
    disk_free: int | None = None
    disk_total: int | None = None
    down: list[str] = field(default_factory=list)
    """Processes the supervisor reports down (waiting out a restart backoff)."""
    ledger_alarm: Alarm | None = None
    """The relay's ledger alarm (adapters/alarm.py), raised until `civic ledger recover`."""
    intake_gaps: list[OpenGap] = field(default_factory=list)
    """IntakeGap events no operator has acknowledged (projections/gaps.py)."""
    read_model_upgrading: bool = False
    """The dashboards' read model is being rewritten to a newer layout (projections/readside.py Upgrading)."""

    @property
    def waiting(self) -> int:
        return self.intake_pending + self.intake_ack_pending

    @property
    def alarms(self) -> list[str]:
        """What the ledger reports needs an operator (WriterStatus.alarms): a rule per alarm, e.g.
        Rule("intake_gap", FAULTY, lambda r, _: "intake_gap" in r.alarms, "...")."""
        return list(self.ledger.alarms) if self.ledger is not None else []


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    fires: Callable[[Readings, Limits], bool]
    meaning: str
    reported_as: Callable[[Readings], str] | None = None
    """When set, the code /healthz shows instead of `code` (the ledger alarm shows its own)."""


def _disk_low(r: Readings, lim: Limits) -> bool:
    return (r.disk_free is not None and r.disk_total is not None and r.disk_free < lim.disk_low_bytes
            and r.disk_free < lim.disk_low_fraction * r.disk_total)


RULES: tuple[Rule, ...] = (
    Rule("ledger_alarm", FAULTY, lambda r, _: r.ledger_alarm is not None,
         "the relay found CIVIC_LEDGER disagreeing with the store and stopped (shown as the alarm's own code: "
         "ledger_stream_missing, ledger_stream_emptied, ledger_foreign_message, ledger_ahead_of_store, ledger_disagrees, "
         "ledger_alarm_unreadable); only `civic ledger recover` clears it",
         reported_as=lambda r: r.ledger_alarm.code if r.ledger_alarm else "ledger_alarm"),
    Rule("nats_unreachable", FAULTY, lambda r, _: not r.nats_connected, "the web role cannot reach NATS"),
    Rule("streams_missing", DEGRADED, lambda r, _: r.nats_connected and not r.streams_present, "the streams or the ledger's consumer do not exist yet (starting)"),
    Rule("jetstream_write_error", FAULTY, lambda r, _: r.jetstream == "jetstream_write_error", "nats-server's /healthz reports a stream write error (full disk): the supervisor restarts it once space is back"),
    Rule("jetstream_unhealthy", FAULTY, lambda r, _: r.jetstream in ("jetstream_disabled", "jetstream_unhealthy"), "nats-server's /healthz reports JetStream disabled or unhealthy"),
    Rule("nats_monitor_unreachable", DEGRADED, lambda r, _: r.jetstream == "monitor_unreachable", "nats-server's monitoring port does not answer"),
    Rule("store_error", FAULTY, lambda r, _: r.ledger is not None and r.ledger.error is not None, "the ledger's last write to the event store failed and none has succeeded since"),
    Rule("ledger_stalled", FAULTY, lambda r, lim: r.waiting > 0 and r.progress_age > lim.stall_seconds, "intake holds work and the ledger has committed nothing for stall_seconds"),
    Rule("intake_backlog", DEGRADED, lambda r, lim: r.waiting > lim.backlog, "more than `backlog` intake messages wait for the ledger (pending + unacknowledged)"),
    Rule("redelivering", DEGRADED, lambda r, lim: r.redelivered > 0 and r.progress_age > lim.stall_seconds / 3, "intake messages are being redelivered and the ledger is not moving"),
    Rule("relay_lag", DEGRADED, lambda r, lim: (r.relay_lag or 0) > lim.relay_lag, "stored events not yet republished to CIVIC_LEDGER (store head minus stream)"),
    Rule("clock_lag", DEGRADED, lambda r, lim: any(lag > lim.clock_lag for lag in r.clock_lag.values()),
         "CIVIC_LEDGER events a deadline clock has not read: reminders, breaches and chases wait until it has"),
    Rule("projector_lag", DEGRADED, lambda r, lim: (r.projector_lag or 0) > lim.projector_lag, "CIVIC_LEDGER events the dashboards have not applied"),
    Rule("postgres_unreachable", FAULTY, lambda r, _: r.postgres_up is False, "CIVIC_DATABASE_URL is set and PostgreSQL does not answer"),
    Rule("disk_full", FAULTY, lambda r, lim: r.disk_free is not None and r.disk_free < lim.disk_full_bytes, "less than disk_full_bytes free under the data folder"),
    Rule("disk_low", DEGRADED, lambda r, lim: _disk_low(r, lim), "less than disk_low_bytes and disk_low_fraction free under the data folder"),
    Rule("intake_gap", FAULTY, lambda r, _: bool(r.intake_gaps), "the ledger recorded an IntakeGap (intake dropped messages it never read) that no operator has acknowledged (`civic ops ack-gap`)"),
    Rule("read_model_upgrading", DEGRADED, lambda r, _: r.read_model_upgrading,
         "the dashboards' read model is being rewritten to a newer layout (once, at the projector's start after an upgrade): "
         "its reads answer 503 with Retry-After until it commits"),
    Rule("process_down", DEGRADED, lambda r, _: bool(r.down), "the supervisor is waiting to restart a role or nats-server (see its log)"),
)


def judge(readings: Readings, limits: Limits = LIMITS) -> tuple[str, list[str]]:
    """The status and the codes of every rule that fires, in table order."""
    fired = [rule for rule in RULES if rule.fires(readings, limits)]
    if any(rule.severity == FAULTY for rule in fired):
        status = FAULTY
    elif fired:
        status = DEGRADED
    else:
        status = OK
    return status, [rule.reported_as(readings) if rule.reported_as else rule.code for rule in fired]


class StreamHealth(msgspec.Struct):
    name: str
    messages: int
    last_sequence: int


class Health(msgspec.Struct):
    status: str
    """ok, degraded or faulty (dashboards/health.py RULES; README "Operations")."""
    reasons: list[str] = []
    """The codes of the rules that fire; codes only, never an error's text (this is unauthenticated)."""
    nats_connected: bool = False
    streams: list[StreamHealth] = []
    ledger_consumer_pending: int | None = None
    """Intake messages the ledger has not yet acknowledged (pending + delivered, unacked)."""
    dashboard_lag: int | None = None
    """Ledger events the dashboard read model has not yet applied."""
    relay_lag: int | None = None
    """Events in the store not yet in CIVIC_LEDGER."""
    clock_lag: dict[str, int] = {}
    """Per deadline clock instance (its consumer on CIVIC_LEDGER): events not yet read and acknowledged."""
    intake_gaps: list[OpenGap] = []
    """Intake gaps no operator has acknowledged (reason intake_gap): each names the missing
    intake sequences and the command that acknowledges it."""
    calendar_missing: list[int] = []
    """Years a deadline set now may fall in (this one and the next) without an official holiday
    schedule in the calendar folder: their working days count weekends only. A notice, not a
    reason: deadlines are still computed (README "Deadlines")."""


class HealthProbe:
    """Keeps one NATS connection for the web role and takes the readings on demand."""

    def __init__(self, nats_url: str, alarm_path: Path | None = None, settings: Settings | None = None,
                 read_model_position: Callable[[], int | None] | None = None,
                 open_gaps: Callable[[], list[OpenGap]] | None = None, options: dict | None = None):
        self.nats_url = nats_url
        self.options = options or {}
        """Connection options beyond the URL: the web identity's credential (adapters.bus.connect_options)."""
        self.open_gaps = open_gaps
        self.settings = settings
        self.alarm_path = alarm_path or (settings.ledger_alarm_path if settings is not None else None)
        """Settings.ledger_alarm_path: while the relay's alarm is raised, health is faulty."""
        self.read_model_position = read_model_position
        self.nc: nats.NATS | None = None
        self._connecting = asyncio.Lock()  # health and the web's subscriber may ask at once: one connection
        self._floor: tuple[int, float] | None = None  # the consumer's ack floor and when it last moved
        self.last: Readings | None = None
        self._calendar: WorkingCalendar | None = None

    async def connect(self) -> nats.NATS:
        """The connection, made once (it reconnects by itself); waits for the server while it is down."""
        async with self._connecting:
            if self.nc is None:
                options = {"servers": self.nats_url.split(","), **self.options}
                self.nc = await nats.connect(**options, max_reconnect_attempts=-1, allow_reconnect=True,
                                             connect_timeout=2, reconnect_time_wait=0.5)
            return self.nc

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def check(self) -> Health:
        r = Readings(now=time.time())
        health = Health(status=OK)
        await asyncio.gather(self._bus(r, health), asyncio.to_thread(self._local, r))
        if self.read_model_position is not None:
            try:
                position = await asyncio.to_thread(self.read_model_position)
            except Upgrading:
                r.read_model_upgrading, position = True, None
            if position is not None and health.streams:
                r.projector_lag = health.dashboard_lag = max(0, health.streams[1].last_sequence - position)
        if self.open_gaps is not None:
            try:  # a read model not built yet answers nothing here: the other readings say so
                r.intake_gaps = health.intake_gaps = await asyncio.to_thread(self.open_gaps)
            except Exception:
                pass
        health.status, health.reasons = judge(r)
        health.relay_lag = r.relay_lag
        health.calendar_missing = self._calendar_missing(r.now)
        self.last = r
        return health

    async def _bus(self, r: Readings, health: Health) -> None:
        if self.nc is None:
            try:
                await self.connect()
            except Exception:
                return
        assert self.nc is not None
        r.nats_connected = health.nats_connected = self.nc.is_connected
        if not r.nats_connected:
            return
        js = self.nc.jetstream()
        try:
            for name in (INTAKE, LEDGER, REJECTED):
                info = await js.stream_info(name)
                health.streams.append(StreamHealth(name, info.state.messages, info.state.last_seq))
            consumer = await js.consumer_info(INTAKE, LEDGER_CONSUMER)
            r.streams_present = True
        except NotFoundError:
            return
        except Exception:
            r.nats_connected = health.nats_connected = False
            return
        r.intake_pending, r.intake_ack_pending = consumer.num_pending or 0, consumer.num_ack_pending or 0
        r.redelivered = consumer.num_redelivered or 0
        health.ledger_consumer_pending = r.waiting
        r.ledger = await read_status(js, LEDGER_STATUS_KEY)
        r.progress_age = self._progress_age(consumer.ack_floor.stream_seq if consumer.ack_floor else 0, r)
        if r.ledger is not None and r.ledger.store_head is not None:
            r.relay_lag = max(0, r.ledger.store_head - await self._relayed(js, health.streams[1].last_sequence))
        for name in CLOCK_INSTANCES:  # the clocks' own durable consumers: their real positions
            try:
                clock = await js.consumer_info(LEDGER, clock_consumer(name))
            except NotFoundError:
                continue  # not running here
            r.clock_lag[clock.name] = (clock.num_pending or 0) + (clock.num_ack_pending or 0)
        health.clock_lag = r.clock_lag

    def _calendar_missing(self, now: float) -> list[int]:
        if self.settings is None:
            return []
        if self._calendar is None:
            try:  # read once: the ledger reads the same files at its start
                self._calendar = load_rules(self.settings).calendar
            except PolicyError:
                return []  # the ledger refuses to start on it, and health says so (process_down)
        return self._calendar.missing_near(datetime.fromtimestamp(now, timezone.utc))

    def _progress_age(self, floor: int, r: Readings) -> float:
        """Seconds since the ledger last moved: its own last commit, or the ack floor moving."""
        if self._floor is None or floor != self._floor[0] or r.waiting == 0:
            self._floor = (floor, r.now)
        moved = self._floor[1]
        if r.ledger is not None:
            moved = max(moved, r.ledger.committed_at or r.ledger.started_at)
        return max(0.0, r.now - moved)

    async def _relayed(self, js: JetStreamContext, last: int) -> int:
        """The store's notification id of CIVIC_LEDGER's last message."""
        if not last:
            return 0
        try:
            msg = await js.get_msg(LEDGER, seq=last)
            return int((msg.headers or {}).get(NOTIFICATION_ID_HEADER, 0))
        except Exception:
            return 0

    def _local(self, r: Readings) -> None:
        """The readings that are not on the bus (blocking: run in a thread)."""
        if self.alarm_path is not None:
            r.ledger_alarm = read_alarm(self.alarm_path)
        s = self.settings
        if s is None:
            return
        if s.nats_monitor_url:
            r.jetstream = jetstream_problem(s.nats_monitor_url)
        if s.database_url and s.database_url.startswith(("postgresql://", "postgres://")):
            r.postgres_up = postgres_reachable(s.database_url)
        try:
            usage = shutil.disk_usage(s.data_dir)
            r.disk_free, r.disk_total = usage.free, usage.total
        except OSError:
            pass
        r.down = supervisor_down(s.supervisor_status_path)


def supervisor_processes(path: Path) -> dict[str, wire.ProcessStatus]:
    """What `civic up` reports about its processes; empty when no supervisor runs here."""
    try:
        return wire.decode_supervisor(path.read_bytes()).processes
    except (OSError, msgspec.DecodeError):
        return {}


def supervisor_down(path: Path) -> list[str]:
    return sorted(name for name, p in supervisor_processes(path).items() if p.pid is None)
