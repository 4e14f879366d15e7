"""`civic audit export` and `civic audit verify --bundle`: one unit's slice of the ledger, for a
window, as a folder that can be checked with no access to any server.

    events.jsonl   one line per event: position, previous_hash (h(n-1)), hash (h(n)), subject,
                   type, event_id, occurred_at, and `stored`: the event's stored bytes as text
    anchor.json    what was exported (org, window, time zone), the chain head when it was
                   exported, how many events, the SHA-256 of events.jsonl
    kpis.md        the KPI definitions the figures are computed by
    README.md      how to check it, with a dozen lines of Python that need nothing but hashlib

Each line can be checked alone: h(n) = SHA-256(h(n-1) || n as 8 bytes || SHA-256(stored)).
Holding h(n-1) for each event, the bundle anchors every event in the full chain without carrying
the events of other units; anyone with the ledger can confirm h(n-1) and the head.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from nats.js import JetStreamContext

from audit.bundle_readme import README
from audit.kpi import CURRENT, KPI_DOC
from audit.reader import last_position, read_ledger
from schemas.topology import LEDGER
from schemas import DecodeFailure, decode
from schemas import ledger as wire
from schemas import topology



class _Where(msgspec.Struct):
    """What the export filters on; msgspec skips every other field."""

    type: str
    event_id: str
    occurred_at: datetime
    org_path: list[str] = []


_where = msgspec.json.Decoder(_Where).decode


class ExportRefused(RuntimeError):
    pass


@dataclass
class Exported:
    folder: Path
    events: int
    head: int


async def export(js: JetStreamContext, org: str, start: date, end: date, folder: Path, tz: str,
                 progress: Callable[[int, int], None] | None = None) -> Exported:
    """Write the bundle of org's subtree for [start, end], verifying the chain while reading it."""
    zone = ZoneInfo(tz)
    folder.mkdir(parents=True, exist_ok=True)
    head = await last_position(js)
    chain, expected, lines, known = wire.GENESIS, 1, 0, False
    digest = hashlib.sha256()
    with open(folder / "events.jsonl", "wb") as out:
        async for m in read_ledger(js, 1, head):
            recorded, previous = m.headers.get(topology.HASH_HEADER, ""), chain
            chain = wire.chain_hash(chain, m.position, m.data)
            if m.position != expected or recorded != chain.hex():
                raise ExportRefused(f"the ledger does not verify at position {m.position}; run `civic audit verify`")
            expected += 1
            if progress and m.position % 1000 == 0:
                progress(m.position, head)
            try:
                where = _where(m.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise ExportRefused(f"position {m.position} is not an event; run `civic audit verify`") from None
            if org not in where.org_path:
                continue
            known = True
            if not start <= where.occurred_at.astimezone(zone).date() <= end:
                continue
            line = json.dumps({"position": m.position, "previous_hash": previous.hex(), "hash": recorded, "subject": m.subject,
                               "type": where.type, "event_id": where.event_id, "occurred_at": where.occurred_at.isoformat(),
                               "stored": m.data.decode("utf-8")}, ensure_ascii=False).encode() + b"\n"
            out.write(line)
            digest.update(line)
            lines += 1
    if progress:
        progress(head, head)
    if not known:
        raise ExportRefused(f"no event in the ledger is at {org} or under it: no such unit")
    anchor = {"ledger": LEDGER, "org": org, "from": start.isoformat(), "to": end.isoformat(), "timezone": tz,
              "head": {"position": head, "hash": chain.hex()}, "events": lines, "events_sha256": digest.hexdigest(),
              "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kpi_definitions_version": CURRENT}
    (folder / "anchor.json").write_text(json.dumps(anchor, indent=2) + "\n")
    if KPI_DOC.exists():
        shutil.copyfile(KPI_DOC, folder / "kpis.md")
    (folder / "README.md").write_text(README, encoding="utf-8")
    return Exported(folder, lines, head)


@dataclass
class BundleReport:
    events: int = 0
    faults: list[str] = field(default_factory=list)
    anchor: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.faults

    def summary(self) -> str:
        a = self.anchor
        if self.ok:
            return (f"bundle ok: {self.events} events of {a['org']} from {a['from']} to {a['to']}, anchored at ledger "
                    f"position {a['head']['position']}, head {a['head']['hash']}")
        return "\n".join(self.faults) + f"\nbundle FAULTY: {len(self.faults)} fault(s)"


def check_bundle(folder: Path) -> BundleReport:
    """Check a bundle offline: every line's hash from its h(n-1) and bytes, the bytes decode and
    belong to the unit and window, neighbouring lines agree, the anchor's digest and count hold."""
    report = BundleReport()
    try:
        report.anchor = anchor = json.loads((folder / "anchor.json").read_text())
        data = (folder / "events.jsonl").read_bytes()
        head, zone = anchor["head"], ZoneInfo(anchor["timezone"])
        start, end = date.fromisoformat(anchor["from"]), date.fromisoformat(anchor["to"])
    except (OSError, ValueError, KeyError) as e:
        report.faults.append(f"not a bundle: {e}")
        report.anchor = {"org": "?", "from": "?", "to": "?", "head": {"position": "?", "hash": "?"}}
        return report
    if hashlib.sha256(data).hexdigest() != anchor.get("events_sha256"):
        report.faults.append("events.jsonl is not the file anchor.json describes (its SHA-256 differs)")
    last: dict | None = None
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = json.loads(raw)
            position, previous, recorded, stored = int(line["position"]), line["previous_hash"], line["hash"], line["stored"].encode()
            computed = wire.chain_hash(bytes.fromhex(previous), position, stored).hex()
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            report.faults.append(f"line {number}: not an exported event ({e})")
            continue
        report.events += 1
        where = f"line {number} (position {position})"
        if computed != recorded:
            report.faults.append(f"{where}: the hash recomputed from previous_hash and the stored bytes is {computed[:16]}…, "
                                 f"the line says {recorded[:16]}… (the event or its hashes were altered)")
        report.faults += [f"{where}: {p}" for p in _event_problems(line, stored, anchor["org"], start, end, zone)]
        if last is not None and position <= last["position"]:
            report.faults.append(f"{where}: positions must increase (after {last['position']})")
        if last is not None and position == last["position"] + 1 and previous != last["hash"]:
            report.faults.append(f"{where}: previous_hash is not the hash of line {number - 1}, its predecessor")
        if position > head["position"] or (position == head["position"] and recorded != head["hash"]):
            report.faults.append(f"{where}: does not fit under the head in anchor.json")
        last = line
    if report.events != anchor.get("events"):
        report.faults.append(f"anchor.json lists {anchor.get('events')} events, events.jsonl holds {report.events}")
    return report


def _event_problems(line: dict, stored: bytes, org: str, start: date, end: date, zone: ZoneInfo) -> list[str]:
    try:
        event = decode(stored, max_bytes=None)
    except DecodeFailure as e:
        return [f"the stored bytes do not decode ({e.code}: {e.detail})"]
    problems = []
    if org not in event.org_path:
        problems.append(f"the event is at {'/'.join(event.org_path)}, outside {org}")
    if not start <= event.occurred_at.astimezone(zone).date() <= end:
        problems.append(f"the event occurred on {event.occurred_at.date()}, outside the window")
    if (line.get("type"), line.get("event_id"), line.get("subject")) != (event.type, event.event_id, topology.ledger_subject(event.type, event.org_path)):
        problems.append("type, event_id or subject do not match the stored bytes")
    return problems
