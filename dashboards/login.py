"""Signing in and out, who am I, and the access log: GET /login (the page, Chinese and English),
POST /login, POST /logout, GET /api/me, GET /api/access-log (auditors and admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, QueryParameter
from litestar.response import Response

from adapters.http import NONE, SESSION_COOKIE, problems
from dashboards.accounts import SESSION_SECONDS, Accounts
from dashboards.auth import PUBLIC, LoginLimiter, describe, reader_of

LOGIN_PAGE = Path(__file__).parent / "templates" / "login.html"


class Credentials(msgspec.Struct):
    name: str
    password: str


class AccessEntry(msgspec.Struct):
    at: int
    who: str
    action: str
    subject: str
    detail: str


def session_cookie(value: str, secure: bool, max_age: int) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value=value, path="/", httponly=True, samesite="lax", secure=secure, max_age=max_age)


def login_routes(accounts: Accounts, limiter: LoginLimiter, secure: bool, headers: dict[str, str]) -> list[HTTPRouteHandler]:
    page = LOGIN_PAGE.read_bytes()

    @get("/login", opt=PUBLIC, tags=["accounts"], security=NONE, media_type="text/html", summary="The sign-in page",
         cache_control=CacheControlHeader(no_cache=True),
         responses={200: ResponseSpec(str, description="The page (HTML)", media_type="text/html", generate_examples=False)})
    async def login_page() -> Response[Any]:
        return Response(page, media_type="text/html", headers=headers)  # Litestar adds the charset to text/*

    @post("/login", opt=PUBLIC, tags=["accounts"], status_code=200, security=NONE,
          responses=problems(401, 413, 422, 429, s401="Wrong name or password"),
          summary="Sign in: sets the session cookie (HttpOnly, SameSite=Lax, Secure under TLS)")
    async def login(request: Request, data: Annotated[Credentials, Body()]) -> Response[dict[str, Any]]:
        address = request.client.host if request.client else "?"
        wait = limiter.retry_after(data.name, address)
        if wait:
            return Response({"detail": "too many failed sign-ins: try again later", "retry_after": wait}, status_code=429,
                            headers={"Retry-After": str(wait)})
        account = accounts.check_password(data.name, data.password)
        if account is None:
            limiter.failed(data.name, address)
            return Response({"detail": "wrong name or password"}, status_code=401)
        limiter.succeeded(data.name)
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            accounts.close_session(old)
        session = accounts.open_session(account.name)
        return Response(describe(account, "session"), status_code=200,
                        cookies=[session_cookie(session, secure, SESSION_SECONDS)])

    @post("/logout", opt=PUBLIC, tags=["accounts"], status_code=200, security=NONE, responses=problems(413),
          summary="Sign out: ends the session")
    async def logout(request: Request) -> Response[dict[str, Any]]:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            accounts.close_session(session)
        return Response({"signed_out": True}, status_code=200, cookies=[session_cookie("", secure, 0)])

    @get("/api/me", tags=["accounts"], summary="Who is signed in: name, role, org scope", sync_to_thread=False)
    def me(request: Request) -> dict[str, Any]:
        return describe(reader_of(request), request.scope.get("auth"))  # type: ignore[arg-type]

    @get("/api/access-log", tags=["accounts"], opt={"access_log": True}, sync_to_thread=True,
         summary="Auditors and admins: every read of a reporter's contact and every change to accounts, oldest first")
    def access_log(since: Annotated[int, QueryParameter(ge=0, le=2**53, description="From this instant on, in Unix seconds")] = 0,
                   limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000) -> list[AccessEntry]:
        return [AccessEntry(e.at, e.who, e.action, e.subject, e.detail) for e in accounts.entries(since, min(limit, 10_000))]

    return [login_page, login, logout, me, access_log]
