"""The bus: the three streams and the org directory, created idempotently at start (by the admin
identity), and every process's connection, each with its own identity's credential
(schemas/permissions.py, adapters/credentials.py). nats-py: FastStream does not manage stream
updates or the deny-delete/deny-purge flags. The names come from schemas/topology.py."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.kv import KeyValue

from adapters import identity as instance_identity
from adapters.status import ensure_status_bucket
from config import Settings
from schemas.permissions import ADMIN, inbox_prefix
from schemas.topology import (CHECKPOINT_SUBJECT, CHECKPOINTS, INTAKE, INTAKE_SUBJECTS, LEDGER, LEDGER_SUBJECTS, ORG_DIRECTORY,
                              REJECTED, REJECTED_SUBJECTS)

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


def identity_of(seed_file: Path) -> str:
    """The identity a seed file is for: its name without `.nk` (credentials/<identity>.nk)."""
    return Path(seed_file).name.removesuffix(".nk")


def credential_options(servers: list[str], credentials: str | Path | None, tls_ca: str | Path | None = None,
                       identity: str | None = None) -> dict[str, Any]:
    """nats.connect options for one identity: its nkey seed file and its own inbox (the only one
    it may subscribe to). A URL that carries user:password (a test's admin) is used as it is."""
    options: dict[str, Any] = {}
    if tls_ca:
        options["tls"] = ssl.create_default_context(cafile=str(tls_ca))
    if credentials and not any(urlsplit(u if "://" in u else f"nats://{u}").username for u in servers):
        options["nkeys_seed"] = str(credentials)
        options["inbox_prefix"] = inbox_prefix(identity or identity_of(Path(credentials)))
    return options


def connect_options(settings: Settings, identity: str) -> dict[str, Any]:
    credentials = settings.credentials_for(identity)
    name = identity_of(credentials) if credentials and settings.nats_credentials else identity
    return {"servers": settings.nats_servers(),
            **credential_options(settings.nats_servers(), credentials, settings.nats_tls_ca, name)}


async def connect(settings: Settings, identity: str, **options: Any) -> nats.NATS:
    """One connection as `identity` (schemas/permissions.py), e.g. connect(settings, "auditor")."""
    return await nats.connect(**{**connect_options(settings, identity), "name": f"civic-{identity}", **options})


async def ensure_bus(settings: Settings) -> None:
    """As admin: the streams and the buckets (the org directory, CIVIC_STATUS, the instance id in
    CIVIC_INSTANCE and DIR/streams.json), made or updated. `civic up` runs it before starting the
    roles and after restarting its nats-server (CIVIC_STATUS lives in memory); `civic bus init`
    does it for a server of one's own."""
    nc = await connect(settings, ADMIN.name, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings.intake_max_age_days, settings.stream_replicas)
        await ensure_org_directory(js, settings.stream_replicas)
        await ensure_status_bucket(js)
        await instance_identity.remember(js, settings, create=True)
    finally:
        await nc.close()


async def connect_role(settings: Settings, identity: str | None = None) -> nats.NATS:
    """Connect a role as its identity (e.g. "eraser"), waiting for the server if it is down
    (nats-py only reconnects after a first success). Without a credential of its own (a server without
    authorization, or a URL carrying an admin's password) it also makes sure the streams and the
    status bucket exist, as before authorization; with one, that is the admin's work at start.
    Either way the folder learns the server's instance id (adapters/identity.py)."""
    delay = 0.2
    identity = identity or "role"
    options = connect_options(settings, identity)
    while True:
        try:
            nc = await nats.connect(**options, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                    connect_timeout=2, name=f"civic-{identity}")
            admin = "nkeys_seed" not in options
            if admin:
                await ensure_streams(nc.jetstream(), settings.intake_max_age_days, settings.stream_replicas)
                await ensure_status_bucket(nc.jetstream())
            await instance_identity.remember(nc.jetstream(), settings, create=admin)
            return nc
        except (OSError, TimeoutError, nats.errors.Error) as e:
            log.warning("NATS not reachable (%s); retrying in %.1fs", e or type(e).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
