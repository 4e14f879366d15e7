"""The three streams, created idempotently at start (nats-py: FastStream does not manage
stream updates or the deny-delete/deny-purge flags)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

INTAKE = "CIVIC_INTAKE"
LEDGER = "CIVIC_LEDGER"
REJECTED = "CIVIC_REJECTED"
DAY = 86_400.0


def stream_configs(intake_max_age_days: float = 7.0, replicas: int = 1) -> list[StreamConfig]:
    clear_data_age = intake_max_age_days * DAY  # intake and rejections hold personal data in clear
    common = dict(retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, num_replicas=replicas)
    return [
        StreamConfig(name=INTAKE, subjects=["civic.intake.>"], max_age=clear_data_age,
                     duplicate_window=600.0, discard=DiscardPolicy.OLD, **common),
        StreamConfig(name=REJECTED, subjects=["civic.rejected.>"], max_age=clear_data_age,
                     duplicate_window=600.0, discard=DiscardPolicy.OLD, **common),
        # Append-only: no age limit, no deletes, no purges, no rollups. Sequence = ledger position.
        StreamConfig(name=LEDGER, subjects=["civic.ledger.>"], max_age=0, deny_delete=True, deny_purge=True,
                     allow_rollup_hdrs=False, duplicate_window=120.0, discard=DiscardPolicy.NEW, **common),
    ]


async def ensure_streams(js: JetStreamContext, intake_max_age_days: float = 7.0, replicas: int = 1) -> None:
    for config in stream_configs(intake_max_age_days, replicas):
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:  # created meanwhile by another process
                pass
        await js.update_stream(config)


ORG_DIRECTORY = "CIVIC_ORGS"
"""KV bucket org_id -> parent id ("" for a root), written by the relay, read by producers to
build subjects (civic.intake.<type>.<org path>) without asking the ledger."""


async def ensure_org_directory(js: JetStreamContext, replicas: int = 1):  # type: ignore[no-untyped-def]
    from nats.js.api import KeyValueConfig

    try:
        return await js.key_value(ORG_DIRECTORY)
    except NotFoundError:  # nats-py's BucketNotFoundError
        return await js.create_key_value(KeyValueConfig(bucket=ORG_DIRECTORY, history=1, replicas=replicas))
