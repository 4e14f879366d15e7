"""The bus's credentials: one NATS nkey per identity (schemas/permissions.py), and the server's
authorization rendered from them.

The credentials folder (DIR/credentials, 0700) holds
  <identity>.nk   the identity's nkey seed (its secret; 0600), one per service identity
  roles.json      the public keys and the upstream systems' scopes (0600): all a server needs,
                  so `civic nats-config roles.json` renders the same accounts elsewhere
A seed never leaves the folder except an upstream system's, handed to that system once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from schemas import permissions
from schemas.permissions import IDENTITIES, Identity

ROLES_FILE = "roles.json"


def new_seed() -> bytes:
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)


def public_key(seed: bytes) -> str:
    return nkeys.from_seed(bytearray(seed.strip())).public_key.decode()


def _write_private(path: Path, data: bytes) -> None:
    """Written 0600 from the first byte, then moved into place (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Roles:
    """roles.json: {"identities": {name: public key}, "producers": {system: {"nkey", "orgs"}},
    "notified": {unit: public key}} (a unit's receiver of the clock's notifications)."""

    identities: dict[str, str]
    producers: dict[str, dict]
    notified: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Roles:
        data = json.loads(Path(path).read_text())
        return cls(dict(data.get("identities", {})), dict(data.get("producers", {})), dict(data.get("notified", {})))

    def encode(self) -> bytes:
        body: dict = {"identities": self.identities, "producers": self.producers}
        if self.notified:  # absent until the first unit's receiver: older files stay as they were
            body["notified"] = self.notified
        return json.dumps(body, indent=2).encode() + b"\n"

    def users(self) -> list[tuple[Identity, str]]:
        """Every identity with its public key, the service's first, then the upstream systems."""
        out = [(identity, self.identities[identity.name]) for identity in IDENTITIES if identity.name in self.identities]
        for system, entry in sorted(self.producers.items()):
            out.append((permissions.producer(system, entry["orgs"]), entry["nkey"]))
        for unit, nkey in sorted(self.notified.items()):
            out.append((permissions.notified(unit), nkey))
        return out


class Credentials:
    """The credentials folder; `ensure()` makes whatever is missing and keeps what is there."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def roles_path(self) -> Path:
        return self.folder / ROLES_FILE

    def seed_path(self, identity: str) -> Path:
        return self.folder / f"{identity}.nk"

    def ensure(self) -> Credentials:
        """A seed for every service identity that has none, and roles.json naming them all. Safe to
        run on every start: existing seeds are kept, so running processes keep working."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        roles = self.roles() if self.roles_path.exists() else Roles({}, {})
        changed = False
        for identity in IDENTITIES:
            path = self.seed_path(identity.name)
            if not path.exists():
                _write_private(path, new_seed())
            key = public_key(path.read_bytes())
            if roles.identities.get(identity.name) != key:
                roles.identities[identity.name] = key
                changed = True
        if changed or not self.roles_path.exists():
            _write_private(self.roles_path, roles.encode())
        return self

    def roles(self) -> Roles:
        return Roles.load(self.roles_path)

    def add_producer(self, system: str, orgs: list[str], out: Path | None = None) -> Path:
        """A new nkey for an upstream system, allowed the intake subjects of `orgs`; the seed is
        written to `out` (default: the folder) for handing over. Replaces an earlier one."""
        permissions.producer(system, orgs)  # refuses a bad name or org id before anything is written

        def record(roles: Roles, nkey: str) -> None:
            roles.producers[system] = {"nkey": nkey, "orgs": list(orgs)}
        return self._new_key(permissions.PRODUCER_PREFIX + system, out, record)

    def add_notified(self, unit: str, out: Path | None = None) -> Path:
        """A new nkey for a unit's receiver of the clock's notifications (it may subscribe to
        civic.notify.<unit> only); the seed is written to `out` (default: the folder). Replaces an earlier one."""
        permissions.notified(unit)  # refuses a bad unit id before anything is written

        def record(roles: Roles, nkey: str) -> None:
            roles.notified[unit] = nkey
        return self._new_key(permissions.NOTIFIED_PREFIX + unit, out, record)

    def _new_key(self, identity: str, out: Path | None, record: Callable[[Roles, str], None]) -> Path:
        """A new seed for `identity`, written privately to `out` (default: the folder), its public
        key recorded in the roles file by `record`."""
        self.ensure()
        seed = new_seed()
        path = Path(out) if out else self.seed_path(identity)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, seed)
        roles = self.roles()
        record(roles, public_key(seed))
        _write_private(self.roles_path, roles.encode())
        return path

    def write_server_config(self, path: Path, extra_users: list[str] = (), head: str = "") -> Path:  # type: ignore[assignment]
        _write_private(path, (head + render_authorization(self.roles(), extra_users)).encode())
        return path


def _quoted(subjects: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(s) for s in subjects) + "]"


def render_user(identity: Identity, nkey: str) -> str:
    if identity.unrestricted:
        return f"    # {identity.name}: {identity.does}\n    {{nkey: {json.dumps(nkey)}}}"
    return (f"    # {identity.name}: {identity.does}\n"
            f"    {{nkey: {json.dumps(nkey)}, permissions: {{\n"
            f"      publish: {{allow: {_quoted(identity.publish)}}}\n"
            f"      subscribe: {{allow: {_quoted(identity.subscriptions())}}}\n"
            f"    }}}}")


def render_authorization(roles: Roles, extra_users: list[str] = ()) -> str:  # type: ignore[assignment]
    """The nats-server `authorization` block: one user per identity, each with its grants from
    schemas/permissions.py; no anonymous user. `extra_users` are appended verbatim (a test's)."""
    users = [render_user(identity, key) for identity, key in roles.users()] + list(extra_users)
    return ("# Rendered by civic-ledger from schemas/permissions.py (`civic nats-config`); do not edit by hand.\n"
            "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n")
