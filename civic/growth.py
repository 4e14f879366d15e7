"""The ledger's two stages of `civic bench --growth` (bench/growth.py): the ledger application is
above bench/ in the layers, so the composition root runs it.

    python -m civic.growth create DATA                      the store, empty
    python -m civic.growth history DATA START COUNT BATCH   history, untimed, in bulk into the store
    python -m civic.growth window DATA START COUNT BATCH    the window, timed, as the worker batches

Events START .. START+COUNT-1 of the bench district, at intake sequences START+1 ...; prints JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent, Tracking

from adapters.eventstore import event_store_env
from adapters.keys import KeyStore
from application.ledger import Incoming, Ledger
from bench.growth import district, peak_rss_mb
from config import Settings
from domain.aggregate import aggregate_id, fingerprint, sealed_macs
from domain.personal import seal
from schemas import decode, encode, topology
from schemas.topology import INTAKE


def create(data_dir: Path) -> dict[str, float]:
    """The ledger's store, empty, as the ledger makes it: the history's fold, which starts beside
    its writer, reads it from the first moment (a reader creates no tables)."""
    settings = Settings(data_dir=data_dir)
    ledger = Ledger(env=event_store_env(settings), keys=KeyStore(settings.keys_path))
    return {"position": ledger.position()}


def history(data_dir: Path, start: int, count: int, batch: int) -> dict[str, float]:
    """Write events straight into the store, in bulk, as the ledger stores them (the same ids,
    versions, sealed personal data, event-id index rows and intake position), skipping the rules:
    the bench district is valid by construction, and `window` checks the rules on top of it."""
    settings = Settings(data_dir=data_dir)
    ledger = Ledger(env=event_store_env(settings), keys=KeyStore(settings.keys_path))
    assert ledger.position() == start, f"the ledger is at intake {ledger.position()}, not {start}"
    recorder: Any = ledger.recorder
    versions: OrderedDict[UUID, int] = OrderedDict()  # a ticket's events come together: a short memory will do
    stored: list[StoredEvent] = []
    ids: list[tuple[str, str]] = []
    clock, cpu = time.perf_counter(), time.process_time()
    for sequence, (subject, data) in enumerate(district(data_dir, start, count), start + 1):
        event = decode(data)
        family = event.family
        key = aggregate_id(family.name, getattr(event, family.id_field))
        version = versions.pop(key, None)
        if version is None and not event.creates:  # begun before this run: ask the store
            last = recorder.select_events(key, desc=True, limit=1)
            version = last[0].originator_version if last else 0
        versions[key] = version = (version or 0) + 1
        if len(versions) > 10_000:
            versions.popitem(last=False)
        fact = msgspec.structs.replace(event, personal=(), org_path=topology.parse_intake_subject(subject)[1],
                                       sealed=seal(event.event_id, event.personal,
                                                   ledger.keys.get_or_create(p.resident_id for p in event.personal)))
        stored.append(StoredEvent(originator_id=key, originator_version=version, topic=fact.type, state=encode(fact)))
        ids.append((fact.event_id, fingerprint(fact, sealed_macs(fact))))
        if len(stored) == batch or sequence == start + count:
            ledger.keys.flush()
            recorder.insert_events(stored, tracking=Tracking(INTAKE, sequence), event_ids=ids)
            stored, ids = [], []
    return {"rate": count / (time.perf_counter() - clock), "cpu_us": 1e6 * (time.process_time() - cpu) / count, "rss_mb": peak_rss_mb()}


def window_stage(data_dir: Path, start: int, count: int, batch: int) -> dict[str, float]:
    settings = Settings(data_dir=data_dir)
    ledger = Ledger(env=event_store_env(settings), keys=KeyStore(settings.keys_path))
    assert ledger.position() == start, f"the ledger is at intake {ledger.position()}, not {start}"
    messages = list(district(data_dir, start, count))  # made before the clock starts: generating them is no ledger work
    clock, cpu, pending, rejected = time.perf_counter(), time.process_time(), [], 0
    for sequence, (subject, data) in enumerate(messages, start + 1):
        event_type, org_path = topology.parse_intake_subject(subject)
        pending.append(Incoming(sequence, event_type, org_path, data))
        if len(pending) == batch or sequence == start + count:
            rejected += len(ledger.process(pending).rejections)
            pending = []
    if rejected:
        raise SystemExit(f"{rejected} events of the bench district were refused")
    seconds = time.perf_counter() - clock
    return {"rate": count / seconds, "cpu_us": 1e6 * (time.process_time() - cpu) / count, "rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    stage, directory, *numbers = sys.argv[1:]
    stages: dict[str, Callable[..., dict[str, float]]] = {"create": create, "history": history, "window": window_stage}
    print(json.dumps(stages[stage](Path(directory), *(int(n) for n in numbers))))
