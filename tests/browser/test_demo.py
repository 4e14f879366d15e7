"""`civic demo` in a browser, as a new user sees it: the default view has figures within a minute
of the URL being printed, they move while watched, and the district's names are Chinese. The
README's screenshots are taken here (artefacts/screenshots/demo-*.png; scripts/screenshots copies
them to docs/screenshots/ from a run at the demo's real scale).

CIVIC_DEMO_TICKETS sets the demo's size (default 265, a tenth of the article's, to keep CI short;
scripts/screenshots runs 2,647).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.browser.stack import free_port

pytestmark = pytest.mark.integration
TICKETS = os.environ.get("CIVIC_DEMO_TICKETS", "265")
RAISED = '#view-figures [data-figure="tickets.raised"]'


@dataclass
class Demo:
    base: str
    log: Path
    data: Path
    shown_at: float
    """When the demo printed its URL (time.monotonic())."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    port, log = free_port(), folder / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "civic.cli", "demo", "--data", str(folder / "data"), "--port", str(port),
                                    "--tickets", TICKETS], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not re.search(rf"dashboards at http://127\.0\.0\.1:{port}/", log.read_text(errors="replace")):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield Demo(f"http://127.0.0.1:{port}", log, folder / "data", time.monotonic())
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Browser]:
    """Its own browser (not the scripted district's stack); closes before the demo stops."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # No sign-in: the demo signs every browser in as its read-only district viewer.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def raised(page: Page) -> int:
    return int(page.eval_on_selector(RAISED, "e => e.dataset.value || 0") or 0)


def test_the_default_view_has_figures_within_a_minute_and_moves(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.base}/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    expect(page.locator("#demo-banner")).to_be_visible()
    while raised(page) == 0:  # the page follows the read model as the year is stored, without a reload
        assert time.monotonic() - demo.shown_at < 60, f"the default view still reads 0, 60 s after the URL:\n{demo.log.read_text()[-2000:]}"
        page.wait_for_timeout(500)
    print(f"\nfigures on the default view {time.monotonic() - demo.shown_at:.1f}s after the URL")
    expect(page.locator('button[data-period="year"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#org-name")).to_have_text(re.compile("邕宁区"))
    # This month too, and it moves while watched: the live trickle's new items, dispatches, ratings.
    page.locator('button[data-period="month"]').click()
    page.wait_for_function(f"() => +document.querySelector('{RAISED}')?.dataset.value > 0", timeout=30_000)  # re-rendered
    page.evaluate("window.sameDocument = true")
    before = page.eval_on_selector_all("#view-figures [data-figure]", "els => els.map(e => e.dataset.value).join()")
    page.wait_for_function("b => [...document.querySelectorAll('#view-figures [data-figure]')].map(e => e.dataset.value).join() !== b",
                           arg=before, timeout=60_000)
    assert page.evaluate("window.sameDocument") is True, "moved without a reload"


def test_the_districts_pages_in_chinese(page: Page, demo: Demo) -> None:
    """Screenshots for the README, of the demo once its year is stored: the district and the
    Longxiang community over the year of the article's figures (the window of its reports), a
    village over this year (the default view); every unit named in Chinese."""
    deadline = time.monotonic() + 120
    while not (demo.data / "reports" / "article-longxiang.yaml").exists():
        assert time.monotonic() < deadline, demo.log.read_text()[-2000:]
        time.sleep(0.2)
    report = yaml.safe_load((demo.data / "reports" / "article-yongning.yaml").read_text())
    year = f"from={report['from']}&to={report['to']}"
    page.goto(f"{demo.base}/?{year}")
    page.wait_for_function(f"() => +document.querySelector('{RAISED}')?.dataset.value > 0", timeout=60_000)
    assert raised(page) >= report["figures"]["collected"], "the article's year, and the trickle's items since"
    children = page.locator("#children tbody tr[data-org] a").all_text_contents()
    assert children and all(re.match(r"[\u4e00-\u9fff]", name) for name in children), children
    screenshot(page, "demo-district", full_page=False)
    page.goto(f"{demo.base}/orgs/yn-pm-lx?{year}")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    expect(page.locator("#org-name")).to_have_text(re.compile("龙象社区"))
    expect(page.locator("#children")).to_contain_text("龙象社区第一网格")
    screenshot(page, "demo-community", full_page=False)
    page.goto(f"{demo.base}/orgs/yn-nl-v01")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    expect(page.locator("#children")).to_contain_text("屯")
    assert not re.search(r"\b(village|hamlet) \d", page.locator("main").inner_text()), "no English placeholders"
    screenshot(page, "demo-village", full_page=False)
