"""Identity keys: canonical forms, the fast path's agreement with email-validator, hashing."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prefcenter.errors import InvalidRecipient
from prefcenter.identity import (
    Folding,
    Identities,
    canonical_email,
    canonical_phone,
    fast_email,
    slow_email,
)
from prefcenter.identity.phone import parsed_phone
from prefcenter.model import Channel
from tests.strategies import address_like, any_text

IDS = Identities(b"identity-test-pepper-0123456789")
FOLDINGS = [Folding(), Folding(subaddress=False, gmail=False), Folding(True, False)]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  alice+news@example.com ", "alice@example.com"),
        ("A.L.I.C.E@googlemail.com", "alice@gmail.com"),
        ("alice.smith+x@Gmail.com", "alicesmith@gmail.com"),
        ("bob.smith@example.org", "bob.smith@example.org"),
        ("a@Bücher.DE", "a@xn--bcher-kva.de"),
        ("ÄLICE@example.com", "älice@example.com"),
        ("+tag@example.com", "+tag@example.com"),
    ],
)
def test_canonical_email(written: str, canonical: str) -> None:
    assert canonical_email(written, Folding()) == canonical


def test_folding_can_be_turned_off() -> None:
    off = Folding(subaddress=False, gmail=False)
    assert canonical_email("A.B+x@gmail.com", off) == "a.b+x@gmail.com"


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("alice", "An email address must have an @-sign"),
        ("alice@localhost", "It should have a period"),
        ("alice@example.test", "special-use or reserved name"),
        ("al ice@example.com", "invalid character"),
        ("alice@exa_mple.com", "invalid characters"),
        ("alice\r\n@example.com", "control character or line break"),
        ("alice@example.com\u2028x", "control character or line break"),
    ],
)
def test_invalid_addresses_name_value_and_reason(written: str, reason: str) -> None:
    with pytest.raises(InvalidRecipient) as caught:
        canonical_email(written, Folding())
    message = str(caught.value)
    assert message.startswith(f"Recipient {written.strip()!r}"[:20])
    assert reason in message
    assert caught.value.value == written or caught.value.value == written.strip()


def test_invalid_message_is_one_sentence_with_a_fix() -> None:
    with pytest.raises(InvalidRecipient) as caught:
        canonical_email("alice", Folding())
    assert str(caught.value) == (
        "Recipient 'alice' is not usable: An email address must have an @-sign; "
        "correct the address or drop it."
    )


@settings(max_examples=1500)
@given(st.one_of(address_like, any_text), st.sampled_from(FOLDINGS))
@example("a@b.co", Folding())
@example("x--y@ab--cd.com", Folding())
@example("user@xn--bcher-kva.de", Folding())
@example("postmaster@EXAMPLE.ONION", Folding())
@example("a" * 65 + "@example.com", Folding())
def test_fast_path_agrees_with_email_validator(value: str, folding: Folding) -> None:
    fast = fast_email(value, folding)
    if fast is None:
        return
    assert fast == slow_email(value, folding)


@settings(max_examples=500)
@given(address_like, st.sampled_from(FOLDINGS))
def test_fast_path_takes_the_common_case(value: str, folding: Folding) -> None:
    try:
        slow = slow_email(value, folding)
    except InvalidRecipient:
        return
    if value.isascii() and value.lower() == value and "--" not in value and "'" not in value:
        assert fast_email(value, folding) in (slow, None)


@settings(max_examples=800)
@given(st.one_of(address_like, any_text), st.sampled_from(FOLDINGS))
def test_canonical_is_idempotent(value: str, folding: Folding) -> None:
    try:
        once = canonical_email(value, folding)
    except InvalidRecipient:
        return
    assert canonical_email(once, folding) == once


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+1 (415) 555-0100", "+14155550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+49 30/1234567", "+49301234567"),
    ],
)
def test_canonical_phone(written: str, e164: str) -> None:
    assert canonical_phone(written) == e164


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("415 555 0100", "it has no country code"),
        ("+0123456789", "not an E.164 number"),
        ("+1 415 CALL NOW", "not an E.164 number"),
        ("+1234", "not an E.164 number"),
        ("+1 415\n555 0100", "control character or line break"),
    ],
)
def test_invalid_phones(written: str, reason: str) -> None:
    with pytest.raises(InvalidRecipient, match=reason):
        canonical_phone(written)


def _both_paths(compact: str) -> tuple[str, str]:
    """What canonical_phone (short path first) and the full parse alone give for ``compact``."""
    answers = []
    for convert in (canonical_phone, lambda number: parsed_phone(number, number)):
        try:
            answers.append(convert(compact))
        except InvalidRecipient as error:
            answers.append(f"refused: {error.reason}")
    return answers[0], answers[1]


_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@given(st.sampled_from(_CODES), st.text("0123456789", min_size=0, max_size=14))
@example(1, "4155550100")  # the short path
@example(44, "02079460958")  # a national prefix after the country code: stripped
@example(1, "14155550100")  # NANPA's national prefix 1: stripped
@example(39, "0612345678")  # Italian leading zero: kept
@example(800, "12345678")  # a non-geographic code
@example(1, "415555")  # too short for the country
@example(1, "03200591457")  # a leading zero the full parse refuses for +1
@example(55, "9039967606")  # Brazil's carrier-selection prefix 90: stripped
@example(86, "113837217850")  # China's prefix matched inside a possible length
@example(261, "4429744")  # Madagascar's transform rule adds digits: +261 20 4429744
def test_the_short_path_agrees_with_the_full_parse(code: int, national: str) -> None:
    compact = f"+{code}{national}"
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", compact):
        return  # refused before either path (tested above)
    fast, full = _both_paths(compact)
    assert fast == full


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_the_short_path_agrees_on_any_e164_shape(compact: str) -> None:
    fast, full = _both_paths(compact)
    assert fast == full


@given(st.text("0123456789 +-()", max_size=20))
def test_phone_canonical_is_idempotent(value: str) -> None:
    try:
        once = canonical_phone(value)
    except InvalidRecipient:
        return
    assert canonical_phone(once) == once


def test_parse_gives_channel_qualified_key_and_hash() -> None:
    alice = IDS.parse("Alice+x@Example.com")
    assert alice.key == "email:alice@example.com"
    assert alice.channel is Channel.EMAIL
    assert len(alice.hash) == 16
    assert IDS.parse("alice@example.com").hash == alice.hash
    sms = IDS.parse("+1 415 555 0100", Channel.SMS)
    voice = IDS.parse("voice:+14155550100")
    assert sms.key == "sms:+14155550100"
    assert voice.key == "voice:+14155550100"
    assert sms.hash != voice.hash


@settings(max_examples=300, deadline=None)
@given(st.one_of(address_like, any_text), st.sampled_from(["email", Channel.EMAIL]))
def test_parse_of_a_plain_address_is_the_channel_key_and_its_keyed_hash(
    value: str, channel: str
) -> None:
    """The short path of ``parse`` (a plain address, hashed from a prepared state) gives
    what the general one does: ``canonical`` and ``hash_key`` of it, or the same refusal."""
    try:
        key = IDS.canonical(value, channel)
    except InvalidRecipient as error:
        refusal = str(error)
        with pytest.raises(InvalidRecipient, match=re.escape(refusal)):
            IDS.parse(value, channel)
        return
    identity = IDS.parse(value, channel)
    assert (identity.channel, identity.key, identity.hash) == (
        Channel.EMAIL, key, IDS.hash_key(key)
    )  # fmt: skip
    assert identity.address == key.partition(":")[2]


def test_hash_depends_on_the_pepper() -> None:
    other = Identities(b"another-pepper-0123456789abcdef")
    assert other.parse("alice@example.com").hash != IDS.parse("alice@example.com").hash
    assert other.fingerprint() != IDS.fingerprint()
    assert "identity-test-pepper" not in IDS.fingerprint()


def test_unknown_channel_is_named() -> None:
    with pytest.raises(
        InvalidRecipient, match=re.escape("Channel 'fax' does not exist; use email, sms or voice.")
    ):
        IDS.parse("alice@example.com", "fax")


def test_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Identities(b"short")


@settings(max_examples=300)
@given(st.one_of(address_like, any_text), st.sampled_from(["email", "sms", "voice"]))
def test_locate_agrees_with_parse(value: str, channel: str) -> None:
    try:
        identity = IDS.parse(value, channel)
    except InvalidRecipient:
        with pytest.raises(InvalidRecipient):
            IDS.locate(value, channel)
        return
    assert IDS.locate(value, channel) == (identity.channel, identity.hash)
