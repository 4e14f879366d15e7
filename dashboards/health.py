"""Health of the pipeline, as the web role reports it at GET /healthz."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import nats
from nats.js.errors import NotFoundError

from adapters.alarm import read_alarm
from projections.gaps import OpenGap
from schemas.topology import INTAKE, LEDGER, LEDGER_CONSUMER, REJECTED


class StreamHealth(msgspec.Struct):
    name: str
    messages: int
    last_sequence: int


class Health(msgspec.Struct):
    status: str
    """ok: NATS reachable and every stream present; starting: not yet; degraded: NATS lost;
    faulty: the ledger alarm is raised (the ledger stream disagrees with the store)."""
    nats_connected: bool
    reasons: list[str] = []
    """Reason codes, e.g. ledger_stream_emptied (adapters/alarm.py)."""
    streams: list[StreamHealth] = []
    ledger_consumer_pending: int | None = None
    """Intake messages the ledger has not yet processed (its durable consumer's backlog)."""
    dashboard_lag: int | None = None
    """Ledger events the dashboard read model has not yet applied."""
    intake_gaps: list[OpenGap] = []
    """Intake gaps no operator has acknowledged (reason intake_gap): each names the missing
    intake sequences and the command that acknowledges it."""


def with_gaps(health: Health, open_gaps: Callable[[], list[OpenGap]]) -> Health:
    """Faulty while the ledger holds an IntakeGap no operator has acknowledged (projections.gaps).
    A read model not built yet answers nothing here: the probe's own status says so."""
    try:
        gaps = open_gaps()
    except Exception:
        return health
    if gaps:
        health.status, health.reasons, health.intake_gaps = "faulty", [*health.reasons, "intake_gap"], gaps
    return health


class HealthProbe:
    """Keeps one NATS connection for the web role and reads stream and consumer state on demand."""

    def __init__(self, nats_url: str, alarm_path: Path | None = None, options: dict | None = None):
        self.nats_url = nats_url
        self.options = options or {}
        """Connection options beyond the URL: the web identity's credential (adapters.bus.connect_options)."""
        self.nc: nats.NATS | None = None
        self.alarm_path = alarm_path
        """Settings.ledger_alarm_path: while the relay's alarm is raised, health is faulty."""

    async def check(self) -> Health:
        health = await self._check()
        alarm = read_alarm(self.alarm_path) if self.alarm_path else None
        if alarm is not None:
            health.status, health.reasons = "faulty", [*health.reasons, alarm.code]
        return health

    async def connect(self) -> nats.NATS:
        options = {"servers": self.nats_url.split(","), **self.options}
        self.nc = await nats.connect(**options, max_reconnect_attempts=-1, allow_reconnect=True,
                                     connect_timeout=2, reconnect_time_wait=0.5)
        return self.nc


    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def _check(self) -> Health:
        if self.nc is None:
            try:
                await self.connect()
            except Exception:
                return Health(status="starting", nats_connected=False)
        assert self.nc is not None
        if not self.nc.is_connected:
            return Health(status="degraded", nats_connected=False)
        js = self.nc.jetstream()
        streams, pending = [], None
        try:
            for name in (INTAKE, LEDGER, REJECTED):
                info = await js.stream_info(name)
                streams.append(StreamHealth(name, info.state.messages, info.state.last_seq))
            pending = (await js.consumer_info(INTAKE, LEDGER_CONSUMER)).num_pending
        except NotFoundError:
            return Health(status="starting", nats_connected=True, streams=streams)
        except Exception:
            return Health(status="degraded", nats_connected=self.nc.is_connected, streams=streams)
        return Health(status="ok", nats_connected=True, streams=streams, ledger_consumer_pending=pending)
