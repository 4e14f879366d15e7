"""Residents' personal data: sealed with a key per resident before anything is stored.

The eventsourcing library's cipher has one key per application, which cannot erase one
resident; so this is a small piece of our own on `cryptography`'s AES-256-GCM. Keys live in
their own store (adapters/keys.py), never in the event store. Destroying a resident's key (crypto-shredding)
makes their sealed data unreadable while the stored bytes, and every hash over them, stay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Protocol

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.base import PersonalData, SealedPersonalData

_encode = msgspec.json.Encoder().encode
_decode_personal = msgspec.json.Decoder(PersonalData).decode


class Keys(Protocol):
    """Where residents' keys are kept (adapters/keys.py: a SQLite file of its own)."""

    def get(self, resident_id: str) -> bytes | None: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mac(key: bytes, personal: PersonalData) -> str:
    return _b64(hmac.new(key, _encode(personal), hashlib.sha256).digest())


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"civic-key-id" + key).hexdigest()[:16]


def seal(event_id: str, personal: Iterable[PersonalData], keys: dict[str, bytes]) -> tuple[SealedPersonalData, ...]:
    sealed = []
    for p in personal:
        key, nonce, clear = keys[p.resident_id], os.urandom(12), _encode(p)
        ciphertext = AESGCM(key).encrypt(nonce, clear, event_id.encode())
        sealed.append(SealedPersonalData(resident_id=p.resident_id, key_id=key_id(key), nonce=_b64(nonce), ciphertext=_b64(ciphertext), mac=mac(key, p)))
    return tuple(sealed)


def unseal(event_id: str, sealed: SealedPersonalData, keys: Keys) -> PersonalData | None:
    """The clear data, or None once the resident's key has been destroyed."""
    key = keys.get(sealed.resident_id)
    if key is None or key_id(key) != sealed.key_id:  # destroyed (the resident may have a new key since)
        return None
    # InvalidTag from here means the sealed data or its event id were altered.
    clear = AESGCM(key).decrypt(base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), event_id.encode())
    return _decode_personal(clear)
