"""Sender authentication: DKIM verified by dkimpy, alignment, trusted Authentication-Results."""

from __future__ import annotations

import logging

import dkim
import pytest

from prefcenter.inbound.auth import (
    aligned,
    authenticate,
    parse_authentication_results,
)
from prefcenter.inbound.message import parse_message
from tests.inbound.dkim_testkey import DkimTestKey, make_key


@pytest.fixture(scope="module")
def key() -> DkimTestKey:
    return make_key()


def _mail(sender: str = "alice@example.org", extra: str = "") -> bytes:
    return (
        f"{extra}From: Alice <{sender}>\r\nTo: unsubscribe@unsub.example.com\r\n"
        "Subject: unsubscribe\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <m1@example.org>\r\n\r\nPlease unsubscribe me.\r\n"
    ).encode()


def test_valid_aligned_signature_authenticates(key: DkimTestKey) -> None:
    result = authenticate(parse_message(key.sign(_mail())), dnsfunc=key.resolver())
    assert result.authenticated
    assert (result.method, result.domain) == ("dkim", "example.org")


def test_subdomain_sender_aligns_with_organisational_signature(key: DkimTestKey) -> None:
    raw = key.sign(_mail("alice@mail.example.org"))
    assert authenticate(parse_message(raw), dnsfunc=key.resolver()).authenticated


def test_altered_body_fails(key: DkimTestKey) -> None:
    raw = key.sign(_mail()).replace(b"Please unsubscribe me.", b"Please unsubscribe Bob.")
    result = authenticate(parse_message(raw), dnsfunc=key.resolver())
    assert not result.authenticated
    assert result.reason == "The aligned DKIM signature does not verify."


def test_forged_from_fails(key: DkimTestKey) -> None:
    raw = key.sign(_mail()).replace(b"From: Alice <alice@example.org>", b"From: <bob@example.org>")
    assert not authenticate(parse_message(raw), dnsfunc=key.resolver()).authenticated


def test_unaligned_signature_fails(key: DkimTestKey) -> None:
    other = make_key("attacker.example")
    raw = other.sign(_mail())
    result = authenticate(parse_message(raw), dnsfunc=other.resolver())
    assert not result.authenticated
    assert result.reason == "No DKIM signature is aligned with the From domain."


def test_unknown_key_fails(key: DkimTestKey) -> None:
    raw = key.sign(_mail())
    result = authenticate(parse_message(raw), dnsfunc=lambda name, timeout=5: None)
    assert not result.authenticated


def test_unsigned_mail_fails() -> None:
    result = authenticate(parse_message(_mail()), dnsfunc=lambda name, timeout=5: None)
    assert not result.authenticated
    assert result.reason == "The message has no DKIM signature."


@pytest.mark.parametrize(
    ("signing", "sender", "expected"),
    [
        ("example.org", "example.org", True),
        ("example.org", "mail.example.org", True),
        ("mail.example.org", "example.org", True),
        ("Example.ORG.", "example.org", True),
        ("org", "example.org", False),
        ("co.uk", "example.co.uk", False),
        ("example.co.uk", "news.example.co.uk", True),
        ("example.org", "example.org.evil.example", False),
        ("le.org", "example.org", False),
        ("", "example.org", False),
    ],
)
def test_alignment(signing: str, sender: str, expected: bool) -> None:
    assert aligned(signing, sender) is expected


def test_parse_authentication_results() -> None:
    authserv_id, results = parse_authentication_results(
        "mx.example.com (comment (nested)); dkim=pass (good sig) header.d=example.org "
        'header.s=s1; spf=fail smtp.mailfrom=x@y; dmarc=pass header.from="example.org"'
    )
    assert authserv_id == "mx.example.com"
    assert results == [
        ("dkim", "pass", {"header.d": "example.org", "header.s": "s1"}),
        ("spf", "fail", {"smtp.mailfrom": "x@y"}),
        ("dmarc", "pass", {"header.from": "example.org"}),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("mx.example.com; dmarc=pass header.from=example.org", True),
        ("mx.example.com; dkim=pass header.d=example.org", True),
        ("mx.example.com; dkim=pass header.i=@mail.example.org", True),
        ("mx.example.com; dkim=pass header.d=attacker.example", False),
        ("mx.example.com; dkim=fail header.d=example.org", False),
        ("mx.example.com; dmarc=pass header.from=other.example", False),
        ("evil.example; dmarc=pass header.from=example.org", False),
    ],
)
def test_trusted_authentication_results(header: str, expected: bool) -> None:
    raw = _mail(extra=f"Authentication-Results: {header}\r\n")
    result = authenticate(
        parse_message(raw),
        trusted_authserv_ids=("mx.example.com",),
        dnsfunc=lambda name, timeout=5: None,
    )
    assert result.authenticated is expected


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("mx.example.com; dmarc=pass header.from=other.example",
         "show a pass for another domain, not aligned with the From domain example.org."),
        ("mx.example.com; dkim=fail header.d=example.org", "show no pass."),
    ],
)  # fmt: skip
def test_the_reason_says_why_trusted_results_did_not_prove_the_sender(
    header: str, why: str
) -> None:
    raw = _mail(extra=f"Authentication-Results: {header}\r\n")
    result = authenticate(
        parse_message(raw), trusted_authserv_ids=("mx.example.com",), dnsfunc=lambda *a, **k: None
    )
    assert result.reason.endswith(f"Trusted Authentication-Results from mx.example.com {why}")


def test_only_the_topmost_trusted_header_counts() -> None:
    raw = _mail(
        extra="Authentication-Results: mx.example.com; dkim=fail header.d=example.org\r\n"
        "Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n"
    )
    result = authenticate(
        parse_message(raw), trusted_authserv_ids=("mx.example.com",), dnsfunc=lambda *a, **k: None
    )
    assert not result.authenticated


def test_untrusted_results_are_ignored_without_configuration() -> None:
    raw = _mail(
        extra="Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n"
    )
    result = authenticate(parse_message(raw), dnsfunc=lambda *a, **k: None)
    assert not result.authenticated


def test_verification_logs_no_address(key: DkimTestKey, caplog: pytest.LogCaptureFixture) -> None:
    # dkimpy logs the signature's tags at debug and a bad i= (an address) as an error.
    signed = dkim.sign(
        _mail(), key.selector.encode(), b"example.org", key.private_pem,
        identity=b"alice@example.org",
    ) + _mail()  # fmt: skip
    mismatched = signed.replace(b"i=alice@example.org", b"i=grace.hopper@elsewhere.example")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for raw in (signed, mismatched):
            authenticate(parse_message(raw), dnsfunc=key.resolver())
    assert "alice@example.org" not in caplog.text
    assert "grace.hopper" not in caplog.text
