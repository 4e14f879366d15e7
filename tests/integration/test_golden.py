"""The golden ledger of tests/golden/: a ledger written by the simulator on an earlier main, and
every answer a user or an auditor got over it then. The old stores are restored into a fresh data
folder, `civic up` runs on them (a fresh nats-server: the relay republishes every stored event
into a new CIVIC_LEDGER and the projector builds the read model from it), and every question is
asked again through the HTTP API and the `civic` command. The bytes must be the same.

Through external interfaces only (tests/golden/golden.py imports nothing of the project), so the
test survives any move of the modules behind them. What each answer holds and how the questions
were pinned against the clock is in tests/golden/README.md; re-capture with
`.venv/bin/python tests/golden/capture.py` only when a change of an answer is intended.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re

import pytest

from tests.golden.golden import (ANSWERS, BareNats, Up, all_questions, answer_path, ask_all, civic, ledger_messages, manifest,
                                 restore_store, restore_stream, stored_messages)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """(manifest, answers asked now by question name)."""
    m = manifest()
    work = tmp_path_factory.mktemp("golden")
    restored, asof, scratch = work / "restored", work / "asof", work / "scratch"
    scratch.mkdir()
    restore_store(restored)
    nats = BareNats(restore_stream(asof))  # the captured CIVIC_LEDGER, with its storage times
    up = Up(restored, work / "up.log")
    try:
        # Barrier on positions, not time: the relay has republished every stored event and the
        # projector has applied them all; then the event index has reached the last one.
        up.caught_up(m["events"])
        token = civic("gateway", "token", "golden", "--org", "*", data=restored).stdout.decode().strip().splitlines()[-1]
        up.indexed(m["last_event_id"], token)
        answers = ask_all(all_questions(m), up.port, token, restored, asof, nats.url, scratch, up.reader)
        wire = asyncio.run(ledger_messages((restored / "nats.url").read_text().strip(), restored))
    finally:
        up.stop()
        nats.stop()
    return m, answers, wire


def test_the_old_ledger_verifies(golden) -> None:
    """`civic audit verify` passes over the republished ledger and the old event store, and over
    the captured stream; the chain head is the one the old code wrote."""
    m, answers, _ = golden
    for name in ("verify", "verify-no-store", "asof-verify"):
        assert answers[name] == f"exit 0\nledger ok: {m['events']} events, head {m['head']}\n".encode(), answers[name]


def test_the_republished_stream_is_the_captured_one(golden) -> None:
    """The relay turned the old store into the same CIVIC_LEDGER messages the old relay wrote:
    subject, headers (position, chain hash, notification id, event id) and bytes, in order.
    Normalisation: the storage time of each message, which is when this run republished it."""
    m, _, wire = golden
    captured = stored_messages()
    assert len(wire) == len(captured) == m["events"]
    for now, then in zip(wire, captured):
        now, then = {**now, "stored_at": None}, {**then, "stored_at": None}
        assert now == then, (now, then)


def test_every_answer_is_byte_identical(golden) -> None:
    m, answers, _ = golden
    changed = []
    for q in all_questions(m):
        expected = answer_path(q).read_bytes()
        if answers[q.name] != expected:
            changed.append((q, expected, answers[q.name]))
    assert not changed, f"{len(changed)} of {len(answers)} answers changed:\n" + "\n".join(_explain(*c) for c in changed[:15])


def test_every_stored_answer_is_asked() -> None:
    """No answer file is left behind by a question that was dropped."""
    m = manifest()
    asked = {answer_path(q) for q in all_questions(m)}
    stored = {p for p in ANSWERS.rglob("*") if p.is_file()}
    assert stored == asked, {"stored, not asked": sorted(map(str, stored - asked)), "asked, not stored": sorted(map(str, asked - stored))}


def _explain(q, expected: bytes, got: bytes) -> str:  # type: ignore[no-untyped-def]
    head = f"--- {q.name} ({q.kind}: {q.request}) -> {answer_path(q).relative_to(ANSWERS.parent)}"
    if q.kind == "sweep":  # name the units or tickets whose answers changed
        old = dict(line.split(" ", 1) for line in expected.decode().splitlines())
        new = dict(line.split(" ", 1) for line in got.decode().splitlines())
        ids = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        return f"{head}\n    changed for {len(ids)}: {', '.join(ids[:20])}"
    a, b = _lines(expected), _lines(got)
    diff = list(difflib.unified_diff(a, b, "golden", "now", n=1, lineterm=""))
    return head + "\n" + "\n".join("    " + line[:300] for line in diff[:40])


def _lines(body: bytes) -> list[str]:
    text = body.decode(errors="replace")
    if text.split("\n", 1)[0].endswith("json") or "application/json" in text.split("\n", 1)[0]:
        try:  # one JSON value per line makes a readable diff
            status, payload = text.split("\n", 1)
            return [status, *json.dumps(json.loads(payload), indent=1, ensure_ascii=False).splitlines()]
        except ValueError:
            pass
    return re.split(r"\n|(?<=>)(?=<)", text)
