"""Residents' personal data: sealed per resident before storage, readable only with the key,
crypto-shredded by destroying the key while the stored bytes stay as they were."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from cryptography.exceptions import InvalidTag

import schemas as s
from adapters.keys import KeyStore
from civic_kit import LI_HUA, WANG_FANG, Desk
from domain.personal import mac, unseal
from schemas.ledger import GENESIS, chain_hash

CLEAR = [b"Li Hua", b"13800138000", b"Longxiang Road", b"Wang Fang", b"13900139000", b"Nanhu Lane"]


def chain(states: list[bytes]) -> bytes:
    h = GENESIS
    for n, state in enumerate(states, 1):
        h = chain_hash(h, n, state)
    return h


def files_bytes(directory: Path, stem: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob(stem + "*")))


@pytest.fixture
def filled(ledger_files: Callable[[], Desk]) -> Desk:
    desk = ledger_files()
    desk.build_tree()
    desk.raise_ticket("T1", personal=(LI_HUA,))
    desk.ok(desk.ev("DisputeRegistered", personal=(LI_HUA, WANG_FANG)))
    desk.ok(desk.ev("TicketDispatched"), desk.ev("TicketAccepted"))
    return desk


def sealed_events(desk: Desk) -> list[s.Event]:
    return [e for e in desk.stored_events() if e.sealed]


def test_stored_bytes_hold_no_clear_personal_data(filled: Desk) -> None:
    states = [n.state for n in filled.stored()]
    for state in states:
        for clear in CLEAR:
            assert clear not in state
    raised, dispute = sealed_events(filled)
    assert (raised.type, dispute.type) == ("TicketRaised", "DisputeRegistered")
    assert raised.personal == () and dispute.personal == ()
    assert [x.resident_id for x in raised.sealed] == ["r1"]
    assert [x.resident_id for x in dispute.sealed] == ["r1", "r2"]


def test_no_clear_personal_data_anywhere_on_disk(filled: Desk, tmp_path: Path) -> None:
    on_disk = files_bytes(tmp_path, "ledger.sqlite") + files_bytes(tmp_path, "keys.sqlite")
    assert b"TicketRaised" in on_disk  # the scan does see the events
    for clear in CLEAR:
        assert clear not in on_disk


def test_no_clear_personal_data_in_the_aggregates(filled: Desk) -> None:
    ticket = filled.get("ticket", "T1")
    for value in vars(ticket).values():  # every attribute (the event-id index moved out of the aggregates)
        assert all(clear.decode() not in repr(value) for clear in CLEAR)


def test_unseal_gives_the_data_back_with_the_key(filled: Desk) -> None:
    raised, dispute = sealed_events(filled)
    assert unseal(raised.event_id, raised.sealed[0], filled.keys) == LI_HUA
    assert [unseal(dispute.event_id, x, filled.keys) for x in dispute.sealed] == [LI_HUA, WANG_FANG]


def test_sealed_data_is_bound_to_its_event(filled: Desk) -> None:
    raised, dispute = sealed_events(filled)
    with pytest.raises(InvalidTag):
        unseal(dispute.event_id, raised.sealed[0], filled.keys)  # moved onto another event
    tampered = msgspec.structs.replace(raised.sealed[0], ciphertext=base64.b64encode(b"\0" * 40).decode())
    with pytest.raises(InvalidTag):
        unseal(raised.event_id, tampered, filled.keys)


def test_one_key_per_resident_and_a_fresh_nonce_per_seal(filled: Desk) -> None:
    raised, dispute = sealed_events(filled)
    k1, k2 = filled.keys.get("r1"), filled.keys.get("r2")
    assert k1 is not None and k2 is not None and len(k1) == len(k2) == 32 and k1 != k2
    assert raised.sealed[0].nonce != dispute.sealed[0].nonce
    assert raised.sealed[0].ciphertext != dispute.sealed[0].ciphertext
    # The mac is the keyed digest of the clear data, the same in both events.
    assert raised.sealed[0].mac == dispute.sealed[0].mac == mac(k1, LI_HUA)


def test_destroy_shreds_one_resident_and_leaves_the_stored_bytes(filled: Desk, tmp_path: Path) -> None:
    before = [n.state for n in filled.stored()]
    key = filled.keys.get("r1")
    assert key is not None and key in files_bytes(tmp_path, "keys.sqlite")

    assert filled.keys.destroy("r1") is True
    assert filled.keys.destroy("r1") is False  # nothing left to destroy

    after = [n.state for n in filled.stored()]
    assert after == before  # byte-identical
    assert chain(after) == chain(before)
    raised, dispute = sealed_events(filled)
    assert unseal(raised.event_id, raised.sealed[0], filled.keys) is None
    assert unseal(dispute.event_id, dispute.sealed[0], filled.keys) is None
    assert unseal(dispute.event_id, dispute.sealed[1], filled.keys) == WANG_FANG  # others keep theirs
    assert filled.keys.get("r1") is None
    assert key not in files_bytes(tmp_path, "keys.sqlite")  # overwritten on disk, not just unlinked


def test_destroy_survives_a_reopened_key_store(filled: Desk, tmp_path: Path) -> None:
    filled.keys.destroy("r1")
    other = KeyStore(tmp_path / "keys.sqlite")
    try:
        assert other.get("r1") is None and other.get("r2") is not None
    finally:
        other.close()


def test_the_ledger_still_replays_after_a_shred(filled: Desk, ledger_files: Callable[[], Desk]) -> None:
    filled.keys.destroy("r1")
    again = ledger_files()
    assert again.get("ticket", "T1").stage == "accepted"
    assert again.get("dispute", "D1").sessions == 0


# -- resends with personal data --------------------------------------------------------------------


def test_resend_with_the_same_personal_data_is_a_duplicate(tree: Desk) -> None:
    raised = tree.raise_ticket(personal=(LI_HUA,))
    outcome = tree.send(raised)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


def test_resend_with_the_same_personal_data_after_a_restart(ledger_files: Callable[[], Desk]) -> None:
    first = ledger_files()
    first.build_tree()
    raised = first.raise_ticket(personal=(LI_HUA,))
    again = ledger_files()
    again.seq, again.parent = first.seq, dict(first.parent)
    outcome = again.send(raised)
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])


@pytest.mark.parametrize("personal", [
    (msgspec.structs.replace(LI_HUA, phone="13800000000"),),
    (msgspec.structs.replace(LI_HUA, address=None),),
    (s.PersonalData(resident_id="r1"),),
    (WANG_FANG,),
    (),
])
def test_resend_with_different_personal_data_is_a_conflicting_duplicate(tree: Desk, personal: tuple) -> None:
    raised = tree.raise_ticket(personal=(LI_HUA,))
    tree.refused(msgspec.structs.replace(raised, personal=personal), "conflicting_duplicate")


def test_personal_data_added_on_resend_is_a_conflicting_duplicate(tree: Desk) -> None:
    raised = tree.raise_ticket()
    tree.refused(msgspec.structs.replace(raised, personal=(LI_HUA,)), "conflicting_duplicate")


def test_a_refused_event_mints_no_key(tree: Desk) -> None:
    tree.refused(tree.ev("TicketRaised", org="c9", personal=(LI_HUA,)), "unknown_org")
    tree.refused(tree.ev("TicketRaised", role="auditor", personal=(WANG_FANG,)), "role_not_allowed")
    assert tree.keys.get("r1") is None and tree.keys.get("r2") is None


def test_key_store_creates_once(keys: KeyStore) -> None:
    first = keys.get_or_create(["a", "b"])
    again = keys.get_or_create(["b", "a", "c"])
    assert first == {k: again[k] for k in ("a", "b")}
    assert len({*again.values()}) == 3


def test_old_data_stays_unreadable_not_broken_after_a_new_key(tree: Desk) -> None:
    raised = tree.raise_ticket(personal=(LI_HUA,))
    tree.keys.destroy("r1")
    tree.raise_ticket("T2", personal=(LI_HUA,))  # mints a new key for r1
    (old,) = [e for e in tree.stored_events() if e.event_id == raised.event_id]
    assert unseal(old.event_id, old.sealed[0], tree.keys) is None
