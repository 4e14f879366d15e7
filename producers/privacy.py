"""`civic privacy erase RESIDENT --reason TEXT`: a resident's erasure, sent through intake like any
event (PersonalDataErased), so the ledger records it and destroys the keys in one step of its own,
and the eraser role deletes the resident's messages from intake and the rejections."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import nats

from adapters.bus import credential_options
from producers.outcome import Result
from producers.sdk import Producer
from producers.verdicts import IndexReader, Verdict, await_verdicts
from schemas import Actor, PersonalDataErased
from schemas.topology import ORG_DIRECTORY


class NoRoot(LookupError):
    pass


async def root_unit(nats_url: str, credentials: Path | None = None, tls_ca: Path | None = None) -> str:
    """The org tree's one root, from the org directory; NoRoot when there are none or several."""
    nc = await nats.connect(nats_url.split(","), connect_timeout=5, max_reconnect_attempts=2,
                            **credential_options(nats_url.split(","), credentials, tls_ca))
    try:
        kv = await nc.jetstream().key_value(ORG_DIRECTORY)
        roots = [k for k in await kv.keys() if not (await kv.get(k)).value]
    except Exception as e:  # no bucket yet, or no keys
        raise NoRoot(f"the org directory has no units ({type(e).__name__}): is the ledger running?") from None
    finally:
        await nc.close()
    if len(roots) != 1:
        raise NoRoot(f"the org tree has {len(roots)} root units ({', '.join(sorted(roots))}): choose one with --org")
    return roots[0]


def erasure(resident_id: str, reason: str, org_id: str, actor_id: str = "privacy-officer") -> PersonalDataErased:
    token = uuid.uuid4().hex
    return PersonalDataErased(event_id=f"erasure-{token}", occurred_at=datetime.now(timezone.utc), source="privacy",
                              actor=Actor(role="system", id=actor_id), org_id=org_id, erasure_id=f"er-{token[:20]}",
                              resident_id=resident_id, reason=reason)


async def request_erasure(nats_url: str, resident_id: str, reason: str, org_id: str | None = None,
                          actor_id: str = "privacy-officer", credentials: Path | None = None, tls_ca: Path | None = None,
                          wait: float | None = 30.0, index: IndexReader = lambda ids, seqs: None) -> Result | Verdict:
    """`credentials`: a key that may publish to intake (the local `emit` key under `civic up`).
    With `wait`, the ledger's verdict (producers/verdicts.py) once intake has it; else intake's ack."""
    event = erasure(resident_id, reason, org_id or await root_unit(nats_url, credentials, tls_ca), actor_id)
    producer = await Producer.connect(nats_url, credentials=credentials, tls_ca=tls_ca)
    try:
        result = await producer.publish(event)
        if wait is None or not result.accepted or result.sequence is None:
            return result
        (verdict,) = await await_verdicts(producer.nc, producer.js, [(event.event_id, result.sequence)], index, wait)  # type: ignore[arg-type]
        return verdict
    finally:
        await producer.close()
