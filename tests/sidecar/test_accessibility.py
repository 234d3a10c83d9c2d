"""The pages against WCAG 2.2 A and AA in a real Chromium: axe-core, the keyboard, reflow.

The pages promise labels, visible focus and contrast whatever the branding. axe-core
(bundled by axe-playwright-python) audits every state a person can reach, once with
the test brand and once with a light one, on which white text would fail contrast.
Each page is also laid out 320 CSS pixels wide, where it must not scroll sideways
(§1.4.10 reflow), and the main flows are done with the keyboard alone, scripts off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta
from typing import Any

import pytest

from prefcenter.model import Reason, Source
from prefcenter.sidecar.http.i18n import LANGUAGES, load_languages
from tests.sidecar.conftest import LiveSidecar, live_sidecar, screenshot, sidecar_settings
from tools.messages import messages

pytestmark = pytest.mark.browser

#: axe-core rule tags: WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
#: A dark brand (white text on it) and a light one (dark text on it).
BRANDS = {"dark-brand": "#0f5132", "light-brand": "#ffcc00"}
#: WCAG 2.2 §1.4.10: content reflows in a viewport 320 CSS pixels wide.
NARROW = {"width": 320, "height": 640}


def _audit(page: Any) -> list[str]:
    """Every axe-core violation on the page as 'rule (impact): help -> elements'."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    return [
        f"{rule['id']} ({rule['impact']}): {rule['help']} -> "
        + ", ".join(str(node["target"]) for node in rule["nodes"])
        for rule in results.response["violations"]
    ]


def _overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0: it reflows)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(width, 0)


def _states(
    live: LiveSidecar, page: Any, t: Callable[[str], str] = str
) -> list[tuple[str, Callable[[], object]]]:
    """Each page state a person can reach, as (name, how to get there); ``t`` translates
    the names of the buttons and fields pressed (the pages' language)."""
    center = live.real_center
    reader, bounced = "reader@example.org", "bounced@example.org"
    unsubscribe = center.unsubscribe_url(reader).replace(live.settings.base_url, live.url)
    topic = center.unsubscribe_url(reader, "deals").replace(live.settings.base_url, live.url)
    preferences = center.preferences_url(reader).replace(live.settings.base_url, live.url)
    hard = center.preferences_url(bounced).replace(live.settings.base_url, live.url)
    sms = center.message_links("+14155550100", "deals", channel="sms")["unsubscribe_url"]
    sms = sms.replace(live.settings.base_url, live.url)

    def save() -> None:
        page.goto(preferences)
        page.get_by_role("button", name=t("Save my choices")).click()

    def refused_pause() -> None:
        # An older browser without date limits lets a past day through: the server
        # answers with the page and the reason.
        page.goto(preferences)
        field = page.get_by_label(t("Pause everything until"))
        field.evaluate("element => element.removeAttribute('min')")
        field.fill((date.today() - timedelta(days=3)).isoformat())
        page.get_by_role("button", name=t("Save my choices")).click()

    def expired_form() -> None:
        page.goto(preferences)
        page.locator("input[name=csrf]").first.evaluate("element => element.value = 'old'")
        page.get_by_role("button", name=t("Save my choices")).click()

    def unsubscribed() -> None:
        page.goto(unsubscribe)
        page.get_by_role("button", name=t("Unsubscribe"), exact=True).click()

    def manage_sent() -> None:
        page.goto(live.url + "/manage")
        page.get_by_label(t("Your email address")).fill("someone@example.org")
        page.get_by_role("button", name=t("Send me a link")).click()

    def why() -> None:  # unsubscribe from a topic, then answer the optional question
        page.goto(topic)
        page.get_by_role("button", name=t("Unsubscribe"), exact=True).click()
        page.get_by_role("radio").first.check()
        page.get_by_role("button", name=t("Send")).click()

    def hard_stop() -> None:
        with center.transaction() as changes:
            changes.suppress(bounced, hard=True, source=Source.BOUNCE, reason="550 5.1.1")
        page.goto(hard)

    return [
        ("confirm-all-news", lambda: page.goto(unsubscribe)),
        ("confirm-topic", lambda: page.goto(topic)),
        ("broken-link", lambda: page.goto(live.url + "/u/not-a-token")),
        ("no-such-page", lambda: page.goto(live.url + "/nowhere")),
        ("preferences", lambda: page.goto(preferences)),
        ("preferences-saved", save),
        ("preferences-refused", refused_pause),
        ("form-expired", expired_form),
        ("unsubscribed", unsubscribed),
        ("preferences-unsubscribed", lambda: page.goto(preferences)),
        ("preferences-hard-stop", hard_stop),
        ("reopened-after-unsubscribing", lambda: page.goto(unsubscribe)),
        ("manage", lambda: page.goto(live.url + "/manage")),
        ("manage-sent", manage_sent),
        ("thanks-for-why", why),
        ("confirm-texts-and-calls", lambda: page.goto(sms)),
    ]


