"""A person's whole story, as the console shows it to a support agent.

Search by an address or a phone number (a number is looked up as a text and a call
identity). The person is every identity linked to the ones found. For each identity
and each topic (and "all marketing") the story holds the current decision with its
reason, the contacts recorded in the last 7 and 30 days ("already called five times"),
the active suppressions, and the audit history, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Decision, Event, Identity, Preferences, Suppression
from prefcenter.store.codes import KINDS

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.store.protocol import Session

#: Most audit events a story shows (the newest); the CLI's `history` shows them all.
MAX_EVENTS = 200


@dataclass(frozen=True, slots=True)
class Contacts:
    """Contacts recorded with one identity: (kind, last 7 days, last 30 days) rows."""

    rows: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def week(self) -> int:
        """All kinds, last 7 days."""
        return sum(row[1] for row in self.rows)

    @property
    def month(self) -> int:
        """All kinds, last 30 days."""
        return sum(row[2] for row in self.rows)


@dataclass(frozen=True, slots=True)
class Facet:
    """One identity of the person and what holds for it now.

    Attributes:
        identity: the identity (``address`` is "" when it is not known or was forgotten).
        decisions: (topic label, decision) for "all marketing" and each configured topic.
        suppressions: the active suppressions reaching it.
        preferences: its frequency ceiling, pause and topic choices.
        contacts: what was sent to it lately.
    """

    identity: Identity
    decisions: list[tuple[str | None, Decision]]
    suppressions: list[Suppression]
    preferences: Preferences
    contacts: Contacts


@dataclass(frozen=True, slots=True)
class Story:
    """Everything about one person: their identities and the audit history."""

    query: str
    facets: list[Facet]
    history: list[Event]
    forgotten: bool = False

    @property
    def found(self) -> bool:
        """True when anything is stored about the person."""
        return bool(self.history) or any(f.suppressions for f in self.facets)


def searched(center: PreferenceCenter, query: str) -> list[Identity]:
    """The identities a search names: an address, or a number as text and call identities.

    Raises:
        InvalidInput: the text is neither an address nor a phone number.
    """
    text = query.strip()
    if not text:
        raise InvalidInput("The search is empty; type an email address or a phone number.")
    if "@" in text or ":" in text:
        return [center.identity(text)]
    try:
        return [center.identity(text, Channel.SMS), center.identity(text, Channel.VOICE)]
    except InvalidInput:
        raise InvalidInput(
            f"{text[:40]!r} is neither an email address nor a phone number; "
            "type one such as alice@example.org or +14155550100.",
            value=text,
        ) from None


def build_story(center: PreferenceCenter, query: str, *, now: datetime | None = None) -> Story:
    """The story of the person ``query`` names (see the module docstring).

    Raises:
        InvalidInput: the query is neither an address nor a phone number.
    """
    now = now or center.now()
    found = searched(center, query)

    def members(session: Session) -> list[tuple[bytes, str | None]]:
        hashes: list[bytes] = []
        for identity in found:
            for member in session.person(identity.hash):
                if member not in hashes:
                    hashes.append(member)
        return [(member, session.address(member)) for member in hashes]

    known = center.store.read(members)
    identities = {identity.hash: identity for identity in found}
    for member, address in known:
        if member not in identities:
            identities[member] = _member_identity(center, member, address)
    topics: list[str | None] = [None, *center.settings.topics]
    facets = []
    history: list[Event] = []
    for identity in identities.values():
        facets.append(_facet(center, identity, topics, now))
    hashes = list(identities)

    def events(session: Session) -> list[Event]:
        found_events: list[Event] = []
        for member in hashes:
            found_events += session.history(member)
        return found_events

    history = sorted(center.store.read(events), key=lambda e: e.id, reverse=True)[:MAX_EVENTS]
    return Story(query=query.strip(), facets=facets, history=history)


def _member_identity(center: PreferenceCenter, member: bytes, address: str | None) -> Identity:
    """A linked identity: from its stored address where known, else by hash alone."""
    if address:
        channels = [Channel.EMAIL] if "@" in address else [Channel.SMS, Channel.VOICE]
        for channel in channels:
            try:
                identity = center.identity(address, channel)
            except InvalidInput:
                continue
            if identity.hash == member:
                return identity
    return Identity(Channel.EMAIL, "", "", member)


def _facet(
    center: PreferenceCenter, identity: Identity, topics: list[str | None], now: datetime
) -> Facet:
    decisions = [(topic, center.check(identity, topic, at=now)) for topic in topics]
    week, month = now - timedelta(days=7), now - timedelta(days=30)

    def read(session: Session) -> tuple[list[Suppression], Preferences, list[tuple[int, int, int]]]:
        return (
            session.suppressions(identity.hash),
            session.preferences(identity.hash),
            session.contact_counts(identity.hash, week, month),
        )

    suppressions, preferences, counts = center.store.read(read)
    contacts = Contacts([(KINDS[kind].value, seven, thirty) for kind, seven, thirty in counts])
    return Facet(identity, decisions, suppressions, preferences, contacts)


__all__ = ["MAX_EVENTS", "Contacts", "Facet", "Story", "build_story", "searched"]
