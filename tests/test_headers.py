"""Unsubscribe headers: exact URIs, folding, injection, DKIM coverage, real SMTP delivery."""

from __future__ import annotations

import logging
import re
import smtplib
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import dkim as dkimpy
import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.errors import DkimError, HeaderInjection, InvalidTopic
from prefcenter.headers import Links, refuse_breaks
from prefcenter.identity import Identities
from prefcenter.tokens import Purpose, TokenSigner
from prefcenter.topics import check_topic
from tests.conftest import free_port, make_settings
from tests.dkim_keys import resolver, write_ed25519_key, write_rsa_key
from tests.strategies import topics

IDS = Identities(b"header-test-pepper-0123456789")
ALICE = IDS.parse("alice@example.com")


def links_for(settings: Settings) -> Links:
    return Links(settings, TokenSigner(settings.signing_keys()))


def newsletter() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Example News <news@example.com>"
    message["To"] = "alice@example.com"
    message["Subject"] = "This week"
    message["Message-ID"] = "<weekly-1@example.com>"
    message.set_content("Hello Alice\n")
    return message


def uris(header: str) -> list[str]:
    return [part.strip().strip("<>") for part in header.split(",")]


def test_header_set_has_https_first_then_mailto(settings: Settings) -> None:
    links = links_for(settings)
    headers = links.headers(ALICE, "weekly")
    assert list(headers) == ["List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"]
    https, mailto = uris(headers["List-Unsubscribe"])
    assert https.startswith("https://prefs.example.com/u/")
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith(
        "@unsub.example.com?subject=unsubscribe"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == '"Example News: weekly" <weekly.unsub.example.com>'
    signer = TokenSigner(settings.signing_keys())
    token = https.rsplit("/", 1)[1]
    mail_token = mailto.split("+", 1)[1].split("@", 1)[0]
    assert signer.verify(token, Purpose.UNSUBSCRIBE) == signer.verify(
        mail_token, Purpose.UNSUBSCRIBE
    )


def test_list_id_uses_configured_topic_names(tmp_path: Path) -> None:
    links = links_for(make_settings(tmp_path, topics="weekly=Weekly digest; offers=Offers"))
    assert links.list_id("weekly") == '"Example News: Weekly digest" <weekly.unsub.example.com>'
    assert links.list_id(None) == '"Example News" <all.unsub.example.com>'
    unicode_id = links.list_id("Ünïcode topic!")
    assert unicode_id.startswith("=?utf-8?")  # RFC 2047 is allowed in the List-Id phrase
    assert unicode_id.endswith(" <n-code-topic.unsub.example.com>")


def test_cfbl_address_when_enabled(tmp_path: Path) -> None:
    headers = links_for(make_settings(tmp_path, cfbl=True)).headers(ALICE, None)
    assert headers["CFBL-Address"] == "fbl@unsub.example.com; report=arf"


@pytest.mark.parametrize(
    "topic", ["news\r\nBcc: victim@example.com", "news\nX: y", "news\u2028x", "news\x00", "a\x85b"]
)
def test_line_breaks_in_a_topic_are_refused(settings: Settings, topic: str) -> None:
    with pytest.raises(InvalidTopic, match="control character or line break"):
        links_for(settings).headers(ALICE, topic)


@pytest.mark.parametrize("topic", ["", "   ", "x" * 65])
def test_unusable_topics_are_refused(topic: str) -> None:
    with pytest.raises(InvalidTopic, match="use 1 to 64 characters"):
        check_topic(topic)


def test_line_breaks_in_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HeaderInjection, match="Setting COMPANY_NAME"):
        links_for(make_settings(tmp_path, company_name="Evil\r\nBcc: x@example.com"))
    assert refuse_breaks("x", "plain") == "plain"


@given(topics)
def test_stamped_headers_serialise_and_parse_back_exactly(topic: str | None) -> None:
    settings = make_settings(Path("/nonexistent"), base_url="https://p.example.com/" + "long/" * 12)
    links = links_for(settings)
    expected = links.headers(ALICE, topic)
    for message in (newsletter(), _legacy_message()):
        links.stamp(message, ALICE, topic)
        for data in (message.as_bytes(), message.as_bytes(policy=policy.SMTP)):
            parsed = message_from_bytes(data, policy=policy.default)
            unsubscribe = str(parsed["List-Unsubscribe"])
            assert "=?" not in unsubscribe
            assert uris(unsubscribe) == uris(expected["List-Unsubscribe"])
            assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
            for line in data.split(b"\r\n" if b"\r\n" in data else b"\n"):
                if line.startswith((b"List-Unsubscribe", b" <")):
                    assert b"=?" not in line


