"""The web pages: one HTML shell for every page (district overview, any org unit, a ticket), the
plain-JS app and its stylesheet, the ECharts build the project installs with npm, and the API
additions the pages need (live updates, lists of disputes and topics).

The pages render in the browser from the HTTP API's JSON, so every figure shown is the API's
answer to the same query. No template engine: the shell is static and carries no data.
"""

from __future__ import annotations

from pathlib import Path

from urllib.parse import quote

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.response import File, Redirect, Response
from litestar.static_files import create_static_files_router

from dashboards.api import ReadSide
from dashboards.auth import PUBLIC, reader_of
from dashboards.casework import CaseworkController
from dashboards.live import PositionFeed, event_stream
from schemas import labels

HERE = Path(__file__).parent
SHELL = HERE / "templates" / "page.html"
STATIC = HERE / "static"
ECHARTS = HERE / "web" / "node_modules" / "echarts" / "dist" / "echarts.min.js"
"""Installed by `npm ci` in dashboards/web (scripts/up, scripts/test); optional: without it the
pages show figures and tables and say that charts are unavailable."""

# The pages never need code from anywhere else; a title that smuggled markup in could not run
# a script even if some rendering path forgot to treat it as text. ECharts sets inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


LABELS = labels.table()


def web_pages(read: ReadSide) -> Router:
    """Everything the browser loads, mounted by dashboards.app.Web.app beside the API."""
    shell = SHELL.read_bytes()

    @get(["/", "/orgs/{org_id:str}", "/tickets/{ticket_id:str}"], include_in_schema=False, opt=PUBLIC,
         cache_control=CacheControlHeader(no_cache=True))
    async def page(request: Request) -> Response[bytes] | Redirect:
        # The shell holds no data; still, a reader who is not signed in is sent to sign in first.
        if reader_of(request) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
        return Response(shell, media_type="text/html", headers=SECURITY_HEADERS)  # Litestar adds the charset to text/*

    @get("/vendor/echarts.min.js", include_in_schema=False, opt=PUBLIC, cache_control=CacheControlHeader(max_age=86400))
    async def echarts() -> File:
        if not ECHARTS.is_file():
            raise NotFoundException("charts unavailable: run `npm ci` in dashboards/web (scripts/up does)")
        return File(ECHARTS, content_disposition_type="inline", media_type="text/javascript")  # Litestar adds the charset

    @get("/api/labels", opt=PUBLIC, tags=["dashboards"], cache_control=CacheControlHeader(no_cache=True),
         summary="Every code (org kinds, stages, statuses, categories, roles, reasons...) named in Chinese and English",
         description="language -> family -> code -> name, from schemas/labels.py: the one table the pages, the API and "
                     "the CLI name codes from. A code missing here is shown as itself. Public: it holds no data.")
    async def code_labels() -> dict[str, dict[str, dict[str, str]]]:
        return LABELS

    static = create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False, opt=PUBLIC,
                                       cache_control=CacheControlHeader(no_cache=True))
    return Router(path="/", route_handlers=[page, echarts, code_labels, static, event_stream(PositionFeed(read)), CaseworkController])
