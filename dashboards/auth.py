"""Who is asking, and what they may see: the web role's authentication and scoping.

- `Authenticate` is Litestar's own `AbstractAuthenticationMiddleware`: it sets `request.user` to
  the reader's `Account` from a bearer token (machine readers), else from the session cookie (the
  pages), else the demo viewer (`civic demo` only), else None. It never refuses by itself.
- `guard`, one Litestar guard on the whole app, refuses (401) every handler that is not marked
  public: a new endpoint is closed unless someone opens it on purpose.
- Sessions are ours, not Litestar's server-side session middleware: they are revoked from the CLI
  (`civic users disable`, `passwd`) in another process, so they live beside the accounts, stored as
  digests in the 0600 file; a fresh id is made at each login (Litestar's backend reuses an id the
  client presents, which allows session fixation). Litestar's `RateLimitConfig` counts every request
  per client address; logins need failures counted per account and per address: `LoginLimiter`.
- Scope: a reader sees the org units whose current path lies under one of the paths their own
  unit has had (the same subtree the unit's figures count), and the tickets whose path does. An id
  out of scope answers exactly as an unknown one (`projections.queries.NotFound`, same text).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from adapters.http import SESSION_COOKIE
from dashboards.accounts import Account, Accounts
from projections.queries import NotFound, Org
from projections.readside import ReadSide
PUBLIC = {"public": True}
"""Handler opt: open to anonymous readers (health, login, static files, Open311's reads)."""


class Authenticate(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, accounts: Accounts, demo_viewer: str | None = None):
        super().__init__(app, exclude_http_methods=[])
        self.accounts, self.demo_viewer = accounts, demo_viewer

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            account = self.accounts.by_token(header[7:].strip())
            if account is not None:
                return AuthenticationResult(account, "token")
            # not ours: maybe a gateway token, which the gateway's routes check themselves
        session = connection.cookies.get(SESSION_COOKIE)
        if session:
            account = self.accounts.by_session(session)
            if account is not None:
                return AuthenticationResult(account, "session")
        if self.demo_viewer:
            account = self.accounts.get(self.demo_viewer)
            if account is not None and not account.disabled and account.role == "auditor":
                return AuthenticationResult(account, "demo")
        return AuthenticationResult(None, None)


def reader_of(connection: ASGIConnection) -> Account | None:
    return connection.scope.get("user")


def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Every handler needs a signed-in reader unless marked public; some need more (opt)."""
    if handler.opt.get("public"):
        return
    account = reader_of(connection)
    if account is None:
        raise NotAuthorizedException("sign in at /login, or send a bearer token (civic users token NAME)")
    if handler.opt.get("machine") and not (connection.scope.get("auth") == "token" and account.everything):
        raise PermissionDeniedException("needs the bearer token of an account that reads every unit")
    if handler.opt.get("access_log") and not account.reads_access_log:
        raise PermissionDeniedException("only auditors and admins read the access log")


class LoginLimiter:
    """At most `per_account` failed logins per account and `per_address` per client address in
    `window` seconds; then 429 until the oldest failure ages out. In memory: a restart of the web
    role forgets (and the limits are for guessing, not for a patient attacker: argon2 and 10
    characters are)."""

    def __init__(self, per_account: int = 5, per_address: int = 20, window: float = 900.0):
        self.limits = {"account": per_account, "address": per_address}
        self.window = window
        self.failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self.failures[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self.failures[key]
            return deque()
        return q

    def retry_after(self, account: str, address: str) -> int:
        """Seconds until a login may be tried again; 0: now."""
        now = time.monotonic()
        wait = 0.0
        for kind, value in (("account", account), ("address", address)):
            q = self._recent((kind, value), now)
            if len(q) >= self.limits[kind]:
                wait = max(wait, q[0] + self.window - now)
        return int(wait) + 1 if wait else 0

    def failed(self, account: str, address: str) -> None:
        now = time.monotonic()
        for key in (("account", account), ("address", address)):
            self.failures[key].append(now)

    def succeeded(self, account: str) -> None:
        self.failures.pop(("account", account), None)


# -- scope -------------------------------------------------------------------------------------

def prefixes(read: ReadSide, account: Account) -> list[str] | None:
    """The paths the reader's unit has had; None: every unit."""
    if account.everything:
        return None
    return read.prefixes(account.org)


def covers(scope: list[str] | None, path: str) -> bool:
    return scope is None or any(path.startswith(p) for p in scope)


def org_path(org: Org) -> str:
    return ".".join(org.path) + "."


def visible_org(read: ReadSide, account: Account, org_id: str) -> Org:
    """The org unit, or NotFound exactly as for an unknown id when it is out of the reader's scope."""
    org = read.org(org_id)
    if not covers(prefixes(read, account), org_path(org)):
        raise NotFound(f"no org unit {org_id}")
    return org


def visible_orgs(read: ReadSide, account: Account) -> list[Org]:
    scope = prefixes(read, account)
    return [o for o in read.dashboards().orgs() if covers(scope, org_path(o))]


def describe(account: Account, how: Any) -> dict[str, Any]:
    return {"name": account.name, "role": account.role, "org": account.org, "demo": how == "demo",
            "reads_contacts": account.reads_contacts, "reads_access_log": account.reads_access_log}
