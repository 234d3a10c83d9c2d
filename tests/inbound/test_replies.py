"""Auto-replies, out-of-office notices and unsubscribe intent."""

from __future__ import annotations

import pytest

from prefcenter.inbound.message import parse_message
from prefcenter.inbound.replies import classify_reply, own_text
from tests.inbound.mail_samples import load_sample


@pytest.mark.parametrize(
    ("name", "automatic", "out_of_office", "intent"),
    [
        ("ooo_english.eml", True, True, False),
        ("ooo_german.eml", True, True, False),
        ("ooo_french_precedence.eml", True, True, False),
        ("ooo_with_request.eml", True, True, True),
        ("reply_client_unsubscribe.eml", False, False, True),
        ("reply_client_autosubmitted.eml", True, False, True),
    ],
)
def test_samples(name: str, automatic: bool, out_of_office: bool, intent: bool) -> None:
    reply = classify_reply(parse_message(load_sample(name)))
    assert (reply.automatic, reply.out_of_office, reply.unsubscribe_intent) == (
        automatic,
        out_of_office,
        intent,
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: no", ""),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: first-class", ""),
        ("X-Autoreply: yes", "X-Autoreply present"),
        ("List-Id: <news.example.com>", "mailing-list message"),
    ],
)
def test_automatic_markers(headers: str, reason: str) -> None:
    raw = f"From: a@example.org\r\n{headers}\r\nSubject: hi\r\n\r\nhello\r\n".encode()
    assert classify_reply(parse_message(raw)).reason == reason


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: offers",
        "Respuesta automática: ofertas",
        "Risposta automatica",
        "Automatisch antwoord: aanbod",
        "Автоответ: предложения",
        "自動返信: お知らせ",
    ],
)
def test_out_of_office_subjects_in_several_languages(subject: str) -> None:
    raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
    assert classify_reply(parse_message(raw)).out_of_office


@pytest.mark.parametrize(
    ("subject", "body", "intent"),
    [
        ("unsubscribe", "", True),
        ("Re: offers", "Please remove me from this list.", True),
        ("Re: offers", "Bitte abmelden", True),
        ("Re: offers", "Merci de me désabonner", True),
        ("Re: offers", "Thanks, great offer!\n\n> To unsubscribe click here", False),
        ("Re: offers", "stop", True),
        ("Re: offers", "Don't stop the good work", False),
    ],
)
def test_intent_reads_only_the_senders_own_words(subject: str, body: str, intent: bool) -> None:
    raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()
    assert classify_reply(parse_message(raw)).unsubscribe_intent is intent


def test_own_text_cuts_quotes() -> None:
    assert own_text("yes\nOn Mon, Bob wrote:\n> old").strip() == "yes"
