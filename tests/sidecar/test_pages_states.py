"""Pages for everyone: texts and calls, branding and a way out, states a person understands."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prefcenter.config import load_settings
from prefcenter.errors import ConfigError
from prefcenter.model import Source
from prefcenter.sidecar.http.i18n import load_languages
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import path_of, preferences_path, unsubscribe_path

NUMBER = "+14155550100"
ALICE = "alice@example.org"
#: The smallest PNG: one transparent pixel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def test_an_sms_link_talks_about_texts_and_calls(live: LiveSidecar) -> None:
    center = live.real_center
    unsubscribe = path_of(center.message_links(NUMBER, "deals", channel="sms")["unsubscribe_url"])
    preferences = path_of(center.message_links(NUMBER, channel="sms")["preferences_url"])
    with live.client() as client:
        confirm = client.get(unsubscribe).text
        done = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click", "via": "page"})
        page = client.get(preferences).text
    assert "Stop “Deals and offers” texts and calls from Example News?" in confirm
    assert "fewer messages" in confirm and "email" not in confirm.lower().split("<main")[1]
    assert done.status_code == 200
    assert "You will get no more “Deals and offers” texts or calls from Example News." in done.text
    assert "Your preferences for texts and calls" in page and "At most one message" in page
    assert not center.check(NUMBER, "deals", channel="voice").allowed  # the SMS/voice rule


def test_per_channel_sms_pages_speak_of_texts_only(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, phone_opt_out="channel")
    with live_sidecar(settings) as live, live.client() as client:
        link = live.real_center.message_links(NUMBER, channel="sms")["unsubscribe_url"]
        page = client.get(path_of(link)).text
    assert "Stop all marketing texts from Example News?" in page


def test_reopening_a_link_after_unsubscribing_says_when_and_the_way_back(
    live: LiveSidecar,
) -> None:
    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        client.post(path, data={"List-Unsubscribe": "One-Click", "via": "page"})
        again = client.get(path).text
    day = load_languages()["en"].date(datetime.now(UTC))
    assert f"You unsubscribed on {day}" in again
    assert "Press the button" not in again  # not the same question again
    assert "Subscribe again on your preferences page" in again
    assert "You are unsubscribed from all email from Example News." in again


def test_the_done_page_of_a_no_topic_link_reads_all_email(live: LiveSidecar) -> None:
    with live.client() as client:
        done = client.post(unsubscribe_path(live.real_center, ALICE), data={
            "List-Unsubscribe": "One-Click"})  # fmt: skip
    assert "You are unsubscribed from all email from Example News." in done.text


def test_branding_is_on_every_page(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PIXEL)
    settings = sidecar_settings(
        tmp_path, logo=str(logo), contact="help@example.org",
        privacy_url="https://example.org/privacy",
    )  # fmt: skip
    with live_sidecar(settings) as live, live.client() as client:
        pages = [
            client.get(unsubscribe_path(live.real_center, ALICE)).text,
            client.get(preferences_path(live.real_center, ALICE)).text,
            client.get("/nowhere").text,
            client.get("/u/not-a-token").text,
        ]
        image = client.get("/logo")
    for page in pages:
        assert '<img src="/logo" alt="Example News">' in page
        assert '<a href="mailto:help@example.org">Contact Example News</a>' in page
        assert '<a href="https://example.org/privacy">Privacy policy</a>' in page
    assert image.status_code == 200 and image.content == PIXEL
    assert image.headers["content-type"] == "image/png"


def test_a_broken_link_names_the_contact_and_the_unsubscribe_address(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, contact="https://example.org/help")
    with live_sidecar(settings) as live, live.client() as client:
        page = client.get("/u/not-a-token").text
    assert "This link does not work" in page
    assert 'href="mailto:unsubscribe@unsub.example.com?subject=unsubscribe"' in page
    assert 'Or contact Example News: <a href="https://example.org/help">' in page


def test_a_hard_stop_names_the_contact_and_offers_the_mailto(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, contact="help@example.org")
    with live_sidecar(settings) as live, live.client() as client:
        live.real_center.suppress(ALICE, hard=True, source=Source.BOUNCE, evidence="b-1")
        page = client.get(preferences_path(live.real_center, ALICE)).text
    text = " ".join(page.split())
    assert 'If that was a mistake, contact Example News: <a href="mailto:help@example.org">' in text
    assert 'href="mailto:unsubscribe@unsub.example.com?subject=unsubscribe"' in text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("language", "xx", "Setting LANGUAGE has value 'xx'; write one of en, de, fr, es, pt, ja."),
        ("contact", "call us", "Setting CONTACT has value 'call us'; write an email address "
         "such as privacy@example.com or an https:// URL."),
        ("privacy_url", "example.org", "Setting PRIVACY_URL has value 'example.org'; write an "
         "https:// URL."),
        ("logo", "nope.gif", "Setting LOGO has value 'nope.gif'; write an https:// URL or the "
         "path of an existing .png, .jpg, .svg or .webp file."),
    ],
)  # fmt: skip
def test_page_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, environ={}, generate_dev_keys=False)
    assert str(caught.value) == message


def test_the_optional_why_comes_after_the_change_and_is_counted(live: LiveSidecar) -> None:
    from prefcenter.model import Action
    from prefcenter.report import build_report, format_report

    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        confirm = client.get(path).text
        done = client.post(path, data={"List-Unsubscribe": "One-Click", "via": "page"}).text
        action = done.split('<form method="post" action="', 1)[1].split('"', 1)[0]
        skipped = client.post(action, data={})  # no answer: fine, nothing recorded
        answered = client.post(action, data={"why": "too_many"})
        forged = client.post(action, data={"why": "<script>"})
    assert "tell us why" not in confirm  # never before the change
    assert "Would you tell us why? (optional)" in done
    assert skipped.status_code == answered.status_code == 200
    assert "Thank you for telling us. Nothing else changes." in answered.text
    assert forged.status_code == 422
    events = live.real_center.history(ALICE)
    assert [e.action for e in events] == [Action.SUPPRESS, Action.FEEDBACK]
    assert events[1].detail == "too_many" and events[1].source is Source.WEB
    assert not live.real_center.check(ALICE).allowed  # still unsubscribed
    report = build_report(live.real_center)
    assert report.feedback == {"too_many": 1}
    assert "Why people unsubscribed (optional answers): too_many 1" in format_report(report)


def test_the_fast_path_done_page_asks_why_too(live: LiveSidecar) -> None:
    with live.client() as client:
        done = client.post(
            unsubscribe_path(live.real_center, "bob@example.org"),
            data={"List-Unsubscribe": "One-Click"},
        ).text
    assert "Would you tell us why? (optional)" in done
    assert '/why"' in done
