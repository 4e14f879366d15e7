"""The dashboards as a village secretary, a community director or a district leader uses them:
real Chromium, the real service (`civic up`), the scripted district of tests/scenario.py.

Every figure a page shows is checked against the HTTP API's JSON for the same query; clicking
goes district -> town -> village -> ticket; the time window, the language and the live updates
are exercised; and a ticket titled <script>alert(1)</script> must show as text and run nothing.
Screenshots land in artefacts/screenshots/.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

import schemas as s
from dashboards.pages import ECHARTS
from schemas.topology import intake_subject
from tests.browser.conftest import screenshot
from tests.browser.figures import assert_shows, lookup, org_answers, shown, text_of
from tests.browser.stack import Stack

pytestmark = pytest.mark.integration

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
CST = timezone(timedelta(hours=8))
INJECTION = "<script>alert(1)</script>"


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    ready(page)


def ready(page: Page) -> None:
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=15_000)


def follow(page: Page, locator: str, url_glob: str) -> None:
    """Click an in-app link and wait for the new page's figures."""
    page.locator(locator).first.click()
    page.wait_for_url(url_glob)
    ready(page)


def rows(page: Page, panel: str, attribute: str) -> list[str]:
    return page.eval_on_selector_all(f"#{panel} tbody tr[data-{attribute}]", f"els => els.map(e => e.dataset.{attribute})")


def test_district_overview_shows_what_the_api_answers(page: Page, stack: Stack):
    open_page(page, f"{stack.base}/?from=2026-03-01&to=2026-03-31")
    answers = org_answers(stack, "yn", MARCH, others=("hz",))
    assert_shows(page, answers, at_least=50)
    # The figures a leader reads first, formatted the Chinese way.
    assert [text_of(page, f"tickets.{k}") for k in ("response_rate", "resolution_rate", "satisfaction_rate")] == ["100%", "57.1%", "100%"]
    assert [text_of(page, f"tickets.{k}") for k in ("raised", "resolved", "open", "overdue")] == ["7", "4", "3", "1"]
    assert text_of(page, "disputes.success_rate") == "50%"
    # Towns one level down (linked), the high-tech zone beside them.
    assert rows(page, "children", "org") == ["ta", "tb", "hz"]
    assert page.locator("#children a[href^='/orgs/ta']").count() == 1
    expect(page.locator("#period")).to_contain_text("2026年3月1日")
    if ECHARTS.exists():
        series = page.evaluate("id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series.map(s => s.data)", "chart-trend")
        assert series == [[m["tickets"][k] for m in answers["by_month"]] for k in ("raised", "resolved", "resolution_rate")]
        categories = page.evaluate("id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series.map(s => s.data)", "chart-categories")
        assert sorted(categories[0]) == sorted(c["tickets"]["raised"] for c in answers["by_category"])
        assert page.locator("#charts-unavailable").count() == 0
    else:
        expect(page.locator("#charts-unavailable")).to_be_visible()
    screenshot(page, "district")
    page.set_viewport_size({"width": 2560, "height": 1440})  # the wall screen in a leader's office
    screenshot(page, "district-wall", full_page=False)


