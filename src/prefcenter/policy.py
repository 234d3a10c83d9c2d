"""The contact rules, as a pure function from what the store knows to a :class:`Decision`.

No I/O happens here: the store gathers :class:`Rules` for an identity (one query for one
identity, one set-based query for a chunk of a campaign) and :func:`decide` applies the
order below. Keeping the order in one small function is what lets the stateful tests
compare both backends against a plain-Python model.

Order, first match wins:

1. hard suppression (bounce, complaint) — blocks transactional mail too;
2. global suppression (all marketing on the channel, or a person-wide one);
3. topic: a suppression for the topic, or the person opted out of it on the preference page;
4. paused until a date;
5. the person's own frequency ceiling ("at most one per N days");
6. the store-wide frequency cap (``settings.frequency_cap``, all senders together).

Transactional mail is blocked only by rule 1.

The SMS/voice rule (setting ``PHONE_OPT_OUT``, default ``texts_and_calls``): a marketing
opt-out on a phone number covers texts and calls to it. :func:`cover_phone` adds the
other phone channel's global and topic opt-outs (and topic choices) to the rules, marked
``via`` that channel, and the decision's message names the rule. Hard suppressions stay
per channel: a number that cannot take texts may still take calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from prefcenter.model import Channel, Decision, Kind, Reason, Scope, Source
from prefcenter.topics import NO_TOPIC


@dataclass(frozen=True, slots=True)
class Block:
    """One stored suppression as the policy sees it.

    Attributes:
        scope: hard, global or topic.
        topic: the 4-byte topic digest (``NO_TOPIC`` for hard and global).
        since: when it took effect.
        source: where it came from.
        reason: the human reason recorded with it.
        all_channels: a person-wide opt-out (covers every linked identity).
        inherited: it reached this identity through a linked identity.
        via: the other phone channel, when it covers this one by the SMS/voice rule.
    """

    scope: Scope
    topic: bytes
    since: datetime
    source: Source
    reason: str = ""
    all_channels: bool = False
    inherited: bool = False
    via: Channel | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything the policy needs about one identity at one moment.

    Attributes:
        blocks: suppressions on the identity and person-wide ones on its group.
        topics: topic digest -> (subscribed, since) from the preference page.
        frequency_days: the person's ceiling, or None.
        paused_until: no marketing before this, or None.
        last_contact: the latest marketing contact within the ceiling, if any.
        recent_contacts: marketing contacts inside the store-wide cap window.
        oldest_recent: the oldest of those, to say when the cap frees up.
        covered_topics: topic digests opted out on the other phone channel, with the
            channel (the SMS/voice rule).
    """

    blocks: tuple[Block, ...] = ()
    topics: Mapping[bytes, tuple[bool, datetime]] = field(default_factory=dict)
    frequency_days: int | None = None
    paused_until: datetime | None = None
    last_contact: datetime | None = None
    recent_contacts: int = 0
    oldest_recent: datetime | None = None
    covered_topics: Mapping[bytes, Channel] = field(default_factory=dict)


EMPTY = Rules()

_MESSAGES = {
    Reason.ALLOWED: "Contact is allowed.",
    Reason.HARD_SUPPRESSED: "The address is hard-suppressed (bounce or complaint); send nothing.",
    Reason.UNSUBSCRIBED_GLOBAL: "The person unsubscribed from all marketing on this channel.",
    Reason.UNSUBSCRIBED_TOPIC: "The person unsubscribed from this topic.",
    Reason.PAUSED: "The person paused marketing until a later date.",
    Reason.FREQUENCY_CEILING: "The person asked for fewer messages; the next one is not due yet.",
    Reason.FREQUENCY_CAP: "The store-wide frequency cap for this channel is reached.",
}


