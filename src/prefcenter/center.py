"""``PreferenceCenter``: the one object senders, the sidecars and the CLI talk to.

It turns what callers write (addresses, topic names, channels) into identity hashes and
topic digests, asks the store for the rules, and lets :mod:`prefcenter.policy` decide.
Every change goes through :class:`~prefcenter.changes.Changes`, which writes the
append-only audit event first: a change whose event already exists (same identity,
action, scope, topic, detail and evidence) is a re-delivery and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from prefcenter.changes import Changes
from prefcenter.config import Settings, load_settings
from prefcenter.core import Core, Recipient
from prefcenter.errors import InvalidInput, PepperMismatch
from prefcenter.feed import (
    FeedPage,
    check_limit,
    decode_cursor,
    encode_cursor,
    page,
    page_text,
)
from prefcenter.headers import Links, MessageT, refuse_breaks
from prefcenter.inputs import aware, choice
from prefcenter.model import (
    Action,
    Channel,
    Decision,
    Event,
    ExceptionItem,
    FilterResult,
    Identity,
    Kind,
    Preferences,
    Purged,
    Refusal,
    Source,
    Suppression,
)
from prefcenter.policy import PHONE_SIBLING, cover_phone, decide
from prefcenter.screening.refusals import chunks, hasher
from prefcenter.screening.screen import PhoneScreen, Screen, Send
from prefcenter.store import Store
from prefcenter.store.exceptions import no_such_exception
from prefcenter.store.protocol import NewEvent
from prefcenter.store.retention import PURGE_CHUNK, PURGE_PAUSE_S
from prefcenter.tokens import Claims, Purpose, TokenSigner
from prefcenter.topics import NO_TOPIC, check_topic, topic_digest

T = TypeVar("T")


class PreferenceCenter(Changes):
    """Headers and links for senders, the contact decision, and every change of mind.

    Args:
        settings: from :func:`prefcenter.config.load_settings`.
        clock: returns the current aware UTC time; tests pass a fake one.
        store: an open store to use instead of opening ``settings.database``.

    Raises:
        PepperMismatch: the store was created with another pepper.
        StoreUnavailable: the store cannot be opened.

    Safe to share between threads. Mutation methods (``suppress``, ``resubscribe``, ...)
    are inherited from :class:`~prefcenter.changes.Changes`; each runs in its own durable
    transaction unless called on the object :meth:`transaction` yields.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        store: Store | None = None,
    ) -> None:
        signer = TokenSigner(settings.signing_keys())
        # Links check the settings that go into headers: refused before a store is made.
        self.links = Links(settings, signer)
        try:
            core = Core(settings, clock=clock, store=store, signer=signer)
        except PepperMismatch as error:
            raise PepperMismatch(f"{error}{_where_keys_are(settings)}") from None
        super().__init__(core)
        self.settings = settings
        self.identities = core.identities
        self.signer = signer
        self.store: Store = core.store

    @classmethod
    def from_env(cls, **overrides: Any) -> PreferenceCenter:
        """Open with settings from arguments > ``PREFCENTER_*`` environment > file > defaults."""
        return cls(load_settings(overrides))

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()

    def __enter__(self) -> PreferenceCenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The center's clock (aware UTC)."""
        return self._core.now()

    # -- identities, links and tokens ---------------------------------------------
    def identity(self, recipient: Recipient, channel: Channel | str = "email") -> Identity:
        """Canonicalise and hash a recipient (an :class:`Identity` passes through).

        Raises:
            InvalidRecipient: the address or number cannot be used.
        """
        return self._core.identity(recipient, channel)

    def register_topic(self, topic: str | None) -> None:
        """Record the topic's digest -> name once, so tokens naming it can be read back."""
        self._core.register_topic(topic)

    def headers(
        self, recipient: Recipient, topic: str | None = None, *, lang: str | None = None
    ) -> dict[str, str]:
        """List-Unsubscribe, List-Unsubscribe-Post, List-Id (and more) for one message.

        For a sender that writes headers itself (raw bytes, an email service's API). To
        put them on a ``Message`` use :meth:`stamp`: assigned as plain strings, the
        ``email`` package RFC 2047-encodes the long List-Unsubscribe value, which
        mailbox providers do not decode, and one-click stops working.
        """
        identity = self.identity(recipient)
        self.register_topic(check_topic(topic))
        return self.links.headers(identity, topic, lang)

    def stamp(
        self,
        message: MessageT,
        recipient: Recipient,
        topic: str | None = None,
        *,
        message_id: str | None = None,
        lang: str | None = None,
    ) -> MessageT:
        """Add the unsubscribe headers to ``message`` (and DKIM-sign it when configured).

        Args:
            message_id: the message's Message-ID. When given, its keyed hash is recorded
                (never the id itself), so a bounce or complaint that returns it proves it
                concerns this message (proof before action). The message gets this
                Message-ID when it has none.
            lang: the language of the pages the links open (``de``, ``fr``, ``es``,
                ``pt``, ``ja``); without it the browser's Accept-Language decides.
        """
        identity = self.identity(recipient)
        self.register_topic(check_topic(topic))
        if message_id is not None:
            refuse_breaks("Message-ID", message_id)
            if message.get("Message-ID") is None:
                message["Message-ID"] = message_id
            self.record_message_id(identity, message_id)
        return self.links.stamp(message, identity, topic, lang)

    def unsubscribe_url(
        self, recipient: Recipient, topic: str | None = None, *, lang: str | None = None
    ) -> str:
        """The signed one-click link ``{base_url}/u/{token}``."""
        identity = self.identity(recipient)
        self.register_topic(check_topic(topic))
        return self.links.unsubscribe_url(identity, topic, lang)

    def preferences_url(
        self, recipient: Recipient, topic: str | None = None, *, lang: str | None = None
    ) -> str:
        """The signed preference page link ``{base_url}/p/{token}``."""
        identity = self.identity(recipient)
        self.register_topic(check_topic(topic))
        return self.links.preferences_url(identity, topic, lang)

    def message_links(
        self,
        recipient: Recipient,
        topic: str | None = None,
        *,
        channel: Channel | str = "email",
        lang: str | None = None,
    ) -> dict[str, Any]:
        """Everything one message to ``recipient`` carries, for a sender that builds it.

        Keys: ``headers`` (as :meth:`headers`), ``unsubscribe_url``, ``preferences_url``,
        ``mailto`` (the unsubscribe address) and ``return_path`` (``bounces+TOKEN@``, the
        envelope sender, so a bounce finds this recipient). ``/v1/links`` answers this.
        For an SMS or voice recipient only the two links: nothing mail-only (their pages
        speak of texts and calls). ``lang`` is the language of the pages the links open.

        Raises:
            InvalidRecipient: the recipient cannot be canonicalised.
            InvalidTopic: the topic cannot be used.
        """
        identity = self.identity(recipient, channel)
        links: dict[str, Any] = {
            "unsubscribe_url": self.unsubscribe_url(identity, topic, lang=lang),
            "preferences_url": self.preferences_url(identity, topic, lang=lang),
        }
        if identity.channel is not Channel.EMAIL:
            return links  # a text or a call has no headers, mailbox or envelope sender
        return {
            "headers": self.headers(identity, topic, lang=lang),
            **links,
            "mailto": self.links.mailto_address(identity, topic),
            "return_path": self.links.bounce_address(identity),
        }

    def verify_token(self, token: str, purpose: Purpose) -> Claims:
        """Check a token's signature and purpose. Raises TokenError (a ValueError)."""
        return self.signer.verify(token, purpose)

    def identity_from_claims(self, claims: Claims, *, address: bool = True) -> Identity:
        """The identity a token names; ``address`` is "" unless the store knows it.

        ``address=False`` does not ask the store (``address`` is ""): enough to write a
        change, which needs only the hash and channel.
        """
        if not address:
            return Identity(claims.channel, "", "", bytes(claims.identity_hash))
        with self.store.session() as session:
            known = session.address(claims.identity_hash) or ""
        key = f"{claims.channel.value}:{known}" if known else ""
        return Identity(claims.channel, known, key, bytes(claims.identity_hash))

    def topic_name(self, digest: bytes) -> str | None:
        """The topic a token's digest stands for; None for all marketing or unknown."""
        if bytes(digest) == NO_TOPIC:
            return None
        with self.store.session() as session:
            name = session.topic_name(digest)
        if name is None:
            for topic in self.settings.topics:
                if topic_digest(topic) == bytes(digest):
                    return topic
        return name

    # -- the decision ----------------------------------------------------------------
    def check(
        self,
        recipient: Recipient,
        topic: str | None = None,
        *,
        channel: Channel | str = "email",
        kind: Kind | str = "marketing",
        at: datetime | None = None,
    ) -> Decision:
        """May this person be contacted, on this channel, about this topic, now?

        Raises:
            InvalidRecipient: the recipient cannot be canonicalised.
            InvalidTopic: the topic cannot be used.
            StoreUnavailable: the store cannot be read.
        """
        if isinstance(recipient, Identity):
            chan, identity_hash = recipient.channel, recipient.hash
        else:
            chan, identity_hash = self.identities.locate(
                recipient, choice(Channel, channel, "channel")
            )
        topic = check_topic(topic)
        moment = self.now() if at is None else aware(at, "check time")
        cap = self.settings.frequency_cap
        window = cap.window if cap else None
        other = self.phone_sibling(recipient, chan)
        if other is None:
            rules = self.store.read(
                lambda session: session.rules(identity_hash, at=moment, cap_window=window)
            )
        else:
            sibling, sibling_hash = other
            rules = self.store.read(
                lambda session: cover_phone(
                    session.rules(identity_hash, at=moment, cap_window=window),
                    session.rules(sibling_hash, at=moment, cap_window=None),
                    sibling,
                )
            )
        return decide(
            rules,
            identity_hash=identity_hash.hex(),
            channel=chan,
            topic=topic,
            topic_digest=topic_digest(topic),
            kind=choice(Kind, kind, "kind"),
            at=moment,
            cap_count=cap.count if cap else None,
            cap_window=window,
        )

    def phone_sibling(self, recipient: Recipient, channel: Channel) -> tuple[Channel, bytes] | None:
        """The other phone channel and the number's hash on it, when the SMS/voice rule
        (``PHONE_OPT_OUT=texts_and_calls``) makes its marketing opt-outs count here.

        None for email, with ``PHONE_OPT_OUT=channel``, and for an identity known by its
        hash only (a link token whose number the store does not hold).
        """
        sibling = PHONE_SIBLING.get(channel)
        if sibling is None or self.settings.phone_opt_out != "texts_and_calls":
            return None
        identity = self.identity(recipient, channel)
        if not identity.address:
            return None
        return sibling, self.identities.hash_key(f"{sibling.value}:{identity.address}")

    def filter(
        self,
        recipients: Iterable[str],
        topic: str | None = None,
        *,
        channel: Channel | str = "email",
        kind: Kind | str = "marketing",
        at: datetime | None = None,
    ) -> FilterResult:
        """Split a campaign list into sendable and refused (invalid, duplicate, blocked).

        ``sendable`` keeps the caller's spelling and order; the first spelling of a
        person wins and later ones are refused as duplicates.
        """
        if isinstance(recipients, str | bytes):  # a str is iterable: one letter a person
            raise InvalidInput(
                f"Recipients {recipients[:40]!r} is one string; pass a list of addresses.",
                value=recipients,
                reason="not a list",
            )
        sendable: list[str] = []
        refused: list[Refusal] = []
        screen = self.screen(topic, channel=channel, kind=kind, at=at)
        for chunk, verdicts in chunks(screen, recipients, None, 10000):
            if not any(verdicts):
                sendable += chunk
                continue
            sendable += [
                row for row, verdict in zip(chunk, verdicts, strict=True) if verdict is None
            ]
            refused += [verdict for verdict in verdicts if verdict is not None]
        return FilterResult(sendable, refused)

    def filter_stream(
        self,
        rows: Iterable[T],
        key: Callable[[T], str],
        topic: str | None = None,
        *,
        channel: Channel | str = "email",
        kind: Kind | str = "marketing",
        at: datetime | None = None,
        chunk_size: int = 10000,
    ) -> Iterator[tuple[T, Refusal | None]]:
        """Filter any iterable of rows chunk by chunk, keeping order and flat memory.

        ``key(row)`` gives the address. One set-based query per chunk finds the
        identities that have any rule; the policy runs in Python for those only.
        """
        screen = self.screen(topic, channel=channel, kind=kind, at=at)
        for chunk, verdicts in chunks(screen, rows, key, chunk_size):
            yield from zip(chunk, verdicts, strict=True)

    def screen(
        self,
        topic: str | None = None,
        *,
        channel: Channel | str = "email",
        kind: Kind | str = "marketing",
        at: datetime | None = None,
        expected_rows: int | None = None,
        parallel: bool = False,
    ) -> Screen:
        """The lowest-level filter: call it with chunks of addresses, get a reason each.

        Answers ``Reason`` (or None: may be sent) per address, without building a
        refusal per row; ``prefcenter filter`` uses it to screen millions of rows. It
        remembers who it has seen (second spellings are ``Reason.DUPLICATE``), so use
        one per list and close it (``with``). ``expected_rows`` (an estimate of the
        list's length) lets a large list read the store's rules into memory at once;
        ``parallel`` lets ``Screen.submit`` hash chunks in a forked worker process, which
        also asks the store on a connection of its own: before forking, the screen
        closes the store's connections (``Store.release``), so pass it only where no
        other thread uses the store meanwhile (``prefcenter filter`` does).
        """
        topic = check_topic(topic)
        cap = self.settings.frequency_cap
        chan, what = choice(Channel, channel, "channel"), choice(Kind, kind, "kind")
        moment = self.now() if at is None else aware(at, "filter time")

        def send(on: Channel) -> Send:
            return Send(
                self.store, hasher(self.identities, on), topic_digest(topic), what, moment,
                cap.count if cap else None, cap.window if cap else None,
            )  # fmt: skip

        # FILTER_MEMORY bounds what the screen holds (issue 26); a phone screen that also
        # asks the sibling channel splits it between its two screens.
        memory = self.settings.filter_memory * 2**20
        sibling = PHONE_SIBLING.get(chan)
        if sibling is None or what is not Kind.MARKETING:
            return Screen(send(chan), expected_rows, parallel=parallel, memory=memory)
        if self.settings.phone_opt_out != "texts_and_calls":
            return Screen(send(chan), expected_rows, parallel=parallel, memory=memory)
        other = Screen(send(sibling), expected_rows, memory=memory // 2)
        return PhoneScreen(
            send(chan), expected_rows, parallel=parallel, memory=memory // 2, other=other
        )

    # -- reading what is stored -------------------------------------------------------
    def preferences(self, recipient: Recipient, *, channel: Channel | str = "email") -> Preferences:
        """Topic choices, frequency ceiling and pause of one identity."""
        identity = self.identity(recipient, channel)
        with self.store.session() as session:
            return session.preferences(identity.hash)

    def suppressions(
        self, recipient: Recipient, *, channel: Channel | str = "email"
    ) -> list[Suppression]:
        """Active suppressions on the identity, including person-wide ones via links."""
        identity = self.identity(recipient, channel)
        with self.store.session() as session:
            return session.suppressions(identity.hash)

    def history(self, recipient: Recipient, *, channel: Channel | str = "email") -> list[Event]:
        """Every audit event about the identity, oldest first."""
        identity = self.identity(recipient, channel)
        with self.store.session() as session:
            return session.history(identity.hash)

    def contacted(
        self,
        recipient: Recipient,
        *,
        channel: Channel | str = "email",
        since: datetime | None = None,
    ) -> bool:
        """Whether the contact ledger has any send (any kind) to this identity since ``since``.

        ``since=None`` asks whether it was ever sent to. Bounce attribution uses it to
        tell a person we mailed from a stranger's address.

        Raises:
            InvalidRecipient: the recipient cannot be canonicalised.
            StoreUnavailable: the store cannot be read.
        """
        identity = self.identity(recipient, channel)
        with self.store.session() as session:
            return session.contacted(identity.hash, since)

    def export(self) -> Iterator[Suppression]:
        """Every suppression, with the clear address where it is known."""
        return self.store.export()

    def feed(self, after: str | None = None, limit: int = 100) -> FeedPage:
        """The audit events after cursor ``after`` (None: from the first), in commit order.

        Pass the page's ``cursor`` back to read on; an empty page keeps the cursor. An
        event that commits late on PostgreSQL is never skipped (docs/store.md).

        Raises:
            InvalidInput: the cursor was not made by this feed, or ``limit`` is not 1-1000.
        """
        position = decode_cursor(after)
        size = check_limit(limit)
        return page(self.store.read(lambda session: session.feed(position, size)), position)

    def feed_text(self, after: str | None = None, limit: int = 100) -> tuple[str, str]:
        """:meth:`feed` as the JSON text of the events array and the next cursor (what
        ``GET /v1/events`` sends: the store writes each event's JSON).

        Raises:
            InvalidInput: as :meth:`feed`.
        """
        position = decode_cursor(after)
        size = check_limit(limit)
        return page_text(self.store.read(lambda session: session.feed(position, size)), position)

    def feed_end(self) -> str:
        """The cursor after the newest event: a new consumer that wants no history starts here."""
        return encode_cursor(self.store.read(lambda session: session.feed_end()))

    def webhook_outbox(self) -> dict[tuple[str, str], int]:
        """Webhook deliveries waiting, by (endpoint URL, ``pending`` or ``dead``)."""
        return self.store.read(lambda session: session.outbox_counts())

    def retry_dead_webhooks(self) -> int:
        """Queue every dead-lettered webhook delivery to an endpoint still configured
        again, due now; how many."""
        return self.store.run(lambda session: session.outbox_retry_dead())

    def discard_dead_webhooks(self, endpoint: str, *, source: Source = Source.CLI) -> int:
        """Delete the dead-lettered deliveries of ``endpoint`` (a URL no longer in
        EVENTS_WEBHOOK_URL, its query optional), audited as ``webhooks-discarded``; how many."""
        shown = endpoint.split("?")[0]  # a query may hold a secret: never in the audit log
        if shown in {url.split("?")[0] for url in self.settings.events_webhook_url}:
            raise InvalidInput(
                f"Endpoint {shown!r} is still in EVENTS_WEBHOOK_URL; remove it, or send its "
                "deliveries with `prefcenter webhooks retry`."
            )
        event = NewEvent(self.now(), b"", Action.WEBHOOKS_DISCARDED, source, detail=shown)
        return self.store.run(lambda session: session.outbox_discard(endpoint, event))

    def exceptions(self, *, status: str | None = "open") -> list[ExceptionItem]:
        """Queued inbound mail; overdue first, then oldest. ``status=None`` lists all."""
        with self.store.session() as session:
            return session.exceptions(status)

    def exception(self, item_id: int) -> ExceptionItem:
        """One queued item. Raises NotFound."""
        with self.store.session() as session:
            item = session.exception(item_id)
        if item is None:
            raise no_such_exception(item_id)
        return item

    def purge(self, *, dry_run: bool = False, stop: threading.Event | None = None) -> Purged:
        """Remove what is past its retention period (GDPR storage limitation).

        Exception items closed more than ``EXCEPTION_RETENTION`` ago lose the mail they
        hold (the item, its status and resolution stay), and so do open items received
        more than ``EXCEPTION_OPEN_RETENTION`` ago (they stay open, with their summary);
        contact ledger rows older than ``CONTACT_RETENTION`` are deleted. Suppressions
        and audit events are kept: they are the opt-out and its proof. ``prefcenter
        serve`` runs this once a day.

        The work goes in transactions of ``PURGE_CHUNK`` rows with a pause between them,
        so other writers wait for one chunk at most; setting ``stop`` ends it after the
        current chunk (the counts then say what was done).
        """
        now = self.now()
        mail_before = now - self.settings.exception_retention
        open_before = now - self.settings.exception_open_retention
        contacts_before = now - self.settings.contact_retention
        limit, items, rows = PURGE_CHUNK, 0, 0
        while True:  # in chunks: writers wait for one chunk at most, never for the whole
            done = self.store.run(
                lambda session: session.purge(
                    mail_before,
                    contacts_before,
                    now,
                    dry_run=dry_run,
                    limit=limit,
                    audit_before=now - self.settings.machine_mail_retention,
                    open_before=open_before,
                )
            )
            items, rows = items + done[0], rows + done[1]
            if dry_run or max(done) < limit or (stop is not None and stop.is_set()):
                return Purged(items, rows, mail_before, contacts_before, dry_run)
            time.sleep(PURGE_PAUSE_S)  # writers waiting for the lock get it now

    @contextmanager
    def transaction(self) -> Iterator[Changes]:
        """Group changes into one durable transaction: all commit on exit, or none.

        Raises:
            StoreUnavailable: the commit failed; nothing inside was stored.
        """
        with self.store.transaction() as session:
            yield Changes(self._core, session)

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""
        self.store.ping()

    def ready(self) -> None:
        """Raise StoreUnavailable unless a write can commit now: a tiny committed probe
        (a held lock, a read-only file, a full disk or a file-size limit fail it)."""
        self.store.run(lambda session: session.probe_write())


def _where_keys_are(settings: Settings) -> str:
    """For a pepper mismatch: where this pepper came from and where the store's keys are."""
    used = settings.dev_key_file("pepper")
    if used is None:
        return ""
    text = (
        f" This PEPPER was read from the development key file {str(used)!r} "
        f"(PREFCENTER_VAR_DIR: {str(used.parent)!r})"
    )
    if settings.database.startswith("sqlite:///"):
        folder = Path(settings.database[len("sqlite:///") :]).parent
        if (folder / "pepper").exists() and folder.resolve() != used.parent.resolve():
            where = f"this store's keys are in {str(folder)!r}"
            return f"{text}; {where}: unset PREFCENTER_VAR_DIR or point it there."
    return f"{text}; point PREFCENTER_VAR_DIR at the directory holding this store's keys."


__all__ = ["PreferenceCenter", "Recipient"]