def _legacy_message() -> Message:
    message = Message()
    message["From"] = "news@example.com"
    message.set_payload("Hello\n")
    return message


def test_stamp_replaces_earlier_headers(settings: Settings) -> None:
    links = links_for(settings)
    message = newsletter()
    message["List-Unsubscribe"] = "<https://old.example.com/x>"
    links.stamp(message, ALICE, "weekly")
    links.stamp(message, ALICE, "weekly")
    assert len(message.get_all("List-Unsubscribe") or []) == 1
    assert len(message.get_all("List-Id") or []) == 1


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_signature_covers_and_oversigns_unsubscribe_headers(tmp_path: Path, kind: str) -> None:
    path, record = (write_rsa_key if kind == "rsa" else write_ed25519_key)(tmp_path)
    settings = make_settings(
        tmp_path, dkim_domain="example.com", dkim_selector="s1", dkim_key_file=str(path), cfbl=True
    )
    message = links_for(settings).stamp(newsletter(), ALICE, "weekly")
    dns = resolver({"s1._domainkey.example.com": record})
    data = message.as_bytes(policy=policy.SMTP)
    assert data.startswith(b"DKIM-Signature:")
    assert dkimpy.verify(data, dnsfunc=dns)
    signature = str(message["DKIM-Signature"]).replace(" ", "")
    tags = dict(tag.split("=", 1) for tag in signature.split(";") if "=" in tag)
    signed = tags["h"].split(":")
    for name in ("list-unsubscribe", "list-unsubscribe-post", "cfbl-address", "from"):
        assert signed.count(name) == 2, name
    assert "l" not in tags and tags["c"] == "relaxed/relaxed"

    altered = data.replace(b"/u/", b"/x/", 1)
    assert not dkimpy.verify(altered, dnsfunc=dns)
    added = data.replace(b"Subject:", b"List-Unsubscribe: <https://evil.example>\r\nSubject:", 1)
    assert not dkimpy.verify(added, dnsfunc=dns)


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://prefs.example.com", True),
        ("https://prefs.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
    ],
)
def test_a_plain_http_base_url_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, base_url: str, warned: bool
) -> None:
    with caplog.at_level(logging.WARNING, logger="prefcenter.headers"):
        links_for(make_settings(tmp_path, base_url=base_url))
    messages = [r.getMessage() for r in caplog.records if r.name == "prefcenter.headers"]
    assert bool(messages) is warned
    assert all("RFC 8058" in m and base_url in m for m in messages)


def test_unusable_dkim_key_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    links = links_for(
        make_settings(tmp_path, dkim_domain="e.com", dkim_selector="s", dkim_key_file=str(bad))
    )
    with pytest.raises(DkimError, match="neither a PEM RSA key nor an Ed25519 seed"):
        links.dkim_key()
    with pytest.raises(DkimError, match="neither a PEM RSA key nor an Ed25519 seed"):
        links.stamp(newsletter(), ALICE)
    missing = str(tmp_path / "no")
    links = links_for(
        make_settings(tmp_path, dkim_domain="e.com", dkim_selector="s", dkim_key_file=missing)
    )
    with pytest.raises(DkimError, match=f"{re.escape(repr(missing))} cannot be read"):
        links.stamp(newsletter(), ALICE)


