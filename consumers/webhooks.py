"""Per-unit webhooks for the deadline clock's notifications (README, "The deadline clock").

A YAML file (CIVIC_CLOCK_WEBHOOKS) maps units to an HTTPS endpoint and the name of the
environment variable holding its secret (never the secret itself: the file may be committed):

    units:
      yn-pm-lx:
        url: https://lx.example.gov.cn/hooks/civic
        secret_env: CIVIC_WEBHOOK_SECRET_LX

Each clock event about the unit is POSTed as its ledger JSON, with `Civic-Event-Id` (the event's
id: a receiver drops a second copy, as two clock instances both deliver) and
`Civic-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>`. A delivery that fails
(a connection error or a status other than 2xx) is tried again after 0.5, 1 and 2 seconds, then
logged and dropped: the ledger and the notification subject still hold the event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Annotated

import httpx
import msgspec
import yaml
from msgspec import Meta

log = logging.getLogger("civic.clock.webhooks")
SIGNATURE_HEADER = "Civic-Signature"
EVENT_ID_HEADER = "Civic-Event-Id"
RETRIES = (0.5, 1.0, 2.0)
"""Pauses before the second, third and fourth try."""


class Hook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, Meta(pattern=r"^https?://")]
    secret_env: Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
    """The environment variable that holds the signing secret."""


class HookFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    units: dict[str, Hook] = {}


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Webhooks:
    def __init__(self, hooks: dict[str, Hook], secrets: dict[str, bytes], timeout: float = 5.0,
                 retries: tuple[float, ...] = RETRIES):
        self.hooks, self.secrets, self.retries = hooks, secrets, retries
        self.client = httpx.AsyncClient(timeout=timeout)
        self.delivered = 0
        self.failed = 0

    @classmethod
    def load(cls, path: Path, environ: dict[str, str] | None = None) -> Webhooks:
        """The file, checked: a unit whose secret variable is unset is an error, not a silent unsigned hook."""
        env = os.environ if environ is None else environ
        try:
            spec = msgspec.convert(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, HookFile)
        except (OSError, yaml.YAMLError, msgspec.ValidationError) as e:
            raise ValueError(f"{path}: {e}") from None
        missing = sorted({h.secret_env for h in spec.units.values() if not env.get(h.secret_env)})
        if missing:
            raise ValueError(f"{path}: the secret variables {', '.join(missing)} are not set")
        return cls(spec.units, {unit: env[h.secret_env].encode() for unit, h in spec.units.items()})

    async def deliver(self, unit: str, event_id: str, body: bytes) -> bool:
        """POST the event to the unit's hook, if it has one; True once a 2xx answered."""
        hook = self.hooks.get(unit)
        if hook is None:
            return False
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id,
                   SIGNATURE_HEADER: sign(self.secrets[unit], body)}
        for attempt, pause in enumerate((0.0, *self.retries), 1):
            await asyncio.sleep(pause)
            try:
                response = await self.client.post(hook.url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    self.delivered += 1
                    return True
                problem = f"status {response.status_code}"
            except httpx.HTTPError as e:
                problem = f"{type(e).__name__}: {e}"
            log.warning("webhook of %s, event %s, try %d: %s", unit, event_id, attempt, problem)
        self.failed += 1
        return False

    async def close(self) -> None:
        await self.client.aclose()
