"""Our addresses: which recipients exist, and tokens found in List-Unsubscribe URIs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.inbound.mailbox import Mailbox, MailboxKind, parse_recipient, token_in_uri

DOMAIN = "unsub.example.com"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (f"unsubscribe@{DOMAIN}", Mailbox(MailboxKind.UNSUBSCRIBE, None)),
        ("<Unsubscribe@UNSUB.example.com>", Mailbox(MailboxKind.UNSUBSCRIBE, None)),
        (f"unsubscribe+ABCdef@{DOMAIN}", Mailbox(MailboxKind.UNSUBSCRIBE, "abcdef")),
        (f"bounces+tok@{DOMAIN}", Mailbox(MailboxKind.BOUNCES, "tok")),
        (f"BOUNCES@{DOMAIN}.", Mailbox(MailboxKind.BOUNCES, None)),
        (f"fbl@{DOMAIN}", Mailbox(MailboxKind.FBL, None)),
        (f"fbl+x@{DOMAIN}", None),
        (f"unsubscribe+@{DOMAIN}", None),
        (f"postmaster@{DOMAIN}", Mailbox(MailboxKind.POSTMASTER, None)),
        ("<Postmaster>", Mailbox(MailboxKind.POSTMASTER, None)),  # RFC 5321 §4.5.1
        (f"postmaster+x@{DOMAIN}", None),
        ("postmaster@example.org", None),
        ("unsubscribe@example.org", None),
        (f"unsubscribe@sub.{DOMAIN}", None),
        (f"unsubscribe+{'a' * 60}@{DOMAIN}", None),
        ("unsubscribe", None),
        ("", None),
    ],
)
def test_parse_recipient(address: str, expected: Mailbox | None) -> None:
    assert parse_recipient(address, DOMAIN) == expected


@given(st.text(max_size=200))
def test_parse_recipient_never_raises_and_never_accepts_other_domains(address: str) -> None:
    mailbox = parse_recipient(address, DOMAIN)
    text = address.strip().strip("<>").strip().lower()
    if mailbox is not None and text != "postmaster":
        assert text.rstrip(".").endswith("@" + DOMAIN)


@pytest.mark.parametrize(
    ("uri", "token"),
    [
        (f"mailto:unsubscribe+abc@{DOMAIN}", "abc"),
        (f"mailto:unsubscribe+abc@{DOMAIN}?subject=unsubscribe", "abc"),
        ("<mailto:Unsubscribe+abc@UNSUB.EXAMPLE.COM>", "abc"),
        ("mailto:unsubscribe+abc@other.example", None),
        (f"mailto:bounces+abc@{DOMAIN}", None),
        ("https://prefs.example.com/u/TOKEN", "TOKEN"),
        ("https://prefs.example.com/u/TOKEN?x=1", "TOKEN"),
        ("https://prefs.example.com/p/TOKEN", None),
        ("https://evil.example/u/TOKEN", None),
        ("https://prefs.example.com/u/", None),
    ],
)
def test_token_in_uri(uri: str, token: str | None) -> None:
    assert token_in_uri(uri, DOMAIN, "https://prefs.example.com") == token


@given(st.text(max_size=300))
def test_token_in_uri_never_raises(uri: str) -> None:
    token_in_uri(uri, DOMAIN, "https://prefs.example.com")
