"""The operator console in a real headless Chromium: log in, work the queue, a person, the report.

The flows run with JavaScript on and off (the console must not need it), and the person
flow is done with the keyboard alone. Screenshots land in test-output/screenshots/; with
``PREFCENTER_DOC_SCREENSHOTS=1`` the small ones docs/console.md shows are written there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefcenter.model import Action, Reason
from prefcenter.report.compliance import build_report
from prefcenter.sidecar.console.state import MAX_UPLOAD_BYTES
from tests.sidecar.conftest import screenshot
from tests.sidecar.console_live import (
    PASSWORD,
    SENDER,
    LiveConsole,
    console_settings,
    live_console,
)
from tests.sidecar.test_accessibility import _tab_to

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
#: The size of the screenshots in the docs: small enough to commit.
DOC_VIEWPORT = {"width": 1000, "height": 640}


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveConsole]:
    """A running console with operators, a queued reply and a few people."""
    with live_console(console_settings(tmp_path)) as live:
        yield live


def doc_screenshot(page: Any, name: str) -> None:
    """The page as the docs show it (when asked for), and in full for the test output."""
    screenshot(page, f"console-{name}")
    if os.environ.get("PREFCENTER_DOC_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)


def log_in(page: Any, live: LiveConsole, name: str) -> None:
    """Log in through the form, as a person would."""
    page.goto(live.url + "/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Exceptions"


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_work_an_exception_end_to_end(console: LiveConsole, browser: Any, javascript: bool) -> None:
    context = browser.new_context(java_script_enabled=javascript, viewport=DOC_VIEWPORT)
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(console.url) else foreign.append(r.url))
    try:
        page.goto(console.url + "/queue")  # no session: the login page
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Log in to the operator console"
        )
        if javascript:
            doc_screenshot(page, "login")
        log_in(page, console, "abe")
        if javascript:
            doc_screenshot(page, "queue")
        page.get_by_role("link", name=f"#{console.item.id}").click()
        assert page.get_by_role("heading", level=1).inner_text() == f"Exception #{console.item.id}"
        text = page.locator("pre.mail").inner_text()
        assert "Please stop sending me these offers." in text
        assert "[HTML shown as its source; it is never rendered]" in text
        assert "letter.pdf" in page.get_by_role("table").nth(1).inner_text()
        assert page.locator("img").count() == 0  # the message's tracker is text, not an image
        assert page.locator("#s-address").input_value() == SENDER  # prefilled from From
        if javascript:
            doc_screenshot(page, "item")
        page.locator("#s-reason").fill("asked in a reply")
        page.get_by_role("button", name="Suppress and resolve").click()
        assert page.get_by_role("status").inner_text() == "Resolved. The item is resolved."
    finally:
        context.close()
    assert foreign == []  # nothing was loaded from another host
    assert console.center.check(SENDER).reason == Reason.UNSUBSCRIBED_GLOBAL
    item = console.center.exception(console.item.id)
    assert item.status == "resolved"
    assert item.resolution == "asked in a reply (by abe in the console)"
    suppress = [e for e in console.center.history(SENDER) if e.action == Action.SUPPRESS]
    assert [e.requested_at for e in suppress] == [item.received_at]  # honoured from arrival


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_look_a_person_up_suppress_and_resubscribe_by_keyboard(
    console: LiveConsole, browser: Any, javascript: bool
) -> None:
    person = "caller@example.org"
    context = browser.new_context(java_script_enabled=javascript, viewport=DOC_VIEWPORT)
    page = context.new_page()
    try:
        log_in(page, console, "abe")
        page.goto(console.url + "/person")
        _tab_to(page, "searchbox", "Email address or phone number", limit=30)
        page.keyboard.type(person)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("heading", level=1).inner_text() == f"The story of {person}"
        assert "3 in the last 7 days, 3 in the last 30" in page.content()
        _tab_to(page, "combobox", "What to stop", limit=10)
        page.keyboard.type("Deals")  # a closed select picks the option typed
        _tab_to(page, "textbox", "Reason", limit=10)
        page.keyboard.type("asked by phone not to get offers")
        _tab_to(page, "button", "Suppress", limit=5)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("status").inner_text() == "Suppressed."
        assert console.center.check(person, "deals").reason == Reason.UNSUBSCRIBED_TOPIC
        # Only that topic: "news" is held back by the frequency cap alone (3 sends this week).
        assert console.center.check(person, "news").reason == Reason.FREQUENCY_CAP
        if javascript:
            doc_screenshot(page, "person")
        _tab_to(page, "textbox", "Reason to lift it", limit=40)
        page.keyboard.type("called back: wants offers again")
        _tab_to(page, "button", "Resubscribe", limit=5)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("status").inner_text() == "Resubscribed."
    finally:
        context.close()
    assert console.center.check(person, "deals").reason == Reason.FREQUENCY_CAP
    evidence = [e.evidence or "" for e in console.center.history(person)]
    assert len(evidence) == 2 and all(e.startswith("console:abe:") for e in evidence)


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_see_the_report_and_download_a_table(
    console: LiveConsole, browser: Any, javascript: bool
) -> None:
    context = browser.new_context(
        java_script_enabled=javascript, viewport=DOC_VIEWPORT, accept_downloads=True
    )
    page = context.new_page()
    try:
        log_in(page, console, "vic")  # a viewer may read the report
        page.get_by_role("link", name="Report").click()
        assert page.get_by_role("heading", level=1).inner_text().startswith("Report: ")
        charts = page.locator("svg[role=img]")
        assert charts.count() == 5
        assert "within 2 days" in str(charts.nth(2).locator("desc").text_content())
        violations = page.get_by_role("table").last.inner_text()
        assert "gone@example.org" in violations and "campaigns" in violations
        if javascript:
            doc_screenshot(page, "report")
        with page.expect_download() as download:
            page.locator('a[href^="/report/time-to-honour.csv"]').click()
        saved = Path(download.value.path()).read_text()
        assert saved.splitlines()[0] == "delay,opt-outs"
        # The exact median, p95 and longest, as on the page (seconds).
        with page.expect_download() as download:
            page.locator('a[href^="/report/time-to-honour-summary.csv"]').click()
        header, figures = Path(download.value.path()).read_text().splitlines()
        assert header == "count,median_seconds,p95_seconds,max_seconds"
        times = build_report(console.center).honour  # what `prefcenter report` says
        exact = [times.median, times.p95, times.max]
        assert figures.split(",") == [
            str(times.count),
            *(f"{t.total_seconds():.3f}" for t in exact if t is not None),
        ]
    finally:
        context.close()


def test_resolve_an_exception_with_the_keyboard_alone(console: LiveConsole, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False, viewport=DOC_VIEWPORT)
    page = context.new_page()
    try:
        page.goto(console.url + "/login")
        _tab_to(page, "textbox", "Name", limit=5)
        page.keyboard.type("abe")
        _tab_to(page, "textbox", "Password", limit=3)
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "link", f"#{console.item.id}", limit=20)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "textbox", "Reason to dismiss", limit=40)
        page.keyboard.type("an out-of-office reply")
        _tab_to(page, "button", "Dismiss", limit=3)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("status").inner_text() == "Resolved. The item is dismissed."
    finally:
        context.close()
    assert console.center.exception(console.item.id).status == "dismissed"


def test_check_a_list(console: LiveConsole, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    upload = tmp_path / "spring.csv"
    upload.write_text("email,name\ngone@example.org,Gone\nnew@example.org,New\nnot-an-address,X\n")
    context = browser.new_context(java_script_enabled=False, viewport=DOC_VIEWPORT)
    page = context.new_page()
    try:
        log_in(page, console, "abe")
        page.get_by_role("link", name="List check").click()
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Check the list").click()
        # The status page reloads itself (no script) until the check is done.
        expect(page.get_by_role("status").locator("h2")).to_have_text(
            "spring.csv: 1 of 3 rows may be sent", timeout=30_000
        )
        rejects = page.get_by_role("link", name="Download the rejects with reasons")
        answer = page.request.get(console.url + str(rejects.get_attribute("href")))
        # The rejected rows as read, after the reason: as `prefcenter filter --rejects`.
        assert answer.text().splitlines() == [
            "reason,email,name",
            "unsubscribed_global,gone@example.org,Gone",
            "invalid,not-an-address,X",
        ]
        sendable = page.get_by_role("link", name="Download the sendable rows")
        answer = page.request.get(console.url + str(sendable.get_attribute("href")))
        assert answer.text() == "email,name\nnew@example.org,New\n"
    finally:
        context.close()


def test_a_list_over_the_limit_shows_a_page_that_says_so(
    console: LiveConsole, browser: Any, tmp_path: Path
) -> None:
    big = tmp_path / "everyone.csv"  # on disk, read by the browser as it sends it
    with big.open("wb") as out:
        out.write(b"email\n")
        block = b"someone.on.the.list@example.com\n" * 2048  # 64 KiB
        for _ in range(MAX_UPLOAD_BYTES // len(block) + 1):
            out.write(block)
    context = browser.new_context(java_script_enabled=False, viewport=DOC_VIEWPORT)
    page = context.new_page()
    try:
        log_in(page, console, "abe")
        page.get_by_role("link", name="List check").click()
        page.get_by_label("CSV file").set_input_files(str(big))
        with page.expect_navigation():
            page.get_by_role("button", name="Check the list").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Upload too large"
        assert "lists of up to 64 MiB" in page.get_by_role("alert").inner_text()
        page.get_by_role("link", name="Back to the list check").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Check a list before sending"
    finally:
        context.close()
    folder = console.settings.var_path / "console-lists"
    assert not folder.exists() or list(folder.iterdir()) == []
