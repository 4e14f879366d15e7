"""Fixtures for the browser tests: the real service with the scripted district in it, and Debian's
Chromium driven headless by Playwright. Playwright's own browser downloads are never used
(`playwright install` is not run): the executable is /usr/bin/chromium, which scripts/test
installs. One service and one browser for the whole folder keeps the suite well under a minute and a half;
each test gets a fresh browser context (its own storage, so the language starts as Chinese).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="the browser extra is not installed: pip install -e '.[browser]'")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (scripts/test installs it)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from tests.browser.stack import Stack, serving  # noqa: E402
from tests.scenario import scenario  # noqa: E402

SCREENSHOTS = Path(__file__).parents[2] / "artefacts" / "screenshots"
# As CI runs it: root, offline. Without the networking flags Chromium keeps calling home, and
# each refused connection costs time. Playwright makes a fresh --user-data-dir itself per launch.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with serving(tmp_path_factory.mktemp("pages"), scenario()) as service:
        yield service


@pytest.fixture(scope="module")
def browser(stack: Stack):
    """Depends on the stack so that it closes first: an open page holds an event stream.

    Per module, not per session: Playwright's sync API keeps an event loop running in this thread
    while it is open, and any later test that runs a loop of its own would fail."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Problems(list):
    """What a page must never do: throw, log an error, or open a dialog (an injected alert())."""


@pytest.fixture
def page(browser: Browser, stack: Stack):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    stack.sign_in(context)
    tab = context.new_page()
    problems = Problems()
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    context.close()
    assert not problems, problems


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top of the picture
    page.screenshot(path=str(path), full_page=full_page)
    return path
