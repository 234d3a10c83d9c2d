"""Issue 20 items 2 and 3: signed mail that was not written to us changes nobody.

The real SMTP sidecar (aiosmtpd) is sent each case with smtplib. A DKIM signature
proves who wrote a message, not to whom: a person's signed mail re-sent to
``unsubscribe@`` must be queued for a person, never act. And a signature from a name
under a shared host (``attacker.github.io``, on the Public Suffix List's private
section) proves nothing about the shared host's other names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from tests.inbound.dkim_testkey import DkimTestKey, make_key
from tests.sidecar.smtp_fixtures import DOMAIN, RunningSidecar, running

UNSUBSCRIBE = f"unsubscribe@{DOMAIN}"
ALICE = "alice@example.org"
SIGNED = [b"from", b"to", b"cc", b"subject", b"date", b"message-id"]


@pytest.fixture(scope="module")
def key() -> DkimTestKey:
    return make_key()


@pytest.fixture
def smtp(tmp_path: Path, key: DkimTestKey) -> Iterator[RunningSidecar]:
    with running(tmp_path, mail_domain=DOMAIN, dnsfunc=key.resolver()) as server:
        yield server


def _mail(to: str, subject: str, body: str, sender: str = ALICE, extra: str = "") -> bytes:
    return (
        f"{extra}From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m-1@example.org>\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def _sign(key: DkimTestKey, message: bytes, headers: list[bytes] = SIGNED) -> bytes:
    signature = dkim.sign(
        message, key.selector.encode(), key.domain.encode(), key.private_pem,
        include_headers=headers,
    )  # fmt: skip
    return bytes(signature) + message


def _queued_only(smtp: RunningSidecar, address: str, why: str) -> None:
    assert smtp.center.check(address).allowed
    [item] = smtp.center.exceptions()
    assert why in item.why


def test_signed_personal_mail_replayed_to_us_is_queued(
    smtp: RunningSidecar, key: DkimTestKey
) -> None:
    lunch = _sign(key, _mail("Bob <bob@example.net>", "lunch on friday?", "Stop by at noon?"))
    assert smtp.send(lunch, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "do not name our unsubscribe address")


def test_signed_mail_saying_stop_to_someone_else_is_queued(
    smtp: RunningSidecar, key: DkimTestKey
) -> None:
    # Alice asked a friend's list to stop; re-sent to us, it is still not for us.
    other = _sign(key, _mail("list@example.net", "unsubscribe", "Please remove me."))
    assert smtp.send(other, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "do not name our unsubscribe address")


def test_signed_mail_to_us_that_does_not_ask_to_stop_is_queued(
    smtp: RunningSidecar, key: DkimTestKey
) -> None:
    chat = _sign(key, _mail(UNSUBSCRIBE, "a question", "Where is my invoice?"))
    assert smtp.send(chat, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "ask to stop")


def test_unsigned_to_naming_us_is_not_enough(smtp: RunningSidecar, key: DkimTestKey) -> None:
    # The signature leaves To out, so a forger could have written it.
    loose = _sign(key, _mail(UNSUBSCRIBE, "unsubscribe", "Remove me."), [b"from", b"subject"])
    assert smtp.send(loose, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "does not cover the To")


def test_a_second_to_field_added_on_top_is_not_enough(
    smtp: RunningSidecar, key: DkimTestKey
) -> None:
    lunch = _sign(key, _mail("bob@example.net", "unsubscribe", "Remove me."))
    assert smtp.send(f"To: {UNSUBSCRIBE}\r\n".encode() + lunch, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "2 To fields")


def test_unsigned_subject_asking_to_stop_is_not_enough(
    smtp: RunningSidecar, key: DkimTestKey
) -> None:
    signed = _sign(key, _mail(UNSUBSCRIBE, "hello", "See you."), [b"from", b"to", b"date"])
    resent = signed.replace(b"Subject: hello", b"Subject: unsubscribe")
    assert smtp.send(resent, [UNSUBSCRIBE])[0] == 250
    _queued_only(smtp, ALICE, "ask to stop")


def test_a_request_written_to_us_still_works(smtp: RunningSidecar, key: DkimTestKey) -> None:
    request = _sign(key, _mail(f"News <{UNSUBSCRIBE}>", "unsubscribe", "Please stop."))
    assert smtp.send(request, [UNSUBSCRIBE])[0] == 250
    assert not smtp.center.check(ALICE).allowed
    assert smtp.center.exceptions() == []


def test_signing_subdomain_of_a_shared_host_proves_nothing_about_it(tmp_path: Path) -> None:
    attacker = make_key("attacker.github.io")
    with running(tmp_path, mail_domain=DOMAIN, dnsfunc=attacker.resolver()) as smtp:
        for victim in ("owner@github.io", "someone@victim.github.io"):
            request = _sign(attacker, _mail(UNSUBSCRIBE, "unsubscribe", "Stop.", sender=victim))
            assert smtp.send(request, [UNSUBSCRIBE])[0] == 250
            assert smtp.center.check(victim).allowed
        assert len(smtp.center.exceptions()) == 1  # one Message-ID, one item
        assert "aligned" in smtp.center.exceptions()[0].why


def test_organisational_alignment_under_a_public_suffix_still_works(tmp_path: Path) -> None:
    company = make_key("example.co.uk")
    with running(tmp_path, mail_domain=DOMAIN, dnsfunc=company.resolver()) as smtp:
        sender = "alice@mail.example.co.uk"
        request = _sign(company, _mail(UNSUBSCRIBE, "unsubscribe", "Stop.", sender=sender))
        assert smtp.send(request, [UNSUBSCRIBE])[0] == 250
        assert not smtp.center.check(sender).allowed
