"""Health of the pipeline, as the web role reports it at GET /healthz."""

from __future__ import annotations

import msgspec
import nats
from nats.js.errors import NotFoundError

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


class HealthProbe:
    """Keeps one NATS connection for the web role and reads stream and consumer state on demand."""

    def __init__(self, nats_url: str):
        self.nats_url = nats_url
        self.nc: nats.NATS | None = None

    async def connect(self) -> nats.NATS:
        self.nc = await nats.connect(self.nats_url.split(","), max_reconnect_attempts=-1, allow_reconnect=True,
                                     connect_timeout=2, reconnect_time_wait=0.5)
        return self.nc


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
