"""Who may read the web: staff accounts, their bearer tokens and login sessions, and the access
log. One SQLite file in the data folder (accounts.sqlite, mode 0600), written by `civic users`
and by the web role (sessions, the access log); WAL, so both may write at once.

An account has a role and a scope:
  staff    reads its org subtree (a village secretary: the village; a town head: the town; the
           district office: the district) and may see a ticket's reporter contact (logged)
  auditor  reads everything (scope "*"), changes nothing, never sees contact details, reads the
           access log
  admin    manages users (the CLI) and reads the access log and the users; reads everything
Passwords are hashed with argon2id (argon2-cffi); tokens and session ids are 256-bit random
strings stored as SHA-256 digests (a stolen copy of the file opens nothing).
"""

from __future__ import annotations

import builtins

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("staff", "auditor", "admin")
EVERYTHING = "*"
"""The scope of an account that reads every org unit."""
SESSION_SECONDS = 8 * 3600
"""A login lasts a working day; then the page asks again."""
TOKEN_PREFIX = "civ_"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password: compared against when the account does not exist")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, org TEXT NOT NULL, password TEXT,
  disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  digest TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(name), created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  digest TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(name), expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS access_log (
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""


class AccountError(ValueError):
    """A refused change to the accounts, with a sentence for the operator."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    org: str
    """An org id, or "*" for every unit."""
    disabled: bool = False

    @property
    def everything(self) -> bool:
        return self.org == EVERYTHING

    @property
    def reads_contacts(self) -> bool:
        """Staff call residents back; auditors and admins never see contact details."""
        return self.role == "staff"

    @property
    def reads_access_log(self) -> bool:
        return self.role in ("auditor", "admin")


@dataclass(frozen=True)
class Entry:
    at: int
    who: str
    action: str
    subject: str
    detail: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def accounts_path(data_dir: Path) -> Path:
    return data_dir / "accounts.sqlite"


class Accounts:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # created owner-only; SQLite gives its -wal and -shm files the same mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _q(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- accounts ------------------------------------------------------------------------------

    def add(self, name: str, role: str, org: str | None, password: str, by: str) -> Account:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if role == "staff" and not org:
            raise AccountError("staff need --org: the unit whose subtree they read")
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise AccountError("a name is letters, digits, '-', '_' or '.'")
        if len(password) < 10:
            raise AccountError("a password has at least 10 characters")
        org = org or EVERYTHING
        try:
            self._q("INSERT INTO accounts VALUES (?, ?, ?, ?, 0, ?)", (name, role, org, _hasher.hash(password), int(time.time())))
        except sqlite3.IntegrityError:
            raise AccountError(f"an account {name!r} exists already") from None
        self.log(by, "user_added", name, f"role={role} org={org}")
        return Account(name, role, org)

    def get(self, name: str) -> Account | None:
        rows = self._q("SELECT name, role, org, disabled FROM accounts WHERE name=?", (name,))
        return Account(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3])) if rows else None

    def list(self) -> list[Account]:
        return [Account(n, r, o, bool(d)) for n, r, o, d in self._q("SELECT name, role, org, disabled FROM accounts ORDER BY name")]

    def _existing(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AccountError(f"no account {name!r}")
        return account

    def disable(self, name: str, by: str) -> None:
        """Disabled at once: its sessions and tokens are deleted, its password kept for the record."""
        self._existing(name)
        self._q("UPDATE accounts SET disabled=1 WHERE name=?", (name,))
        self._q("DELETE FROM sessions WHERE account=?", (name,))
        self._q("DELETE FROM tokens WHERE account=?", (name,))
        self.log(by, "user_disabled", name)

    def enable(self, name: str, by: str) -> None:
        self._existing(name)
        self._q("UPDATE accounts SET disabled=0 WHERE name=?", (name,))
        self.log(by, "user_enabled", name)

    def set_password(self, name: str, password: str, by: str) -> None:
        """A new password ends every session of the account."""
        self._existing(name)
        if len(password) < 10:
            raise AccountError("a password has at least 10 characters")
        self._q("UPDATE accounts SET password=? WHERE name=?", (_hasher.hash(password), name))
        self._q("DELETE FROM sessions WHERE account=?", (name,))
        self.log(by, "password_changed", name)

    def set_role(self, name: str, role: str, org: str | None, by: str) -> None:
        before = self._existing(name)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        org = org or (before.org if role == before.role or before.org != EVERYTHING else None) or EVERYTHING
        if role == "staff" and org == EVERYTHING and before.role != "staff":
            raise AccountError("staff need --org: the unit whose subtree they read")
        self._q("UPDATE accounts SET role=?, org=? WHERE name=?", (role, org, name))
        self._q("DELETE FROM sessions WHERE account=?", (name,))
        self.log(by, "role_changed", name, f"role={before.role}->{role} org={before.org}->{org}")

    def check_password(self, name: str, password: str) -> Account | None:
        """The account if the password is right and it is enabled; the same work either way."""
        rows = self._q("SELECT password, disabled FROM accounts WHERE name=?", (name,))
        stored = rows[0][0] if rows and rows[0][0] else _DUMMY
        ok: bool
        try:
            ok = _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or not rows or rows[0][1]:
            return None
        if _hasher.check_needs_rehash(stored):
            self._q("UPDATE accounts SET password=? WHERE name=?", (_hasher.hash(password), name))
        return self.get(name)

    # -- bearer tokens (machine readers) -------------------------------------------------------

    def issue_token(self, name: str, by: str) -> str:
        """A new bearer token for the account; shown once, stored as its digest."""
        if self._existing(name).disabled:
            raise AccountError(f"account {name!r} is disabled")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._q("INSERT INTO tokens VALUES (?, ?, ?)", (digest(token), name, int(time.time())))
        self.log(by, "token_issued", name)
        return token

    def revoke_tokens(self, name: str, by: str) -> int:
        self._existing(name)
        n = len(self._q("DELETE FROM tokens WHERE account=? RETURNING digest", (name,)))
        self.log(by, "tokens_revoked", name, f"{n} tokens")
        return n

    def by_token(self, token: str) -> Account | None:
        rows = self._q("SELECT a.name FROM tokens t JOIN accounts a ON a.name = t.account WHERE t.digest=? AND a.disabled=0",
                       (digest(token),))
        return self.get(rows[0][0]) if rows else None

    # -- login sessions ------------------------------------------------------------------------

    def open_session(self, name: str, seconds: int = SESSION_SECONDS) -> str:
        session = secrets.token_urlsafe(32)
        now = int(time.time())
        self._q("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self._q("INSERT INTO sessions VALUES (?, ?, ?)", (digest(session), name, now + seconds))
        return session

    def by_session(self, session: str) -> Account | None:
        rows = self._q("SELECT a.name FROM sessions s JOIN accounts a ON a.name = s.account "
                       "WHERE s.digest=? AND s.expires_at >= ? AND a.disabled=0", (digest(session), int(time.time())))
        return self.get(rows[0][0]) if rows else None

    def close_session(self, session: str) -> None:
        self._q("DELETE FROM sessions WHERE digest=?", (digest(session),))

    # -- the access log ------------------------------------------------------------------------

    def log(self, who: str, action: str, subject: str, detail: str = "") -> None:
        """Recorded for auditors: every read of a reporter's contact, every change to an account."""
        self._q("INSERT INTO access_log (at, who, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                (int(time.time()), who, action, subject, detail))

    def entries(self, since: int = 0, limit: int = 1000) -> builtins.list[Entry]:  # `list` is a method here
        """The access log from instant `since` on, oldest first."""
        return [Entry(*r) for r in self._q("SELECT at, who, action, subject, detail FROM access_log WHERE at >= ? "
                                           "ORDER BY id LIMIT ?", (since, limit))]