def test_drill_down_from_district_to_town_village_and_ticket(page: Page, stack: Stack):
    open_page(page, f"{stack.base}/?from=2026-03-01&to=2026-03-31")
    follow(page, "#children tr[data-org=tb] a", "**/orgs/tb?from=2026-03-01&to=2026-03-31")
    assert_shows(page, org_answers(stack, "tb", MARCH))
    assert page.locator("#crumbs a").all_text_contents() == ["district yn"]
    assert rows(page, "children", "org") == ["v1", "v2"]  # v1 moved here on 9 March
    screenshot(page, "town")

    follow(page, "#children tr[data-org=v1] a", "**/orgs/v1?from=2026-03-01&to=2026-03-31")
    answers = org_answers(stack, "v1", MARCH)
    assert_shows(page, answers)
    assert page.locator("#crumbs a").all_text_contents() == ["district yn", "town tb"]
    expect(page.locator("#crumbs [aria-current=page]")).to_contain_text("village v1")
    assert [text_of(page, f"tickets.{k}") for k in ("raised", "open", "overdue")] == ["3", "2", "1"]
    expect(page.locator("[data-figure='tickets.satisfaction_rate']")).to_have_text("暂无评价")
    # Its hamlet's deliberation group, its disputes with their outcomes.
    assert rows(page, "topics", "topic") == ["P2", "P1"] and rows(page, "children", "org") == ["h1"]
    expect(page.locator("#topics tr[data-topic=P1]")).to_contain_text("已落实")
    assert rows(page, "disputes", "dispute") == ["D2"]
    expect(page.locator("#disputes tr[data-dispute=D2]")).to_contain_text("调解失败")
    # Open tickets, newest first; sortable; filterable by status and category.
    assert rows(page, "tickets", "ticket") == ["T9", "T3"]
    expect(page.locator("#tickets tr[data-ticket=T3]")).to_have_class("overdue")
    page.locator("#tickets th", has_text="工单").click()
    assert rows(page, "tickets", "ticket") == ["T3", "T9"]
    page.locator("#tickets th", has_text="工单").click()
    assert rows(page, "tickets", "ticket") == ["T9", "T3"]
    page.select_option("#ticket-status", "all")
    expect(page.locator("#tickets tbody tr")).to_have_count(3)
    page.select_option("#ticket-status", "resolved")
    expect(page.locator("#tickets tbody tr")).to_have_count(1)
    assert rows(page, "tickets", "ticket") == ["T4"]
    page.select_option("#ticket-status", "open")
    page.select_option("#ticket-category", "parking")
    expect(page.locator("#tickets tbody tr[data-ticket]")).to_have_count(2)
    assert [w["receiver"] for w in answers["workload"]] == ["v1", "gw-1"]
    expect(page.locator("#workload tbody tr")).to_have_count(2)
    screenshot(page, "village")

    follow(page, "#tickets tr[data-ticket=T3] a", "**/tickets/T3?from=2026-03-01&to=2026-03-31")
    timeline = stack.get("/api/tickets/T3")
    assert_shows(page, timeline, at_least=3)
    assert page.locator("#crumbs a").all_text_contents() == ["district yn", "town tb", "village v1"]
    expect(page.locator("#ticket-title")).to_have_text("ticket T3")
    orders = page.locator(".orders li")
    assert [orders.nth(i).get_attribute("class") for i in range(4)] == ["done", "done", "done", "todo"]
    expect(orders.nth(1)).to_contain_text("派单员 disp-1")
    assert page.eval_on_selector_all("#timeline tbody tr", "els => els.map(e => e.dataset.type)") == [e["type"] for e in timeline["events"]]
    assert page.locator("#window").is_hidden()  # a ticket has no windowed figures
    screenshot(page, "ticket")

    follow(page, "#crumbs a >> text=town tb", "**/orgs/tb?from=2026-03-01&to=2026-03-31")


def test_every_figure_obeys_the_time_window(page: Page, stack: Stack):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    open_page(page, f"{stack.base}/orgs/yn")  # this year by default
    expect(page.locator("#window [data-period=year]")).to_have_attribute("aria-pressed", "true")
    assert_shows(page, org_answers(stack, "yn", {"from": f"{today.year}-01-01", "to": today.isoformat()}, others=("hz",)))

    page.locator("#window [data-period=month]").click()
    page.wait_for_url("**/orgs/yn?period=month")
    ready(page)
    assert_shows(page, org_answers(stack, "yn", {"from": today.replace(day=1).isoformat(), "to": today.isoformat()}, others=("hz",)))

    page.fill("#window-from", "2026-03-01")
    page.fill("#window-to", "2026-03-05")
    page.click("#window-apply")
    page.wait_for_url("**/orgs/yn?from=2026-03-01&to=2026-03-05")
    ready(page)
    early = {"from": "2026-03-01", "to": "2026-03-05"}
    assert_shows(page, org_answers(stack, "yn", early, others=("hz",)))
    assert text_of(page, "tickets.raised") == "4" and text_of(page, "tickets.resolution_rate") == "75%"
    assert rows(page, "disputes", "dispute") == ["D2", "D1"]  # D3 came on 8 March

    page.locator("#window [data-period=all]").click()
    page.wait_for_url("**/orgs/yn?period=all")
    ready(page)
    assert_shows(page, org_answers(stack, "yn", {}, others=("hz",)))


