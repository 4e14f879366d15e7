"""The CIVIC_STATUS bucket: writers publish their progress and last error, health reads them.

In memory, history 1: a full disk must not silence the report of a full disk. A restarted
nats-server forgets it; the ledger publishes again at start, after each commit and each error.
"""

from __future__ import annotations

import logging

import nats
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import NotFoundError

from schemas import status as wire
from schemas.topology import STATUS, status_subject

log = logging.getLogger("civic")


async def ensure_status_bucket(js: JetStreamContext) -> None:
    try:
        await js.key_value(STATUS)
    except NotFoundError:
        try:
            await js.create_key_value(KeyValueConfig(bucket=STATUS, history=1, storage=StorageType.MEMORY))
        except Exception as e:  # created meanwhile, or JetStream unavailable: the next publish says
            log.debug("status bucket not created (%s)", e)


async def publish_status(nc: nats.NATS, status: wire.WriterStatus) -> None:
    """Fire and forget (a core publish on the KV subject): never holds up a commit; a lost
    report is replaced by the next one."""
    await _publish(nc, status.writer, wire.encode(status))


async def announce_read_model(nc: nats.NATS, key: str, status: wire.ReadModelStatus) -> None:
    """The projector's read-model position under `key`, as publish_status: fire and forget. A lost
    announcement costs the web one position query (projections/readside.py FRESH_SECONDS)."""
    await _publish(nc, key, wire.encode(status))


async def _publish(nc: nats.NATS, key: str, value: bytes) -> None:
    try:
        await nc.publish(status_subject(key), value)
    except Exception as e:
        log.debug("status not published (%s)", e)


async def read_status(js: JetStreamContext, writer: str) -> wire.WriterStatus | None:
    """The writer's last report, None when there is none (or the bucket is gone with its server)."""
    try:
        entry = await (await js.key_value(STATUS)).get(writer)
        return wire.decode(entry.value or b"")
    except Exception:
        return None
