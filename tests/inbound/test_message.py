"""Safe parsing: arbitrary bytes and arbitrary MIME trees never raise, anywhere."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.inbound.arf import parse_complaint
from prefcenter.inbound.auth import authenticate
from prefcenter.inbound.dsn import parse_bounce
from prefcenter.inbound.message import decode_header_value, parse_message
from prefcenter.inbound.replies import classify_reply
from tests.inbound.strategies_mail import messages


def _everything(raw: bytes) -> None:
    message = parse_message(raw)
    assert message.raw == raw
    assert isinstance(message.text(), str)
    assert isinstance(message.summary(), str)
    assert message.message_id
    _ = message.from_address, message.subject, message.content_type
    parse_bounce(message, mail_from="", mail_domain="unsub.example.com")
    parse_complaint(message)
    classify_reply(message)
    result = authenticate(
        message, trusted_authserv_ids=("mx.example.com",), dnsfunc=lambda *a, **k: None
    )
    assert not result.authenticated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _everything(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_arbitrary_mime_trees(raw: bytes) -> None:
    _everything(raw)


def test_deep_nesting_does_not_recurse_forever() -> None:
    head = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    raw = head * 3000 + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    _everything(raw)


def test_message_id_falls_back_to_a_content_hash() -> None:
    first = parse_message(b"Subject: a\r\n\r\nbody\r\n")
    again = parse_message(b"Subject: a\r\n\r\nbody\r\n")
    other = parse_message(b"Subject: b\r\n\r\nbody\r\n")
    assert first.message_id == again.message_id != other.message_id
    assert parse_message(b"Message-ID: <x@y>\r\n\r\n").message_id == "<x@y>"


def test_undeclared_utf8_and_latin1_headers_decode() -> None:
    assert parse_message("Subject: Grüße\r\n\r\n".encode()).subject == "Grüße"
    assert parse_message("Subject: Grüße\r\n\r\n".encode("latin-1")).subject == "Grüße"
    assert decode_header_value("=?iso-8859-1?q?R=E9ponse?=") == "Réponse"


def test_from_address_is_single_and_domain_lower_cased() -> None:
    assert parse_message(b"From: A <Al@Example.ORG>\r\n\r\n").from_address == "Al@example.org"
    assert parse_message(b"From: a@x.org, b@y.org\r\n\r\n").from_address is None
    assert parse_message(b"From: a@x.org\r\nFrom: b@y.org\r\n\r\n").from_address is None
    assert parse_message(b"From: nobody\r\n\r\n").from_address is None


def test_text_skips_returned_originals_and_attachments() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nmine\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nquoted\r\n"
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nfile\r\n"
        b"--b--\r\n"
    )
    assert parse_message(raw).text().split() == ["mine"]


def test_html_only_text_is_stripped_of_tags() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<p>please <b>unsubscribe</b></p>\r\n"
    assert parse_message(raw).text().split() == ["please", "unsubscribe"]


def test_body_digest_ignores_headers_added_on_the_way() -> None:
    body = b"\r\n\r\nthe same words\r\n"
    one = parse_message(b"Subject: a" + body)
    relayed = parse_message(b"Received: from relay\r\nSubject: a" + body)
    other = parse_message(b"Subject: a\r\n\r\nother words\r\n")
    bare = parse_message(b"Subject: a\n\nthe same words\r\n")
    assert one.body_digest == relayed.body_digest != other.body_digest
    assert bare.body_digest == one.body_digest