def test_chinese_by_default_and_english_on_request(page: Page, stack: Stack):
    open_page(page, f"{stack.base}/?from=2026-03-01&to=2026-03-31")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.locator("#h-trend")).to_have_text("月度趋势")
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "en-GB"
    expect(page.locator("#h-trend")).to_have_text("By month")
    expect(page.locator("#period")).to_have_text("Period: 1 Mar 2026 – 31 Mar 2026")
    expect(page.locator("#children th").first).to_have_text("Unit")
    assert_shows(page, org_answers(stack, "yn", MARCH, others=("hz",)))
    assert text_of(page, "tickets.resolution_rate") == "57.1%"
    page.reload()  # the choice is remembered
    ready(page)
    expect(page.locator("#h-trend")).to_have_text("By month")
    screenshot(page, "district-en")
    follow(page, "#children tr[data-org=ta] a", "**/orgs/ta?**")
    follow(page, "#children tr[data-org=c1] a", "**/orgs/c1?**")
    follow(page, "#tickets tr[data-ticket] a", "**/tickets/**")
    expect(page.locator("#four-orders")).to_contain_text("Dispatched by centre")
    page.click("#lang")
    expect(page.locator("#four-orders")).to_contain_text("中心派单")


def test_readable_on_a_phone(browser: Browser, stack: Stack):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai")
    stack.sign_in(context)
    try:
        page = context.new_page()
        open_page(page, f"{stack.base}/orgs/v1?from=2026-03-01&to=2026-03-31")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
        # Measured in one call in the page: a live update may replace the figures between a locator's
        # lookup and its bounding_box (None for a detached node).
        width = page.evaluate("document.querySelector(\"[data-figure='tickets.resolution_rate']\").getBoundingClientRect().width")
        assert 0 < width < 390
        screenshot(page, "village-phone")
    finally:
        context.close()


def test_without_echarts_the_figures_stay_and_the_page_says_so(page: Page, stack: Stack):
    page.route("**/vendor/echarts.min.js", lambda route: route.fulfill(status=404, body="not installed"))
    open_page(page, f"{stack.base}/?from=2026-03-01&to=2026-03-31")
    expect(page.locator("#charts-unavailable")).to_be_visible()
    answers = org_answers(stack, "yn", MARCH, others=("hz",))
    figures = assert_shows(page, answers, at_least=50)
    assert {"by_month[2026-03].tickets.raised", "by_category[parking].tickets.raised"} <= {path for path, _, _ in figures}
    page.problems[:] = [p for p in page.problems if "404" not in p]  # type: ignore[attr-defined]  # the blocked file


def test_live_update_without_reload_and_a_title_that_tries_to_run_a_script(page: Page, stack: Stack):
    open_page(page, f"{stack.base}/?from=2026-03-01&to=2026-03-31")
    expect(page.locator("#live.on")).to_be_visible()
    page.evaluate("window.sameDocument = true")
    raised_before = lookup(stack.get("/api/orgs/yn/dashboard", **MARCH), "tickets.raised")
    assert text_of(page, "tickets.raised") == str(raised_before)

    event = s.TicketRaised(event_id="browser-x1", occurred_at=datetime(2026, 3, 20, 10, tzinfo=CST), source="test",
                           actor=s.Actor(role="resident", id="res-9"), org_id="c1", ticket_id="X1", category="parking", title=INJECTION)
    started = time.monotonic()
    stack.publish([(event, intake_subject(event, ("yn", "ta", "c1")))])
    page.wait_for_function(f"() => document.querySelector('#view-figures [data-figure=\"tickets.raised\"]').dataset.value === '{raised_before + 1}'",
                           timeout=10_000)
    print(f"\npublished -> page updated in {time.monotonic() - started:.2f}s")
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    stack.applied()
    assert_shows(page, org_answers(stack, "yn", MARCH, others=("hz",)), at_least=50)
    # The title is shown as the characters it is, and nothing ran.
    expect(page.locator("#tickets tr[data-ticket=X1] .ticket-title")).to_have_text(INJECTION)
    assert page.locator("main script").count() == 0
    follow(page, "#tickets tr[data-ticket=X1] a", "**/tickets/X1?**")
    expect(page.locator("#ticket-title")).to_have_text(INJECTION)
    expect(page.locator("#timeline")).to_contain_text(INJECTION)
    assert page.locator("main script").count() == 0
    screenshot(page, "ticket-injection")
    assert not [p for p in page.problems if "dialog" in p]  # type: ignore[attr-defined]
    assert shown(page)