def message(reason: Reason) -> str:
    """The human sentence for a reason."""
    return _MESSAGES.get(reason, reason.value)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of the rules before it is dressed as a :class:`Decision`."""

    reason: Reason
    since: datetime | None = None
    scope: Scope | None = None
    source: Source | None = None
    until: datetime | None = None
    via: Channel | None = None


ALLOWED = Verdict(Reason.ALLOWED)

#: The phone channel whose marketing opt-outs cover each phone channel (SMS/voice rule).
PHONE_SIBLING = {Channel.SMS: Channel.VOICE, Channel.VOICE: Channel.SMS}


def cover_phone(rules: Rules, other: Rules, channel: Channel) -> Rules:
    """``rules`` plus the marketing opt-outs of the same number on ``channel`` (the other
    phone channel): global and topic suppressions, and topics opted out of."""
    borrowed = tuple(
        replace(block, via=channel) for block in other.blocks if block.scope is not Scope.HARD
    )
    topics = dict(rules.topics)
    covered = dict(rules.covered_topics)
    for digest, (subscribed, since) in other.topics.items():
        if not subscribed and topics.get(digest, (True,))[0]:
            topics[digest] = (False, since)
            covered[digest] = channel
    if not borrowed and len(covered) == len(rules.covered_topics):
        return rules
    return replace(rules, blocks=rules.blocks + borrowed, topics=topics, covered_topics=covered)


def judge(
    rules: Rules,
    *,
    topic_digest: bytes,
    kind: Kind,
    at: datetime,
    cap_count: int | None,
    cap_window: timedelta | None,
) -> Verdict:
    """Apply the rules in order (see the module docstring); the first match wins.

    ``filter`` calls this directly for every identity that has a rule, so it builds
    nothing it does not return.
    """
    hard = _first(rules.blocks, Scope.HARD, None)
    if hard is not None:
        return Verdict(Reason.HARD_SUPPRESSED, hard.since, Scope.HARD, hard.source)
    if kind is not Kind.MARKETING:
        return ALLOWED
    glob = _first(rules.blocks, Scope.GLOBAL, None)
    if glob is not None:
        return Verdict(
            Reason.UNSUBSCRIBED_GLOBAL, glob.since, Scope.GLOBAL, glob.source, via=glob.via
        )
    if topic_digest != NO_TOPIC:
        by_topic = _first(rules.blocks, Scope.TOPIC, topic_digest)
        if by_topic is not None:
            return Verdict(
                Reason.UNSUBSCRIBED_TOPIC, by_topic.since, Scope.TOPIC, by_topic.source,
                via=by_topic.via,
            )  # fmt: skip
        choice = rules.topics.get(topic_digest)
        if choice is not None and not choice[0]:
            via = rules.covered_topics.get(topic_digest)
            return Verdict(Reason.UNSUBSCRIBED_TOPIC, choice[1], Scope.TOPIC, via=via)
    if rules.paused_until is not None and at < rules.paused_until:
        return Verdict(Reason.PAUSED, until=rules.paused_until)
    if rules.frequency_days is not None and rules.last_contact is not None:
        due = rules.last_contact + timedelta(days=rules.frequency_days)
        if rules.last_contact <= at < due:
            return Verdict(Reason.FREQUENCY_CEILING, since=rules.last_contact, until=due)
    if cap_count is not None and cap_window is not None and rules.recent_contacts >= cap_count:
        until = rules.oldest_recent + cap_window if rules.oldest_recent else None
        return Verdict(Reason.FREQUENCY_CAP, until=until)
    return ALLOWED


def decide(
    rules: Rules,
    *,
    identity_hash: str,
    channel: Channel,
    topic: str | None,
    topic_digest: bytes,
    kind: Kind,
    at: datetime,
    cap_count: int | None,
    cap_window: timedelta | None,
) -> Decision:
    """Apply the rules in order and say whether contact is allowed.

    Args:
        rules: what the store knows about the identity.
        identity_hash: hex hash, copied into the decision.
        channel: the channel asked about.
        topic: the topic name asked about, or None for all marketing.
        topic_digest: its 4-byte digest (``NO_TOPIC`` when ``topic`` is None).
        kind: marketing or transactional.
        at: the moment of the contact.
        cap_count: store-wide cap count, None when the cap is off.
        cap_window: store-wide cap window.
    """
    verdict = judge(
        rules,
        topic_digest=topic_digest,
        kind=kind,
        at=at,
        cap_count=cap_count,
        cap_window=cap_window,
    )
    text = message(verdict.reason)
    if verdict.via is not None:
        text += (
            f" The opt-out was made on {verdict.via.value}; PHONE_OPT_OUT=texts_and_calls "
            "makes a marketing opt-out on a number cover texts and calls to it."
        )
    return Decision(
        verdict.reason is Reason.ALLOWED,
        verdict.reason,
        text,
        identity_hash,
        channel,
        topic,
        since=verdict.since,
        scope=verdict.scope,
        source=verdict.source,
        until=verdict.until,
    )


def _first(blocks: tuple[Block, ...], scope: Scope, topic: bytes | None) -> Block | None:
    """The earliest matching block: ``since`` is when the rule first took effect."""
    found: Block | None = None
    for block in blocks:
        matches = block.scope is scope and (topic is None or block.topic == topic)
        if matches and (found is None or block.since < found.since):
            found = block
    return found


__all__ = [
    "ALLOWED",
    "EMPTY",
    "PHONE_SIBLING",
    "Block",
    "Rules",
    "Verdict",
    "cover_phone",
    "decide",
    "judge",
    "message",
]
