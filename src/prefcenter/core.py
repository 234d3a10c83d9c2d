"""The parts every read and every change needs: settings, identities, store, clock, topics.

:class:`~prefcenter.center.PreferenceCenter` owns one :class:`Core`; the change writers in
:mod:`prefcenter.changes` are handed it, so they never need the center itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from prefcenter.config import Settings
from prefcenter.identity import Folding, Identities
from prefcenter.model import Channel, Identity
from prefcenter.store import Store, open_store
from prefcenter.tokens import TokenSigner
from prefcenter.topics import topic_digest

__all__ = ["Core", "Recipient"]

#: What callers name a person by: an address or number, or an already parsed identity.
Recipient = str | Identity


class Core:
    """Settings, identity hashing, token keys, the store and the clock of one center.

    Args:
        settings: from :func:`prefcenter.config.load_settings`.
        clock: returns the current aware UTC time; tests pass a fake one.
        store: an open store to use instead of opening ``settings.database`` (tests
            wrap one to inject faults).
        signer: the token signer, when the caller made one already.

    Raises:
        PepperMismatch: the store was created with another pepper.
        StoreUnavailable: the store cannot be opened.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        store: Store | None = None,
        signer: TokenSigner | None = None,
    ) -> None:
        self.settings = settings
        self.identities = Identities(
            settings.pepper_bytes(), Folding(settings.fold_subaddress, settings.fold_gmail)
        )
        self.signer = signer or TokenSigner(settings.signing_keys())
        self._clock = clock or _utcnow
        #: Topics whose digest -> name row is known to be committed.
        self.topics: set[str] = set()
        self._topics_lock = threading.Lock()
        if store is None:
            store = open_store(
                settings.database,
                fingerprint=self.identities.fingerprint(),
                pool_size=settings.pool_size,
            )
        self.store: Store = store

    def now(self) -> datetime:
        """The clock (aware UTC)."""
        return self._clock()

    def identity(self, recipient: Recipient, channel: Channel | str = "email") -> Identity:
        """Canonicalise and hash a recipient (an :class:`Identity` passes through).

        Raises:
            InvalidRecipient: the address or number cannot be used.
        """
        if isinstance(recipient, Identity):
            return recipient
        return self.identities.parse(recipient, channel)

    def register_topic(self, topic: str | None) -> None:
        """Record the topic's digest -> name once, so tokens naming it can be read back."""
        if topic is None or topic in self.topics:
            return
        digest = topic_digest(topic)
        self.store.run(lambda session: session.register_topic(digest, topic))
        with self._topics_lock:
            self.topics.add(topic)


def _utcnow() -> datetime:
    return datetime.now(UTC)
