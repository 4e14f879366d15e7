"""One name per thing, and pages that scale, in real Chromium against `civic up`.

A district of its own (not the shared scenario, whose figures other tests check): a high-tech
zone whose park committee has 60 enterprises with long names, a few of them with tickets; a
ticket in every category of the catalogue and a dispute in every dispute category. Checked:
- no page shows a raw code (a snake_case word) in Chinese or in English, and every category the
  pages name is named as /api/labels (schemas/labels.py) names it;
- the park committee's list of units puts the units with figures first, shows 20 rows and a
  "show all (60)" button that reveals the rest;
- the breadcrumbs of the deepest page stay on one line on a narrow screen, steps cut with an ellipsis.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Browser, Page

import schemas as s
from schemas.categories import CATEGORIES, DISPUTE_CATEGORIES
from tests.browser.stack import Stack, serving
from tests.scenario import COUNCIL, DISPATCHER, MEDIATOR, RESIDENT, SYSTEM, WORKER, Builder

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
ENTERPRISES = 60
ACTIVE = (7, 23, 41, 58)  # enterprises with tickets: none among the first 20 by the API's order
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
LONG = {
    "gx": ("zone", None, "南宁高新技术产业开发区（国家级高新区）管理委员会"),
    "gx-wc": ("work_committee", "gx", "高新区两新组织工作委员会综合党委员会"),
    "gx-pk": ("park_committee", "gx-wc", "高新区东部新城片区第一园区综合党委员会"),
}


def when(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=CST)


def district() -> list[tuple[s.Event, str]]:
    b = Builder()

    def unit(org: str, kind: str, parent: str | None, name: str) -> None:
        b.paths[org] = (*b.paths[parent], org) if parent else (org,)
        b._add(s.OrgUnitRegistered, when(1, 8), SYSTEM, org, kind=kind, name=name, parent_id=parent)

    for org, (kind, parent, name) in LONG.items():
        unit(org, kind, parent, name)
    for i in range(1, ENTERPRISES + 1):
        unit(f"gx-e{i:02d}", "enterprise", "gx-pk", f"广西南宁第{i:02d}号智能制造科技股份有限公司（高新园区分公司）")
    for n, category in enumerate(CATEGORIES, start=1):  # every ticket category, at the park committee or an enterprise
        org = f"gx-e{ACTIVE[(n // 2) % len(ACTIVE)]:02d}" if n % 2 else "gx-pk"
        b._add(s.TicketRaised, when(2 + n % 20), RESIDENT, org, ticket_id=f"GX-{n:02d}", category=category.code,
               title=f"事项 {n}", channel="enterprise_platform" if n % 2 else "mini_program",
               personal=(s.PersonalData(resident_id="res-1", name="Resident One", phone="13900000001"),))
    b._add(s.TicketDispatched, when(25), DISPATCHER, "gx-pk", ticket_id="GX-02", to_unit="gx-pk", to_worker="gw-1",
           deadline=when(26))
    b._add(s.TicketAccepted, when(25, 10), WORKER, "gx-pk", ticket_id="GX-02")
    parties = (s.DisputeParty(resident_id="res-1", role="applicant"), s.DisputeParty(resident_id="res-2", role="respondent"))
    for n, category in enumerate(DISPUTE_CATEGORIES, start=1):
        b._add(s.DisputeRegistered, when(3 + n), MEDIATOR, "gx-pk", dispute_id=f"GX-D{n}", category=category.code,
               risk_grade=("red", "orange", "yellow")[n % 3], summary=f"纠纷 {n}", parties=parties)
    b._add(s.TopicProposed, when(5), COUNCIL, "gx-pk", topic_id="GX-T1", title="园区停车", body="")
    return b.events


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):
    with serving(tmp_path_factory.mktemp("names"), district()) as service:
        yield service


@pytest.fixture
def tab(browser: Browser, big: Stack):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    big.sign_in(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def show(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=15_000)


def switch_language(page: Page) -> None:
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'en-GB'")


def raw_codes(page: Page) -> list[str]:
    return sorted(set(RAW_CODE.findall(page.inner_text("body"))))


def test_no_page_shows_a_raw_code_in_either_language(tab: Page, big: Stack):
    labels = big.get("/api/labels")
    pages = [f"{big.base}/orgs/gx-pk?period=all", f"{big.base}/orgs/gx?period=all",
             f"{big.base}/tickets/GX-02?period=all", f"{big.base}/tickets/GX-01?period=all"]
    for url in pages:
        show(tab, url)
        assert raw_codes(tab) == [], (url, "zh")
        switch_language(tab)
        assert raw_codes(tab) == [], (url, "en")
        tab.evaluate("localStorage.clear()")

    # Every category, of tickets and of disputes, named on the park committee's page as the table names it.
    show(tab, f"{big.base}/orgs/gx-pk?period=all")
    for language in ("zh", "en"):
        names = labels[language]["category"]
        options = tab.eval_on_selector_all("#ticket-category option[value]:not([value=''])", "os => os.map(o => [o.value, o.text])")
        assert {code for code, _ in options} == {c.code for c in CATEGORIES}
        assert all(text == names[code] for code, text in options), options
        cells = tab.eval_on_selector_all("#disputes tbody tr[data-dispute] td:nth-child(3)", "cs => cs.map(c => c.textContent)")
        assert sorted(cells) == sorted(names[c.code] for c in DISPUTE_CATEGORIES)
        if language == "zh":
            switch_language(tab)


def test_a_long_list_of_units_shows_those_with_figures_first_then_all_on_request(tab: Page, big: Stack):
    show(tab, f"{big.base}/orgs/gx-pk?period=all")
    api = big.get("/api/orgs/gx-pk/dashboard")
    assert len(api["children"]) == ENTERPRISES
    busy = [c["org"]["org_id"] for c in api["children"] if c["tickets"]["raised"]]
    assert sorted(busy) == sorted(f"gx-e{i:02d}" for i in ACTIVE)

    rows = tab.eval_on_selector_all("#children tbody tr[data-org]", "rs => rs.map(r => r.dataset.org)")
    assert len(rows) == 20
    assert rows[:len(busy)] == busy  # the units with figures first, in the API's order
    toggle = tab.locator("#children-toggle")
    assert toggle.inner_text() == f"全部显示（{ENTERPRISES}）"
    toggle.click()
    rows = tab.eval_on_selector_all("#children tbody tr[data-org]", "rs => rs.map(r => r.dataset.org)")
    assert sorted(rows) == sorted(c["org"]["org_id"] for c in api["children"]) and rows[:len(busy)] == busy
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.click()
    assert tab.locator("#children tbody tr[data-org]").count() == 20

    show(tab, f"{big.base}/orgs/gx?period=all")  # a short list: no button
    assert tab.locator("#children-toggle").count() == 0


@pytest.mark.parametrize("width", [1440, 760])
def test_breadcrumbs_stay_on_one_line(tab: Page, big: Stack, width: int):
    tab.set_viewport_size({"width": width, "height": 900})
    show(tab, f"{big.base}/orgs/gx-e07?period=all")
    crumbs = tab.evaluate("""() => {
        const nav = document.getElementById('crumbs');
        const steps = [...nav.querySelectorAll('.crumb')];
        const line = parseFloat(getComputedStyle(nav).lineHeight) || parseFloat(getComputedStyle(nav).fontSize) * 1.6;
        return { height: nav.getBoundingClientRect().height, line, steps: steps.length,
                 tops: [...new Set(steps.map((s) => Math.round(s.getBoundingClientRect().top)))],
                 cut: steps.filter((s) => s.scrollWidth > s.clientWidth + 1).length,
                 titles: steps.map((s) => s.title) };
    }""")
    assert crumbs["steps"] == 4, crumbs
    assert len(crumbs["tops"]) == 1 and crumbs["height"] < 1.8 * crumbs["line"], crumbs
    assert crumbs["titles"][:3] == [name for _, _, name in LONG.values()]  # the whole name, on hover
    if width < 1000:
        assert crumbs["cut"] >= 1, crumbs  # so narrow that the names are cut, with an ellipsis
