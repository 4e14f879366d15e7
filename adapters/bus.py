"""The bus: the three streams and the org directory, created idempotently at start, and the
roles' connection (nats-py: FastStream does not manage stream updates or the
deny-delete/deny-purge flags). The names come from schemas/topology.py."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.kv import KeyValue

from adapters import identity as instance_identity
from config import Settings
from schemas.topology import CHECKPOINT_SUBJECT, CHECKPOINTS, INTAKE, INTAKE_SUBJECTS, LEDGER, LEDGER_SUBJECTS, ORG_DIRECTORY, REJECTED, REJECTED_SUBJECTS

log = logging.getLogger("civic")
DAY = 86_400.0


def stream_configs(intake_max_age_days: float = 7.0, replicas: int = 1) -> list[StreamConfig]:
    clear_data_age = intake_max_age_days * DAY  # intake and rejections hold personal data in clear
    limits, file = RetentionPolicy.LIMITS, StorageType.FILE  # common to all three
    return [
        StreamConfig(name=INTAKE, subjects=[INTAKE_SUBJECTS], max_age=clear_data_age,
                     duplicate_window=600.0, discard=DiscardPolicy.OLD,
                     retention=limits, storage=file, num_replicas=replicas),
        StreamConfig(name=REJECTED, subjects=[REJECTED_SUBJECTS], max_age=clear_data_age,
                     duplicate_window=600.0, discard=DiscardPolicy.OLD,
                     retention=limits, storage=file, num_replicas=replicas),
        # Append-only: no age limit, no deletes, no purges, no rollups. Sequence = ledger position.
        StreamConfig(name=LEDGER, subjects=[LEDGER_SUBJECTS], max_age=0, deny_delete=True, deny_purge=True,
                     allow_rollup_hdrs=False, duplicate_window=120.0, discard=DiscardPolicy.NEW,
                     retention=limits, storage=file, num_replicas=replicas),
    ]


async def ensure_streams(js: JetStreamContext, intake_max_age_days: float = 7.0, replicas: int = 1) -> None:
    for config in stream_configs(intake_max_age_days, replicas):
        assert config.name is not None  # every config above is named
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:  # created meanwhile by another process
                pass
        await js.update_stream(config)


def witness_config() -> StreamConfig:
    """The checkpoint witness's stream, on another server: append-only like the ledger."""
    return StreamConfig(name=CHECKPOINTS, subjects=[CHECKPOINT_SUBJECT], max_age=0, deny_delete=True, deny_purge=True,
                        allow_rollup_hdrs=False, retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                        discard=DiscardPolicy.NEW)


async def ensure_witness(js: JetStreamContext) -> None:
    try:
        await js.stream_info(CHECKPOINTS)
    except NotFoundError:
        await js.add_stream(witness_config())


async def ensure_org_directory(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    """The org directory bucket (schemas.topology.ORG_DIRECTORY), made on first use."""
    try:
        return await js.key_value(ORG_DIRECTORY)
    except NotFoundError:  # nats-py's BucketNotFoundError
        return await js.create_key_value(KeyValueConfig(bucket=ORG_DIRECTORY, history=1, replicas=replicas))


async def connect_role(settings: Settings, identity: str | None = None) -> nats.NATS:
    """Connect a role (waiting for the server if it is down: nats-py only reconnects after a
    first success) and make sure the streams exist. `identity` names the process to the server
    (e.g. "eraser"): the one it will present its own credential for."""
    delay = 0.2
    while True:
        try:
            nc = await nats.connect(settings.nats_servers(), max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                    connect_timeout=2, name=f"civic-{identity or 'role'}")
            await ensure_streams(nc.jetstream(), settings.intake_max_age_days, settings.stream_replicas)
            await instance_identity.remember(nc.jetstream(), settings)
            return nc
        except (OSError, TimeoutError, nats.errors.Error) as e:
            log.warning("NATS not reachable (%s); retrying in %.1fs", e or type(e).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
