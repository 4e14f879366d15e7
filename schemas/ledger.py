"""The CIVIC_LEDGER stream: accepted events, in order, hash-chained.

Body: the event's stored bytes, verbatim (the intake union's JSON with personal data sealed).
Subject: civic.ledger.<type>.<org path>. Stream sequence n is the ledger position. Its names
(stream, subjects, the Civic-* headers) are in schemas/topology.py.

Chain: h(0) = 32 zero bytes; h(n) = SHA-256(h(n-1) || n as 8 bytes big-endian ||
SHA-256(stored bytes)). Anyone holding the messages can recompute it in any language.
"""

from __future__ import annotations

import hashlib


GENESIS = bytes(32)


def chain_hash(previous: bytes, position: int, stored: bytes) -> bytes:
    return hashlib.sha256(previous + position.to_bytes(8, "big") + hashlib.sha256(stored).digest()).digest()

