"""The CLI's readers: `civic ledger show|tail` and `civic audit verify`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.reader import LedgerMessage, last_position, read_ledger
from audit.verify import Anchor, Fault, Report, store_states, verify
from adapters.bus import connect
from config import Settings
from schemas import DecodeFailure, decode
from schemas import topology
from schemas.families import entity_of


def describe(m: LedgerMessage) -> str:
    """One human-readable line; personal data is sealed in the ledger and never shown."""
    try:
        e = decode(m.data, max_bytes=None)
    except DecodeFailure as err:
        return f"#{m.position:<7} (undecodable: {err.code})"
    kind, entity_id = entity_of(e)
    entity = f"org={entity_id}" if kind == "org" else f"{e.family.id_field}={entity_id}"
    when = e.occurred_at.isoformat(timespec="minutes")
    return (f"#{m.position:<7} {when}  {e.type:<22} {'/'.join(e.org_path):<32} {entity:<24} "
            f"by {e.actor.role}:{e.actor.id}  {m.headers.get(topology.HASH_HEADER, '')[:12]}")


async def show(settings: Settings, start: int, limit: int, echo: Callable[[str], None]) -> None:
    nc = await connect(settings, "auditor")
    js = nc.jetstream()
    end = min(await last_position(js), start + limit - 1)
    async for m in read_ledger(js, start, end):
        echo(describe(m))
    await nc.close()


async def tail(settings: Settings, n: int, follow: bool, echo: Callable[[str], None]) -> None:
    nc = await connect(settings, "auditor")
    js = nc.jetstream()
    last = await last_position(js)
    async for m in read_ledger(js, max(1, last - n + 1), None if follow else last, follow=follow):
        echo(describe(m))
    await nc.close()


async def run_verify(settings: Settings, with_store: bool = True, checkpoints: Path | None = None,
                     public_key: str | None = None) -> Report:
    """The whole walk, and that the chain passes through every signed checkpoint: those of
    `checkpoints`, or by default those kept outside the data folder (CIVIC_CHECKPOINT_DIR and the
    witness server, if configured), signatures checked against `public_key` (default: the one
    saved beside the checkpoint key). With the store, also that the store's own chain passes
    through them (the stream may be gone)."""
    from audit.checkpoint import anchors as checkpoint_anchors
    from audit.checkpoint import default_paths, load_checkpoints, store_faults, trusted_key, witness_checkpoints

    key_file, default_file = default_paths(settings)
    trusted = trusted_key(public_key, key_file)
    signed = load_checkpoints(checkpoints or default_file) if checkpoints or default_file.exists() else []
    if checkpoints is None and settings.checkpoint_witness:
        signed += await witness_checkpoints(settings.checkpoint_witness)
    anchors, problems = checkpoint_anchors(signed, trusted)
    nc = await connect(settings, "auditor")
    js = nc.jetstream()
    recorder = None
    if with_store:
        from adapters.eventstore import open_recorder

        recorder = open_recorder(settings)
    report = await verify(read_ledger(js), store_states(recorder) if recorder else None, anchors=anchors)
    await nc.close()
    report.faults[:0] = problems
    if recorder is not None and anchors and (not report.ok or report.position < max(a.position for a in anchors)):
        seen = {(f.position, f.problem) for f in report.faults}
        report.faults += [f for f in store_faults(store_states(recorder), anchors) if (f.position, f.problem) not in seen]
    if signed and trusted is None:
        report.notes.append("no public key given (--public-key): each checkpoint was checked against the key it names")
    return report
