"""What a suppression store is: the protocol both backends implement, and its records.

The store works on 16-byte identity hashes and 4-byte topic digests only; canonicalising
addresses, naming topics and applying the policy happen above it, in ``center``. A
:class:`Session` is one connection inside one transaction (or a plain read); a
:class:`Store` hands sessions out and answers the reports that scan whole tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from prefcenter.model import (
    Action,
    Channel,
    Contact,
    Event,
    ExceptionItem,
    Preferences,
    Scope,
    Source,
    Suppression,
)
from prefcenter.policy import Rules
from prefcenter.store.audit import EventGroup
from prefcenter.store.console import DayCount, Operator
from prefcenter.store.feed import OutboxRow
from prefcenter.store.imports import ImportGroup
from prefcenter.store.rows import Present
from prefcenter.store.rule_index import RuleIndex

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An audit event about to be appended (the store assigns the id)."""

    at: datetime
    identity_hash: bytes
    action: Action
    source: Source
    channel: Channel | None = None
    scope: Scope | None = None
    topic: str | None = None
    reason: str | None = None
    evidence: str | None = None
    requested_at: datetime | None = None
    #: What distinguishes two different changes of one kind (a new ceiling, a pause date).
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Violation:
    """A contact recorded after an opt-out had taken effect (beyond the grace period)."""

    identity_hash: str
    suppression: Suppression
    contact: Contact


