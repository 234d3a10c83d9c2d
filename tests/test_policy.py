"""The contact rules as a pure function: order, transactional mail, and the limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.model import Channel, Kind, Reason, Scope, Source
from prefcenter.policy import Block, Rules, decide, message
from prefcenter.topics import NO_TOPIC, topic_digest

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NEWS = topic_digest("news")
HARD = Block(Scope.HARD, NO_TOPIC, NOW - 3 * DAY, Source.BOUNCE)
GLOBAL = Block(Scope.GLOBAL, NO_TOPIC, NOW - 2 * DAY, Source.ONE_CLICK)
TOPIC = Block(Scope.TOPIC, NEWS, NOW - DAY, Source.MAILTO)


def ask(rules: Rules, *, kind: Kind = Kind.MARKETING, topic: str | None = "news") -> Reason:
    return decide(
        rules,
        identity_hash="00" * 16,
        channel=Channel.EMAIL,
        topic=topic,
        topic_digest=topic_digest(topic),
        kind=kind,
        at=NOW,
        cap_count=3,
        cap_window=7 * DAY,
    ).reason


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (Rules(), Reason.ALLOWED),
        (Rules(blocks=(TOPIC, GLOBAL, HARD)), Reason.HARD_SUPPRESSED),
        (Rules(blocks=(TOPIC, GLOBAL)), Reason.UNSUBSCRIBED_GLOBAL),
        (Rules(blocks=(TOPIC,), paused_until=NOW + DAY), Reason.UNSUBSCRIBED_TOPIC),
        (Rules(topics={NEWS: (False, NOW)}, paused_until=NOW + DAY), Reason.UNSUBSCRIBED_TOPIC),
        (Rules(topics={NEWS: (True, NOW)}, paused_until=NOW + DAY), Reason.PAUSED),
        (
            Rules(paused_until=NOW + DAY, frequency_days=7, last_contact=NOW - DAY),
            Reason.PAUSED,
        ),
        (Rules(paused_until=NOW), Reason.ALLOWED),
        (
            Rules(frequency_days=7, last_contact=NOW - DAY, recent_contacts=5),
            Reason.FREQUENCY_CEILING,
        ),
        (Rules(frequency_days=7, last_contact=NOW - 7 * DAY), Reason.ALLOWED),
        (Rules(recent_contacts=3, oldest_recent=NOW - DAY), Reason.FREQUENCY_CAP),
        (Rules(recent_contacts=2, oldest_recent=NOW - DAY), Reason.ALLOWED),
    ],
)
def test_rules_apply_in_order(rules: Rules, expected: Reason) -> None:
    assert ask(rules) is expected


def test_topic_rules_only_apply_to_their_topic() -> None:
    rules = Rules(blocks=(TOPIC,), topics={NEWS: (False, NOW)})
    assert ask(rules, topic="offers") is Reason.ALLOWED
    assert ask(rules, topic=None) is Reason.ALLOWED


def test_decision_carries_since_scope_source_and_until() -> None:
    decision = decide(
        Rules(blocks=(GLOBAL, Block(Scope.GLOBAL, NO_TOPIC, NOW - 9 * DAY, Source.CLI))),
        identity_hash="ab" * 16,
        channel=Channel.SMS,
        topic=None,
        topic_digest=NO_TOPIC,
        kind=Kind.MARKETING,
        at=NOW,
        cap_count=None,
        cap_window=None,
    )
    assert (decision.since, decision.scope, decision.source) == (
        NOW - 9 * DAY,
        Scope.GLOBAL,
        Source.CLI,
    )
    assert (decision.channel, decision.identity_hash) == (Channel.SMS, "ab" * 16)
    assert decision.message == message(Reason.UNSUBSCRIBED_GLOBAL)
    capped = decide(
        Rules(recent_contacts=4, oldest_recent=NOW - 2 * DAY),
        identity_hash="",
        channel=Channel.EMAIL,
        topic=None,
        topic_digest=NO_TOPIC,
        kind=Kind.MARKETING,
        at=NOW,
        cap_count=3,
        cap_window=7 * DAY,
    )
    assert capped.until == NOW + 5 * DAY


def test_a_cap_that_is_off_never_blocks() -> None:
    decision = decide(
        Rules(recent_contacts=1000),
        identity_hash="",
        channel=Channel.EMAIL,
        topic=None,
        topic_digest=NO_TOPIC,
        kind=Kind.MARKETING,
        at=NOW,
        cap_count=None,
        cap_window=None,
    )
    assert decision.allowed


blocks = st.lists(st.sampled_from([HARD, GLOBAL, TOPIC]), max_size=3).map(tuple)
rules_strategy = st.builds(
    Rules,
    blocks=blocks,
    topics=st.dictionaries(st.just(NEWS), st.tuples(st.booleans(), st.just(NOW))),
    frequency_days=st.one_of(st.none(), st.integers(1, 30)),
    paused_until=st.one_of(st.none(), st.sampled_from([NOW - DAY, NOW + DAY])),
    last_contact=st.one_of(st.none(), st.sampled_from([NOW - 40 * DAY, NOW - DAY, NOW])),
    recent_contacts=st.integers(0, 6),
)


@given(rules_strategy)
def test_transactional_mail_is_blocked_by_hard_suppression_only(rules: Rules) -> None:
    expected = Reason.HARD_SUPPRESSED if HARD in rules.blocks else Reason.ALLOWED
    assert ask(rules, kind=Kind.TRANSACTIONAL) is expected


@given(rules_strategy)
def test_a_refusal_names_a_rule_that_is_present(rules: Rules) -> None:
    reason = ask(rules)
    present = {
        Reason.ALLOWED: True,
        Reason.HARD_SUPPRESSED: HARD in rules.blocks,
        Reason.UNSUBSCRIBED_GLOBAL: GLOBAL in rules.blocks,
        Reason.UNSUBSCRIBED_TOPIC: TOPIC in rules.blocks
        or rules.topics.get(NEWS, (True,))[0] is False,
        Reason.PAUSED: rules.paused_until is not None and rules.paused_until > NOW,
        Reason.FREQUENCY_CEILING: rules.frequency_days is not None
        and rules.last_contact is not None,
        Reason.FREQUENCY_CAP: rules.recent_contacts >= 3,
    }
    assert present[reason]
    if HARD in rules.blocks:
        assert reason is Reason.HARD_SUPPRESSED
    if reason is Reason.ALLOWED:  # every block here concerns "news", the topic asked about
        assert rules.blocks == ()
