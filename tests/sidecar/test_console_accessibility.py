"""Every console page against WCAG 2.2 A and AA with axe-core, under a dark and a light brand.

Each state an operator can reach is audited: the login (and a refused one), the queue,
an item (and a refused resolution), a person (and a refused search), the report, the
list check, a check running and its result, and the refusal pages. (axe-core is a script, so these
contexts allow scripts; the pages carry none.)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sidecar.console_live import PASSWORD, LiveConsole, console_settings, live_console
from tests.sidecar.test_accessibility import BRANDS, _audit

pytestmark = pytest.mark.browser


def _states(live: LiveConsole, page: Any, upload: Path) -> list[tuple[str, Callable[[], object]]]:
    url = live.url

    def log_in(name: str = "ada", password: str = PASSWORD) -> None:
        page.goto(url + "/login")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()

    def refused_resolution() -> None:
        page.goto(f"{url}/queue/{live.item.id}")
        page.locator("#d-reason").fill("   ")  # only spaces: the server says a reason is needed
        page.get_by_role("button", name="Dismiss").click()

    def list_result() -> None:
        from playwright.sync_api import expect

        page.goto(url + "/lists")
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Check the list").click()
        expect(page.get_by_role("status").locator("h2")).to_contain_text(
            "rows may be sent", timeout=30_000
        )

    def list_running() -> None:
        # A check another console process is screening (its status file, as it writes it).
        folder = live.settings.var_path / "console-lists" / ("R" * 16)
        folder.mkdir(parents=True, exist_ok=True)
        status = {"owner": "ada", "name": "big.csv", "state": "running", "size": 4000,
                  "done": 1000, "created": time.time(), "pid": os.getppid()}  # fmt: skip
        (folder / "status.json").write_text(json.dumps(status))
        page.goto(url + "/lists/" + "R" * 16 + "?still=1")  # the same page, not reloading

    def viewer_refused() -> None:
        log_in("vic")
        page.goto(f"{url}/queue/{live.item.id}")
        page.context.request.post(f"{url}/queue/{live.item.id}", form={"action": "dismiss"})
        page.goto(f"{url}/person?q=caller%40example.org")

    return [
        ("login", lambda: page.goto(url + "/login")),
        ("login-refused", lambda: log_in("ada", "wrong password here")),
        ("queue", log_in),
        ("queue-overdue-only", lambda: page.goto(url + "/queue?overdue=1&mailbox=unsubscribe")),
        ("item", lambda: page.goto(f"{url}/queue/{live.item.id}")),
        ("item-refused", refused_resolution),
        ("people", lambda: page.goto(url + "/person")),
        ("person", lambda: page.goto(url + "/person?q=caller%40example.org")),
        ("person-hard-stop", lambda: page.goto(url + "/person?q=bounced%40example.org")),
        ("person-refused-search", lambda: page.goto(url + "/person?q=nonsense")),
        ("report", lambda: page.goto(url + "/report")),
        ("lists", lambda: page.goto(url + "/lists")),
        ("lists-result", list_result),
        ("lists-with-checks", lambda: page.goto(url + "/lists")),
        ("list-running", list_running),
        ("not-found", lambda: page.goto(url + "/queue/99999")),
        ("viewer-person", viewer_refused),
    ]


@pytest.mark.parametrize("brand", list(BRANDS))
def test_every_console_page_passes_axe(tmp_path: Path, browser: Any, brand: str) -> None:
    upload = tmp_path / "list.csv"
    upload.write_text("email\ngone@example.org\nnew@example.org\n")
    problems: list[str] = []
    with live_console(console_settings(tmp_path, brand_color=BRANDS[brand])) as live:
        context = browser.new_context()
        page = context.new_page()
        try:
            for name, reach in _states(live, page, upload):
                reach()
                problems += [f"{name}: {problem}" for problem in _audit(page)]
        finally:
            context.close()
    assert problems == []


def test_the_refusal_pages_pass_axe(tmp_path: Path, browser: Any) -> None:
    with live_console(console_settings(tmp_path)) as live:
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(live.url + "/login")
            page.get_by_label("Name").fill("abe")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.goto(f"{live.url}/queue/{live.item.id}")
            page.locator("main input[name=csrf]").first.evaluate("element => element.value = 'old'")
            page.locator("#s-reason").fill("asked")
            page.get_by_role("button", name="Suppress and resolve").click()
            assert page.get_by_role("heading", level=1).inner_text() == "This form has expired"
            assert _audit(page) == []
        finally:
            context.close()
        assert live.center.exception(live.item.id).status == "open"
