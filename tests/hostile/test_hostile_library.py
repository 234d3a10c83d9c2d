"""Hostile library input: header injection, look-alike addresses, SQL metacharacters.

Senders pass whatever their databases hold into ``PreferenceCenter``; a line break in a
topic must never become a mail header, a Cyrillic "а" must never unsubscribe the ASCII
person, and quotes must never reach SQL as code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import ConfigError, InvalidInput
from prefcenter.model import Source
from tests.conftest import make_settings
from tests.hostile.conftest import ALICE, Hostile, delta

SEPARATORS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x00", "\x0b"]
#: What suppressing someone new adds: the event, the suppression, the remembered address.
NEW_PERSON = {"+events": 1, "+identities": 1, "+suppressions": 1}
SQL = ["'; DROP TABLE events;--", '" OR 1=1 --', "x') ; DELETE FROM suppressions; --", "%_\\"]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_line_breaks_in_a_topic_are_refused_everywhere(unchanged: Hostile, separator: str) -> None:
    center, topic = unchanged.center, f"news{separator}Bcc: all@example.com"
    calls: list[Callable[[], object]] = [
        lambda: center.headers(ALICE, topic),
        lambda: center.unsubscribe_url(ALICE, topic),
        lambda: center.suppress(ALICE, topic=topic, source=Source.API, evidence=None),
        lambda: center.set_topic(ALICE, topic, False, source=Source.API, evidence=None),
        lambda: center.check(ALICE, topic),
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()


@pytest.mark.parametrize("separator", SEPARATORS)
def test_line_breaks_in_an_address_are_refused_everywhere(
    unchanged: Hostile, separator: str
) -> None:
    center, address = unchanged.center, f"alice@example.com{separator}Bcc: all@example.com"
    calls: list[Callable[[], object]] = [
        lambda: center.headers(address),
        lambda: center.suppress(address, source=Source.API, evidence=None),
        lambda: center.record_sent(address),
        lambda: center.check(address),
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()
    assert center.filter([address]).sendable == []


@pytest.mark.parametrize("name", ["company_name", "mail_domain", "list_id_domain", "base_url"])
@pytest.mark.parametrize("separator", ["\r\n", "\u2028", "\x85"])
def test_line_breaks_in_settings_are_refused(tmp_path: Path, name: str, separator: str) -> None:
    value = f"example.com{separator}Bcc: all@example.com"
    # Refused when loaded, or at the latest when a center would build headers with it.
    with (
        pytest.raises((ConfigError, InvalidInput)),
        PreferenceCenter(make_settings(tmp_path, **{name: value})) as center,
    ):
        center.headers(ALICE, "news")
    assert not (tmp_path / "prefcenter.db").exists()


def test_reason_with_line_breaks_is_stored_as_data(hostile: Hostile) -> None:
    person = "reason-breaks@example.com"
    before = hostile.snapshot()
    reason = "asked by phone\r\nSubject: injected"
    try:
        changed = hostile.center.suppress(person, reason=reason, source=Source.CLI, evidence="r-1")
    except InvalidInput:
        assert delta(before, hostile.snapshot()) == {}
        return
    assert changed
    assert delta(before, hostile.snapshot()) == NEW_PERSON
    assert [event.reason for event in hostile.center.history(person)] == [reason]


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430lice@example.com",  # Cyrillic а
        "alic\u0435@example.com",  # Cyrillic е
        "\u03b1lice@example.com",  # Greek alpha
        "\uff41lice@example.com",  # fullwidth a
        "alice@ex\u0430mple.com",  # mixed-script domain (IDNA xn--)
        "alice@example.com\u3002",  # ideographic full stop
    ],
)
def test_look_alike_addresses_never_stop_the_ascii_person(
    hostile: Hostile, look_alike: str
) -> None:
    center = hostile.center
    alice = center.identity(ALICE)
    before = hostile.snapshot()
    try:
        other = center.identity(look_alike)
    except InvalidInput:
        assert delta(before, hostile.snapshot()) == {}
        return
    if other.key == alice.key:
        pytest.fail(f"{look_alike!r} folds onto the ASCII person's key {alice.key!r}")
    assert other.hash != alice.hash
    center.suppress(look_alike, reason="look-alike", source=Source.API, evidence=f"la-{look_alike}")
    assert center.check(ALICE).allowed
    assert not center.check(look_alike).allowed


@pytest.mark.parametrize("text", SQL)
def test_sql_metacharacters_in_topics_are_data(hostile: Hostile, text: str) -> None:
    person = f"sql-topic-{SQL.index(text)}@example.com"
    topic = f"news{text}"
    before = hostile.snapshot()
    assert hostile.center.suppress(person, topic=topic, source=Source.API, evidence=f"sql-{text}")
    change = delta(before, hostile.snapshot())
    assert change in (
        NEW_PERSON,
        {**NEW_PERSON, "+topics": 1},
    )
    assert not hostile.center.check(person, topic).allowed
    assert hostile.center.check(person, "news").allowed


@pytest.mark.parametrize("text", SQL)
def test_sql_metacharacters_in_reasons_and_evidence_are_data(hostile: Hostile, text: str) -> None:
    person = f"sql-reason-{SQL.index(text)}@example.com"
    before = hostile.snapshot()
    assert hostile.center.suppress(person, reason=text, source=Source.API, evidence=text)
    assert delta(before, hostile.snapshot()) == NEW_PERSON
    (event,) = hostile.center.history(person)
    assert (event.reason, event.evidence) == (text, text)


def test_sql_metacharacters_in_addresses_are_refused_or_data(hostile: Hostile) -> None:
    center = hostile.center
    before = hostile.snapshot()
    for bad in ["x'; DROP TABLE events;--@example.com", "a@b.com' OR '1'='1"]:
        with pytest.raises(InvalidInput):
            center.suppress(bad, source=Source.API, evidence=None)
    assert delta(before, hostile.snapshot()) == {}
    # A quote is legal in a local part (RFC 5322): it is a person, not SQL.
    assert center.suppress("o'brien@example.com", source=Source.API, evidence="quote-1")
    assert delta(before, hostile.snapshot()) == NEW_PERSON
    assert center.check(ALICE).allowed


@pytest.mark.parametrize("text", SQL)
def test_sql_metacharacters_in_api_bodies(hostile: Hostile, text: str) -> None:
    auth = {"authorization": "Bearer reliability-api-key-0123456789"}
    before = hostile.snapshot()
    with hostile.client(headers=auth) as client:
        refused = client.post("/v1/suppress", json={"recipient": f"x{text}@example.com"})
        checked = client.post("/v1/check", json={"recipient": ALICE, "topic": f"news{text}"})
        history = client.post("/v1/history", json={"recipient": f"{text}@example.com"})
    assert refused.status_code == 422
    assert checked.status_code == 200 and checked.json()["allowed"] is True
    assert history.status_code == 422
    assert delta(before, hostile.snapshot()) == {}
