"""The pages in the recipient's language: catalogs complete, the language chosen, dates local."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.model import Source
from prefcenter.sidecar.http.i18n import LANGUAGES, choose, load_languages
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import preferences_path, unsubscribe_path
from tools.messages import messages

ALICE = "alice@example.org"
LANGS = load_languages()
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_the_extractor_finds_the_page_texts() -> None:
    found = messages()
    assert "Unsubscribe" in found and "Stop all email from %(company)s?" in found
    assert "This link does not work" in found  # marked with N_ in the app's Python
    assert len(found) > 60


@pytest.mark.parametrize("code", LANGUAGES[1:])
def test_every_message_is_translated_with_the_same_placeholders(code: str) -> None:
    """A page text without a translation (or one that drops %(company)s) fails here."""
    translations = LANGS[code].translations
    missing, broken = [], []
    for message in messages():
        text = translations.gettext(message)
        if text == message and message.strip("?.:!") not in ("", "%(company)s"):
            missing.append(message)
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(message)):
            broken.append(message)
    assert missing == []
    assert broken == []


def test_a_missing_translation_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a catalog without one message is found out."""
    from babel.messages.pofile import read_po, write_po

    source = Path(__file__).resolve().parents[2] / "src/prefcenter/sidecar/http/locale"
    for code in LANGUAGES[1:]:
        target = tmp_path / code / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (source / code / "LC_MESSAGES" / "prefcenter.po").open("rb") as handle:
            catalog = read_po(handle)
        if code == "de":
            catalog.delete("Save my choices")
        with (target / "prefcenter.po").open("wb") as handle:
            write_po(handle, catalog)
    german = load_languages(tmp_path)["de"].translations
    assert german.gettext("Save my choices") == "Save my choices"  # shown in English


@given(st.text(max_size=12), st.text(max_size=60), st.sampled_from(LANGUAGES))
def test_choose_always_answers_a_shipped_language(query: str, header: str, default: str) -> None:
    assert choose(query, header, default, LANGS) in LANGUAGES


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("fr", "de-DE,de;q=0.9", "fr"),  # the link's language wins
        (None, "de-AT,de;q=0.9,en;q=0.5", "de"),
        (None, "xx, ja;q=0.8, en;q=0.9", "en"),  # quality order, unknown skipped
        (None, "ja;q=0.8, pt-BR", "pt"),
        ("zz", "es;q=0, fr", "fr"),  # q=0 means "not this one"
        (None, None, "es"),  # the LANGUAGE setting
        (None, "*", "es"),
    ],
)
def test_the_language_of_a_request(query: str | None, header: str | None, expected: str) -> None:
    assert choose(query, header, "es", LANGS) == expected


def test_dates_and_numbers_in_the_locale() -> None:
    day = date(2026, 12, 7)
    assert LANGS["en"].date(day) == "December 7, 2026"
    assert LANGS["de"].date(day) == "7. Dezember 2026"
    assert LANGS["fr"].date(day) == "7 décembre 2026"
    assert LANGS["ja"].date(day) == "2026年12月7日"
    assert LANGS["de"].number(1234.5) == "1.234,5"


def test_accept_language_picks_the_page_language(live: LiveSidecar) -> None:
    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        german = client.get(path, headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"}).text
        japanese = client.get(path, headers={"accept-language": "ja"}).text
        plain = client.get(path).text
    assert '<html lang="de">' in german and "Alle E-Mails von Example News abbestellen?" in german
    assert '<html lang="ja">' in japanese and "配信停止" in japanese
    assert '<html lang="en">' in plain and "Stop all email from Example News?" in plain


def test_the_link_carries_its_language_through_the_change(live: LiveSidecar) -> None:
    link = live.real_center.unsubscribe_url(ALICE, lang="fr")
    assert link.endswith("?lang=fr")
    path = link.replace(live.settings.base_url, "")
    with live.client() as client:
        page = client.get(path, headers={"accept-language": "de"}).text
        assert '<html lang="fr">' in page
        assert 'action="/u/' in page and '?lang=fr"' in page  # the button keeps it
        done = client.post(path, data={"List-Unsubscribe": "One-Click", "via": "page"})
    assert done.status_code == 200
    assert "Vous êtes désabonné de tous les e-mails de Example News." in done.text
    assert not live.real_center.check(ALICE).allowed


def test_the_default_language_setting(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, language="pt")
    with live_sidecar(settings) as live, live.client() as client:
        page = client.get(preferences_path(live.real_center, ALICE)).text
    assert '<html lang="pt">' in page and "As suas preferências de e-mail" in page


def test_a_german_preference_page_shows_german_dates(live: LiveSidecar) -> None:
    live.real_center.suppress(ALICE, source=Source.API, evidence="r-1")
    day = LANGS["de"].date(datetime.now(UTC))
    with live.client() as client:
        page = client.get(
            preferences_path(live.real_center, ALICE), headers={"accept-language": "de"}
        ).text
    assert f"Sie haben sich am {day} von allen E-Mails abgemeldet." in page
