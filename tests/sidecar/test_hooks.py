"""The /hooks routes on a live sidecar: real-shaped payloads, real signatures, a real store.

Every provider's recorded payload (tests/data/providers, provenance in PROVENANCE.md)
is signed with real keys (a local CA for SNS, an ECDSA key for SendGrid, HMAC keys for
Mailgun, Twilio and Standard Webhooks), POSTed over loopback, and the store is read
back: honoured, idempotent on replay, refused with nothing changed when tampered.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import ConfigError
from prefcenter.model import Action, Reason, Scope
from prefcenter.sidecar.http.app import create_app
from tests.providers.signing import (
    TOPIC_ARN,
    LocalCA,
    SendGridKey,
    load,
    mailgun_body,
    sns_confirmation,
    sns_notification,
    standard_headers,
    twilio_signature,
)
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings

MAILGUN_KEY = "key-" + "3ax6xnjp29jd6fds4gc373sgvjxteol0"
TWILIO_TOKEN = "12345678901234567890123456789012"
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "a-long-postmark-password"
GENERIC_SECRET = "whsec_" + base64.b64encode(b"generic-webhook-secret-32-bytes!").decode()
PUBLIC = "https://prefs.example.com"


@pytest.fixture
def ca() -> LocalCA:
    return LocalCA()


@pytest.fixture(scope="module")
def sendgrid_key() -> SendGridKey:
    return SendGridKey()


#: The store behind ``hooked``: SQLite unless a test asks for both (``BOTH_STORES``).
@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


#: Runs a test on a SQLite file and on a real PostgreSQL (pgserver): the same promises
#: (honoured, a replay changes nothing, a forgery changes nothing) on both stores.
BOTH_STORES = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def hooked(
    tmp_path: Path,
    ca: LocalCA,
    sendgrid_key: SendGridKey,
    backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[LiveSidecar]:
    """A live sidecar with every provider configured, on the ``backend`` store."""
    database = f"sqlite:///{tmp_path / 'prefcenter.db'}"
    if backend == "postgres":
        database = request.getfixturevalue("postgres_url")
    settings = sidecar_settings(
        tmp_path,
        database=database,
        base_url=PUBLIC,
        ses_topic_arns=TOPIC_ARN,
        sendgrid_webhook_public_key=sendgrid_key.public,
        sendgrid_asm_groups="12345=news",
        postmark_webhook_user=POSTMARK_USER,
        postmark_webhook_password=POSTMARK_PASSWORD,
        postmark_stream_topics="broadcast-news=news",
        mailgun_webhook_signing_key=MAILGUN_KEY,
        twilio_auth_token=TWILIO_TOKEN,
        generic_webhook_secret=GENERIC_SECRET,
        sms_stop_words="ARRET",
        sms_stop_reply="You are unsubscribed. Reply START to resubscribe.",
        sms_help_reply="Example News alerts. Reply STOP to stop.",
    )
    with live_sidecar(settings, sns_fetcher=ca.fetch) as server:
        yield server


def blocked(live: LiveSidecar, recipient: str, **kwargs: Any) -> Reason:
    return live.real_center.check(recipient, **kwargs).reason


def event_count(live: LiveSidecar, recipient: str, channel: str = "email") -> int:
    return len(live.real_center.history(recipient, channel=channel))


# -- SES through SNS -------------------------------------------------------------------


def post_sns(client: httpx.Client, message: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/hooks/ses", content=json.dumps(message), headers={"content-type": "text/plain"}
    )


def test_ses_confirms_a_configured_topic_and_refuses_another(
    hooked: LiveSidecar, ca: LocalCA
) -> None:
    with hooked.client() as client:
        answer = post_sns(client, ca.sign(sns_confirmation()))
        assert answer.status_code == 200, answer.text
        assert any("Action=ConfirmSubscription" in url for url in ca.fetched)
        ca.fetched.clear()
        other = sns_confirmation() | {"TopicArn": "arn:aws:sns:eu-west-1:999999999999:evil"}
        answer = post_sns(client, ca.sign(other))
        assert answer.status_code == 403
        assert "SES_TOPIC_ARNS" in answer.json()["error"]["message"]
        assert ca.fetched == []  # neither the certificate nor the SubscribeURL


@pytest.mark.parametrize("version", ["1", "2"])
@BOTH_STORES
def test_ses_permanent_bounce_is_a_hard_stop_once(
    hooked: LiveSidecar, ca: LocalCA, version: str
) -> None:
    message = ca.sign(sns_notification(load("ses_bounce_permanent.json")), version)
    with hooked.client() as client:
        first = post_sns(client, message)
        assert first.status_code == 200, first.text
        assert first.json()["changed"] == 1
        assert blocked(hooked, "gone@example.com") is Reason.HARD_SUPPRESSED
        events = hooked.real_center.history("gone@example.com")
        assert events[-1].evidence == f"ses:{message['MessageId']}"
        assert "gone@example.com" not in (events[-1].reason or "")  # masked in the diagnostic
        again = post_sns(client, message)
        assert again.status_code == 200
        assert again.json() == first.json() | {"changed": 0, "unchanged": 1}
        assert len(hooked.real_center.history("gone@example.com")) == len(events)
    assert ca.fetched.count(message["SigningCertURL"]) == 1  # fetched once, then cached


@BOTH_STORES
def test_ses_tampered_or_foreign_certificate_changes_nothing(
    hooked: LiveSidecar, ca: LocalCA
) -> None:
    message = ca.sign(sns_notification(load("ses_bounce_permanent.json")))
    tampered = dict(message)
    inner = load("ses_bounce_permanent.json")
    inner["bounce"]["bouncedRecipients"][0]["emailAddress"] = "victim@example.com"
    tampered["Message"] = json.dumps(inner)
    foreign = dict(message, SigningCertURL="https://attacker.example/cert.pem")
    with hooked.client() as client:
        assert post_sns(client, tampered).status_code == 401
        assert post_sns(client, foreign).status_code == 401
        assert post_sns(client, {"Type": "Notification"}).status_code == 400
        assert client.post("/hooks/ses", content=b"\xff").status_code == 400
    assert blocked(hooked, "victim@example.com") is Reason.ALLOWED
    assert blocked(hooked, "gone@example.com") is Reason.ALLOWED


def test_ses_trust_bundle_admits_only_certificates_its_authorities_issued(
    tmp_path: Path, ca: LocalCA
) -> None:
    """SES_TRUST_BUNDLE: the signing certificate must chain to it (the local CA here)."""
    message = ca.sign(sns_notification(load("ses_bounce_permanent.json")))
    for name, bundle, status in (("ours", ca.ca_pem, 200), ("theirs", LocalCA().ca_pem, 401)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cas.pem").write_bytes(bundle)
        settings = sidecar_settings(
            tmp_path / name,
            ses_topic_arns=TOPIC_ARN,
            ses_trust_bundle=str(tmp_path / name / "cas.pem"),
        )
        with live_sidecar(settings, sns_fetcher=ca.fetch) as live, live.client() as client:
            answer = post_sns(client, message)
            assert answer.status_code == status, answer.text
            expected = Reason.HARD_SUPPRESSED if status == 200 else Reason.ALLOWED
            assert blocked(live, "gone@example.com") is expected
    unreadable = sidecar_settings(tmp_path, ses_trust_bundle=str(tmp_path / "missing.pem"))
    with PreferenceCenter(unreadable) as center, pytest.raises(ConfigError, match="SES_TRUST"):
        create_app(center, unreadable)


def test_ses_transient_bounce_is_counted_and_complaint_and_subscription_honoured(
    hooked: LiveSidecar, ca: LocalCA
) -> None:
    with hooked.client() as client:
        for name in ("ses_bounce_transient.json", "ses_complaint.json", "ses_subscription.json"):
            answer = post_sns(client, ca.sign(sns_notification(load(name))))
            assert answer.status_code == 200, answer.text
    assert blocked(hooked, "full@example.com") is Reason.ALLOWED  # one soft bounce only
    actions = [event.action for event in hooked.real_center.history("full@example.com")]
    assert actions == [Action.SOFT_BOUNCE]
    assert blocked(hooked, "angry@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "reader@example.com", topic="deals") is Reason.UNSUBSCRIBED_TOPIC
    assert blocked(hooked, "reader@example.com", topic="news") is Reason.ALLOWED


# -- SendGrid ---------------------------------------------------------------------------


@BOTH_STORES
def test_sendgrid_batch_is_honoured_once(hooked: LiveSidecar, sendgrid_key: SendGridKey) -> None:
    body = json.dumps(load("sendgrid_batch.json")).encode()
    with hooked.client() as client:
        answer = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "events": 6,
            "changed": 5,
            "unchanged": 1,
            "ignored": 0,
            "invalid": 0,
            "queued": 0,
        }  # fmt: skip  (the blocked bounce is counted, not yet a stop)
        replay = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
        assert replay.json()["changed"] == 0
    assert blocked(hooked, "bounced@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "blocked@example.com") is Reason.ALLOWED
    assert blocked(hooked, "dropped@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "spam@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "leaver@example.com") is Reason.UNSUBSCRIBED_GLOBAL
    assert blocked(hooked, "grouper@example.com", topic="news") is Reason.UNSUBSCRIBED_TOPIC
    assert blocked(hooked, "grouper@example.com", topic="deals") is Reason.ALLOWED
    assert event_count(hooked, "delivered@example.com") == 0


@BOTH_STORES
def test_sendgrid_tampered_batch_changes_nothing(
    hooked: LiveSidecar, sendgrid_key: SendGridKey
) -> None:
    body = json.dumps(load("sendgrid_batch.json")).encode()
    headers = sendgrid_key.headers(body)
    forged = body.replace(b"leaver@example.com", b"victim@example.com")
    with hooked.client() as client:
        assert client.post("/hooks/sendgrid", content=forged, headers=headers).status_code == 401
        no_signature = {"content-type": "application/json"}
        assert client.post("/hooks/sendgrid", content=body, headers=no_signature).status_code == 401
        other_stamp = dict(headers, **{"X-Twilio-Email-Event-Webhook-Timestamp": "1"})
        assert client.post("/hooks/sendgrid", content=body, headers=other_stamp).status_code == 401
        bad = b'{"not": "a list"}'
        assert (
            client.post(
                "/hooks/sendgrid", content=bad, headers=sendgrid_key.headers(bad)
            ).status_code
            == 400
        )
    assert blocked(hooked, "victim@example.com") is Reason.ALLOWED
    assert blocked(hooked, "leaver@example.com") is Reason.ALLOWED


def test_sendgrid_stale_timestamp_is_refused_and_a_day_old_retry_honoured(
    hooked: LiveSidecar, sendgrid_key: SendGridKey
) -> None:
    body = json.dumps(load("sendgrid_batch.json")).encode()
    four_days = str(int(time.time()) - 4 * 86400)
    a_day = str(int(time.time()) - 86400)  # SendGrid retries for up to 24 hours
    with hooked.client() as client:
        stale = client.post(
            "/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body, four_days)
        )
        assert stale.status_code == 401
        assert "SENDGRID_TIMESTAMP_TOLERANCE" in stale.json()["error"]["message"]
        assert blocked(hooked, "leaver@example.com") is Reason.ALLOWED
        assert event_count(hooked, "leaver@example.com") == 0
        retry = client.post(
            "/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body, a_day)
        )
        assert retry.status_code == 200, retry.text
    assert blocked(hooked, "leaver@example.com") is Reason.UNSUBSCRIBED_GLOBAL


def test_sendgrid_batch_of_a_thousand_is_one_transaction(
    hooked: LiveSidecar, sendgrid_key: SendGridKey
) -> None:
    events = [
        {"email": f"batch{n}@example.com", "event": "unsubscribe", "timestamp": 1764499200,
         "sg_event_id": f"batch-{n}"}
        for n in range(1000)
    ]  # fmt: skip
    body = json.dumps(events).encode()
    before = hooked.faults.commits
    with hooked.client() as client:
        answer = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
    assert answer.status_code == 200
    assert answer.json()["changed"] == 1000
    assert hooked.faults.commits == before + 1
    assert blocked(hooked, "batch999@example.com") is Reason.UNSUBSCRIBED_GLOBAL


# -- Postmark ---------------------------------------------------------------------------


def postmark(client: httpx.Client, name: str, password: str = POSTMARK_PASSWORD) -> httpx.Response:
    return client.post("/hooks/postmark", json=load(name), auth=(POSTMARK_USER, password))


@BOTH_STORES
def test_postmark_records_are_honoured_once(hooked: LiveSidecar) -> None:
    with hooked.client() as client:
        for name in (
            "postmark_bounce.json",
            "postmark_spam_complaint.json",
            "postmark_subscription_change.json",
        ):
            assert postmark(client, name).status_code == 200
        assert postmark(client, "postmark_bounce.json").json()["changed"] == 0
    assert blocked(hooked, "john@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "complainer@example.com") is Reason.HARD_SUPPRESSED
    # The stream broadcast-news is the topic news: only that topic stops.
    assert blocked(hooked, "unsubscriber@example.com", topic="news") is Reason.UNSUBSCRIBED_TOPIC
    assert blocked(hooked, "unsubscriber@example.com", topic="deals") is Reason.ALLOWED


@BOTH_STORES
def test_postmark_wrong_credentials_change_nothing(hooked: LiveSidecar) -> None:
    with hooked.client() as client:
        answer = postmark(client, "postmark_bounce.json", password="wrong-password-here")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert client.post("/hooks/postmark", json=load("postmark_bounce.json")).status_code == 401
    assert blocked(hooked, "john@example.com") is Reason.ALLOWED


# -- Mailgun ----------------------------------------------------------------------------


@BOTH_STORES
def test_mailgun_events_are_honoured_once(hooked: LiveSidecar) -> None:
    with hooked.client() as client:
        for name in (
            "mailgun_failed_permanent.json",
            "mailgun_complained.json",
            "mailgun_unsubscribed.json",
        ):
            body = mailgun_body(MAILGUN_KEY, load(name))
            answer = client.post(
                "/hooks/mailgun", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200, answer.text
            again = client.post(
                "/hooks/mailgun", content=body, headers={"content-type": "application/json"}
            )
            assert again.status_code == 200 and again.json()["changed"] == 0
    assert blocked(hooked, "alice@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "carol@example.com") is Reason.HARD_SUPPRESSED
    assert blocked(hooked, "dave@example.com") is Reason.UNSUBSCRIBED_GLOBAL


@BOTH_STORES
def test_mailgun_forged_stale_and_reused_token_change_nothing(hooked: LiveSidecar) -> None:
    event = load("mailgun_unsubscribed.json")
    headers = {"content-type": "application/json"}
    with hooked.client() as client:
        body = mailgun_body("not-the-key", event)
        assert client.post("/hooks/mailgun", content=body, headers=headers).status_code == 401
        stale = mailgun_body(MAILGUN_KEY, event, timestamp=int(time.time()) - 3600)
        assert client.post("/hooks/mailgun", content=stale, headers=headers).status_code == 401
        genuine = mailgun_body(MAILGUN_KEY, load("mailgun_complained.json"), token="t" * 50)
        assert client.post("/hooks/mailgun", content=genuine, headers=headers).status_code == 200
        # The signature covers only timestamp and token: another event under them is refused.
        reused = json.loads(genuine)
        reused["event-data"] = event
        answer = client.post("/hooks/mailgun", content=json.dumps(reused), headers=headers)
        assert answer.status_code == 401
    assert blocked(hooked, "dave@example.com") is Reason.ALLOWED


def test_a_mailgun_token_seen_by_one_replica_is_refused_by_another(hooked: LiveSidecar) -> None:
    """The tokens are kept in the store: a second sidecar on it refuses a replayed one."""
    headers = {"content-type": "application/json"}
    genuine = mailgun_body(MAILGUN_KEY, load("mailgun_complained.json"), token="r" * 50)
    reused = json.loads(genuine)
    reused["event-data"] = load("mailgun_unsubscribed.json")
    with live_sidecar(hooked.settings) as replica:
        with hooked.client() as client:
            assert (
                client.post("/hooks/mailgun", content=genuine, headers=headers).status_code == 200
            )
        with replica.client() as client:
            answer = client.post("/hooks/mailgun", content=json.dumps(reused), headers=headers)
            assert answer.status_code == 401, answer.text
            assert "already used" in answer.json()["error"]["message"]
            # The genuine request redelivered to the replica is a no-op, not a refusal.
            again = client.post("/hooks/mailgun", content=genuine, headers=headers)
            assert again.status_code == 200 and again.json()["changed"] == 0
    assert blocked(hooked, "dave@example.com") is Reason.ALLOWED


# -- Twilio -----------------------------------------------------------------------------


def twilio(
    client: httpx.Client, params: dict[str, str], token: str = TWILIO_TOKEN
) -> httpx.Response:
    signature = twilio_signature(token, PUBLIC + "/hooks/twilio", params)
    return client.post("/hooks/twilio", data=params, headers={"x-twilio-signature": signature})


def sms(body: str, number: str = "+14155550123") -> dict[str, str]:
    return {
        "MessageSid": "SM" + os.urandom(16).hex(),
        "AccountSid": "AC" + "a" * 32,
        "From": number,
        "To": "+14155550100",
        "Body": body,
        "NumMedia": "0",
    }


@BOTH_STORES
def test_twilio_stop_start_help_and_free_text(hooked: LiveSidecar) -> None:
    number = "+14155550123"
    with hooked.client() as client:
        stop = sms(" stop! ")
        answer = twilio(client, stop)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert (
            b"<Message>You are unsubscribed. Reply START to resubscribe.</Message>"
            in answer.content
        )
        assert blocked(hooked, number, channel="sms") is Reason.UNSUBSCRIBED_GLOBAL
        assert blocked(hooked, "+1 415 555 0123", channel="sms") is Reason.UNSUBSCRIBED_GLOBAL
        assert twilio(client, stop).status_code == 200  # Twilio's retry: nothing new
        assert event_count(hooked, number, "sms") == 1
        assert b"Reply STOP to stop" in twilio(client, sms("help")).content
        assert twilio(client, sms("START")).status_code == 200
        assert blocked(hooked, number, channel="sms") is Reason.ALLOWED
        assert twilio(client, sms("Arrêt")).status_code == 200  # not ARRET: an accent
        assert twilio(client, sms("arret.")).status_code == 200  # a configured word
        assert blocked(hooked, number, channel="sms") is Reason.UNSUBSCRIBED_GLOBAL
        before = len(hooked.real_center.exceptions())
        assert twilio(client, sms("please stop texting me", "+14155550124")).status_code == 200
        assert len(hooked.real_center.exceptions()) == before + 1
        assert blocked(hooked, "+14155550124", channel="sms") is Reason.ALLOWED  # a person decides


def test_twilio_recorded_advanced_opt_out_is_honoured(hooked: LiveSidecar) -> None:
    params = load("twilio_stop.json")
    with hooked.client() as client:
        answer = twilio(client, params)
    assert answer.status_code == 200
    assert b"<Message>" not in answer.content  # Twilio's Advanced Opt-Out replied already
    assert blocked(hooked, params["From"], channel="sms") is Reason.UNSUBSCRIBED_GLOBAL
    decision = hooked.real_center.check(params["From"], channel="sms")
    assert decision.scope is Scope.GLOBAL


@BOTH_STORES
def test_twilio_bad_signature_or_internal_url_changes_nothing(hooked: LiveSidecar) -> None:
    params = sms("STOP", "+14155550199")
    with hooked.client() as client:
        assert twilio(client, params, token="0" * 32).status_code == 401
        # Signed for the address the proxy forwarded to, not the public BASE_URL.
        signature = twilio_signature(TWILIO_TOKEN, hooked.url + "/hooks/twilio", params)
        answer = client.post(
            "/hooks/twilio", data=params, headers={"x-twilio-signature": signature}
        )
        assert answer.status_code == 401
        assert "BASE_URL" in answer.json()["error"]["message"]
        tampered = dict(params, From="+14155550198")
        signature = twilio_signature(TWILIO_TOKEN, PUBLIC + "/hooks/twilio", params)
        answer = client.post(
            "/hooks/twilio", data=tampered, headers={"x-twilio-signature": signature}
        )
        assert answer.status_code == 401
    assert blocked(hooked, "+14155550199", channel="sms") is Reason.ALLOWED
    assert blocked(hooked, "+14155550198", channel="sms") is Reason.ALLOWED


# -- generic (Standard Webhooks) ----------------------------------------------------------


@BOTH_STORES
def test_generic_event_is_honoured_once_and_forgery_refused(hooked: LiveSidecar) -> None:
    body = json.dumps(
        {
            "type": "suppress",
            "recipient": "+14155550111",
            "channel": "voice",
            "reason": "asked the call centre",
        }
    ).encode()
    headers = standard_headers(GENERIC_SECRET, body, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    with hooked.client() as client:
        assert client.post("/hooks/generic", content=body, headers=headers).json()["changed"] == 1
        assert client.post("/hooks/generic", content=body, headers=headers).json()["changed"] == 0
        forged = body.replace(b"0111", b"0112")
        assert client.post("/hooks/generic", content=forged, headers=headers).status_code == 401
        stale = standard_headers(GENERIC_SECRET, body, "msg_x", timestamp=int(time.time()) - 3600)
        assert client.post("/hooks/generic", content=body, headers=stale).status_code == 401
        odd = b'{"type": "delete-everything", "recipient": "a@example.com"}'
        odd_headers = standard_headers(GENERIC_SECRET, odd, "msg_y")
        assert client.post("/hooks/generic", content=odd, headers=odd_headers).status_code == 400
    assert blocked(hooked, "+14155550111", channel="voice") is Reason.UNSUBSCRIBED_GLOBAL
    assert blocked(hooked, "+14155550112", channel="voice") is Reason.ALLOWED


# -- the promises every route shares ----------------------------------------------------------


def test_store_failure_answers_503_counts_it_and_the_retry_commits(
    hooked: LiveSidecar, sendgrid_key: SendGridKey
) -> None:
    body = json.dumps(load("sendgrid_batch.json")).encode()
    with hooked.client() as client:
        hooked.faults.fail = True
        answer = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
        hooked.faults.fail = False
        assert answer.status_code == 503
        assert answer.headers["retry-after"]
        assert blocked(hooked, "leaver@example.com") is Reason.ALLOWED
        metrics = client.get("/metrics").text
        assert 'prefcenter_webhook_failures_total{provider="sendgrid",status="503"} 1' in metrics
        retry = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
        assert retry.status_code == 200
        assert (
            'prefcenter_webhook_events_total{provider="sendgrid",outcome="changed"} 5'
            in client.get("/metrics").text
        )
    assert blocked(hooked, "leaver@example.com") is Reason.UNSUBSCRIBED_GLOBAL


def test_oversized_body_is_413(hooked: LiveSidecar, sendgrid_key: SendGridKey) -> None:
    body = b"[" + b" " * (4 * 1024 * 1024) + b"]"
    with hooked.client() as client:
        answer = client.post("/hooks/sendgrid", content=body, headers=sendgrid_key.headers(body))
    assert answer.status_code == 413


def test_unconfigured_hooks_answer_404(live: LiveSidecar) -> None:
    with live.client() as client:
        for name in ("ses", "sendgrid", "postmark", "mailgun", "twilio", "generic"):
            answer = client.post(f"/hooks/{name}", content=b"{}")
            assert answer.status_code == 404, name
            assert "PREFCENTER_" in answer.json()["error"]["message"]


def test_hooks_answer_only_post_and_only_known_providers(hooked: LiveSidecar) -> None:
    with hooked.client() as client:
        answer = client.get("/hooks/sendgrid")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
        assert client.post("/hooks/sparkpost", content=b"[]").status_code == 404
        assert answer.headers["x-request-id"]
        metrics = client.get("/metrics").text
    assert 'route="/hooks/sendgrid",method="GET",status="405"' in metrics


def test_postmark_reactivation_lifts_only_what_the_person_asked(hooked: LiveSidecar) -> None:
    change = load("postmark_subscription_change.json") | {"MessageStream": "outbound"}
    with hooked.client() as client:
        auth = (POSTMARK_USER, POSTMARK_PASSWORD)
        assert client.post("/hooks/postmark", json=change, auth=auth).status_code == 200
        assert blocked(hooked, "unsubscriber@example.com") is Reason.UNSUBSCRIBED_GLOBAL
        by_operator = change | {"SuppressSending": False, "Origin": "Customer",
                                "ChangedAt": "2026-11-30T13:00:00Z"}  # fmt: skip
        answer = client.post("/hooks/postmark", json=by_operator, auth=auth)
        assert answer.json()["ignored"] == 1
        assert blocked(hooked, "unsubscriber@example.com") is Reason.UNSUBSCRIBED_GLOBAL
        by_person = by_operator | {"Origin": "Recipient", "ChangedAt": "2026-11-30T14:00:00Z"}
        assert client.post("/hooks/postmark", json=by_person, auth=auth).json()["changed"] == 1
    assert blocked(hooked, "unsubscriber@example.com") is Reason.ALLOWED


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("sendgrid_webhook_public_key", "not-a-key", "SENDGRID_WEBHOOK_PUBLIC_KEY"),
        ("generic_webhook_secret", "whsec_!!!", "GENERIC_WEBHOOK_SECRET"),
    ],
)
def test_an_unusable_key_stops_the_sidecar_at_start_naming_the_setting(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    from prefcenter.center import PreferenceCenter
    from prefcenter.errors import ConfigError
    from prefcenter.sidecar.http.app import create_app

    settings = sidecar_settings(tmp_path, **{setting: value})
    with PreferenceCenter(settings) as center, pytest.raises(ConfigError) as caught:
        create_app(center, settings)
    assert named in str(caught.value)


def test_a_chunked_body_past_the_limit_is_413(
    hooked: LiveSidecar, sendgrid_key: SendGridKey
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(66):  # 66 x 64 KiB: past 4 MiB, within the connection's own cap
            yield b" " * 65536
        yield b"]"

    headers = sendgrid_key.headers(b"[]")
    with hooked.client() as client:
        answer = client.post("/hooks/sendgrid", content=chunks(), headers=headers)
    assert answer.status_code == 413


def test_ses_messages_that_carry_no_opt_out_change_nothing(
    hooked: LiveSidecar, ca: LocalCA
) -> None:
    delivery = {"notificationType": "Delivery", "mail": {"destination": ["ok@example.com"]},
                "delivery": {"recipients": ["ok@example.com"]}}  # fmt: skip
    goodbye = sns_confirmation() | {"Type": "UnsubscribeConfirmation"}
    with hooked.client() as client:
        for message in (sns_notification(delivery), goodbye):
            answer = post_sns(client, ca.sign(message))
            assert answer.status_code == 200
            assert answer.json()["events"] == 0
    assert not any("Action=ConfirmSubscription" in url for url in ca.fetched)
    assert event_count(hooked, "ok@example.com") == 0


def test_provider_bounces_go_through_the_bounce_policy(hooked: LiveSidecar) -> None:
    """A provider's "hard bounce" about our content is evidence, never a stop; a full
    mailbox adds to the score; a dead address stops at once (issue 21's policy)."""
    cases = [
        ("spam@example.com", "HardBounce", "550 5.7.1 Message rejected as spam by content filter"),
        ("full@example.com", "SoftBounce", "452 4.2.2 Mailbox full, over quota"),
        ("dead@example.com", "HardBounce", "550 5.1.1 No such user here"),
    ]
    with hooked.client() as client:
        for number, (address, kind, details) in enumerate(cases):
            record = load("postmark_bounce.json") | {
                "ID": 9000 + number,
                "Type": kind,
                "Email": address,
                "Description": "",
                "Details": details,
            }
            answer = client.post(
                "/hooks/postmark", json=record, auth=(POSTMARK_USER, POSTMARK_PASSWORD)
            )
            assert answer.status_code == 200, answer.text
    assert blocked(hooked, "spam@example.com") is Reason.ALLOWED
    assert blocked(hooked, "full@example.com") is Reason.ALLOWED
    assert blocked(hooked, "dead@example.com") is Reason.HARD_SUPPRESSED
    [spam] = hooked.real_center.history("spam@example.com")
    [full] = hooked.real_center.history("full@example.com")
    assert (spam.reason or "").startswith("filtered; score 0/")  # about us: no point
    assert "mailbox-full" in (full.reason or "") and "score 1/" in (full.reason or "")
