"""Every console form by keyboard alone, with JavaScript off (headless Chromium).

The login, looking a person up, suppressing, resubscribing and dismissing an item are
driven by keyboard in test_console_browser.py; here the rest: the queue's filters,
linking an item to a person, a pause, a link and a forget on a person, the report's
period, the list check's upload and logging out. Only Tab, typing, Space and Enter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefcenter.model import Action, Reason
from prefcenter.report.story import build_story
from tests.sidecar.console_live import PASSWORD, LiveConsole, console_settings, live_console
from tests.sidecar.test_accessibility import _tab_to

pytestmark = pytest.mark.browser


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveConsole]:
    with live_console(console_settings(tmp_path)) as live:
        yield live


@pytest.fixture
def page(console: LiveConsole, browser: Any) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def _log_in(page: Any, live: LiveConsole, name: str) -> None:
    page.goto(live.url + "/login")
    _tab_to(page, "textbox", "Name", limit=5)
    page.keyboard.type(name)
    _tab_to(page, "textbox", "Password", limit=3)
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("heading", level=1).inner_text() == "Exceptions"


def _submit(page: Any, role: str, name: str, limit: int = 10) -> None:
    _tab_to(page, role, name, limit=limit)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_filter_the_queue_and_log_out(console: LiveConsole, page: Any) -> None:
    _log_in(page, console, "vic")
    _tab_to(page, "combobox", "Mailbox", limit=20)
    page.keyboard.type("unsubscribe")  # a closed select picks the option typed
    _tab_to(page, "checkbox", "Overdue only", limit=3)
    page.keyboard.press("Space")
    _submit(page, "button", "Show", limit=3)
    assert "mailbox=unsubscribe" in page.url and "overdue=1" in page.url
    assert page.get_by_role("checkbox", name="Overdue only").is_checked()
    _submit(page, "button", "Log out", limit=40)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Log in")


def test_link_an_item_to_a_known_person(console: LiveConsole, page: Any) -> None:
    _log_in(page, console, "abe")
    _submit(page, "link", f"#{console.item.id}", limit=20)
    _tab_to(page, "textbox", "The person's known address or phone", limit=40)
    page.keyboard.type("caller@example.org")
    _tab_to(page, "textbox", "Reason to link", limit=3)
    page.keyboard.type("the same person writing from work")
    _submit(page, "button", "Link and resolve", limit=3)
    assert page.get_by_role("status").inner_text() == "Resolved. The item is resolved."
    assert console.center.exception(console.item.id).status == "resolved"
    facets = build_story(console.center, "caller@example.org").facets
    assert sorted(facet.identity.channel.value for facet in facets) == ["email", "email"]


def test_pause_and_link_a_person(console: LiveConsole, page: Any) -> None:
    person = "caller@example.org"
    _log_in(page, console, "ada")
    page.goto(f"{console.url}/person?q={person}")
    _tab_to(page, "textbox", "Until", limit=60)  # the date field's month part
    page.keyboard.type("12312099")  # month, day, year: the field moves on by itself
    _submit(page, "button", "Pause", limit=6)
    assert page.get_by_role("status").inner_text() == "Paused."
    assert console.center.check(person).reason == Reason.PAUSED
    _tab_to(page, "textbox", "The same person's other address or phone", limit=80)
    page.keyboard.type("+1 202 555 0147")
    _submit(page, "button", "Link", limit=3)
    assert page.get_by_role("status").inner_text() == "Linked."
    assert len(build_story(console.center, person).facets) == 2


def test_forget_a_person(console: LiveConsole, page: Any) -> None:
    _log_in(page, console, "ada")
    page.goto(f"{console.url}/person?q=bounced%40example.org")
    _tab_to(page, "checkbox", "I confirm this person asked to be forgotten", limit=80)
    page.keyboard.press("Space")
    _submit(page, "button", "Forget", limit=3)
    assert page.get_by_role("status").inner_text().startswith("Forgotten")
    actions = [event.action for event in console.center.history("bounced@example.org")]
    assert Action.FORGET in actions


def test_choose_the_reports_period(console: LiveConsole, page: Any) -> None:
    _log_in(page, console, "vic")
    page.goto(console.url + "/report")
    _tab_to(page, "combobox", "Period", limit=20)
    page.keyboard.type("last 90")
    _submit(page, "button", "Show", limit=3)
    assert "days=90" in page.url
    assert page.get_by_role("combobox", name="Period").input_value() == "90"


def test_upload_a_list_by_keyboard(console: LiveConsole, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    upload = tmp_path / "keys.csv"
    upload.write_text("email\ngone@example.org\nnew@example.org\n")
    _log_in(page, console, "vic")
    page.goto(console.url + "/lists")
    # Playwright intercepts the file picker once something listens for it, but turns that
    # on without waiting: a key pressed at once could open the picker first (the
    # expect_file_chooser below then timed out once in a loaded CI run). Listening from
    # here, the Tab presses' round trips pass before Space is pressed.
    page.on("filechooser", lambda _chooser: None)
    _tab_to(page, "button", "CSV file", limit=20)
    with page.expect_file_chooser() as chooser:  # Space opens the system's file picker
        page.keyboard.press("Space")
    chooser.value.set_files(str(upload))
    _submit(page, "button", "Check the list", limit=10)
    expect(page.get_by_role("status").locator("h2")).to_have_text(
        "keys.csv: 1 of 2 rows may be sent", timeout=30_000
    )
