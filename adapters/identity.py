"""Which streams a data folder belongs to: CIVIC_LEDGER's creation time and the hash of its first
event, recorded in DIR/streams.json by the roles (which `civic up` points at its own server),
checked by every command that connects through the folder.

Why: DIR/nats.url outlives its server. Once another instance owns that port, a command following
the stale file would publish into, or audit, someone else's ledger. In a cluster the server
reached varies, but the stream (its creation, its first event) is the same one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from config import Settings
from schemas.topology import HASH_HEADER, LEDGER

log = logging.getLogger("civic")


async def _quiet(_error: Exception) -> None:
    """nats-py prints every connection error with a traceback by default; the caller says it in a sentence."""


class WrongStreams(Exception):
    """The server reached holds another instance's streams."""


async def identity_of(js: JetStreamContext) -> dict[str, str | None] | None:
    """CIVIC_LEDGER's creation time and first hash, None when the stream does not exist."""
    try:
        info = await js.stream_info(LEDGER)
    except NotFoundError:
        return None
    first_hash = None
    if info.state.messages:
        try:
            msg = await js.get_msg(LEDGER, seq=info.state.first_seq)
            first_hash = (msg.headers or {}).get(HASH_HEADER)
        except Exception:
            first_hash = None
    return {"stream": LEDGER, "created": str(info.created), "first_hash": first_hash}


def _recorded(path: Path) -> dict[str, str | None] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _differs(recorded: dict[str, str | None], seen: dict[str, str | None]) -> str | None:
    if recorded.get("created") != seen.get("created"):
        return f"created {seen.get('created')}, this folder's was created {recorded.get('created')}"
    if recorded.get("first_hash") and seen.get("first_hash") and recorded["first_hash"] != seen["first_hash"]:
        return f"its first event's hash is {seen['first_hash'][:16]}…, this folder's is {recorded['first_hash'][:16]}…"
    return None


async def remember(js: JetStreamContext, settings: Settings) -> None:
    """A role's part: record the identity when the folder has none yet (or lacks the first hash)."""
    seen = await identity_of(js)
    if seen is None:
        return
    path = settings.streams_identity_path
    recorded = _recorded(path)
    if recorded is not None:
        why = _differs(recorded, seen)
        if why:
            log.error("CIVIC_LEDGER on this server is not the one %s records (%s)", path, why)
            return
        if recorded.get("first_hash") or not seen.get("first_hash"):
            return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(seen) + "\n")
    except OSError as e:
        log.warning("stream identity not recorded in %s (%s)", path, e)


async def check(js: JetStreamContext, settings: Settings, url: str) -> None:
    """A command's part: refuse a server whose CIVIC_LEDGER is not the one the folder records."""
    recorded = _recorded(settings.streams_identity_path)
    if recorded is None:
        return
    seen = await identity_of(js)
    why = "it has no CIVIC_LEDGER" if seen is None else _differs(recorded, seen)
    if why:
        source = "CIVIC_NATS_URL" if settings.nats_url else str(settings.nats_url_file)
        raise WrongStreams(
            f"{url} (from {source}) serves another instance's streams: {why}. "
            f"The address is stale: start `civic up --data {settings.data_dir}`, or set CIVIC_NATS_URL to this folder's server."
        )


async def check_url(settings: Settings) -> str:
    """The folder's NATS URL once the server behind it proves to hold this folder's streams.
    Raises WrongStreams, or a connection error when nothing answers."""
    url = settings.resolved_nats_url()
    # max_reconnect_attempts=1: with 0, nats-py 2.x retries a refused first connect forever.
    nc = await nats.connect(url.split(","), connect_timeout=2, max_reconnect_attempts=1, allow_reconnect=False,
                            reconnect_time_wait=0.2, error_cb=_quiet)
    try:
        await check(nc.jetstream(), settings, url)
    finally:
        await nc.close()
    return url
