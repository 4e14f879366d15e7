"""`civic ledger recover --republish-from-store --reason TEXT`: the operator's answer to a ledger
alarm (consumers/relay.py). Never automatic, always logged.

It refuses when the event store itself contradicts the newest signed checkpoint (then the store,
not the stream, was rewritten: restore it from a backup and verify first). Otherwise it deletes a
CIVIC_LEDGER that disagrees with the store (admin: the one deletion this system ever makes of
it), lets the relay republish from the store, and records who, when, why and what it found in
recoveries.jsonl in the checkpoint folder and in the data folder.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import nats
from eventsourcing.persistence import ApplicationRecorder
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.alarm import Alarm, clear_alarm, read_alarm
from adapters.bus import connect, ensure_streams
from adapters.eventstore import open_recorder
from audit.checkpoint import default_paths, newest, store_faults, trusted_key
from audit.verify import Anchor, store_states
from config import Settings
from schemas import ledger as wire
from schemas import topology

log = logging.getLogger("civic.recover")


@dataclass
class Recovery:
    ok: bool
    lines: list[str] = field(default_factory=list)


async def recover(settings: Settings, reason: str) -> Recovery:
    done = Recovery(False)
    say = done.lines.append
    alarm = read_alarm(settings.ledger_alarm_path)
    say(f"alarm: {alarm.code}: {alarm.problem}" if alarm else "alarm: none raised")
    key_file, checkpoints = default_paths(settings)
    recorder = open_recorder(settings)
    checkpoint = newest(checkpoints, trusted_key(None, key_file))
    if checkpoint is None:
        say(f"no signed checkpoint in {checkpoints}: the store cannot be checked against one")
    else:
        faults = store_faults(store_states(recorder), [Anchor(checkpoint.position, checkpoint.hash, checkpoint.label)])
        if faults:
            for f in faults:
                say(str(f))
            say("REFUSED: the event store contradicts the newest checkpoint; restore the store from a backup, "
                "then `civic audit verify`. Nothing was changed.")
            _record(settings, reason, alarm, "refused", done.lines)
            return done
        say(f"the event store extends the newest checkpoint ({checkpoint.label})")
    nc = await connect(settings, "admin", connect_timeout=5, max_reconnect_attempts=3)  # deleting a stream: admin only
    try:
        js = nc.jetstream()
        if await _disagrees(js, recorder):
            await js.delete_stream(topology.LEDGER)
            say(f"deleted {topology.LEDGER}: it disagreed with the event store")
        await ensure_streams(js, settings.intake_max_age_days, settings.stream_replicas)
    finally:
        await nc.close()
    settings.relay_state_path.unlink(missing_ok=True)  # the relay checks the stream against the store from the start
    clear_alarm(settings.ledger_alarm_path)
    say("alarm cleared: the relay republishes what the stream lacks from the event store")
    done.ok = True
    _record(settings, reason, alarm, "recovered", done.lines)
    return done


async def _disagrees(js: JetStreamContext, recorder: ApplicationRecorder) -> bool:
    """True when CIVIC_LEDGER holds anything the store's chain does not (a missing tail is fine)."""
    try:
        last = (await js.stream_info(topology.LEDGER)).state.last_seq
    except NotFoundError:
        return False
    if last == 0:
        return False
    headers = (await js.get_msg(topology.LEDGER, seq=last)).headers or {}
    chain, position = wire.GENESIS, 0
    for _, state in store_states(recorder):
        position += 1
        chain = wire.chain_hash(chain, position, state)
        if position == last:
            return headers.get(topology.HASH_HEADER) != chain.hex()
    return True  # the stream is longer than the store


def _record(settings: Settings, reason: str, alarm: Alarm | None, outcome: str, lines: list[str]) -> None:
    entry = json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": getpass.getuser(),
                        "reason": reason, "alarm": alarm.code if alarm else None, "outcome": outcome, "found": lines},
                       ensure_ascii=False)
    log.warning("ledger recover (%s) by %s: %s", outcome, getpass.getuser(), reason)
    for folder in (settings.checkpoints_home, settings.data_dir):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "recoveries.jsonl", "a", encoding="utf-8") as f:
            f.write(entry + "\n")
