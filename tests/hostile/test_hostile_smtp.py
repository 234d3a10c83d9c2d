"""Hostile mail: relay attempts, floods, malformed bytes, forged senders, loops.

The rule under test: a message that does not prove who asked changes no suppression.
It is either refused in the SMTP dialogue, ignored (certainly not a request), or kept
for a person as exactly one exception item (and its event); a re-delivery with the
same Message-ID adds nothing.
"""

from __future__ import annotations

import base64
import gzip
import smtplib
import socket
import time
from pathlib import Path

import pytest

from prefcenter.tokens import Purpose, TokenSigner
from tests.hostile.conftest import ALICE, Hostile, delta

UNSUB = "unsubscribe@unsub.example.com"
QUEUED = {"+events": 1, "+exceptions": 1}  # one exception item and its audit event
KEPT = {"+exceptions": 1}  # machine mail kept (closed) for audit: no item for a person


def send(
    hostile: Hostile, rcpt: str, data: bytes, mail_from: str = "mallory@evil.test"
) -> tuple[int, bytes]:
    """Send one message; the code of RCPT when refused there, else the code of DATA."""
    with smtplib.SMTP("127.0.0.1", hostile.server.smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail(mail_from)
        code, text = client.rcpt(rcpt)
        if code != 250:
            return code, text
        try:
            return client.data(data)
        except smtplib.SMTPDataError as error:
            reply = error.smtp_error
            return error.smtp_code, reply.encode() if isinstance(reply, str) else reply


def mail(message_id: str, *, sender: bytes = ALICE.encode(), subject: bytes = b"unsubscribe",
         headers: bytes = b"", body: bytes = b"Please unsubscribe me.\r\n") -> bytes:  # fmt: skip
    return (
        b"From: <" + sender + b">\r\nTo: <" + UNSUB.encode() + b">\r\nSubject: " + subject
        + b"\r\nMessage-ID: <" + message_id.encode() + b">\r\n" + headers + b"\r\n" + body
    )  # fmt: skip


def deliver(
    hostile: Hostile, rcpt: str, data: bytes, mail_from: str = "mallory@evil.test"
) -> tuple[int, dict[str, int]]:
    before = hostile.snapshot()
    code, _ = send(hostile, rcpt, data, mail_from)
    return code, delta(before, hostile.snapshot())


@pytest.mark.parametrize(
    ("rcpt", "why"),
    [
        ("someone@elsewhere.example", b"relays nothing"),
        ("postmaster@elsewhere.example", b"relays nothing"),
        ("postmaster+x@unsub.example.com", b"relays nothing"),
        ("unsubscribe+!!!@unsub.example.com", b"malformed"),
        ("fbl+token@unsub.example.com", b"relays nothing"),
    ],
)
def test_recipients_we_do_not_serve_are_refused(unchanged: Hostile, rcpt: str, why: bytes) -> None:
    code, text = send(unchanged, rcpt, b"Subject: x\r\n\r\nx\r\n")
    assert code == 550
    assert why in text


def test_data_over_the_size_limit_is_refused(unchanged: Hostile) -> None:
    big = mail("big@evil.test", body=(b"a" * 998 + b"\r\n") * 1100)
    assert send(unchanged, UNSUB, big)[0] == 552


def test_ten_thousand_recipients_are_capped(unchanged: Hostile) -> None:
    codes: list[bytes] = []
    with socket.create_connection(("127.0.0.1", unchanged.server.smtp_port), timeout=30) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"EHLO flood.test\r\n")
        while reader.readline()[3:4] != b" ":
            pass
        sock.sendall(b"MAIL FROM:<m@evil.test>\r\n")
        assert reader.readline().startswith(b"250")
        sent = 0
        try:
            while sent < 10_000 and (not codes or codes[-1] != b"421"):
                sock.sendall(f"RCPT TO:<{UNSUB}>\r\n".encode() * 100)
                sent += 100
                for _ in range(100):
                    line = reader.readline()
                    if not line:
                        break
                    codes.append(line[:3])
                    if line[:3] == b"421":
                        break
        except ConnectionError:
            pass  # the server hung up after 421, as it should
        reader.close()
    assert codes[:50] == [b"250"] * 50  # max_recipients
    assert set(codes[50:-1]) == {b"452"}
    assert codes[-1] == b"421"  # the command limit ends the session
    assert len(codes) <= 1001


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("forged From, no signature", mail("forged-1@evil.test")),
        ("bare LF line ends", mail("bare-lf@evil.test").replace(b"\r\n", b"\n")),
        ("NUL bytes", mail("nul@evil.test", body=b"unsub\x00scribe\x00me\r\n")),
        ("lines over 998 characters",
         mail("long@evil.test", headers=b"X-Long: " + b"y" * 3000 + b"\r\n", body=b"x" * 5000 + b"\r\n")),
        ("invalid UTF-8",
         mail("utf8@evil.test", sender=b"al\xffice@example.com", subject=b"\xc3\x28 stop", body=b"\xff\xfe\r\n")),
        ("bad DKIM signature",
         mail("dkim@evil.test", headers=b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; "
              b"c=relaxed/relaxed; h=from:subject; bh=AAAA; b=AAAA\r\n")),
        ("forged Authentication-Results",
         mail("ar@evil.test", headers=b"Authentication-Results: mx.example.com; dmarc=pass "
              b"header.from=example.com; dkim=pass header.d=example.com\r\n")),
        ("SQL in the From address",
         mail("sql@evil.test", sender=b"x'); DELETE FROM suppressions;--@example.com")),
        ("header injection in Subject", mail("crlf@evil.test", subject=b"stop\r\nBcc: all@example.com")),
    ],
)  # fmt: skip
def test_unproven_unsubscribe_mail_is_queued_for_a_person(
    hostile: Hostile, name: str, message: bytes
) -> None:
    code, change = deliver(hostile, UNSUB, message)
    assert (code, change) == (250, QUEUED), name
    assert hostile.center.check(ALICE).allowed
    # A re-delivery (same Message-ID) opens no second item and writes no second event.
    assert deliver(hostile, UNSUB, message) == (250, {})


