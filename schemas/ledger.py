"""The CIVIC_LEDGER stream: accepted events, in order, hash-chained.

Body: the event's stored bytes, verbatim (the intake union's JSON with personal data sealed).
Subject: civic.ledger.<type>.<org path>. Stream sequence n is the ledger position.

Chain: h(0) = 32 zero bytes; h(n) = SHA-256(h(n-1) || n as 8 bytes big-endian ||
SHA-256(stored bytes)). Anyone holding the messages can recompute it in any language.
"""

from __future__ import annotations

import hashlib

from schemas.base import Event

POSITION = "Civic-Position"
HASH = "Civic-Hash"
NOTIFICATION_ID = "Civic-Notification-Id"
"""The event store's notification id; the relay resumes from the last one published."""
EVENT_ID = "Civic-Event-Id"

GENESIS = bytes(32)


def chain_hash(previous: bytes, position: int, stored: bytes) -> bytes:
    return hashlib.sha256(previous + position.to_bytes(8, "big") + hashlib.sha256(stored).digest()).digest()


def subject(stage: str, event_type: str, org_path: tuple[str, ...] | list[str]) -> str:
    """civic.<stage>.<type>.<org ids from root to leaf>."""
    return ".".join(("civic", stage, event_type, *org_path))


def intake_subject(event: Event, org_path: tuple[str, ...] | list[str]) -> str:
    return subject("intake", event.type, org_path)