def test_unreadable_dkim_key_is_read_only_to_sign(tmp_path: Path) -> None:
    """The sidecar and the CLI share the senders' settings but never sign."""
    settings = make_settings(
        tmp_path, dkim_domain="e.com", dkim_selector="s", dkim_key_file=str(tmp_path / "no")
    )
    with PreferenceCenter(settings) as center:  # what `prefcenter serve` and the CLI open
        assert center.check("alice@example.com").allowed
        headers = center.links.headers(ALICE)
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        with pytest.raises(DkimError, match="cannot be read"):
            center.stamp(newsletter(), "alice@example.com")
    assert links_for(make_settings(tmp_path)).dkim_key() is None


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.received = threading.Event()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.original_content)  # type: ignore[attr-defined]
        self.received.set()
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int]]:
    handler = _Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_stamped_message_survives_smtplib_and_still_verifies(
    tmp_path: Path, inbox: tuple[_Inbox, int]
) -> None:
    handler, port = inbox
    path, record = write_rsa_key(tmp_path)
    settings = make_settings(
        tmp_path, dkim_domain="example.com", dkim_selector="s1", dkim_key_file=str(path)
    )
    links = links_for(settings)
    message = links.stamp(newsletter(), ALICE, "weekly")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)
    assert handler.received.wait(10)
    delivered = handler.messages[0]
    assert b"=?" not in delivered.split(b"\r\n\r\n")[0]
    assert dkimpy.verify(delivered, dnsfunc=resolver({"s1._domainkey.example.com": record}))
    parsed = message_from_bytes(delivered, policy=policy.default)
    assert uris(str(parsed["List-Unsubscribe"])) == uris(
        links.headers(ALICE, "weekly")["List-Unsubscribe"]
    )


def _compat32_with_encoded_headers() -> Message:
    message = MIMEText("Grüße aus Köln\n", "plain", "utf-8")
    message["From"] = "Jörg <news@example.com>"  # raw non-ASCII on a compat32 message
    message["To"] = "alice@example.com"
    message["Subject"] = Header("Grüße", "utf-8")  # type: ignore[assignment]  # compat32 takes it
    return message


def _compat32_with_a_long_word() -> Message:
    message = MIMEMultipart("alternative")
    message["From"] = "news@example.com"
    message["To"] = "alice@example.com"
    message["Subject"] = "Offer " + "x" * 90  # compat32 sends it as written
    message.attach(MIMEText("hello\n", "plain"))
    message.attach(MIMEText("<p>hello</p>\n", "html"))
    return message


def _smtputf8_message() -> Message:
    message = EmailMessage(policy=policy.SMTPUTF8)
    message["From"] = "news@example.com"
    message["To"] = "alice@example.com"
    message["Subject"] = "Grüße, Jörg"
    message.set_content("hello\n")
    return message


@pytest.mark.parametrize(
    "build", [_compat32_with_encoded_headers, _compat32_with_a_long_word, _smtputf8_message]
)
def test_every_kind_of_message_verifies_as_smtplib_sends_it(
    tmp_path: Path, inbox: tuple[_Inbox, int], build: Callable[[], Message]
) -> None:
    """The signature is made over the bytes smtplib sends: the message's own policy."""
    handler, port = inbox
    path, record = write_ed25519_key(tmp_path)
    settings = make_settings(
        tmp_path, dkim_domain="example.com", dkim_selector="s1", dkim_key_file=str(path)
    )
    message = links_for(settings).stamp(build(), ALICE, "weekly")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)
    assert handler.received.wait(10)
    assert dkimpy.verify(
        handler.messages[0], dnsfunc=resolver({"s1._domainkey.example.com": record})
    )


def test_stamping_again_replaces_our_signature_only(tmp_path: Path) -> None:
    path, record = write_rsa_key(tmp_path)
    settings = make_settings(
        tmp_path, dkim_domain="example.com", dkim_selector="s1", dkim_key_file=str(path)
    )
    links = links_for(settings)
    message = newsletter()
    message["DKIM-Signature"] = "v=1; a=rsa-sha256; d=esp.example; s=k1; b=abc; bh=def; h=from"
    for address in ("a@example.com", "b@example.com", "c@example.com"):  # one per recipient
        del message["To"]
        message["To"] = address
        links.stamp(message, IDS.parse(address))
    signatures = [str(value) for value in message.get_all("DKIM-Signature") or []]
    assert len(signatures) == 2 and "d=esp.example" in signatures[1]
    data = message.as_bytes(policy=policy.SMTP)
    assert dkimpy.verify(data, dnsfunc=resolver({"s1._domainkey.example.com": record}))


@given(st.sampled_from(["weekly", None]))
def test_preferences_and_bounce_addresses(topic: str | None) -> None:
    links = links_for(make_settings(Path("/nonexistent")))
    signer = links.signer
    assert signer.verify(links.preferences_url(ALICE, topic).rsplit("/", 1)[1], Purpose.PREFERENCES)
    bounce = links.bounce_address(ALICE)
    local = bounce.split("@")[0]
    assert len(local) <= 64 and local.startswith("bounces+")
    assert signer.verify(local.split("+", 1)[1], Purpose.BOUNCE).identity_hash == ALICE.hash
