"""Re-capture the golden ledger and every answer over it (tests/golden/README.md).

    .venv/bin/python tests/golden/capture.py            # about two minutes; rewrites data/, answers/, manifest.json

1. `civic up` on a fresh folder; `civic simulate` (fixed seed, rate-limited so that storage times
   spread out) and `civic emit supplement.jsonl` (a rename, a move, events after the move, a v1
   dispatch, topics left proposed and discussed); wait until the read model has all of it; stop.
2. Keep ledger.sqlite and keys.sqlite (gzip), the CIVIC_LEDGER stream's JetStream files (tar.gz,
   for `replay --as-of`: they hold the storage times) and events.jsonl.gz (the stored events in
   ledger order, a form independent of SQLite and JetStream, for reading and diffing).
3. Restore the stores into a fresh folder and start `civic up` on it exactly as
   tests/integration/test_golden.py does (a fresh nats-server; the relay republishes, the
   projector rebuilds), start a bare nats-server on the captured stream, and write every answer.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.golden.golden import (ANSWERS, DATA, DAYS, EVENTS_SAMPLE, HERE, MANIFEST, RATE, REPORTS, SEED, TICKETS, BareNats,  # noqa: E402
                                 Up, all_questions, answer_path, ask_all, civic, http, ledger_messages, restore_store,
                                 restore_stream)

CST = timezone(timedelta(hours=8))
PUBLISHED = """title: Xinxing community, December 2021, as published before the move
org: yn-pm-c04
from: 2021-12-01
to: 2021-12-31
published_at: {instant}
figures:
  raised: 1
  resolved: 1
  open: 1
  satisfaction_rate: 100 %
