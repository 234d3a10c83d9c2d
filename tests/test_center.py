"""PreferenceCenter as senders use it: opening, links and tokens, errors, transactions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import InvalidInput, InvalidRecipient, InvalidTopic, StoreUnavailable
from prefcenter.model import Channel, Reason, Source
from prefcenter.tokens import Purpose
from prefcenter.topics import NO_TOPIC, topic_digest
from tests.conftest import TEST_PEPPER, TEST_SECRET, make_settings

MUTATIONS = (
    "suppress",
    "resubscribe",
    "set_topic",
    "set_frequency",
    "pause",
    "resume",
    "record_sent",
    "record_soft_bounce",
    "open_exception",
    "forget",
    "link",
)


def test_from_env_opens_and_closes(tmp_path: Path) -> None:
    center = PreferenceCenter.from_env(
        database=f"sqlite:///{tmp_path / 'env.db'}",
        secret=TEST_SECRET,
        pepper=TEST_PEPPER,
        var_dir=str(tmp_path / "var"),
    )
    with center:
        center.ping()
        assert center.check("alice@example.com").allowed
    with pytest.raises(StoreUnavailable, match="is closed; open a new one"):
        center.ping()


def test_attributes_of_the_contract(settings_center: PreferenceCenter) -> None:
    center = settings_center
    for name in ("settings", "identities", "store", "links", "signer"):
        assert getattr(center, name) is not None
    with center.transaction() as changes:
        for name in MUTATIONS:
            assert callable(getattr(changes, name)), name


@pytest.fixture
def settings_center(tmp_path: Path) -> Iterator[PreferenceCenter]:
    center = PreferenceCenter(make_settings(tmp_path, topics="weekly=Weekly digest"))
    yield center
    center.close()


def test_signing_for_a_topic_registers_it_for_every_center(
    settings_center: PreferenceCenter, tmp_path: Path
) -> None:
    headers = settings_center.headers("Alice@Example.com", "spring-sale")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with PreferenceCenter(make_settings(tmp_path)) as other:
        assert other.topic_name(topic_digest("spring-sale")) == "spring-sale"
        assert other.topic_name(topic_digest("never-signed")) is None
        assert other.topic_name(NO_TOPIC) is None


def test_configured_topics_are_known_without_signing(settings_center: PreferenceCenter) -> None:
    assert settings_center.topic_name(topic_digest("weekly")) == "weekly"


def test_stamp_and_links_carry_verifiable_tokens(settings_center: PreferenceCenter) -> None:
    center = settings_center
    message = center.stamp(EmailMessage(), "alice@example.com", "weekly")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = center.preferences_url("alice@example.com").rsplit("/", 1)[1]
    claims = center.verify_token(token, Purpose.PREFERENCES)
    assert claims.identity_hash == center.identity("ALICE@example.com").hash
    assert center.identity_from_claims(claims).channel is Channel.EMAIL


def test_identity_passes_through_and_channels_accept_strings(
    settings_center: PreferenceCenter,
) -> None:
    center = settings_center
    phone = center.identity("+1 (415) 555-0100", "sms")
    assert center.identity(phone) is phone
    center.suppress(phone, source=Source.CLI)
    assert not center.check("+14155550100", channel="sms").allowed
    assert not center.check(phone).allowed


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.check("not an address"), InvalidRecipient),
        (lambda c: c.check("alice@example.com", "bad\ntopic"), InvalidTopic),
        (lambda c: c.unsubscribe_url("alice@example.com", "half\ud800"), InvalidTopic),
        (lambda c: c.suppress("a@example.com", topic="", source=Source.CLI), InvalidTopic),
        (lambda c: c.check("alice@example.com", at=datetime(2026, 1, 1)), InvalidInput),
        (lambda c: c.pause("a@example.com", datetime(2026, 1, 1), source=Source.WEB), InvalidInput),
        # Enum values by name: a wrong one is an InvalidInput listing the choices.
        (lambda c: c.check("a@example.com", channel="fax"), InvalidInput),
        (lambda c: c.check("a@example.com", kind="promo"), InvalidInput),
        (lambda c: c.filter(["a@example.com"], channel="EMAIL"), InvalidInput),
        (lambda c: c.filter(["a@example.com"], at=datetime(2026, 1, 1)), InvalidInput),
        (lambda c: c.screen(kind="promo"), InvalidInput),
        (lambda c: c.record_sent("a@example.com", kind="promo"), InvalidInput),
        (lambda c: c.suppress("a@example.com", source="nobody"), InvalidInput),
        (lambda c: c.suppress("a@example.com", source=None), InvalidInput),
        # Times: requested_at naive or after the change; a send in the future.
        (lambda c: c.suppress("a@example.com", source=Source.API,
                              requested_at=datetime(2026, 1, 1)), InvalidInput),
        (lambda c: c.suppress("a@example.com", source=Source.API,
                              requested_at=datetime.now(UTC) + timedelta(days=30)), InvalidInput),
        # Other values: a bool is a bool, a ceiling is at most ten years, a list is a list.
        (lambda c: c.set_topic("a@example.com", "weekly", "no", source=Source.WEB), InvalidInput),
        (lambda c: c.set_frequency("a@example.com", 10**30, source=Source.WEB), InvalidInput),
        (lambda c: c.filter("alice@example.com"), InvalidInput),
        (lambda c: c.record_sent("a@example.com", sender="crm\r\nforged: line"), InvalidInput),
        (lambda c: c.record_sent("a@example.com", message_id="<m>\n<n>"), InvalidInput),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_clear_error(
    settings_center: PreferenceCenter, call: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(settings_center)  # type: ignore[operator]
    counts = settings_center.store.counts()
    assert (counts["events"], counts["contacts"]) == (0, 0)


def test_naive_times_are_named_in_the_error(settings_center: PreferenceCenter) -> None:
    with pytest.raises(InvalidInput, match="is not usable; pass a timezone-aware datetime"):
        settings_center.check("alice@example.com", at=datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="Channel 'fax' does not exist; use one of email, sms"):
        settings_center.check("alice@example.com", channel="fax")


def test_items_that_are_not_text_are_invalid_rows(settings_center: PreferenceCenter) -> None:
    people = [f"p{i}@example.com" for i in range(100)]
    result = settings_center.filter([None, *people[:50], 5, *people[50:], b"x@example.com"])  # type: ignore[list-item]
    assert result.sendable == people
    refused: list[tuple[object, Reason]] = [(r.recipient, r.reason) for r in result.refused]
    assert refused == [
        (None, Reason.INVALID), (5, Reason.INVALID), (b"x@example.com", Reason.INVALID)
    ]  # fmt: skip


def test_history_says_what_a_change_set(settings_center: PreferenceCenter) -> None:
    center, until = settings_center, datetime(2031, 5, 1, tzinfo=UTC)
    center.pause("a@example.com", until, source=Source.WEB)
    center.set_frequency("a@example.com", 7, source=Source.WEB)
    center.resume("a@example.com", source=Source.WEB)
    events = center.history("a@example.com")
    assert [(e.action.value, e.detail) for e in events] == [
        ("pause", until.isoformat()), ("set-frequency", "7"), ("resume", "")
    ]  # fmt: skip


def test_linking_an_identity_to_itself_writes_nothing(settings_center: PreferenceCenter) -> None:
    assert not settings_center.link("y5@example.com", "Y5@Example.com", source=Source.CLI)
    assert settings_center.store.counts()["events"] == 0


def test_a_send_is_recorded_with_a_past_aware_time(settings_center: PreferenceCenter) -> None:
    center, now = settings_center, datetime.now(UTC)
    with pytest.raises(InvalidInput, match="not usable; pass a timezone-aware datetime"):
        center.record_sent("a@example.com", at=datetime(2026, 1, 1))
    future = now + timedelta(days=1)
    with pytest.raises(InvalidInput, match=re.escape(f"Send time {future.isoformat()} is in")):
        center.record_sent("a@example.com", at=future)
    assert center.store.counts()["contacts"] == 0
    center.record_sent("a@example.com", at=now + timedelta(minutes=1))  # another host's clock
    center.record_sent("a@example.com", at=now - timedelta(days=30))
    assert center.store.counts()["contacts"] == 2


def test_every_change_records_requested_at(settings_center: PreferenceCenter) -> None:
    center = settings_center
    asked = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    person = "alice@example.com"
    center.set_topic(person, "weekly", False, source=Source.WEB, requested_at=asked)
    center.set_frequency(person, 7, source=Source.WEB, requested_at=asked)
    center.pause(person, asked.replace(year=2030), source=Source.WEB, requested_at=asked)
    center.resume(person, source=Source.WEB, requested_at=asked)
    center.link(person, "bob@example.com", source=Source.API, requested_at=asked)
    center.record_soft_bounce(person, source=Source.BOUNCE, evidence="d1", requested_at=asked)
    center.forget(person, source=Source.CLI, requested_at=asked)
    events = center.history(person)
    assert len(events) == 7
    assert {event.requested_at for event in events} == {asked}


def test_contacted_asks_the_ledger_for_any_send_since_a_time(
    settings_center: PreferenceCenter,
) -> None:
    center = settings_center
    sent = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert not center.contacted("alice@example.com")
    center.record_sent("Alice@Example.com", kind="transactional", at=sent)
    assert center.contacted("alice@example.com")  # any kind, any spelling, ever
    assert center.contacted("alice@example.com", since=sent)  # at `since` counts
    assert not center.contacted("alice@example.com", since=sent + timedelta(milliseconds=1))
    assert not center.contacted("bob@example.com")
    center.record_sent("+14155550100", channel=Channel.SMS, at=sent)
    assert center.contacted("+14155550100", channel="sms")
    with pytest.raises(InvalidRecipient):
        center.contacted("not an address")


def test_a_topic_whose_link_digest_is_taken_is_refused(
    settings_center: PreferenceCenter,
) -> None:
    # Links carry a 4-byte topic digest; these two names share one (found by search).
    center = settings_center
    center.suppress("alice@example.com", topic="campaign-70249", source=Source.CLI)
    with pytest.raises(InvalidTopic, match=r"'campaign-96255' cannot be used.*'campaign-70249'"):
        center.unsubscribe_url("bob@example.com", "campaign-96255")
    with pytest.raises(InvalidTopic, match="digest in links"):
        center.suppress("bob@example.com", topic="campaign-96255", source=Source.CLI)
    assert center.check("bob@example.com", "campaign-70249").allowed  # nothing was written
    assert center.unsubscribe_url("bob@example.com", "campaign-70249")  # the first one works