def test_an_unknown_unit_says_so(page: Page, stack: Stack):
    page.goto(f"{stack.base}/orgs/nowhere")
    page.wait_for_selector("body[data-ready=error]", state="attached")
    expect(page.locator("#error h2")).to_have_text("未找到")
    expect(page.locator("#error")).to_contain_text("no org unit nowhere")
    # The page asks several endpoints about the unit, each answered 404 and logged by the browser;
    # some may still be on their way once the error shows: wait for them before forgiving their 404s.
    page.wait_for_load_state("networkidle")
    page.problems[:] = [p for p in page.problems if "404" not in p]  # type: ignore[attr-defined]  # the API's answer, logged


def test_signing_in_in_chinese_and_english_then_back_to_the_page_asked_for(browser: Browser, stack: Stack):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        page.goto(f"{stack.base}/orgs/v1?period=all")
        page.wait_for_url("**/login?next=*")
        expect(page.locator("#login-title")).to_have_text("登录")
        page.click("#lang")
        expect(page.locator("#login-title")).to_have_text("Sign in")
        name, password = stack.account
        page.fill("#name", name)
        page.fill("#password", "not the password")
        page.click("#submit")
        expect(page.locator("#login-error")).to_have_text("Wrong account or password")
        screenshot(page, "sign-in", full_page=False)
        page.fill("#password", password)
        page.click("#submit")
        page.wait_for_url("**/orgs/v1?period=all")
        ready(page)
        expect(page.locator("#who")).to_contain_text(f"{name} (auditor)")
        assert page.locator("#demo-banner").is_hidden()
        cookie = next(c for c in context.cookies() if c["name"] == "civic_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.click("#sign-out")
        page.wait_for_url("**/login")
        page.goto(f"{stack.base}/api/orgs")
        assert "401" in page.content() or "sign in" in page.content()
    finally:
        context.close()


def test_a_village_secretary_sees_the_reporter_and_the_look_is_logged(browser: Browser, stack: Stack):
    context = browser.new_context(locale="en-GB", timezone_id="Asia/Shanghai")
    stack.sign_in(context, stack.staff)
    try:
        page = context.new_page()
        open_page(page, f"{stack.base}/tickets/T3")
        expect(page.locator("#contact-details")).to_be_visible()
        assert "Resident One" not in page.content(), "not before the secretary asks"
        page.click("#show-contact")
        expect(page.locator("#contact")).to_contain_text("Resident One")
        expect(page.locator("#contact")).to_contain_text("13900000001")
        log = stack.get("/api/access-log")
        assert [(e["who"], e["action"], e["subject"]) for e in log if e["action"] == "contact_read"][-1] == \
            ("browser-v1", "contact_read", "T3")
        # the village's secretary reads the village only: another village's ticket is "not found"
        page.goto(f"{stack.base}/tickets/T5")
        page.wait_for_selector("body[data-ready=error]", state="attached")
        expect(page.locator("#error")).to_contain_text("no ticket T5")
        page.problems = []  # type: ignore[attr-defined]
    finally:
        context.close()
    # an auditor's ticket page has no contact panel
    context = browser.new_context(locale="en-GB", timezone_id="Asia/Shanghai")
    stack.sign_in(context)
    try:
        page = context.new_page()
        open_page(page, f"{stack.base}/tickets/T3")
        assert page.locator("#contact-details").count() == 0
    finally:
        context.close()
