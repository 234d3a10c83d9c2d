"""The pages in a real headless Chromium: from a stamped message to a kept preference.

Each flow runs with JavaScript on and off (the pages must not need it). Screenshots of
every page land in test-output/screenshots/.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from prefcenter.model import Action, Reason, Source
from tests.sidecar.conftest import LiveSidecar, screenshot

pytestmark = pytest.mark.browser


def _link_from_stamped_message(live: LiveSidecar, address: str) -> str:
    """The https link a mail client would show, pointed at the live server."""
    message = EmailMessage()
    message["To"] = address
    message["Subject"] = "This week"
    message.set_content("Hello")
    live.real_center.stamp(message, address)
    header = str(message["List-Unsubscribe"])
    match = re.search(r"<https?://[^/>]+(/u/[^>]+)>", header)
    assert match, header
    return live.url + match[1]


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_unsubscribe_from_a_stamped_message(
    live: LiveSidecar, browser: Any, javascript: bool
) -> None:
    address = "reader@example.org"
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 390, "height": 800}
    )
    page = context.new_page()
    suffix = "js-on" if javascript else "js-off"
    try:
        page.goto(_link_from_stamped_message(live, address))
        assert (
            page.get_by_role("heading", level=1).inner_text() == "Stop all email from Example News?"
        )
        screenshot(page, f"confirm-{suffix}")
        assert live.real_center.check(address).allowed  # opening the page changed nothing
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
        screenshot(page, f"unsubscribed-{suffix}")
    finally:
        context.close()
    assert live.real_center.check(address).reason == Reason.UNSUBSCRIBED_GLOBAL
    # The person pressed the page's button: recorded as a web change, not a provider's POST.
    events = [e for e in live.real_center.history(address) if e.action == Action.SUPPRESS]
    assert [e.source for e in events] == [Source.WEB]


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_change_topics_and_pause_then_reload(
    live: LiveSidecar, browser: Any, javascript: bool
) -> None:
    address = "planner@example.org"
    pause = (date.today() + timedelta(days=21)).isoformat()
    suffix = "js-on" if javascript else "js-off"
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 390, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(_link_from_stamped_message(live, address))
        page.get_by_role("link", name="Choose what you get instead").click()
        page.wait_for_load_state()
        screenshot(page, f"preferences-{suffix}")
        page.get_by_label("Deals and offers").uncheck()
        page.get_by_label("At most one email").select_option("14")
        page.get_by_label("Pause everything until").fill(pause)
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_load_state()
        assert page.get_by_role("status").inner_text() == "Your choices are saved."
        page.reload()
        assert not page.get_by_label("Deals and offers").is_checked()
        assert page.get_by_label("Newsletter").is_checked()
        assert page.get_by_label("At most one email").input_value() == "14"
        assert page.get_by_label("Pause everything until").input_value() == pause
        screenshot(page, f"preferences-saved-{suffix}")
        page.get_by_role("button", name="Unsubscribe from everything").click()
        page.wait_for_load_state()
        screenshot(page, f"preferences-unsubscribed-{suffix}")
        page.get_by_role("button", name="Resubscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("button", name="Save my choices").is_visible()
    finally:
        context.close()
    assert live.real_center.preferences(address).frequency_days == 14
    assert not live.real_center.check(address, "deals").allowed
