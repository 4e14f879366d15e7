"""Which server a data folder belongs to. The roles give each instance an id, kept in the folder
(DIR/streams.json, with CIVIC_LEDGER's creation time and first hash for the operator to read) and
on the server (the CIVIC_INSTANCE bucket); every command that connects through the folder checks
that the server it reached carries the folder's id.

Why: DIR/nats.url outlives its server. Once another instance owns that port, a command following
the stale file would publish into, or audit, someone else's ledger. The id lives in a bucket of its
own rather than in CIVIC_LEDGER's creation time: a ledger stream deleted and re-created is the
relay's alarm (adapters/alarm.py) and `verify`'s fault, not "another server". A server without an
id (wiped) is not refused: verify then says what is missing.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import NotFoundError

from config import Settings
from schemas.topology import HASH_HEADER, INSTANCE, INSTANCE_KEY, LEDGER

log = logging.getLogger("civic")


async def _quiet(_error: Exception) -> None:
    """nats-py prints every connection error with a traceback by default; the caller says it in a sentence."""


class WrongStreams(Exception):
    """The server reached holds another instance's streams."""


def recorded(settings: Settings) -> dict:
    try:
        return json.loads(settings.streams_identity_path.read_text())
    except (OSError, ValueError):
        return {}


async def server_id(js: JetStreamContext) -> str | None:
    try:
        entry = await (await js.key_value(INSTANCE)).get(INSTANCE_KEY)
        return (entry.value or b"").decode() or None
    except Exception:  # no bucket, no key: a server that never served a civic instance (or was wiped)
        return None


async def _ledger_facts(js: JetStreamContext) -> dict[str, str | None]:
    """CIVIC_LEDGER's creation time and first hash: for the operator reading DIR/streams.json."""
    try:
        info = await js.stream_info(LEDGER)
    except NotFoundError:
        return {}
    facts: dict[str, str | None] = {"ledger_created": str(info.created)}
    if info.state.messages:
        try:
            msg = await js.get_msg(LEDGER, seq=info.state.first_seq)
            facts["ledger_first_hash"] = (msg.headers or {}).get(HASH_HEADER)
        except Exception:
            pass
    return facts


async def remember(js: JetStreamContext, settings: Settings, create: bool = False) -> None:
    """The folder and the server carry the same instance id. `create` (the admin, at `civic up`'s
    start or `civic bus init`): the folder's id is stored on the server when it has none (a folder
    without one gets a new one), with CIVIC_LEDGER's facts. A role (no right to make buckets) only
    adopts the server's id into a folder that has none. Never raises: a role must start regardless."""
    try:
        await _remember(js, settings, create)
    except Exception as e:
        log.warning("stream identity not checked (%s: %s)", type(e).__name__, e)


async def _remember(js: JetStreamContext, settings: Settings, create: bool) -> None:
    mine, theirs = recorded(settings).get("instance"), await server_id(js)
    if mine and theirs and mine != theirs:
        log.error("this server's streams belong to instance %s, not to this folder's %s (%s)", theirs, mine,
                  settings.streams_identity_path)
        return
    if not create:
        if theirs is None or mine == theirs:
            return
        record = {**recorded(settings), "instance": theirs}
    else:
        instance = mine or theirs or uuid.uuid4().hex
        if theirs is None:
            try:
                try:
                    kv = await js.key_value(INSTANCE)
                except NotFoundError:
                    kv = await js.create_key_value(KeyValueConfig(bucket=INSTANCE, history=1, replicas=settings.stream_replicas))
                await kv.create(INSTANCE_KEY, instance.encode())  # only if absent: two admins racing agree
            except Exception as e:
                log.debug("instance id not stored on the server (%s)", e)
            instance = await server_id(js) or instance
        record = {"instance": instance, **await _ledger_facts(js)}
    if record != recorded(settings):
        try:
            settings.streams_identity_path.parent.mkdir(parents=True, exist_ok=True)
            settings.streams_identity_path.write_text(json.dumps(record) + "\n")
        except OSError as e:
            log.warning("stream identity not recorded in %s (%s)", settings.streams_identity_path, e)


async def check(js: JetStreamContext, settings: Settings, url: str) -> None:
    """A command's part: refuse a server that carries another instance's id."""
    mine = recorded(settings).get("instance")
    theirs = await server_id(js) if mine else None
    if mine and theirs and mine != theirs:
        source = "CIVIC_NATS_URL" if settings.nats_url else str(settings.nats_url_file)
        raise WrongStreams(
            f"{url} (from {source}) serves another instance's streams (instance {theirs[:12]}, this folder's is "
            f"{mine[:12]}). The address is stale: start `civic up --data {settings.data_dir}`, or set CIVIC_NATS_URL "
            f"to this folder's server."
        )


async def check_url(settings: Settings, identity: str) -> str:
    """The folder's NATS URL once the server behind it proves to be this folder's, asked as
    `identity` (the command's own: emit, auditor, ...; schemas/permissions.py lets each read the id).
    Raises WrongStreams (also when the server refuses this folder's key: another instance's
    credentials), or a connection error when nothing answers."""
    from adapters.bus import connect_options  # bus imports this module

    url = settings.resolved_nats_url()
    # max_reconnect_attempts=1: with 0, nats-py 2.x retries a refused first connect forever.
    try:
        nc = await nats.connect(**connect_options(settings, identity), connect_timeout=2, max_reconnect_attempts=1,
                                allow_reconnect=False, reconnect_time_wait=0.2, error_cb=_quiet)
    except nats.errors.Error as e:
        if "authorization" not in str(e).lower():
            raise
        source = "CIVIC_NATS_URL" if settings.nats_url else str(settings.nats_url_file)
        raise WrongStreams(
            f"{url} (from {source}) refuses this folder's key for `{identity}`: it serves another instance's streams, "
            f"or the folder's credentials are not the server's. The address is stale if `civic up --data {settings.data_dir}` "
            f"is not running: start it, or set CIVIC_NATS_URL to this folder's server."
        ) from None
    try:
        await check(nc.jetstream(), settings, url)
    finally:
        await nc.close()
    return url