"""


def run(cmd: subprocess.CompletedProcess[bytes]) -> str:
    assert cmd.returncode == 0, (cmd.args, cmd.stdout.decode(), cmd.stderr.decode())
    return cmd.stdout.decode()


def instant_between(msgs: list, near: int, span: int = 400) -> tuple[str, int]:
    """An instant in the widest gap between consecutive storage times near position `near`:
    (ISO instant in the district's zone, the last position stored before it)."""
    lo, hi = max(1, near - span), min(len(msgs) - 1, near + span)
    k = max(range(lo, hi + 1), key=lambda i: msgs[i][1] - msgs[i - 1][1])  # gap between positions k and k+1 (index k-1, k)
    before, after = msgs[k - 1][1], msgs[k][1]
    assert after - before >= timedelta(milliseconds=1), (k, before, after)
    mid = before + (after - before) / 2
    return mid.astimezone(CST).isoformat(timespec="microseconds"), k


def backup(src: Path, dst: Path) -> None:
    """A consistent single-file copy of a SQLite database (WAL folded in), gzipped."""
    plain = dst.with_suffix("")
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as s, sqlite3.connect(plain) as d:
        s.backup(d)
    with open(plain, "rb") as f, gzip.GzipFile(dst, "wb", mtime=0) as z:
        shutil.copyfileobj(f, z)
    plain.unlink()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="civic-golden-capture-"))
    print("working in", work)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ":(top,exclude)tests/golden",
                            ":(top,exclude)tests/integration/test_golden.py"], capture_output=True, text=True, cwd=HERE).stdout.strip()

    # 1. write the ledger with the simulator, through the real pipeline
    first = work / "first"
    up = Up(first, work / "first.log")
    try:
        up.ready()
        print(run(civic("simulate", "--seed", str(SEED), "--tickets", str(TICKETS), "--days", str(DAYS), "--rate", str(RATE),
                        data=first, timeout=600)))
        simulated = up.ledger_end()
        up.caught_up(simulated)
        print(run(civic("emit", str(HERE / "supplement.jsonl"), data=first)))
        supplement = sum(1 for line in (HERE / "supplement.jsonl").read_text().splitlines() if line.strip())
        events = simulated + supplement
        up.caught_up(events)
        wire = asyncio.run(ledger_messages((first / "nats.url").read_text().strip(), first))
        msgs = [(w["position"], datetime.fromisoformat(w["stored_at"]), w["stored"].encode(), w["headers"]) for w in wire]
        first_answers = {p: http(up.port, p, up.reader or None) for p in ("/api/orgs/yn/dashboard?to=2022-12-31", "/api/orgs/yn-lg/dashboard?to=2022-12-31",
                                                       "/api/orgs/yn-pm-c04/dashboard?to=2022-12-31", "/api/tickets/MC-GOLDEN-0001")}
    finally:
        up.stop()
    assert len(msgs) == events, (len(msgs), events)

    # 2. keep the stores
    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir()
    backup(first / "ledger.sqlite", DATA / "ledger.sqlite.gz")
    backup(first / "keys.sqlite", DATA / "keys.sqlite.gz")
    stream = next((first / "nats").glob("jetstream/*/streams/CIVIC_LEDGER"))
    with tarfile.open(DATA / "ledger-stream.tar.gz", "w:gz") as tar:
        # the stream's messages and config; not its consumers (obs/): the readers make their own
        for f in sorted(stream.rglob("*")):
            if "obs" not in f.relative_to(stream).parts:
                tar.add(f, arcname=str(f.relative_to(first / "nats")), recursive=False)
    with gzip.GzipFile(DATA / "events.jsonl.gz", "wb", mtime=0) as z:
        for w in wire:
            z.write(json.dumps(w, ensure_ascii=False).encode() + b"\n")

    as_of = {}
    for name, near, span in (("early", 2287, 300), ("mid-year", 3300, 300), ("year-end", simulated, 0)):
        instant, k = instant_between(msgs, near, span)
        as_of[f"{name}-at-{k}"] = instant
    # and one after everything: the whole captured ledger, the window ending on the capture's day
    as_of[f"everything-at-{events}"] = (msgs[-1][1] + timedelta(seconds=1)).astimezone(CST).isoformat(timespec="microseconds")
    (REPORTS / "moved-community-published.yaml").write_text(PUBLISHED.format(instant=next(v for k, v in as_of.items() if k.startswith("year-end"))))
    event_ids = {name: json.loads(msgs[p - 1 if p > 0 else len(msgs) + p][2])["event_id"] for name, p in EVENTS_SAMPLE.items()}
    MANIFEST.write_text(json.dumps({
        "written_by_commit": commit, "worktree_dirty_outside_tests_golden": bool(dirty),
        "simulate": {"seed": SEED, "tickets": TICKETS, "days": DAYS, "rate": RATE}, "simulated_events": simulated,
        "supplement_events": supplement, "events": events, "head": msgs[-1][3]["Civic-Hash"],
        "last_event_id": json.loads(msgs[-1][2])["event_id"], "event_ids": event_ids,
        "as_of": as_of, "captured_stream_stored": [msgs[0][1].isoformat(), msgs[-1][1].isoformat()],
    }, indent=2) + "\n")

    # 3. restore and ask, the way the test does
    m = json.loads(MANIFEST.read_text())
    restored, asof_folder, scratch = work / "restored", work / "asof", work / "scratch"
    scratch.mkdir()
    restore_store(restored)
    nats = BareNats(restore_stream(asof_folder))
    up = Up(restored, work / "restored.log")
    try:
        up.caught_up(events)
        token = run(civic("gateway", "token", "golden", "--org", "*", data=restored)).strip().splitlines()[-1]
        up.indexed(m["last_event_id"], token)
        for path, (status, ctype, body) in first_answers.items():
            again = http(up.port, path, up.reader or None)
            print(("same" if again[2] == body else "NOTE: DIFFERENT") + f" answer to {path} from the stack that wrote the ledger and the restored one")
        republished = asyncio.run(ledger_messages((restored / "nats.url").read_text().strip(), restored))
        assert [{**w, "stored_at": None} for w in republished] == [{**w, "stored_at": None} for w in wire], "the republished stream differs"
        answers = ask_all(all_questions(m), up.port, token, restored, asof_folder, nats.url, scratch, up.reader)
    finally:
        up.stop()
        nats.stop()
    if ANSWERS.exists():
        shutil.rmtree(ANSWERS)
    for q in all_questions(m):
        path = answer_path(q)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(answers[q.name])
    print(f"{len(answers)} answers; {events} events; head {m['head']}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
