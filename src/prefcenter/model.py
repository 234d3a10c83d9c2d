"""The nouns prefcenter talks about: channels, scopes, sources, and the frozen results.

A leaf module: it imports nothing from the package, so every other module can use it.
All times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Channel(StrEnum):
    """How a person is contacted; part of every identity key."""

    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"


class Kind(StrEnum):
    """What a message is: marketing obeys every preference, transactional only hard stops."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class Scope(StrEnum):
    """How far a suppression reaches."""

    #: Bounce or complaint: nothing at all on this identity, transactional included.
    HARD = "hard"
    #: All marketing on this identity's channel.
    GLOBAL = "global"
    #: One topic (one list) only.
    TOPIC = "topic"


class Source(StrEnum):
    """Where a change came from; recorded on every audit event."""

    ONE_CLICK = "one-click"
    MAILTO = "mailto"
    WEB = "web"
    API = "api"
    CLI = "cli"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    IMPORT = "import"
    LIBRARY = "library"
    #: An email service provider's or SMS gateway's webhook (issue 22).
    WEBHOOK = "webhook"
    #: An operator in the operator console (issue 24).
    CONSOLE = "console"


class Action(StrEnum):
    """What an audit event did."""

    SUPPRESS = "suppress"
    RESUBSCRIBE = "resubscribe"
    OPT_IN = "opt-in"
    OPT_OUT = "opt-out"
    SET_FREQUENCY = "set-frequency"
    PAUSE = "pause"
    RESUME = "resume"
    LINK = "link"
    FORGET = "forget"
    SOFT_BOUNCE = "soft-bounce"
    #: A bounce recorded as evidence only (about us, unproven, or no news): changes nothing.
    BOUNCE = "bounce"
    EXCEPTION_OPENED = "exception-opened"
    EXCEPTION_RESOLVED = "exception-resolved"
    FEEDBACK = "feedback"
    #: Console sessions (issue 24): ``detail`` names the operator.
    OPERATOR_LOGIN = "operator-login"
    OPERATOR_LOGOUT = "operator-logout"
    OPERATOR_LOCKED = "operator-locked"
    #: An operator deleted a removed webhook endpoint's dead-lettered deliveries (issue
    #: 23): ``detail`` is the endpoint (no query), ``reason`` how many.
    WEBHOOKS_DISCARDED = "webhooks-discarded"


#: Answers to the optional "why?" after an unsubscribe (``Changes.record_feedback``).
FEEDBACK_REASONS = ("too_many", "not_relevant", "never_signed_up", "other")


