"""Properties of the provider verifiers and parsers: what is signed verifies, and any
change to what is signed is refused; parsers refuse, never crash, on arbitrary input."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.errors import WebhookError, WebhookMalformed, WebhookUnauthorized
from prefcenter.providers import generic, mailgun, postmark, sendgrid, ses, sns, twilio
from prefcenter.providers.event import EventKind, mask_addresses, short
from tests.providers.signing import (
    CERT_URL,
    TOPIC_ARN,
    LocalCA,
    SendGridKey,
    load,
    mailgun_body,
    sns_notification,
    standard_headers,
    twilio_signature,
)

CA = LocalCA()
SENDGRID = SendGridKey()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_text = st.text(st.characters(codec="utf-8"), max_size=60)


def _flip(data: bytes, index: int) -> bytes:
    position = index % len(data)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# -- SNS ----------------------------------------------------------------------------------


@FAST
@given(subject=st.one_of(st.none(), _text), version=st.sampled_from(["1", "2"]), body=_text)
def test_sns_signed_message_verifies(subject: str | None, version: str, body: str) -> None:
    message = sns_notification({"notificationType": "Delivery", "note": body})
    if subject is not None:
        message["Subject"] = subject
    signed = CA.sign(message, version)
    key = sns.CertificateCache(CA.fetch).key(CERT_URL)
    sns.verify(signed, key)


@FAST
@given(
    field=st.sampled_from(["Message", "MessageId", "Timestamp", "TopicArn"]),
    extra=_text.filter(bool),
)
def test_sns_any_signed_field_changed_is_refused(field: str, extra: str) -> None:
    signed = CA.sign(sns_notification(load("ses_complaint.json")), "2")
    signed[field] = signed[field] + extra
    key = sns.CertificateCache(CA.fetch).key(CERT_URL)
    with pytest.raises(WebhookUnauthorized):
        sns.verify(signed, key)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sqs.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.amazonaws.com/cert.pem",
        "https://sns.cn-north-1.amazonaws.com.cn.evil.example/cert.pem",
        "https://sns.cn-north-1.amazonaws.cn/cert.pem",
    ],
)
def test_sns_certificate_host_is_pinned(url: str) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return CA.pem

    cache = sns.CertificateCache(fetch)
    with pytest.raises(WebhookUnauthorized):
        cache.key(url)
    assert fetched == []


def test_sns_pinned_hosts() -> None:
    assert sns.pinned("https://sns.us-east-1.amazonaws.com/x.pem")
    assert sns.pinned("https://sns.ap-southeast-2.amazonaws.com/x.pem")
    assert sns.pinned("https://sns.us-gov-west-1.amazonaws.com/x.pem")
    assert sns.pinned("https://sns.cn-north-1.amazonaws.com.cn/x.pem")  # the China partition
    assert sns.pinned("https://sns.cn-northwest-1.amazonaws.com.cn/x.pem")


def test_sns_certificate_must_chain_to_the_trust_store() -> None:
    """With a trust store, only a certificate its authorities issued is used."""
    trusted = sns.CertificateCache(CA.fetch, trust=sns.trust_store(CA.ca_pem))
    message = CA.sign(sns_notification({"notificationType": "Bounce"}))
    sns.verify(message, trusted.key(CERT_URL))  # issued by the trusted CA: used
    stranger = LocalCA()
    refused = sns.CertificateCache(CA.fetch, trust=sns.trust_store(stranger.ca_pem))
    with pytest.raises(WebhookUnauthorized, match="does not chain to SES_TRUST_BUNDLE"):
        refused.key(CERT_URL)
    later = datetime.now(UTC) + timedelta(days=60)  # past the certificate's dates
    with pytest.raises(WebhookUnauthorized):
        sns.CertificateCache(CA.fetch, trust=sns.trust_store(CA.ca_pem)).key(CERT_URL, later)
    with pytest.raises(ValueError, match="PEM"):
        sns.trust_store(b"not a certificate")


def test_ses_refuses_unknown_topic_before_any_fetch() -> None:
    body = json.dumps(sns_notification({}) | {"TopicArn": "arn:aws:sns:x:1:other"}).encode()
    with pytest.raises(WebhookError) as caught:
        ses.envelope(body, {TOPIC_ARN})
    assert "SES_TOPIC_ARNS" in str(caught.value)


@FAST
@given(data=st.recursive(st.none() | st.booleans() | st.integers() | _text,
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
                         max_leaves=12))  # fmt: skip
def test_ses_parse_refuses_or_reads_any_json(data: Any) -> None:
    message = ses.Envelope({"Message": json.dumps(data), "MessageId": "m", "Type": "Notification"})
    try:
        events = ses.parse(message)
    except WebhookMalformed:
        return
    assert all(event.evidence == "ses:m" for event in events)


# -- SendGrid ------------------------------------------------------------------------------


@FAST
@given(body=st.binary(min_size=1, max_size=300), index=st.integers(min_value=0))
def test_sendgrid_verify_accepts_signed_and_refuses_any_flipped_bit(
    body: bytes, index: int
) -> None:
    key = sendgrid.public_key(SENDGRID.public)
    headers = {name.lower(): value for name, value in SENDGRID.headers(body).items()}
    sendgrid.verify(key, body, headers)
    with pytest.raises(WebhookUnauthorized):
        sendgrid.verify(key, _flip(body, index), headers)


@FAST
@given(age=st.integers(min_value=-10 * 86400, max_value=10 * 86400))
def test_sendgrid_timestamp_is_refused_exactly_past_the_tolerance(age: int) -> None:
    key = sendgrid.public_key(SENDGRID.public)
    now = 1_900_000_000
    body = b'[{"event": "unsubscribe"}]'
    headers = {k.lower(): v for k, v in SENDGRID.headers(body, str(now - age)).items()}
    sendgrid.verify(key, body, headers, now, 0)  # 0: no check
    tolerance = 72 * 3600
    if abs(age) <= tolerance:
        sendgrid.verify(key, body, headers, now, tolerance)
    else:
        with pytest.raises(WebhookUnauthorized, match="SENDGRID_TIMESTAMP_TOLERANCE"):
            sendgrid.verify(key, body, headers, now, tolerance)


@pytest.mark.parametrize("stamp", ["", "soon", "-5", "1e9", "9" * 30, " "])
def test_sendgrid_signed_timestamp_that_is_no_time_is_refused_when_checked(stamp: str) -> None:
    key = sendgrid.public_key(SENDGRID.public)
    body = b"[]"
    headers = {k.lower(): v for k, v in SENDGRID.headers(body, stamp).items()}
    if stamp == "":  # the helper signs the current time in place of an empty stamp
        headers[sendgrid.TIMESTAMP_HEADER] = ""
        with pytest.raises(WebhookUnauthorized):
            sendgrid.verify(key, body, headers, time.time(), 3600)
        return
    sendgrid.verify(key, body, headers)  # genuinely signed: fine without the check
    with pytest.raises(WebhookUnauthorized, match="SENDGRID_TIMESTAMP_TOLERANCE"):
        sendgrid.verify(key, body, headers, time.time(), 3600)


@FAST
@given(body=st.binary(max_size=200))
def test_sendgrid_parse_refuses_or_reads_any_body(body: bytes) -> None:
    with contextlib.suppress(WebhookMalformed):
        sendgrid.parse(body, {})


def test_sendgrid_unmapped_group_stops_everything_and_its_rejoin_lifts_nothing() -> None:
    events = [
        {
            "email": "a@example.com",
            "event": "group_unsubscribe",
            "asm_group_id": 7,
            "sg_event_id": "1",
        },
        {
            "email": "a@example.com",
            "event": "group_resubscribe",
            "asm_group_id": 7,
            "sg_event_id": "2",
        },
    ]
    left, rejoined = sendgrid.parse(json.dumps(events).encode(), {"8": "news"})
    assert (left.kind, left.topic) == (EventKind.SUPPRESS, None)
    assert rejoined.kind is EventKind.IGNORE


# -- Mailgun -----------------------------------------------------------------------------------


@FAST
@given(token=st.text("abcdef0123456789", min_size=10, max_size=50), index=st.integers(min_value=0))
def test_mailgun_signature_verifies_and_any_change_is_refused(token: str, index: int) -> None:
    body = mailgun_body("signing-key", load("mailgun_complained.json"), token=token)
    signed = mailgun.verify(body, "signing-key", time.time())
    assert signed.token == mailgun.token_key(token) and len(signed.body) == 32
    data = json.loads(body)
    data["signature"]["signature"] = _flip(data["signature"]["signature"].encode(), index).decode(
        "latin-1"
    )
    with pytest.raises(WebhookUnauthorized):
        mailgun.verify(json.dumps(data).encode(), "signing-key", time.time())


def test_mailgun_stale_timestamps_are_refused() -> None:
    body = mailgun_body("signing-key", load("mailgun_complained.json"), token="t" * 20)
    stamp = float(json.loads(body)["signature"]["timestamp"])
    mailgun.verify(body, "signing-key", stamp + mailgun.MAX_AGE)  # just in the window
    for now in (stamp + mailgun.MAX_AGE + 1, stamp - mailgun.MAX_AGE - 1):
        with pytest.raises(WebhookUnauthorized, match="stale"):
            mailgun.verify(body, "signing-key", now)


# -- Twilio -------------------------------------------------------------------------------------


_params = st.dictionaries(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", min_size=1, max_size=12), _text, max_size=8
)


@FAST
@given(params=_params, token=st.text("0123456789abcdef", min_size=32, max_size=32))
def test_twilio_signature_matches_the_documented_algorithm(
    params: dict[str, str], token: str
) -> None:
    url = "https://prefs.example.com/hooks/twilio"
    expected = twilio_signature(token, url, params)
    assert twilio.signature(token, url, list(params.items())) == expected
    twilio.verify(token, url, list(params.items()), expected)
    with pytest.raises(WebhookUnauthorized):
        twilio.verify(token, url + "x", list(params.items()), expected)


def test_twilio_form_refuses_non_utf8() -> None:
    with pytest.raises(WebhookMalformed):
        twilio.form(b"Body=%FF%FE&From=%2B1")


# -- Standard Webhooks, Postmark ---------------------------------------------------------------


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@FAST
@given(body=st.binary(min_size=1, max_size=200), index=st.integers(min_value=0))
def test_generic_signature_verifies_and_flipped_body_is_refused(body: bytes, index: int) -> None:
    hooks = generic.verifiers(
        ["whsec_" + base64.b64encode(b"old-secret-old-secret").decode(), SECRET]
    )
    headers = standard_headers(SECRET, body, "msg_1")
    generic.verify(hooks, body, headers)
    with pytest.raises(WebhookUnauthorized):
        generic.verify(hooks, _flip(body, index), headers)


@FAST
@given(user=_text, password=_text)
def test_postmark_only_the_exact_credentials_pass(user: str, password: str) -> None:
    good = base64.b64encode(f"{user}:{password}".encode()).decode()
    postmark.verify(f"Basic {good}", user, password)
    with pytest.raises(WebhookUnauthorized):
        postmark.verify(f"Basic {good}", user, password + "x")


# -- masking -------------------------------------------------------------------------------------


@FAST
@given(
    local=st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
)
def test_addresses_never_reach_the_audit_reason(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    text = f"smtp; 550 5.1.1 <{address}>: user unknown; also +14155550123"
    masked = mask_addresses(text)
    assert address not in masked
    assert "+14155550123" not in masked


def test_postmark_hard_bounce_reason_names_its_type_once() -> None:
    record = {
        "RecordType": "Bounce", "MessageStream": "outbound", "ID": 42, "Type": "HardBounce",
        "Email": "a@example.com", "MessageID": "m-1",
        "Details": "smtp;550 5.1.1 The email account does not exist.",
    }  # fmt: skip
    (event,) = postmark.parse(json.dumps(record).encode(), {})
    assert event.audit_reason == (
        "postmark: HardBounce (details=smtp;550 5.1.1 The email account does not exist. "
        "stream=outbound message=m-1)"
    )


@FAST
@given(
    reason=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
    fields=st.lists(
        st.tuples(
            st.sampled_from(["type", "status", "code"]),
            st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=12),
        ),
        max_size=4,
    ),
)
def test_audit_reason_keeps_every_fact_once(reason: str, fields: list[tuple[str, str]]) -> None:
    from prefcenter.model import Channel
    from prefcenter.providers.event import HookEvent

    event = HookEvent("p", EventKind.IGNORE, "a@example.com", Channel.EMAIL, "p:1", reason,
                      fields=tuple(fields))  # fmt: skip
    head, _, extra = event.audit_reason.partition(" (")
    assert head == f"p: {reason}"
    # Each field, in order, unless it is empty or the reason already says it.
    kept = [f"{name}={value}" for name, value in fields if value and value != reason]
    assert extra.removesuffix(")").split() == kept


@FAST
@given(params=st.lists(st.tuples(_text, _text), max_size=8))
def test_twilio_form_reads_what_urlencode_wrote(params: list[tuple[str, str]]) -> None:
    from urllib.parse import parse_qsl, urlencode

    body = urlencode(params).encode()
    assert twilio.form(body) == parse_qsl(body.decode(), keep_blank_values=True)
    assert twilio.form(body) == params


def test_sendgrid_one_broken_event_does_not_refuse_the_batch() -> None:
    events = [
        {"email": "a@example.com", "event": "unsubscribe", "sg_event_id": "1"},
        {"event": "unsubscribe", "sg_event_id": "2"},  # no email
    ]
    good, broken = sendgrid.parse(json.dumps(events).encode(), {})
    assert good.kind is EventKind.SUPPRESS
    assert broken.kind is EventKind.IGNORE
    assert "'email'" in broken.reason


_SPACES = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000"


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.text(alphabet=st.sampled_from([*_SPACES, "a", "b", "\u200b"]), max_size=30),
        st.text(max_size=30),
        st.integers(),
    ),
    limit=st.integers(min_value=0, max_value=40),
)
def test_short_is_one_line_with_single_spaces_whatever_the_value(value: object, limit: int) -> None:
    """The fast path for a value already on one line gives what splitting and joining does."""
    assert short(value, limit) == " ".join(str(value).split())[:limit]
