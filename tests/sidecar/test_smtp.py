"""The SMTP sidecar on 127.0.0.1, driven by smtplib: what each kind of mail does."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prefcenter.model import Action, Scope, Source
from prefcenter.tokens import Purpose, TokenSigner
from tests.inbound.dkim_testkey import DkimTestKey, make_key
from tests.inbound.webhook_receiver import Hook
from tests.sidecar.smtp_fixtures import (
    ALICE,
    BYSTANDER,
    DOMAIN,
    RunningSidecar,
    mailto,
    running,
    sample,
    verp,
)


@pytest.fixture(scope="module")
def dkim_key() -> DkimTestKey:
    return make_key("example.org")


@pytest.fixture
def smtp(tmp_path: Path, dkim_key: DkimTestKey) -> Iterator[RunningSidecar]:
    with running(
        tmp_path, dnsfunc=dkim_key.resolver(), trusted_authserv_ids="mx.unsub.example.com"
    ) as server:
        yield server


def _actions(smtp: RunningSidecar, address: str = ALICE) -> list[tuple[Action, Source]]:
    return [(e.action, e.source) for e in smtp.center.history(address)]


def _scopes(smtp: RunningSidecar, address: str = ALICE) -> set[Scope]:
    return {s.scope for s in smtp.center.suppressions(address)}


# -- unsubscribe+TOKEN@ ------------------------------------------------------------
def test_token_reply_unsubscribes(smtp: RunningSidecar) -> None:
    code, _ = smtp.send(sample(smtp.center, "reply_client_unsubscribe.eml"), [mailto(smtp.center)])
    assert code == 250
    assert not smtp.center.check(ALICE).allowed
    assert _scopes(smtp) == {Scope.GLOBAL}
    event = smtp.center.history(ALICE)[-1]
    assert (event.action, event.source) == (Action.SUPPRESS, Source.MAILTO)
    assert event.evidence == "<client-unsub-1@mail.example.org>"


def test_token_acts_whatever_the_headers_say(smtp: RunningSidecar) -> None:
    raw = sample(smtp.center, "reply_client_autosubmitted.eml")
    assert smtp.send(raw, [mailto(smtp.center)])[0] == 250
    assert _scopes(smtp) == {Scope.GLOBAL}


def test_token_address_in_any_case(smtp: RunningSidecar) -> None:
    address = mailto(smtp.center).upper()
    assert smtp.send(b"Subject: x\r\n\r\n", [address])[0] == 250
    assert not smtp.center.check(ALICE).allowed


def test_topic_token_unsubscribes_from_that_topic_only(smtp: RunningSidecar) -> None:
    address = mailto(smtp.center, topic="weekly")
    assert smtp.send(b"Subject: unsubscribe\r\n\r\n", [address])[0] == 250
    assert not smtp.center.check(ALICE, "weekly").allowed
    assert smtp.center.check(ALICE, "offers").allowed


def test_redelivery_changes_nothing_twice(smtp: RunningSidecar) -> None:
    raw = sample(smtp.center, "reply_client_unsubscribe.eml")
    assert smtp.send(raw, [mailto(smtp.center)])[0] == 250
    before = smtp.center.history(ALICE)
    assert smtp.send(raw, [mailto(smtp.center)])[0] == 250
    assert smtp.center.history(ALICE) == before


def test_forged_token_is_queued_not_acted_on(smtp: RunningSidecar) -> None:
    other = TokenSigner([b"not-our-key-0123456789abcdef"])
    token = other.sign_mailto(smtp.center.identity(ALICE), None, Purpose.UNSUBSCRIBE)
    code, _ = smtp.send(b"Message-ID: <f@x>\r\n\r\nstop\r\n", [f"unsubscribe+{token}@{DOMAIN}"])
    assert code == 250
    assert smtp.center.check(ALICE).allowed
    [item] = smtp.center.exceptions()
    assert item.mailbox == "unsubscribe"
    assert "token is not valid" in item.why


def test_two_tokens_in_one_message_commit_together(smtp: RunningSidecar) -> None:
    rcpts = [mailto(smtp.center), mailto(smtp.center, "bob@example.org")]
    assert smtp.send(b"Message-ID: <two@x>\r\n\r\n", rcpts)[0] == 250
    assert not smtp.center.check(ALICE).allowed
    assert not smtp.center.check("bob@example.org").allowed


# -- unsubscribe@ --------------------------------------------------------------------
def _plain(sender: str = ALICE, extra: str = "") -> bytes:
    return (
        f"{extra}From: Alice <{sender}>\r\nTo: unsubscribe@{DOMAIN}\r\nSubject: unsubscribe\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <plain-1@example.org>\r\n\r\n"
        "Please take me off your list.\r\n"
    ).encode()


def test_plain_request_with_valid_dkim_unsubscribes(
    smtp: RunningSidecar, dkim_key: DkimTestKey
) -> None:
    assert smtp.send(dkim_key.sign(_plain()), [f"unsubscribe@{DOMAIN}"])[0] == 250
    assert _scopes(smtp) == {Scope.GLOBAL}
    assert smtp.center.exceptions() == []


def test_plain_request_with_forged_dkim_is_queued(
    smtp: RunningSidecar, dkim_key: DkimTestKey
) -> None:
    forged = dkim_key.sign(_plain()).replace(b"take me off", b"take Bob off")
    assert smtp.send(forged, [f"Unsubscribe@{DOMAIN}"])[0] == 250
    assert smtp.center.check(ALICE).allowed
    [item] = smtp.center.exceptions()
    assert "unproven sender" in item.why
    assert item.raw.replace(b"\r\n", b"\n") == forged.replace(b"\r\n", b"\n")


def test_plain_request_signed_by_another_domain_is_queued(smtp: RunningSidecar) -> None:
    attacker = make_key("attacker.example")
    smtp.sidecar.inbox.dnsfunc = attacker.resolver()
    assert smtp.send(attacker.sign(_plain()), [f"unsubscribe@{DOMAIN}"])[0] == 250
    assert smtp.center.check(ALICE).allowed
    assert len(smtp.center.exceptions()) == 1


def test_plain_request_with_trusted_authentication_results(smtp: RunningSidecar) -> None:
    header = "Authentication-Results: mx.unsub.example.com; dmarc=pass header.from=example.org\r\n"
    assert smtp.send(_plain(extra=header), [f"unsubscribe@{DOMAIN}"])[0] == 250
    assert not smtp.center.check(ALICE).allowed


def test_out_of_office_is_accepted_and_ignored(smtp: RunningSidecar) -> None:
    for name in ("ooo_english.eml", "ooo_german.eml", "ooo_french_precedence.eml"):
        assert smtp.send(sample(smtp.center, name), [f"unsubscribe@{DOMAIN}"])[0] == 250
    assert smtp.center.exceptions() == []
    assert smtp.center.check("bob@example.org").allowed


def test_auto_reply_that_may_be_a_request_is_queued(smtp: RunningSidecar) -> None:
    assert (
        smtp.send(sample(smtp.center, "ooo_with_request.eml"), [f"unsubscribe@{DOMAIN}"])[0] == 250
    )
    [item] = smtp.center.exceptions()
    assert "may ask to unsubscribe" in item.why


# -- bounces ---------------------------------------------------------------------------
def test_hard_dsn_via_verp_suppresses_hard(smtp: RunningSidecar) -> None:
    raw = sample(smtp.center, "dsn_hard_postfix.eml")
    assert smtp.send(raw, [verp(smtp.center)], mail_from="")[0] == 250
    assert _scopes(smtp) == {Scope.HARD}
    assert not smtp.center.check(ALICE, kind="transactional").allowed
    assert smtp.center.check(BYSTANDER).allowed
    assert smtp.center.history(BYSTANDER) == []


@pytest.mark.parametrize("name", ["bounce_gmail.eml"])
def test_text_bounce_via_verp(smtp: RunningSidecar, name: str) -> None:
    assert smtp.send(sample(smtp.center, name), [verp(smtp.center)], mail_from="")[0] == 250
    assert _scopes(smtp) == {Scope.HARD}


def test_mailbox_full_scores_a_point_a_day_and_stops_at_the_limit(tmp_path: Path) -> None:
    # Issue 21: a full mailbox is not a dead address. It adds one point a day at most,
    # and the bounce that reaches BOUNCE_SCORE_LIMIT turns into a hard stop.
    now = [datetime(2026, 11, 2, 9, tzinfo=UTC)]
    with running(tmp_path, clock=lambda: now[0], bounce_score_limit=3) as smtp:
        raw = sample(smtp.center, "dsn_soft_mailbox_full.eml")
        assert smtp.send(raw, [verp(smtp.center)], mail_from="")[0] == 250
        assert smtp.send(raw, [verp(smtp.center)], mail_from="")[0] == 250  # re-delivered
        again = raw.replace(b"<dsn-full-1@", b"<dsn-full-1b@")
        assert smtp.send(again, [verp(smtp.center)], mail_from="")[0] == 250  # same day
        assert [e.action for e in smtp.center.history(ALICE)] == [Action.SOFT_BOUNCE] * 2
        assert smtp.center.check(ALICE).allowed
        for n in range(2):
            now[0] += timedelta(days=1)
            other = raw.replace(b"<dsn-full-1@", f"<dsn-full-{n + 2}@".encode())
            assert smtp.send(other, [verp(smtp.center)], mail_from="")[0] == 250
        assert _scopes(smtp) == {Scope.HARD}
        [stop] = smtp.center.suppressions(ALICE)
        assert stop.reason == "bounce score 3 (mailbox-full)"


def test_a_quiet_period_starts_the_score_again(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 2, 9, tzinfo=UTC)]
    with running(tmp_path, clock=lambda: now[0], bounce_score_limit=2) as smtp:
        raw = sample(smtp.center, "dsn_soft_mailbox_full.eml")
        assert smtp.send(raw, [verp(smtp.center)], mail_from="")[0] == 250
        now[0] += timedelta(days=15)  # longer than BOUNCE_QUIET_PERIOD (14 days)
        other = raw.replace(b"<dsn-full-1@", b"<dsn-full-2@")
        assert smtp.send(other, [verp(smtp.center)], mail_from="")[0] == 250
        assert smtp.center.check(ALICE).allowed


def test_delayed_dsn_changes_nothing(smtp: RunningSidecar) -> None:
    assert (
        smtp.send(sample(smtp.center, "dsn_delayed.eml"), [verp(smtp.center)], mail_from="")[0]
        == 250
    )
    assert smtp.center.history(ALICE) == []
    assert smtp.center.exceptions() == []


def test_an_undecidable_bounce_on_the_verp_path_scores_and_queues_nothing(
    smtp: RunningSidecar,
) -> None:
    # Issue 21: machine-made mail nobody can decide is not a person's exception item.
    raw = sample(smtp.center, "bounce_unknown_format.eml")
    assert smtp.send(raw, [verp(smtp.center)], mail_from="")[0] == 250
    assert smtp.center.check(ALICE).allowed
    assert smtp.center.exceptions() == []
    assert [e.action for e in smtp.center.history(ALICE)] == [Action.SOFT_BOUNCE]


def test_verp_hit_without_a_report_is_not_a_bounce(smtp: RunningSidecar) -> None:
    raw = b"From: alice@example.org\r\nSubject: Re: offers\r\nMessage-ID: <r@x>\r\n\r\nNice!\r\n"
    assert smtp.send(raw, [verp(smtp.center)])[0] == 250
    assert smtp.center.history(ALICE) == []
    assert len(smtp.center.exceptions()) == 1
    assert smtp.send(sample(smtp.center, "ooo_english.eml"), [verp(smtp.center)])[0] == 250
    assert len(smtp.center.exceptions()) == 1


@pytest.mark.parametrize("name", ["bounce_exim.eml", "bounce_qmail.eml", "bounce_exchange.eml"])
def test_untokened_bounce_for_a_recipient_we_mailed_is_evidence_only(
    smtp: RunningSidecar, name: str
) -> None:
    # Issue 20: the ledger says we mailed Alice, not that this bounce is about our mail.
    smtp.center.record_sent(ALICE)
    assert smtp.send(sample(smtp.center, name), [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    assert smtp.center.suppressions(ALICE) == []
    assert smtp.center.check(ALICE, kind="transactional").allowed
    assert [e.action for e in smtp.center.history(ALICE)] == [Action.BOUNCE]
    assert smtp.center.history(BYSTANDER) == []
    assert smtp.center.exceptions() == []


def test_untokened_bounce_proven_by_a_recorded_message_id(smtp: RunningSidecar) -> None:
    smtp.center.record_sent(ALICE, message_id="<campaign-42@example.com>")
    raw = sample(smtp.center, "dsn_hard_postfix.eml")
    assert smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    assert _scopes(smtp) == {Scope.HARD}
    assert smtp.center.history(BYSTANDER) == []


def test_untokened_bounce_for_a_stranger_is_kept_for_audit(smtp: RunningSidecar) -> None:
    raw = sample(smtp.center, "bounce_exim.eml")
    assert smtp.send(raw, [f"bounces@{DOMAIN}"], mail_from="")[0] == 250
    assert smtp.center.suppressions(ALICE) == []
    assert smtp.center.exceptions() == []
    assert smtp.center.store.counts()["machine_mail_kept"] == 1


# -- fbl@ ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["arf_standard.eml", "arf_redacted.eml"])
def test_complaint_found_through_our_token(smtp: RunningSidecar, name: str) -> None:
    assert smtp.send(sample(smtp.center, name), [f"fbl@{DOMAIN}"])[0] == 250
    assert _scopes(smtp) == {Scope.HARD}
    assert _actions(smtp)[-1] == (Action.SUPPRESS, Source.COMPLAINT)
    assert smtp.center.history(BYSTANDER) == []


def test_complaint_naming_a_mailed_recipient_without_proof_changes_nobody(
    smtp: RunningSidecar,
) -> None:
    # Issue 20: anyone can send a report naming a recipient we mailed.
    smtp.center.record_sent(ALICE, sender="news@example.com")
    assert smtp.send(sample(smtp.center, "arf_no_original.eml"), [f"fbl@{DOMAIN}"])[0] == 250
    assert smtp.center.suppressions(ALICE) == []
    assert smtp.center.exceptions() == []
    assert smtp.center.store.counts()["machine_mail_kept"] == 1


def test_complaint_about_someone_never_mailed_is_kept_for_audit(smtp: RunningSidecar) -> None:
    # Anyone can send a report: naming a stranger must not stop their mail (or store them).
    raw = sample(smtp.center, "arf_no_original.eml", RCPT="never.mailed@example.net")
    assert smtp.send(raw, [f"fbl@{DOMAIN}"])[0] == 250
    assert smtp.center.check("never.mailed@example.net", kind="transactional").allowed
    assert smtp.center.exceptions() == []
    assert smtp.center.history("never.mailed@example.net") == []


def test_complaint_naming_nobody_is_kept_for_audit(smtp: RunningSidecar) -> None:
    assert smtp.send(sample(smtp.center, "arf_fully_redacted.eml"), [f"fbl@{DOMAIN}"])[0] == 250
    assert smtp.center.exceptions() == []
    assert smtp.center.store.counts()["machine_mail_kept"] == 1


# -- refusals ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rcpt",
    [
        f"postmaster+x@{DOMAIN}",
        f"alice@{DOMAIN}",
        "unsubscribe@example.org",
        "alice@example.org",
        f"unsubscribe+not-a-token@{DOMAIN}",
        f"fbl+x@{DOMAIN}",
        f"unsubscribe@{DOMAIN}.evil.example",
    ],
)
def test_other_recipients_are_refused_at_rcpt(smtp: RunningSidecar, rcpt: str) -> None:
    with smtp.client() as client:
        client.mail("sender@example.org")
        code, _ = client.rcpt(rcpt)
    assert code == 550


@pytest.mark.parametrize("rcpt", [f"postmaster@{DOMAIN}", "postmaster"])
def test_mail_to_postmaster_is_accepted_for_a_person(smtp: RunningSidecar, rcpt: str) -> None:
    raw = b"From: someone@example.org\r\nSubject: your server\r\n\r\nHello postmaster\r\n"
    assert smtp.send(raw, [rcpt])[0] == 250
    [item] = smtp.center.exceptions()
    assert (item.mailbox, item.why) == ("postmaster", "Mail to postmaster: for a person.")


# -- notices -----------------------------------------------------------------------------
def test_new_and_overdue_exceptions_are_announced_once(tmp_path: Path) -> None:
    hook = Hook(failures=1)
    try:
        with running(
            tmp_path, notify_webhook=hook.url, exception_due="0s", sweep_interval=3600
        ) as server:
            server.sidecar.notifier.first_delay = 0.01
            raw = b"Message-ID: <q@x>\r\nSubject: hi\r\n\r\nplease stop\r\n"
            for _ in range(2):  # a re-delivery is not a second exception
                assert server.send(raw, [f"unsubscribe@{DOMAIN}"])[0] == 250
            [item] = server.center.exceptions()
            assert server.call(server.sidecar.sweep()) == 1
            assert server.call(server.sidecar.sweep()) == 0
            assert _settle(lambda: len(hook.bodies) == 2)
    finally:
        hook.close()
    assert sorted((b["event"], b["id"]) for b in hook.bodies) == [
        ("exception-opened", item.id),
        ("exception-overdue", item.id),
    ]
    assert all("raw" not in body and ALICE not in json.dumps(body) for body in hook.bodies)


def _settle(predicate: Callable[[], bool]) -> bool:
    end = time.monotonic() + 10
    while not predicate() and time.monotonic() < end:
        time.sleep(0.02)
    return predicate()


def test_feedback_types_that_are_not_complaints(smtp: RunningSidecar) -> None:
    raw = sample(smtp.center, "arf_standard.eml")
    not_spam = raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    assert smtp.send(not_spam, [f"fbl@{DOMAIN}"])[0] == 250
    assert smtp.center.exceptions() == []
    unknown = raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: dmarc-aggregate")
    unknown = unknown.replace(b"<arf-1@", b"<arf-2@")
    assert smtp.send(unknown, [f"fbl@{DOMAIN}"])[0] == 250
    assert smtp.center.exceptions() == []  # machine-made: kept for audit, not a person's item
    assert smtp.center.store.counts()["machine_mail_kept"] == 1
    assert smtp.center.history(ALICE) == []


@pytest.mark.postgres
def test_the_same_mail_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    with running(tmp_path, database=postgres_url) as server:
        raw = sample(server.center, "reply_client_unsubscribe.eml")
        assert server.send(raw, [mailto(server.center)])[0] == 250
        assert server.send(raw, [mailto(server.center)])[0] == 250
        hard = sample(server.center, "dsn_hard_postfix.eml")
        assert server.send(hard, [verp(server.center)], mail_from="")[0] == 250
        assert {s.scope for s in server.center.suppressions(ALICE)} == {Scope.GLOBAL, Scope.HARD}
        assert len(server.center.history(ALICE)) == 2
        assert server.center.history(BYSTANDER) == []


def test_a_different_message_reusing_a_message_id_is_not_lost(smtp: RunningSidecar) -> None:
    first = b"Message-ID: <same@x>\r\nSubject: hi\r\n\r\nplease stop\r\n"
    second = b"Message-ID: <same@x>\r\nSubject: hi\r\n\r\nsomething else entirely\r\n"
    for raw in (first, first, second):
        assert smtp.send(raw, [f"unsubscribe@{DOMAIN}"])[0] == 250
    assert sorted(item.raw.split(b"\r\n\r\n")[1] for item in smtp.center.exceptions()) == [
        b"please stop\r\n",
        b"something else entirely\r\n",
    ]


def test_logs_never_carry_an_address(
    tmp_path: Path, dkim_key: DkimTestKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running(tmp_path, dnsfunc=dkim_key.resolver()) as server:
        center = server.center
        assert (
            server.send(sample(center, "reply_client_unsubscribe.eml"), [mailto(center)])[0] == 250
        )
        assert server.send(_plain(), [f"unsubscribe@{DOMAIN}"])[0] == 250
        signed = dkim_key.sign(_plain().replace(b"plain-1", b"plain-2"))
        assert server.send(signed, [f"unsubscribe@{DOMAIN}"])[0] == 250
        hard = sample(center, "dsn_hard_postfix.eml")
        assert server.send(hard, [verp(center)], mail_from="")[0] == 250
        with server.client() as client:
            client.mail(ALICE)
            assert client.rcpt(ALICE)[0] == 550
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "suppressed" in logged
    assert "alice" not in logged.lower()
    assert "bystander" not in logged.lower()
