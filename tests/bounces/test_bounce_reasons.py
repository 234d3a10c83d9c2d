"""Issue 21: each bounce layout the old reader missed, as a small real-shaped message."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.bounces import reasons
from prefcenter.bounces.reasons import Reason, reason_of
from prefcenter.inbound.arf import parse_complaint
from prefcenter.inbound.dsn import BounceKind, clean_address, looks_like_bounce, parse_bounce
from prefcenter.inbound.message import parse_message

RCPT = "alice@example.org"


def dsn(diagnostic: str, status: str = "", action: str = "failed") -> bytes:
    status_line = f"Status: {status}\r\n" if status else ""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@unsub.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {RCPT}\r\nAction: {action}\r\n{status_line}"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B--\r\n"
    ).encode()


def one(raw: bytes, mail_from: str | None = "") -> tuple[BounceKind, Reason, str | None]:
    bounce = parse_bounce(parse_message(raw), mail_from=mail_from)
    assert bounce is not None
    first = bounce.recipients[0]
    return first.kind, first.reason, first.recipient


@pytest.mark.parametrize(
    ("diagnostic", "status", "kind", "reason"),
    [
        ("553 5.3.0 <alice@example.org>... No such user here", "5.3.0", "hard", "user-unknown"),
        ("553 5.3.0 <alice@example.org>... Addressee unknown", "5.3.0", "hard", "user-unknown"),
        ("550 5.0.0 recipient reached disk quota", "5.0.0", "soft", "mailbox-full"),
        ("550 5.0.0 the address may not exist", "5.0.0", "hard", "user-unknown"),
        ("550 5.0.0 unknown host", "5.0.0", "hard", "host-unknown"),
        ("550 5.0.0 Host not found", "5.0.0", "hard", "host-unknown"),
        ("552 user is over disk quota", "", "soft", "mailbox-full"),
        ("552 mailbox exceeding their quota", "", "soft", "mailbox-full"),
        ("550 5.1.1 user unknown", "5.1.1", "hard", "user-unknown"),
        ("552 5.2.2 mailbox full", "5.2.2", "soft", "mailbox-full"),
        ("550 5.7.1 rejected as spam", "5.7.1", "soft", "filtered"),
        ("554 5.7.1 blocked using zen.spamhaus.org", "5.7.1", "soft", "policy"),
        (
            "550 5.1.1 <alice@example.org> user unknown, listed on spamhaus",
            "5.1.1",
            "soft",
            "policy",
        ),
        ("450 4.1.1 user unknown", "4.1.1", "soft", "user-unknown"),
        ("552 5.3.4 message size exceeds fixed limit", "5.3.4", "soft", "message-too-big"),
        (
            "550 5.2.1 The email account that you tried to reach is disabled",
            "5.2.1",
            "soft",
            "suspended",
        ),
        ("550 Utilisateur inconnu", "", "hard", "user-unknown"),
        ("550 Benutzer unbekannt", "", "hard", "user-unknown"),
        ("550 Postfach voll", "", "soft", "mailbox-full"),
        ("550 指定されたアドレスは存在しません", "", "hard", "user-unknown"),
    ],
)
def test_a_reason_from_code_and_words(diagnostic: str, status: str, kind: str, reason: str) -> None:
    assert one(dsn(diagnostic, status)) == (BounceKind(kind), Reason(reason), RCPT)


def test_quota_wording_across_a_line_break_in_a_plain_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failure notice\r\n\r\n"
        b"<alice@example.org>:\r\nMail quota\r\nexceeded for this user\r\n"
    )
    assert one(raw) == (BounceKind.SOFT, Reason.MAILBOX_FULL, RCPT)


def test_a_report_forwarded_inside_message_rfc822_is_read() -> None:
    inner = dsn("550 5.1.1 user unknown", "5.1.1")
    raw = (
        b"From: postmaster@gateway.example.net\r\nSubject: Fw: Undeliverable\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="O"\r\n\r\n--O\r\nContent-Type: text/plain\r\n\r\n'
        b"forwarded report\r\n--O\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--O--\r\n"
    )
    assert one(raw) == (BounceKind.HARD, Reason.USER_UNKNOWN, RCPT)


def test_an_empty_delivery_status_part_falls_back_to_the_prose() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Delivery Status Notification\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Votre message n'a pas pu \xc3\xaatre remis \xc3\xa0 alice@example.org : "
        b"l'adresse n'existe pas.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n\r\n--B--\r\n"
    )
    assert one(raw) == (BounceKind.HARD, Reason.USER_UNKNOWN, RCPT)


def test_a_report_without_boundaries_is_read_as_text() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Returned mail\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"
        b"Die Nachricht an alice@example.org konnte nicht zugestellt werden:\r\n"
        b"Empf\xc3\xa4nger unbekannt.\r\n"
    )
    assert one(raw) == (BounceKind.HARD, Reason.USER_UNKNOWN, RCPT)


@pytest.mark.parametrize(
    "written", ["SMTP=alice@example.org", "'alice@example.org", "smtp:alice@example.org"]
)
def test_exchange_prefixes_and_stray_quotes_are_not_part_of_the_address(written: str) -> None:
    assert clean_address(written) == RCPT
    raw = dsn("550 5.1.1 user unknown", "5.1.1").replace(
        f"rfc822; {RCPT}".encode(), f"rfc822; {written}".encode()
    )
    assert one(raw)[2] == RCPT


def test_a_vacation_reply_with_the_null_return_path_is_not_a_bounce() -> None:
    raw = (
        b"From: Alice <alice@example.org>\r\nSubject: Out of office: your newsletter\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday; mail to bob@example.org.\r\n"
    )
    message = parse_message(raw)
    assert not looks_like_bounce(message, "")
    assert parse_bounce(message, mail_from="") is None


def test_an_opendmarc_failure_report_is_not_a_bounce() -> None:
    raw = (
        b"From: OpenDMARC Filter <postmaster@mx.example.net>\r\nSubject: FW: hello\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nThis is an authentication failure report for an email message\r\n"
        b"--R\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\nVersion: 1\r\n"
        b"Auth-Failure: dmarc\r\nOriginal-Rcpt-To: alice@example.org\r\n\r\n--R--\r\n"
    )
    message = parse_message(raw)
    assert parse_bounce(message, mail_from="") is None
    complaint = parse_complaint(message)
    assert complaint is not None and not complaint.is_complaint


def test_an_old_hotmail_complaint_names_its_recipient() -> None:
    raw = (
        b"From: staff@hotmail.com\r\nSubject: complaint about message from 192.0.2.1\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="H"\r\n\r\n--H\r\nContent-Type: message/rfc822\r\n\r\n'
        b"X-HmXmrOriginalRecipient: alice@example.org\r\nX-Reporter-IP: 198.51.100.7\r\n"
        b"From: news@example.com\r\nTo: alice@example.org\r\nMessage-ID: <m1@example.com>\r\n\r\nhi\r\n--H--\r\n"
    )
    complaint = parse_complaint(parse_message(raw))
    assert complaint is not None and complaint.is_complaint
    assert complaint.layout == "hotmail"
    assert complaint.original_rcpt_to == (RCPT,)
    assert complaint.original_message_id == "<m1@example.com>"


def ses_mail(notice: dict[str, object]) -> bytes:
    body = json.dumps(notice).encode()
    return b"From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n" + body


def test_an_ses_bounce_by_mail_is_read() -> None:
    raw = ses_mail(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bouncedRecipients": [
                    {
                        "emailAddress": RCPT,
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
            },
        }
    )
    bounce = parse_bounce(parse_message(raw), mail_from=None)
    assert bounce is not None and bounce.format == "ses"
    assert (bounce.kind, bounce.reason, bounce.recipients[0].recipient) == (
        BounceKind.HARD,
        Reason.USER_UNKNOWN,
        RCPT,
    )


def test_an_ses_transient_bounce_is_never_hard() -> None:
    raw = ses_mail(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Transient",
                "bouncedRecipients": [{"emailAddress": RCPT, "status": "5.1.1"}],
            },
        }
    )
    bounce = parse_bounce(parse_message(raw), mail_from=None)
    assert bounce is not None and bounce.kind is BounceKind.SOFT


def test_an_ses_complaint_by_mail_is_read() -> None:
    raw = ses_mail(
        {
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": RCPT}],
                "complaintFeedbackType": "abuse",
            },
            "mail": {"sourceIp": "203.0.113.9"},
        }
    )
    complaint = parse_complaint(parse_message(raw))
    assert complaint is not None and complaint.is_complaint
    assert (complaint.layout, complaint.original_rcpt_to, complaint.source_ip) == (
        "ses",
        (RCPT,),
        "203.0.113.9",
    )


def test_arf_source_ip_is_read() -> None:
    raw = (
        b"From: fbl@isp.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nA complaint\r\n"
        b"--R\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n"
        b"Source-IP: 192.0.2.25\r\n\r\n--R--\r\n"
    )
    complaint = parse_complaint(parse_message(raw))
    assert complaint is not None and complaint.source_ip == "192.0.2.25"


def test_addresses_are_not_words() -> None:
    # "dmarc@..." or "spam@..." names a mailbox, it does not say the mail was spam
    assert (
        reason_of("5.0.1", "550 5.0.1 <dmarc@reports.example.com> Recipient rejected")
        is Reason.USER_UNKNOWN
    )


WORDS = st.sampled_from(
    [
        "user",
        "unknown",
        "no",
        "such",
        "mailbox",
        "recipient",
        "address",
        "does",
        "not",
        "exist",
        "full",
        "quota",
        "over",
        "exceeded",
        "disk",
        "blocked",
        "spam",
        "policy",
        "rejected",
        "account",
        "disabled",
        "host",
        "domain",
        "found",
        "invalid",
        "temporarily",
        "deferred",
        "size",
        "message",
        "too",
        "large",
        "relay",
        "denied",
        "inconnu",
        "existe",
        "pas",
        "postfach",
        "voll",
        "存在しません",
        "容量",
        "retry",
        "timeout",
        "expired",
        "connection",
        "timed",
        "out",
        "is",
        "was",
        "has",
        "been",
        "the",
        "a",
        "of",
        "for",
        "550",
        "5.1.1",
        "4.2.2",
        "<x@y.example>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=40), st.text(max_size=40))
def test_the_literal_prefilter_never_hides_a_match(words: list[str], noise: str) -> None:
    """What a pattern needs (read from its parse) is in every text it matches."""
    text = " ".join([*words, noise]).lower()
    for pattern in PATTERNS:
        needs = reasons._NEEDS[id(pattern)]
        if pattern.search(text) is not None:
            assert needs is None or any(need in text for need in needs), pattern.pattern[:60]


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=40), st.text(max_size=40))
def test_the_literals_found_in_one_pass_are_exactly_those_in_the_text(
    words: list[str], noise: str
) -> None:
    """The automaton finds every needed literal the text holds, overlapping or not, and
    no other: a pattern is skipped only when none of what it needs is there."""
    text = " ".join([*words, noise]).lower()
    found = {reasons._LITERALS[index] for index in reasons._Words(text)._present}
    assert found == {literal for literal in reasons._LITERALS if literal in text}


@pytest.mark.parametrize("text", ["550 5.1.1 user unknown \ud800", "\udfff mailbox full"])
def test_a_lone_surrogate_in_a_diagnostic_is_read_like_any_text(text: str) -> None:
    # JSON bodies may carry "\ud800"; such a string cannot be encoded as UTF-8.
    expected = reasons.Reason.USER_UNKNOWN if "unknown" in text else reasons.Reason.MAILBOX_FULL
    assert reasons.reason_of("", text) is expected


PATTERNS = [
    reasons._USER_UNKNOWN, reasons._HOST_UNKNOWN, reasons._MAILBOX_FULL, reasons._TOO_BIG,
    reasons._FILTERED, reasons._POLICY, reasons._SUSPENDED, reasons._EXPIRED,
    reasons._DELAYED, reasons._NETWORK, reasons._SYSTEM, reasons._ON_HOLD,
]  # fmt: skip
