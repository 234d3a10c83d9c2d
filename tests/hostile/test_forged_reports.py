"""Issue 20 item 1: forged bounces and complaints change nobody without proof.

Each attack goes through the real SMTP sidecar over loopback (smtplib). Before proof
before action, every one of these suppressed people: a 3-line text "bounce" naming
recently mailed addresses, three forged 4.2.2 bounces, an ARF report naming a mailed
Original-Rcpt-To. Now only our token or a Message-ID recorded at send time proves that
a report concerns a message we sent; without it the report is evidence only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prefcenter.model import Scope
from prefcenter.report import build_report, format_report
from tests.sidecar.smtp_fixtures import DOMAIN, RunningSidecar, running

PEOPLE = [f"person{n}@example.org" for n in range(30)]
KINDS = ("marketing", "transactional")


@pytest.fixture
def now() -> list[datetime]:
    return [datetime(2026, 11, 2, 9, tzinfo=UTC)]


@pytest.fixture
def smtp(tmp_path: Path, now: list[datetime]) -> Iterator[RunningSidecar]:
    with running(tmp_path, clock=lambda: now[0]) as server:
        for person in PEOPLE:
            server.center.record_sent(
                person, kind="transactional", message_id=f"<{person}-m1@example.com>"
            )
        yield server


def unchanged(smtp: RunningSidecar, people: list[str]) -> None:
    for person in people:
        for kind in KINDS:
            decision = smtp.center.check(person, kind=kind)
            assert decision.allowed, (person, kind, decision.reason)
        assert smtp.center.suppressions(person) == []


def test_a_three_line_text_bounce_naming_thirty_people_changes_nobody(smtp: RunningSidecar) -> None:
    names = "\r\n".join(f"{person}: 550 5.1.1 user unknown" for person in PEOPLE)
    raw = f"From: MAILER-DAEMON@evil.example\r\nSubject: failure notice\r\n\r\n{names}\r\n".encode()
    code, _ = smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")
    assert code == 250
    unchanged(smtp, PEOPLE)


def test_three_forged_mailbox_full_bounces_on_three_days_change_nobody(
    smtp: RunningSidecar, now: list[datetime]
) -> None:
    for day in range(6):
        raw = (
            "From: MAILER-DAEMON@evil.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <forged-soft-{day}@evil.example>\r\n\r\n"
            f"<{PEOPLE[0]}>: host mx.example.org said: 452 4.2.2 mailbox full\r\n"
        ).encode()
        assert smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
        now[0] += timedelta(days=1)
    unchanged(smtp, PEOPLE[:1])


def test_an_arf_report_naming_a_mailed_recipient_changes_nobody(smtp: RunningSidecar) -> None:
    raw = (
        "From: fbl@evil.example\r\nSubject: complaint\r\nMessage-ID: <forged-arf@evil.example>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nSpam complaint\r\n"
        "--R\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {PEOPLE[1]}\r\n\r\n--R--\r\n"
    ).encode()
    assert smtp.send(raw, [f"fbl@{DOMAIN}"])[0] == 250
    unchanged(smtp, PEOPLE[1:2])
    assert smtp.center.exceptions() == []  # evidence for audit, not an item for a person


def dsn(person: str, original_id: str, mid: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{mid}@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {person}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: news@example.com\r\nTo: {person}\r\nMessage-ID: {original_id}\r\n\r\n--B--\r\n"
    ).encode()


def test_a_dsn_returning_a_message_id_we_never_recorded_changes_nobody(
    smtp: RunningSidecar,
) -> None:
    raw = dsn(PEOPLE[2], "<guessed-1@example.com>", "forged-dsn")
    assert smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    unchanged(smtp, PEOPLE[2:3])


def test_the_same_dsn_returning_the_recorded_message_id_is_acted_on(smtp: RunningSidecar) -> None:
    # The control: proof present, the dead address stops at once, on every kind of mail.
    raw = dsn(PEOPLE[3], f"<{PEOPLE[3]}-m1@example.com>", "real-dsn")
    assert smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    assert {s.scope for s in smtp.center.suppressions(PEOPLE[3])} == {Scope.HARD}
    for kind in KINDS:
        assert not smtp.center.check(PEOPLE[3], kind=kind).allowed
    unchanged(smtp, PEOPLE[4:6])


def test_only_a_keyed_hash_of_the_message_id_is_stored_for_proof(smtp: RunningSidecar) -> None:
    database = Path(smtp.center.settings.database.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT digest, hash FROM sent_messages").fetchall()
    assert len(rows) == len(PEOPLE)
    expected = {smtp.center.message_digest(f"<{person}-m1@example.com>") for person in PEOPLE}
    assert {bytes(row[0]) for row in rows} == expected
    assert all(len(digest) == 16 for digest in expected)
    assert (
        smtp.center.sent_to(f"<{PEOPLE[0]}-m1@example.com>") == smtp.center.identity(PEOPLE[0]).hash
    )


def test_outcomes_are_counted_in_metrics_and_the_report(smtp: RunningSidecar) -> None:
    forged = dsn(PEOPLE[6], "<guessed-2@example.com>", "forged-dsn-2")
    assert smtp.send(forged, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    real = dsn(PEOPLE[7], f"<{PEOPLE[7]}-m1@example.com>", "real-dsn-2")
    assert smtp.send(real, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    metrics = smtp.sidecar.metrics.render()
    assert 'prefcenter_inbound_total{mailbox="bounces",outcome="evidence"} 1' in metrics
    assert 'prefcenter_inbound_total{mailbox="bounces",outcome="suppressed"} 1' in metrics
    report = build_report(smtp.center)
    assert report.bounces == {"evidence: user-unknown": 1, "hard: user-unknown": 1}
    assert "Bounces: evidence: user-unknown 1, hard: user-unknown 1" in format_report(report)
