"""Health of the pipeline, as the web role reports it at GET /healthz."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import nats
from nats.js.errors import NotFoundError

from projections.gaps import OpenGap
from schemas.topology import INTAKE, LEDGER, LEDGER_CONSUMER, REJECTED


class StreamHealth(msgspec.Struct):
    name: str
    messages: int
    last_sequence: int


class Health(msgspec.Struct):
    status: str
    """ok: NATS reachable and every stream present; starting: not yet; degraded: NATS lost."""
    nats_connected: bool
    streams: list[StreamHealth] = []
    ledger_consumer_pending: int | None = None
    """Intake messages the ledger has not yet processed (its durable consumer's backlog)."""
    dashboard_lag: int | None = None
    """Ledger events the dashboard read model has not yet applied."""
    reasons: list[str] = []
    """Why the status is not ok, one sentence each."""


def with_gaps(health: Health, open_gaps: Callable[[], list[OpenGap]]) -> Health:
    """Faulty while the ledger holds an IntakeGap no operator has acknowledged (projections.gaps).
    A read model not built yet answers nothing here: the probe's own status says so."""
    try:
        gaps = open_gaps()
    except Exception:
        return health
    if gaps:
        health.status = "faulty"
        health.reasons += [gap.reason() for gap in gaps]
    return health


class HealthProbe:
    """Keeps one NATS connection for the web role and reads stream and consumer state on demand."""

    def __init__(self, nats_url: str):
        self.nats_url = nats_url
        self.nc: nats.NATS | None = None

    async def connect(self) -> None:
        self.nc = await nats.connect(self.nats_url.split(","), max_reconnect_attempts=-1, allow_reconnect=True,
                                     connect_timeout=2, reconnect_time_wait=0.5)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def check(self) -> Health:
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