class Reason(StrEnum):
    """Why ``check`` answered as it did; stable strings for machines."""

    ALLOWED = "allowed"
    HARD_SUPPRESSED = "hard_suppressed"
    UNSUBSCRIBED_GLOBAL = "unsubscribed_global"
    UNSUBSCRIBED_TOPIC = "unsubscribed_topic"
    PAUSED = "paused"
    FREQUENCY_CEILING = "frequency_ceiling"
    FREQUENCY_CAP = "frequency_cap"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Identity:
    """One person on one channel, in canonical form.

    Attributes:
        channel: the channel the key belongs to.
        address: the canonical address or E.164 number, without the channel prefix.
        key: ``channel:address``, the string that is hashed.
        hash: the keyed 16-byte hash of ``key``; the only form the store indexes.
    """

    channel: Channel
    address: str
    key: str
    hash: bytes

    @property
    def hash_hex(self) -> str:
        """The identity hash as lower-case hex, for logs, URLs and JSON."""
        return self.hash.hex()

    @property
    def short(self) -> str:
        """The first characters of the hash: safe to print where an address is not."""
        return self.hash.hex()[:10]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may I contact this person, on this channel, about this topic, now?".

    Attributes:
        allowed: True when the contact may go ahead.
        reason: a machine-readable :class:`Reason`.
        message: one human sentence explaining ``reason``.
        since: when the blocking rule took effect (``None`` when allowed or unknown).
        scope: the suppression scope that blocked, if a suppression did.
        source: where the blocking change came from, if known.
        identity_hash: hex hash of the identity that was checked.
        topic: the topic asked about, if any.
        channel: the channel asked about.
        until: when the block ends, for pauses and frequency limits.
    """

    allowed: bool
    reason: Reason
    message: str
    identity_hash: str
    channel: Channel
    topic: str | None = None
    since: datetime | None = None
    scope: Scope | None = None
    source: Source | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """A stored opt-out or hard stop."""

    identity_hash: str
    channel: Channel
    scope: Scope
    topic: str | None
    reason: str
    source: Source
    created_at: datetime
    all_channels: bool = False
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a person chose beyond on/off.

    Attributes:
        topics: per-topic choice; True is opted in, False opted out, absent is the default.
        frequency_days: at most one marketing contact per this many days, or None.
        paused_until: no marketing before this time, or None.
    """

    topics: dict[str, bool] = field(default_factory=dict)
    frequency_days: int | None = None
    paused_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One append-only audit record: the consent proof.

    Attributes:
        id: monotonically increasing per store.
        at: when the change was committed.
        identity_hash: hex hash of the identity it concerns.
        action: what happened.
        source: who or what caused it.
        scope: the suppression scope, for suppress and resubscribe.
        topic: the topic, where one applies.
        channel: the identity's channel.
        reason: the human reason given, if any.
        evidence: message id, request id, exception id: what proves the request.
        requested_at: when the person asked, if earlier than ``at`` (time-to-honour).
        detail: the value a change set, where it has one: a pause's end (ISO time, empty
            for a resume), a frequency ceiling's days (``none`` when lifted), the other
            identity's hash for a link, ``all-channels`` for a person-wide opt-out, an
            exception's closing status.
    """

    id: int
    at: datetime
    identity_hash: str
    action: Action
    source: Source
    channel: Channel | None = None
    scope: Scope | None = None
    topic: str | None = None
    reason: str | None = None
    evidence: str | None = None
    requested_at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Purged:
    """What :meth:`PreferenceCenter.purge` removed (or, with ``dry_run``, would remove).

    Attributes:
        exceptions: closed exception items whose mail was erased.
        contacts: contact ledger rows deleted.
        mail_before: items closed before this lost their mail.
        contacts_before: sends recorded before this were deleted.
        dry_run: True when nothing was changed, only counted.
    """

    exceptions: int
    contacts: int
    mail_before: datetime
    contacts_before: datetime
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """A recipient ``filter`` took out, and why."""

    recipient: str
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class FilterResult:
    """What ``filter`` made of a list: who may be sent to and who not.

    ``sendable`` keeps the caller's own spelling of each address, first spelling wins.
    """

    sendable: list[str]
    refused: list[Refusal]

    def counts(self) -> dict[str, int]:
        """Number of refusals per reason, plus ``sendable``."""
        totals: dict[str, int] = {"sendable": len(self.sendable)}
        for refusal in self.refused:
            totals[refusal.reason.value] = totals.get(refusal.reason.value, 0) + 1
        return totals


@dataclass(frozen=True, slots=True)
class Contact:
    """One entry of the contact ledger: somebody sent something to somebody."""

    identity_hash: str
    channel: Channel
    topic: str | None
    kind: Kind
    at: datetime
    sender: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExceptionItem:
    """Inbound mail the automation could not decide, waiting for a person.

    Attributes:
        id: the queue id ops refer to.
        received_at: when the sidecar accepted the message.
        due_at: when it becomes overdue.
        mailbox: which sidecar address it arrived at (``unsubscribe``, ``bounces``, ``fbl``).
        why: why it was not decided automatically.
        raw: the message exactly as received.
        status: ``open``, ``resolved`` or ``dismissed``.
        resolution: the reason given when it was closed.
        resolved_at: when it was closed.
        summary: From, Subject and similar, for listing.
    """

    id: int
    received_at: datetime
    due_at: datetime
    mailbox: str
    why: str
    raw: bytes
    status: str = "open"
    resolution: str | None = None
    resolved_at: datetime | None = None
    summary: str = ""


def show_time(moment: datetime | None) -> str:
    """A moment for people, in messages and listings: ``2024-05-01 10:00:00Z``; ``-``
    when unknown."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
