"""Tokens: round trips, tamper resistance, rotation, canonical spelling."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.errors import TokenMalformed, TokenSignatureInvalid, TokenWrongPurpose
from prefcenter.model import Channel, Identity
from prefcenter.tokens import MAIL_TOKEN_LENGTH, URL_TOKEN_LENGTH, Purpose, TokenSigner, _b32_encode
from prefcenter.topics import NO_TOPIC, topic_digest
from tests.strategies import identities, topics

OLD, NEW = b"old-key-0123456789", b"new-key-0123456789"
SIGNER = TokenSigner([OLD, NEW])
ALICE = Identity(Channel.EMAIL, "alice@example.com", "email:alice@example.com", bytes(range(16)))
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAIL_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@given(identities, topics, st.sampled_from(list(Purpose)))
def test_url_and_mail_tokens_round_trip(
    identity: Identity, topic: str | None, purpose: Purpose
) -> None:
    url, mail = SIGNER.sign_both(identity, topic, purpose)
    for token in (url, mail, mail.upper()):
        claims = SIGNER.verify(token, purpose)
        assert claims.identity_hash == identity.hash
        assert claims.channel == identity.channel
        assert claims.topic_digest == topic_digest(topic)
        assert claims.purpose == purpose
    assert len(url) == URL_TOKEN_LENGTH and len(mail) == MAIL_TOKEN_LENGTH


@given(st.binary(min_size=31, max_size=31))
def test_fast_base32_matches_the_standard_library(data: bytes) -> None:
    assert _b32_encode(data) == base64.b32encode(data).decode().rstrip("=").lower()


@given(identities, topics, st.data())
def test_any_single_character_change_is_rejected(
    identity: Identity, topic: str | None, data: st.DataObject
) -> None:
    url, mail = SIGNER.sign_both(identity, topic, Purpose.UNSUBSCRIBE)
    for token, alphabet in ((url, URL_ALPHABET), (mail, MAIL_ALPHABET)):
        position = data.draw(st.integers(0, len(token) - 1))
        original = token[position]
        replacement = data.draw(st.sampled_from(alphabet.replace(original, "")))
        changed = token[:position] + replacement + token[position + 1 :]
        with pytest.raises((TokenMalformed, TokenSignatureInvalid)):
            SIGNER.verify(changed, Purpose.UNSUBSCRIBE)


@given(identities, topics)
def test_spare_bits_do_not_make_a_second_spelling(identity: Identity, topic: str | None) -> None:
    url, mail = SIGNER.sign_both(identity, topic, Purpose.UNSUBSCRIBE)
    # The last base64url character carries 2 data bits and 4 spare ones; the last
    # base32 character 3 data bits and 2 spare. Every other value of them is refused.
    for token, alphabet in ((url, URL_ALPHABET), (mail, MAIL_ALPHABET)):
        for sibling in (token[:-1] + c for c in alphabet if c != token[-1]):
            with pytest.raises((TokenMalformed, TokenSignatureInvalid)):
                SIGNER.verify(sibling, Purpose.UNSUBSCRIBE)


def test_newest_key_signs_and_every_key_verifies() -> None:
    token = SIGNER.sign(ALICE, "news", Purpose.UNSUBSCRIBE)
    assert TokenSigner([NEW]).verify(token, Purpose.UNSUBSCRIBE).identity_hash == ALICE.hash
    with pytest.raises(TokenSignatureInvalid):
        TokenSigner([OLD]).verify(token, Purpose.UNSUBSCRIBE)
    old_token = TokenSigner([OLD]).sign(ALICE, "news", Purpose.UNSUBSCRIBE)
    assert SIGNER.verify(old_token, Purpose.UNSUBSCRIBE).identity_hash == ALICE.hash


def test_a_rotated_out_key_no_longer_verifies() -> None:
    old_token = TokenSigner([OLD]).sign(ALICE, None, Purpose.UNSUBSCRIBE)
    with pytest.raises(TokenSignatureInvalid, match="no longer configured"):
        TokenSigner([NEW]).verify(old_token, Purpose.UNSUBSCRIBE)


def test_wrong_purpose_is_named() -> None:
    token = SIGNER.sign(ALICE, None, Purpose.PREFERENCES)
    with pytest.raises(TokenWrongPurpose) as caught:
        SIGNER.verify(token, Purpose.UNSUBSCRIBE)
    assert str(caught.value) == (
        "Token was made for preferences, not unsubscribe; use the link meant for this page."
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            "",
            "Token has 0 characters, expected 42 or 50; the link may have been cut, copy it whole.",
        ),
        (
            "a" * 41,
            "Token has 41 characters, expected 42 or 50; "
            "the link may have been cut, copy it whole.",
        ),
        ("!" * 50, "Token has characters outside its alphabet; copy the link whole."),
        ("+" * 42, "Token is not in its canonical spelling; copy the link whole."),
    ],
)
def test_malformed_tokens_say_what_is_wrong(token: str, message: str) -> None:
    with pytest.raises(TokenMalformed) as caught:
        SIGNER.verify(token, Purpose.UNSUBSCRIBE)
    assert str(caught.value) == message


def test_truncated_token_is_rejected() -> None:
    token = SIGNER.sign(ALICE, "news", Purpose.UNSUBSCRIBE)
    for cut in (1, 5, 20):
        with pytest.raises(TokenMalformed):
            SIGNER.verify(token[:-cut], Purpose.UNSUBSCRIBE)


def test_token_does_not_reveal_the_address() -> None:
    url, mail = SIGNER.sign_both(ALICE, "news", Purpose.UNSUBSCRIBE)
    raw = base64.urlsafe_b64decode(url + "==")
    assert b"alice" not in raw and "alice" not in url and "alice" not in mail


def test_mailto_local_part_fits_64_octets() -> None:
    mail = SIGNER.sign_mailto(ALICE, "a-very-long-topic-name-for-a-newsletter", Purpose.UNSUBSCRIBE)
    assert len(f"unsubscribe+{mail}") <= 64
    assert len(f"bounces+{mail}") <= 64


def test_no_topic_digest_is_reserved() -> None:
    assert topic_digest(None) == NO_TOPIC == topic_digest("")
    assert topic_digest("news") != NO_TOPIC


def test_signer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="PREFCENTER_SECRET"):
        TokenSigner([])