@pytest.mark.parametrize("brand", list(BRANDS))
def test_every_page_state_passes_axe_and_reflows(tmp_path: Any, browser: Any, brand: str) -> None:
    settings = sidecar_settings(tmp_path, brand_color=BRANDS[brand], manage_page="true")
    problems: list[str] = []
    with live_sidecar(settings) as live:
        context = browser.new_context(viewport=NARROW)
        page = context.new_page()
        try:
            for name, reach in _states(live, page):
                reach()
                page.wait_for_load_state()
                screenshot(page, f"a11y-{brand}-{name}")
                problems += [f"{name}: {violation}" for violation in _audit(page)]
                if overflow := _overflow(page):
                    problems.append(f"{name}: {overflow} px wider than a 320 px screen")
        finally:
            context.close()
    assert problems == []


def _longest_language() -> str:
    """The shipped language whose page texts are longest in all (the hardest to reflow)."""
    languages = load_languages()
    found = messages()
    return max(
        LANGUAGES[1:],
        key=lambda code: sum(len(languages[code].translations.gettext(m)) for m in found),
    )


#: Three languages besides English (Latin, long compounds, CJK), and the longest one.
PAGE_LANGUAGES = sorted({"de", "fr", "ja", _longest_language()})


@pytest.mark.parametrize("lang", PAGE_LANGUAGES)
def test_every_page_state_passes_axe_and_reflows_in_other_languages(
    tmp_path: Any, browser: Any, lang: str
) -> None:
    """Each state in ``lang`` (the LANGUAGE setting), 320 px wide, branding on: no axe-core
    violation, no sideways scrolling, ``<html lang>`` right."""
    language = load_languages()[lang]
    settings = sidecar_settings(
        tmp_path, language=lang, contact="help@example.org", manage_page="true",
        privacy_url="https://example.org/privacy",
    )  # fmt: skip
    problems: list[str] = []
    with live_sidecar(settings) as live:
        context = browser.new_context(viewport=NARROW, locale=lang)
        page = context.new_page()
        try:
            for name, reach in _states(live, page, lambda text: str(language.gettext(text))):
                reach()
                page.wait_for_load_state()
                screenshot(page, f"a11y-{lang}-{name}")
                if page.evaluate("document.documentElement.lang") != lang:
                    problems.append(f"{name}: <html lang> is not {lang}")
                problems += [f"{name}: {violation}" for violation in _audit(page)]
                if overflow := _overflow(page):
                    problems.append(f"{name}: {overflow} px wider than a 320 px screen")
        finally:
            context.close()
    assert problems == []


#: The focused element's name attribute, or its text (scripts run even with the page's off).
_FOCUSED = "(() => { const e = document.activeElement; return e.name || e.innerText.trim(); })()"


def _tab_to(page: Any, role: str, name: str, limit: int = 20) -> list[str]:
    """Press Tab until the element ``role`` named ``name`` has focus; the names passed.

    A date field takes several presses (its day, month and year, then its picker).
    """
    target = page.get_by_role(role, name=name)
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        passed.append(page.evaluate(_FOCUSED))
        if target.evaluate("element => element === document.activeElement"):
            return passed
    raise AssertionError(f"Tab never reached the {role} {name!r}; focus went {passed}")


def _focus_ring(page: Any) -> str:
    """The focused element's outline, as 'style width' (e.g. 'solid 3px')."""
    style: str = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle + ' ' + s.outlineWidth; })()"
    )
    return style


def test_unsubscribe_with_the_keyboard_alone(live: LiveSidecar, browser: Any) -> None:
    address = "keys@example.org"
    link = live.real_center.unsubscribe_url(address).replace(live.settings.base_url, live.url)
    context = browser.new_context(java_script_enabled=False, viewport=NARROW)
    page = context.new_page()
    try:
        page.goto(link)
        _tab_to(page, "button", "Unsubscribe")
        assert _focus_ring(page) == "solid 3px"
        with page.expect_navigation():  # a key press, unlike click(), does not wait for it
            page.keyboard.press("Enter")
        assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
    finally:
        context.close()
    assert live.real_center.check(address).reason == Reason.UNSUBSCRIBED_GLOBAL


def test_change_preferences_with_the_keyboard_alone(live: LiveSidecar, browser: Any) -> None:
    address = "keys@example.org"
    link = live.real_center.preferences_url(address).replace(live.settings.base_url, live.url)
    pause = date.today() + timedelta(days=30)
    context = browser.new_context(java_script_enabled=False, viewport=NARROW)
    page = context.new_page()
    try:
        page.goto(link)
        passed = _tab_to(page, "checkbox", "Deals and offers")
        assert passed == ["topic", "topic"]  # the topics come first, in order
        assert _focus_ring(page) == "solid 3px"
        page.keyboard.press("Space")
        _tab_to(page, "combobox", "At most one email")
        page.keyboard.press("End")  # the longest ceiling on offer
        _tab_to(page, "textbox", "Pause everything until")
        page.keyboard.type(pause.strftime("%m%d%Y"))  # en-US date fields: month, day, year
        _tab_to(page, "button", "Save my choices")
        with page.expect_navigation():  # a key press, unlike click(), does not wait for it
            page.keyboard.press("Enter")
        assert page.get_by_role("status").inner_text() == "Your choices are saved."
    finally:
        context.close()
    center = live.real_center
    assert not center.check(address, "deals").allowed
    assert center.check(address, "news").allowed is False  # paused: nothing until then
    saved = center.preferences(address)
    assert saved.frequency_days is not None and saved.frequency_days > 1
    assert saved.paused_until is not None
    assert saved.paused_until.astimezone(UTC).date() == pause
