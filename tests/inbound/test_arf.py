"""Complaint reports (RFC 5965), read leniently."""

from __future__ import annotations

from prefcenter.inbound.arf import parse_complaint, unsubscribe_uris
from prefcenter.inbound.message import parse_message
from tests.inbound.mail_samples import DEFAULTS, load_sample

RCPT = DEFAULTS["RCPT"]


def test_standard_report() -> None:
    complaint = parse_complaint(parse_message(load_sample("arf_standard.eml", TOKEN="tok")))
    assert complaint is not None
    assert complaint.feedback_type == "abuse"
    assert complaint.version == "1"
    assert complaint.is_complaint
    assert complaint.original_rcpt_to == (DEFAULTS["BYSTANDER"],)
    assert complaint.list_unsubscribe == (
        "https://prefs.example.com/u/xyz",
        "mailto:unsubscribe+tok@unsub.example.com?subject=unsubscribe",
    )
    assert complaint.original_message_id == "<campaign-42@example.com>"


def test_redacted_recipient_with_headers_only_original() -> None:
    complaint = parse_complaint(parse_message(load_sample("arf_redacted.eml", TOKEN="tok")))
    assert complaint is not None
    assert complaint.version is None
    assert complaint.redacted
    assert complaint.original_rcpt_to == ()
    assert complaint.list_unsubscribe == ("mailto:unsubscribe+tok@unsub.example.com",)


def test_report_in_a_plain_text_part_without_original() -> None:
    complaint = parse_complaint(parse_message(load_sample("arf_no_original.eml")))
    assert complaint is not None
    assert complaint.version == "0.1"
    assert complaint.original_rcpt_to == (RCPT,)
    assert not complaint.has_original


def test_fully_redacted_report_names_nobody() -> None:
    complaint = parse_complaint(parse_message(load_sample("arf_fully_redacted.eml")))
    assert complaint is not None
    assert complaint.original_rcpt_to == ()
    assert complaint.redacted
    assert complaint.list_unsubscribe == ()


def test_not_spam_is_not_a_complaint() -> None:
    raw = load_sample("arf_standard.eml").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    complaint = parse_complaint(parse_message(raw))
    assert complaint is not None
    assert not complaint.is_complaint


def test_ordinary_mail_is_not_a_report() -> None:
    assert parse_complaint(parse_message(load_sample("ooo_english.eml"))) is None


def test_unsubscribe_uris() -> None:
    assert unsubscribe_uris("<mailto:a@b>, <https://x/y> (comment)") == [
        "mailto:a@b",
        "https://x/y",
    ]
    assert unsubscribe_uris("no brackets") == []
