"""Erasure is an event (PersonalDataErased): recording it and destroying the keys are atomic in
effect. A crash at any point ends, after the restart, with both done; nothing later is sealed with
the old key; and every start re-applies the erasures, so a restored key backup brings no one back."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import schemas as s
from civic_kit import LI_HUA, WANG_FANG, Desk
from domain.personal import key_id, unseal


def erase(desk: Desk, resident: str = "r1", erasure: str = "E1") -> s.Event:
    return desk.ev("PersonalDataErased", org="d1", erasure_id=erasure, resident_id=resident)


def reopen(ledger_files: Callable[[], Desk], before: Desk) -> Desk:
    """A restart: the same files, the intake sequence and event numbering going on."""
    desk = ledger_files()
    desk.seq, desk.n, desk.parent = before.seq, before.n, before.parent
    return desk


def sealed_of(desk: Desk, event_id: str) -> s.SealedPersonalData:
    (event,) = [e for e in desk.stored_events() if e.event_id == event_id]
    return event.sealed[0]


def test_an_erasure_destroys_the_key_and_names_it(tree: Desk) -> None:
    raised = tree.raise_ticket(personal=(LI_HUA,))
    old = tree.keys.get("r1")
    tree.ok(erase(tree))
    stored = [e for e in tree.stored_events() if e.type == "PersonalDataErased"][0]
    assert stored.erased_keys == (key_id(old),)
    assert tree.keys.get("r1") is None
    assert unseal(raised.event_id, sealed_of(tree, raised.event_id), tree.keys) is None


def test_a_later_event_in_the_same_batch_gets_a_fresh_key(tree: Desk) -> None:
    raised = tree.raise_ticket(personal=(LI_HUA,))
    old = tree.keys.get("r1")
    later = tree.ev("TicketRaised", ticket_id="T2", org="c1", personal=(LI_HUA,))
    tree.ok(erase(tree), later)
    fresh = sealed_of(tree, later.event_id)
    assert fresh.key_id != key_id(old), "nothing after the erasure is sealed with the old key"
    assert unseal(later.event_id, fresh, tree.keys) == LI_HUA
    assert unseal(raised.event_id, sealed_of(tree, raised.event_id), tree.keys) is None


def test_a_producer_may_not_name_erased_keys(tree: Desk) -> None:
    tree.refused(tree.ev("PersonalDataErased", org="d1", erasure_id="E9", resident_id="r1", erased_keys=("0" * 16,)),
                 "sealed_by_producer")
    tree.refused(tree.ev("PersonalDataErased", org="d1", role="resident", erasure_id="E9", resident_id="r1"), "role_not_allowed")


def test_an_erasure_resent_is_a_duplicate(tree: Desk) -> None:
    tree.raise_ticket(personal=(LI_HUA,))
    event = erase(tree)
    tree.ok(event)
    outcome = tree.send(event)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


def test_a_crash_between_retiring_the_key_and_storing_the_event(ledger_files: Callable[[], Desk], monkeypatch) -> None:
    desk = ledger_files()
    desk.build_tree()
    raised = desk.raise_ticket(personal=(LI_HUA,))
    old = desk.keys.get("r1")
    event, later = erase(desk), desk.ev("TicketRaised", ticket_id="T2", org="c1", personal=(LI_HUA,))
    messages = [desk.msg(event), desk.msg(later)]

    def crash(_processing) -> None:  # type: ignore[no-untyped-def]
        raise OSError("killed after the key store's commit, before the event store's")
    monkeypatch.setattr(desk.ledger, "_record", crash)
    with pytest.raises(OSError):
        desk.ledger.process(messages)
    assert desk.keys.get("r1") is None or key_id(desk.keys.get("r1")) != key_id(old), "retired before the event is stored"

    again = ledger_files()  # the restart: the batch is redelivered
    again.ledger.reapply_erasures()
    outcome = again.ledger.process(messages)
    assert outcome.accepted == 2
    stored = [e for e in again.stored_events() if e.type == "PersonalDataErased"][0]
    assert key_id(old) in stored.erased_keys, "the redelivered erasure still names the key it destroyed"
    assert unseal(raised.event_id, sealed_of(again, raised.event_id), again.keys) is None
    assert unseal(later.event_id, sealed_of(again, later.event_id), again.keys) == LI_HUA


def test_a_restored_key_backup_cannot_bring_an_erased_resident_back(ledger_files: Callable[[], Desk], tmp_path: Path) -> None:
    desk = ledger_files()
    desk.build_tree()
    raised = desk.raise_ticket(personal=(LI_HUA,))
    other = desk.ev("DisputeRegistered", personal=(WANG_FANG,))
    desk.ok(other)
    desk.keys.close()
    shutil.copy(tmp_path / "keys.sqlite", tmp_path / "keys-backup.sqlite")
    desk = reopen(ledger_files, desk)
    desk.ok(erase(desk))
    later = desk.ev("TicketRaised", ticket_id="T2", org="c1", personal=(LI_HUA,))
    desk.ok(later)
    desk.keys.close()
    # Someone restores yesterday's key backup (the WAL went with the checkpoint: one file).
    for extra in ("-wal", "-shm"):
        (tmp_path / f"keys.sqlite{extra}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "keys-backup.sqlite", tmp_path / "keys.sqlite")
    restored = reopen(ledger_files, desk)
    assert unseal(raised.event_id, sealed_of(restored, raised.event_id), restored.keys) == LI_HUA, "the backup holds it"
    assert restored.ledger.reapply_erasures() == 1  # what every start does
    assert unseal(raised.event_id, sealed_of(restored, raised.event_id), restored.keys) is None
    assert unseal(other.event_id, sealed_of(restored, other.event_id), restored.keys) == WANG_FANG, "others keep theirs"
    # The resident's later data was sealed with a key the backup never had: that is lost with the
    # backup, not revived, and a fresh key is made for the next event.
    assert restored.ledger.reapply_erasures() == 0
