"""Bounces: RFC 3464 reports and the plain-text formats of qmail, Exim, Exchange, Gmail."""

from __future__ import annotations

import pytest

from prefcenter.inbound.dsn import BounceKind, classify, parse_bounce
from prefcenter.inbound.message import parse_message
from tests.inbound.mail_samples import DEFAULTS, load_sample

RCPT = DEFAULTS["RCPT"]
BYSTANDER = DEFAULTS["BYSTANDER"]


@pytest.mark.parametrize(
    ("name", "fmt", "kind", "status"),
    [
        ("dsn_hard_postfix.eml", "rfc3464", BounceKind.HARD, "5.1.1"),
        ("dsn_soft_mailbox_full.eml", "rfc3464", BounceKind.SOFT, "5.2.2"),
        ("dsn_soft_4xx.eml", "rfc3464", BounceKind.SOFT, "4.4.7"),
        ("dsn_delayed.eml", "rfc3464", BounceKind.DELAYED, "4.4.1"),
        ("bounce_qmail.eml", "qmail", BounceKind.HARD, "5.1.1"),
        ("bounce_exim.eml", "exim", BounceKind.HARD, "5.1.1"),
        ("bounce_exchange.eml", "exchange", BounceKind.HARD, "5.1.10"),
        ("bounce_gmail.eml", "gmail", BounceKind.HARD, "5.1.1"),
    ],
)
def test_samples_parse_to_the_failed_recipient(
    name: str, fmt: str, kind: BounceKind, status: str
) -> None:
    bounce = parse_bounce(
        parse_message(load_sample(name)), mail_from="", mail_domain="unsub.example.com"
    )
    assert bounce is not None
    assert bounce.format == fmt
    assert bounce.kind is kind
    assert [r.recipient for r in bounce.recipients] == [RCPT]
    assert bounce.recipients[0].status == status


@pytest.mark.parametrize(
    "name",
    ["dsn_hard_postfix.eml", "bounce_qmail.eml", "bounce_exim.eml", "bounce_exchange.eml"],
)
def test_addresses_quoted_in_the_returned_original_are_never_recipients(name: str) -> None:
    bounce = parse_bounce(parse_message(load_sample(name)), mail_from="")
    assert bounce is not None
    assert BYSTANDER not in {r.recipient for r in bounce.recipients}
    assert BYSTANDER not in {r.original for r in bounce.recipients}


def test_unknown_layout_is_a_bounce_without_a_decision() -> None:
    bounce = parse_bounce(parse_message(load_sample("bounce_unknown_format.eml")))
    assert bounce is not None
    assert bounce.recipients == ()
    assert bounce.kind is BounceKind.UNDECIDED


def test_a_person_writing_is_not_a_bounce() -> None:
    raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nuser unknown 5.1.1 b@example.org\r\n"
    assert parse_bounce(parse_message(raw), mail_from="a@example.org") is None


def test_the_null_sender_marks_a_bounce() -> None:
    raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nb@example.org: 550 5.1.1 no such user\r\n"
    bounce = parse_bounce(parse_message(raw), mail_from="")
    assert bounce is not None
    assert bounce.kind is BounceKind.HARD


@pytest.mark.parametrize(
    ("action", "status", "diagnostic", "kind"),
    [
        ("failed", "5.1.1", "", BounceKind.HARD),
        ("failed", "5.1.10", "", BounceKind.HARD),
        ("failed", "5.2.1", "", BounceKind.SOFT),  # disabled: may come back, scored (issue 21)
        ("failed", "5.4.4", "", BounceKind.HARD),
        ("failed", "5.2.2", "", BounceKind.SOFT),
        ("failed", "4.2.2", "", BounceKind.SOFT),
        ("failed", "4.7.1", "", BounceKind.SOFT),
        ("failed", "5.7.1", "rejected by policy as spam", BounceKind.SOFT),
        ("failed", "5.3.4", "message too big", BounceKind.SOFT),
        ("failed", "5.0.0", "550 5.1.1 user unknown", BounceKind.HARD),
        ("failed", "5.0.0", "550 user unknown", BounceKind.HARD),
        ("failed", "5.0.0", "something odd", BounceKind.UNDECIDED),
        ("failed", "5.0.0", "mailbox full", BounceKind.SOFT),
        ("failed", "", "452 mailbox full", BounceKind.SOFT),
        ("failed", "", "", BounceKind.UNDECIDED),
        ("failed", "", "450 try later", BounceKind.SOFT),
        ("delayed", "4.4.1", "", BounceKind.DELAYED),
        ("delivered", "2.0.0", "", BounceKind.DELIVERED),
        ("relayed", "", "", BounceKind.DELIVERED),
    ],
)
def test_classify(action: str, status: str, diagnostic: str, kind: BounceKind) -> None:
    assert classify(action, status, diagnostic) is kind


def test_mixed_report_takes_the_most_decisive_kind() -> None:
    raw = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; a@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        b"Final-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--x--\r\n"
    )
    bounce = parse_bounce(parse_message(raw))
    assert bounce is not None
    assert [r.kind for r in bounce.recipients] == [BounceKind.DELAYED, BounceKind.HARD]
    assert bounce.kind is BounceKind.HARD
