"""Issue 20 item 5: the exceptions queue cannot fill the disk.

Anyone can write to ``postmaster@``: 150 messages of 1 MB each used to add 190 MB that
no purge ever removed. Over real SMTP (aiosmtpd, smtplib): an item keeps the head and
the first 64 KiB of the body with the full size noted; open items together stay within
EXCEPTION_BUDGET, past which a message for a person gets 452 and an error is logged
(never a silent drop); a tokened request still acts; and purge erases the mail of items
left open past EXCEPTION_OPEN_RETENTION, which frees the budget.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prefcenter.changes.review import KEEP_BYTES
from tests.sidecar.smtp_fixtures import ALICE, DOMAIN, mailto, running

BUDGET = 400_000


def _big(n: int, size: int = 1_000_000) -> bytes:
    head = (
        f"From: <stranger{n}@example.net>\r\nSubject: hello {n}\r\nMessage-ID: <big-{n}@x>\r\n\r\n"
    )
    line = b"z" * 998 + b"\r\n"
    return head.encode() + line * (size // len(line))


def test_postmaster_flood_stays_within_the_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "prefcenter.smtp")
    with running(
        tmp_path, mail_domain=DOMAIN, exception_budget=str(BUDGET), exception_open_retention="2d"
    ) as smtp:
        replies = [smtp.send(_big(n), [f"postmaster@{DOMAIN}"]) for n in range(12)]
        codes = [code for code, _ in replies]
        accepted = codes.count(250)
        assert 2 <= accepted < 12 and codes == [250] * accepted + [452] * (12 - accepted)
        assert replies[-1][1].startswith(b"4.3.1 ")
        assert "exceptions queue full" in caplog.text  # loud, never silent
        items = smtp.center.exceptions()
        assert len(items) == accepted
        for item in items:
            assert len(item.raw) <= 2 * KEEP_BYTES + 300
            assert item.raw.startswith(b"X-Prefcenter-Truncated: ")
            assert "bytes received]" in item.summary
        assert sum(len(item.raw) for item in items) <= BUDGET
        # A request with our token needs no person: it still acts while the queue is full.
        unsubscribe = b"Subject: unsubscribe\r\nMessage-ID: <t-1@x>\r\n\r\nstop\r\n"
        assert smtp.send(unsubscribe, [mailto(smtp.center)])[0] == 250
        assert not smtp.center.check(ALICE).allowed
        # Items nobody decided lose their mail after EXCEPTION_OPEN_RETENTION...
        long_ago = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
        db = sqlite3.connect(smtp.center.settings.database.removeprefix("sqlite:///"))
        with db:
            db.execute("UPDATE exceptions SET received_at = ?", [long_ago])
        db.close()
        purged = smtp.center.purge()
        assert purged.exceptions == accepted
        still_open = smtp.center.exceptions()
        assert len(still_open) == accepted  # still open for a person, summary kept
        assert all(item.raw.startswith(b"X-Prefcenter-Purged:") for item in still_open)
        assert all("hello" in item.summary for item in still_open)
        # ...which frees the budget: the refused messages, retried, are taken now.
        assert smtp.send(_big(99), [f"postmaster@{DOMAIN}"])[0] == 250
        assert smtp.center.purge().exceptions == 0  # already purged ones are not counted again


def test_a_huge_bounce_kept_for_audit_is_cut_too(tmp_path: Path) -> None:
    # Machine mail nobody can act on (a report without proof) is kept closed for audit
    # (issue 21): anyone can send it, so it stays small (the inbox keeps its start, and
    # keep_machine_mail cuts what any other caller hands it like an exception item).
    with running(tmp_path, mail_domain=DOMAIN) as smtp:
        head = (
            "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to "
            "Sender\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <huge-dsn@x>\r\n\r\n"
            "<nobody@example.net>: host said: 550 5.1.1 User unknown\r\n\r\n"
        )
        padding = (b"z" * 998 + b"\r\n") * 1000  # about 1 MB
        assert smtp.send(head.encode() + padding, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
        kept = smtp.center.exceptions(status=None)
        assert [item.status for item in kept] == ["audit"], [(i.status, i.why) for i in kept]
        assert all(len(item.raw) <= 2 * KEEP_BYTES + 300 for item in kept)