class Session(Protocol):
    """One connection's view of the store; inside ``Store.transaction`` it may write."""

    # -- reads -------------------------------------------------------------------
    def rules(self, identity_hash: bytes, *, at: datetime, cap_window: timedelta | None) -> Rules:
        """Everything the policy needs for one identity (one query)."""

    def present(self) -> Present:
        """Which optional rule tables (links, preferences, topic choices, contacts) hold rows."""

    def rules_many(
        self,
        hashes: Sequence[bytes],
        *,
        at: datetime,
        cap_window: timedelta | None,
        blocks: bool = True,
        present: Present | None = None,
    ) -> dict[bytes, Rules]:
        """Rules for those of ``hashes`` that have any rule at all (one set-based query).

        ``blocks=False`` leaves suppressions out (the caller asked :meth:`blocks_many`).
        """

    def blocks_many(
        self, hashes: Sequence[bytes], *, topic: bytes, marketing: bool, present: Present
    ) -> dict[bytes, int]:
        """hash -> 0 (hard), 1 (global), 2 (``topic``) for hashes a suppression blocks."""

    def rule_rows(self, present: Present, *, with_cap: bool, limit: int | None = None) -> int:
        """How many rows :meth:`rule_index` would read (suppressions and other rules);
        each table counted up to ``limit`` rows, when given."""

    def rule_index(
        self,
        present: Present,
        *,
        topic: bytes,
        marketing: bool,
        at: datetime,
        cap_window: timedelta | None,
        cap_count: int | None = None,
    ) -> RuleIndex:
        """Who a suppression (or the cap) refuses for this send, and who needs full rules."""

    def address(self, identity_hash: bytes) -> str | None:
        """The clear address, if known and not forgotten."""

    def topic_name(self, digest: bytes) -> str | None:
        """The registered name of a topic digest."""

    def topic_choice(self, identity_hash: bytes, topic: bytes) -> bool | None:
        """The person's choice for one topic digest: True in, False out, None unset."""

    def suppressions(self, identity_hash: bytes) -> list[Suppression]:
        """Active suppressions on the identity and person-wide ones reaching it."""

    def preferences(self, identity_hash: bytes) -> Preferences:
        """Topic choices, frequency ceiling and pause."""

    def history(self, identity_hash: bytes) -> list[Event]:
        """Every audit event about the identity, in time order."""

    def contacted(self, identity_hash: bytes, since: datetime | None) -> bool:
        """Whether the ledger has any contact with the identity at or after ``since``."""

    def count_events(self, identity_hash: bytes, action: Action, since: datetime) -> int:
        """Events of one action on the identity at or after ``since``."""

    def event_times(self, identity_hash: bytes, action: Action, since: datetime) -> list[datetime]:
        """When events of one action on the identity happened since ``since``, newest first."""

    def sent_message(self, digest: bytes) -> bytes | None:
        """The identity hash a recorded Message-ID digest was sent to, or None."""

    def exceptions(self, status: str | None) -> list[ExceptionItem]:
        """Exception items with ``status`` (all when None), overdue first, then oldest."""

    def exception(self, item_id: int) -> ExceptionItem | None:
        """One exception item."""

    # -- the operator console (issue 24; SQL in store/console.py) ------------------
    def operator(self, name: str) -> Operator | None:
        """One operator by login name."""

    def operators(self) -> list[Operator]:
        """Every operator, by name."""

    def add_operator(self, name: str, role: str, password_hash: str, at: datetime) -> bool:
        """Add an operator; False when the name is taken."""

    def update_operator(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        totp_secret: str | None = None,
        disabled: bool | None = None,
        new_generation: bool = False,
    ) -> bool:
        """Change an operator's password, second factor or state; clears the lockout."""

    def login_failed(self, name: str, locked_until: datetime | None) -> None:
        """Count a failed login (and lock the operator until ``locked_until``)."""

    def login_succeeded(self, name: str, at: datetime) -> None:
        """Clear the failures and record the login."""

    def exception_page(
        self,
        *,
        status: str,
        mailbox: str | None,
        due_before: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ExceptionItem], int]:
        """A page of the queue by due time, without the messages, and the matching count."""

    def exception_mailboxes(self) -> list[str]:
        """The mailboxes the queue has items from."""

    def exception_counts(self, now: datetime) -> tuple[int, int]:
        """Open items and how many are overdue at ``now``."""

    def event_facts(
        self, since: datetime, until: datetime, actions: Sequence[str], edges_ms: Sequence[int]
    ) -> list[tuple[datetime, str, str, str, int, int]]:
        """Events counted per day, action, source, channel and time-to-honour bucket."""

    def honour_delays(
        self, since: datetime, until: datetime, actions: Sequence[str]
    ) -> list[tuple[int, int]]:
        """(day number, request-to-change milliseconds) per event, by day then delay."""

    def violations_between(
        self, since: datetime, until: datetime, grace: timedelta
    ) -> list[tuple[Suppression, Contact]]:
        """Contacts sent in the period more than ``grace`` after a stop that blocks them."""

    def event_groups(self, since_ms: int, until_ms: int) -> list[EventGroup]:
        """The period's audit events grouped by what the compliance report reads of them."""

    def delay_counts(
        self, since_ms: int, until_ms: int, actions: Sequence[str]
    ) -> list[tuple[int, int]]:
        """(request-to-commit delay in ms, events) of ``actions`` in the period, shortest first."""

    def sends_by_day(self, since: datetime, until: datetime) -> list[DayCount]:
        """Contacts recorded per UTC day."""

    def contact_counts(
        self, identity_hash: bytes, week: datetime, month: datetime
    ) -> list[tuple[int, int, int]]:
        """Per kind code: contacts since ``week`` and since ``month``."""

    def feed(self, after: tuple[int, int], limit: int) -> list[tuple[int, int, str]]:
        """Up to ``limit`` audit events after feed position ``after``, in commit order,
        as (tx, id, JSON payload)."""

    def feed_end(self) -> tuple[int, int]:
        """The feed position of the newest event the feed would hand out now."""

    def outbox_due(self, endpoint: int, now_ms: int, limit: int) -> list[OutboxRow]:
        """Webhook deliveries due now, in commit order, keeping each person's order."""

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """Outbox rows by (endpoint url, ``pending`` or ``dead``)."""

    # -- writes ------------------------------------------------------------------
    def sync_endpoints(self, urls: Sequence[str]) -> dict[str, int]:
        """Make ``urls`` the webhook endpoints new events are queued for; url -> id."""

    def outbox_delivered(self, ids: Sequence[int]) -> None:
        """Remove delivered outbox rows."""

    def outbox_failed(self, ids: Sequence[int], *, next_at: int, dead: bool, error: str) -> None:
        """Record a failed delivery of rows ``ids``: retry at ``next_at`` (ms), or
        dead-letter them."""

    def outbox_retire(self) -> int:
        """Dead-letter the pending rows of endpoints no longer configured; how many."""

    def outbox_retry_dead(self) -> int:
        """Queue every dead-lettered delivery of an active endpoint again; how many."""

    def outbox_discard(self, endpoint: str, event: NewEvent) -> int:
        """Delete the dead-lettered deliveries of a removed endpoint (its URL, or that
        without the query) and, if there were any, append the audit ``event`` with
        their count; how many."""

    def outbox_lease(self, holder: str, now_ms: int, until_ms: int) -> bool:
        """Take or renew the delivery lease (one worker per store); True if held."""

    def outbox_release(self, holder: str) -> None:
        """Give up the delivery lease."""

    def register_topic(self, digest: bytes, name: str) -> None:
        """Remember the name of a topic digest (idempotent)."""

    def remember(self, identity_hash: bytes, address: str) -> None:
        """Keep the clear address beside the hash, unless it was forgotten."""

    def remember_many(self, pairs: Sequence[tuple[bytes, str]]) -> None:
        """``remember`` for each (hash, address), in as few statements as the backend can."""

    def append_event(self, event: NewEvent) -> bool:
        """Append an audit event; False when the same change with the same evidence exists."""

    def suppress_batch(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """Append (event, topic digest) suppress events and their suppressions at once, one
        result each as ``append_event`` then ``suppress`` would give; None, having written
        nothing, when the backend has no batch path (the caller then goes one by one)."""

    def import_group(self, group: ImportGroup) -> dict[str, int]:
        """Write one key range of an import (``store.imports``): the addresses, an audit
        event per row unless stored (a replay), a suppression per new event unless one
        exists; the suppressions added, by kind."""

    def suppress(
        self,
        identity_hash: bytes,
        channel: Channel,
        scope: Scope,
        topic: bytes,
        *,
        all_channels: bool,
        reason: str,
        source: Source,
        at: datetime,
    ) -> bool:
        """Add a suppression (person-wide ones on the group); True if it was new."""

    def lift(self, identity_hash: bytes, scope: Scope, topic: bytes) -> bool:
        """Remove a suppression from the identity and person-wide ones of its group."""

    def liftable(self, identity_hash: bytes, scope: Scope, topic: bytes) -> bool:
        """Whether :meth:`lift` with the same arguments would remove anything."""

    def set_topic(self, identity_hash: bytes, topic: bytes, subscribed: bool, at: datetime) -> bool:
        """Record a topic choice; True if it changed."""

    def set_frequency(self, identity_hash: bytes, days: int | None, at: datetime) -> bool:
        """Set or clear the frequency ceiling; True if it changed."""

    def set_pause(self, identity_hash: bytes, until: datetime | None, at: datetime) -> bool:
        """Set or clear the pause; True if it changed."""

    def record_contact(self, contact: Contact, identity_hash: bytes, topic: bytes) -> None:
        """Append one entry to the contact ledger."""

    def record_sent_message(self, digest: bytes, identity_hash: bytes, at: datetime) -> None:
        """Remember that the message with this keyed Message-ID digest went to the identity."""

    def admit_token(self, token: bytes, body: bytes, at: datetime, since: datetime) -> bool:
        """Remember a signed request's one-use ``token`` (a digest) with its ``body``'s.

        True when the token is new, or was seen with the same body (a redelivery);
        False when it was seen with another body (a replayed signature: refuse it).
        Tokens remembered before ``since`` are forgotten first. Shared by every process
        on the store, so no replica accepts what another has seen.
        """

    def link(self, first: bytes, second: bytes, at: datetime) -> bool:
        """Put two identities in one person group; True if they were not already."""

    def person(self, identity_hash: bytes) -> list[bytes]:
        """The identity and every identity linked to it (its person group), itself first."""

    def forget(
        self,
        hashes: Sequence[bytes],
        at: datetime,
        spellings: Sequence[str] = (),
        names_person: Callable[[str], bool] | None = None,
    ) -> bool:
        """Erase the clear data of the identities ``hashes`` (one person): their addresses,
        the reasons on their rules and events, and queued exception items that name them
        (one of ``spellings``, a stored address, or an address ``names_person`` accepts).
        The hashes, rules and events stay. True if anything was erased."""

    def purge(
        self,
        mail_before: datetime,
        contacts_before: datetime,
        at: datetime,
        *,
        dry_run: bool,
        limit: int = ...,
        audit_before: datetime | None = None,
        open_before: datetime | None = None,
    ) -> tuple[int, int]:
        """Erase the mail of up to ``limit`` exception items closed before ``mail_before``
        (and of open ones received before ``open_before``) and delete up to ``limit``
        contact ledger rows from before ``contacts_before``, oldest first; how many of
        each. With ``dry_run`` only count them (all)."""

    def open_exception_bytes(self) -> int:
        """Bytes of mail all open exception items hold together."""

    def probe_write(self) -> None:
        """A committed write that changes nothing (readiness); raises what a write raises."""

    def open_exception(
        self,
        *,
        received_at: datetime,
        due_at: datetime,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str,
        evidence: str | None,
    ) -> tuple[ExceptionItem, bool]:
        """Queue an item, or return the one with the same evidence; True if new."""

    def close_exception(
        self, item_id: int, *, status: str, resolution: str, at: datetime
    ) -> ExceptionItem:
        """Mark an open item resolved or dismissed."""


class Store(Protocol):
    """A suppression store: SQLite for one host, PostgreSQL for many."""

    url: str

    def bulk(self) -> AbstractContextManager[None]:
        """This thread's writes in between are an import's, a key range a transaction."""

    def transaction(self) -> AbstractContextManager[Session]:
        """One durable transaction; a nested call on the same thread joins the outer one.

        Raises:
            StoreUnavailable: the database cannot be written; nothing was committed.
        """

    def session(self) -> AbstractContextManager[Session]:
        """A read-only session (joins a transaction open on this thread)."""

    def read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a read session; the cheap form of :meth:`session`."""

    def run(self, work: Callable[[Session], T], *, durable: bool = True) -> T:
        """Run ``work`` in a transaction, retrying the whole of it on lock conflicts.

        ``durable=False`` returns without waiting for the disk to hold the commit: a
        crash may undo it, never corrupt or reorder it (a later durable commit makes it
        durable too). Only for writes whose loss is harmless, the webhook worker's own
        bookkeeping (a lost delete sends a change again); never for a change someone is
        told was made. It keeps the worker's turns at SQLite's single write lock short.
        """

    def suppress_alone(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """:meth:`Session.suppress_batch` as a durable transaction of its own, when the
        backend can write it as one statement (PostgreSQL: no BEGIN and COMMIT round
        trips; the answer comes after the commit). None when it cannot (SQLite, a
        transaction open on this thread, a key repeated): nothing was written, and the
        caller writes the items in a transaction instead.
        """

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    def close(self) -> None:
        """Close every connection."""

    def release(self, *, mapped: bool = True) -> None:
        """Close every connection (and a pool's threads) but stay open: the next call
        opens new ones. A process about to fork calls it, so that the child inherits no
        connection and no thread; no other thread may be using the store meanwhile.

        ``mapped=False``: the new connections read a SQLite file through a small page
        cache of fixed size instead of a memory map, so that a process reading much of
        a large store once (``prefcenter filter``) does not grow by every page it
        touched.
        """

    def export(self) -> Iterator[Suppression]:
        """Every suppression, with the clear address where known."""

    def events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Event]:
        """Audit events with ``since <= at < until``, oldest first (ties in id order)."""

    def violations(self, grace: timedelta) -> list[Violation]:
        """Contacts recorded more than ``grace`` after a suppression that blocks them."""

    def counts(self) -> dict[str, int]:
        """Row counts for health pages and metrics."""


__all__ = ["NewEvent", "Session", "Store", "Violation"]