def test_deeply_nested_mime_is_queued(hostile: Hostile) -> None:
    parts = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(3000)
    )
    message = mail(
        "nested@evil.test",
        headers=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n",
        body=parts,
    )
    assert deliver(hostile, UNSUB, message) == (250, QUEUED)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_zip_bomb_like_attachment_is_never_expanded(hostile: Hostile) -> None:
    bomb = base64.encodebytes(gzip.compress(b"\0" * 200_000_000, 9))  # ~260 KB -> 200 MB
    body = (
        b"--Z\r\nContent-Type: text/plain\r\n\r\nunsubscribe\r\n--Z\r\n"
        b"Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + bomb + b"\r\n--Z--\r\n"
    )  # fmt: skip
    message = mail(
        "bomb@evil.test",
        headers=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=Z\r\n",
        body=body,
    )
    assert hostile.server.proc is not None
    before = _rss_kb(hostile.server.proc.pid)
    started = time.monotonic()
    assert deliver(hostile, UNSUB, message) == (250, QUEUED)
    assert time.monotonic() - started < 10
    assert _rss_kb(hostile.server.proc.pid) - before < 100_000  # never inflated to 200 MB


@pytest.mark.parametrize(
    "message",
    [
        mail("auto-1@example.org", subject=b"Automatic reply: Weekly news",
             headers=b"Auto-Submitted: auto-replied\r\n", body=b"I am away.\r\n"),
        mail("ooo-1@example.org", subject=b"Out of Office", body=b"I am out of the office.\r\n"),
        mail("precedence-1@example.org", subject=b"Re: Weekly news",
             headers=b"Precedence: auto_reply\r\nX-Autoreply: yes\r\n", body=b"Away.\r\n"),
    ],
)  # fmt: skip
def test_auto_replies_are_ignored(unchanged: Hostile, message: bytes) -> None:
    assert send(unchanged, UNSUB, message)[0] == 250


DSN = (
    b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <MID@mx.example.net>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
    b"\r\nFinal-Recipient: rfc822; WHO\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
)


def test_bounce_sent_to_the_unsubscribe_mailbox_is_ignored(unchanged: Hostile) -> None:
    # A loop: our own notice bounced back to unsubscribe@ must not become a request.
    dsn = DSN.replace(b"MID", b"loop-1").replace(b"WHO", UNSUB.encode())
    assert send(unchanged, UNSUB, dsn, mail_from="")[0] == 250


def test_bounce_of_our_own_mailbox_suppresses_nothing(hostile: Hostile) -> None:
    dsn = DSN.replace(b"MID", b"loop-2").replace(b"WHO", b"bounces@unsub.example.com")
    assert deliver(hostile, "bounces@unsub.example.com", dsn, mail_from="") == (250, KEPT)


def test_forged_bounce_for_someone_never_mailed_suppresses_nothing(hostile: Hostile) -> None:
    dsn = DSN.replace(b"MID", b"forged-3").replace(b"WHO", b"never-mailed@example.com")
    assert deliver(hostile, "bounces@unsub.example.com", dsn, mail_from="") == (250, KEPT)
    assert hostile.center.check("never-mailed@example.com").allowed


def test_mailto_token_signed_with_a_retired_key_is_queued(hostile: Hostile) -> None:
    identity = hostile.center.identity(ALICE)
    token = TokenSigner([b"a-key-that-was-rotated-out-0123456789"]).sign_mailto(
        identity, None, Purpose.UNSUBSCRIBE
    )
    code, change = deliver(
        hostile, f"unsubscribe+{token}@unsub.example.com", mail("retired@evil.test")
    )
    assert (code, change) == (250, QUEUED)
    assert hostile.center.check(ALICE).allowed


def test_bounce_token_sent_to_the_unsubscribe_mailbox_is_queued(hostile: Hostile) -> None:
    identity = hostile.center.identity(ALICE)
    token = hostile.center.signer.sign_mailto(identity, None, Purpose.BOUNCE)
    code, change = deliver(
        hostile, f"unsubscribe+{token}@unsub.example.com", mail("purpose@evil.test")
    )
    assert (code, change) == (250, QUEUED)
    assert hostile.center.check(ALICE).allowed
