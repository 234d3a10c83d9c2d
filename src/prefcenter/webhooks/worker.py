"""The outbox worker: deliver every queued change to every webhook endpoint, at least once.

The outbox rows are written by the store in the transaction of each change, so a crash
loses nothing: a restarted worker finds the rows still there and sends them again (a
receiver deduplicates on ``webhook-id``, which is ``evt_`` and the event id). One worker
per store delivers at a time (a lease row in the store, renewed while it works; a
worker restarted on the same host and address takes it back at once).

Order: rows go out in commit order, and a person whose delivery failed gets nothing
more until that one succeeds, so each person's changes arrive in the order they
happened. Different people are delivered concurrently. A failed delivery is retried
after 1 s, 2 s, 4 s ... up to ``EVENTS_WEBHOOK_MAX_BACKOFF``; the wait is stored with the
row, so it survives restarts. A delivery still failing ``EVENTS_WEBHOOK_GIVE_UP`` after
its change is dead-lettered: it stays in the store, counted by ``report`` and
``/metrics``, until ``prefcenter webhooks retry`` queues it again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from prefcenter.errors import ConfigError, StoreError
from prefcenter.feed import payload
from prefcenter.store.codes import to_ms
from prefcenter.store.feed import OutboxRow
from prefcenter.store.protocol import Session
from prefcenter.webhooks.sign import Signer

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

log = logging.getLogger("prefcenter.webhooks")

#: Rows read per endpoint per round.
BATCH = 500
#: People delivered to at the same time.
CONCURRENCY = 16
#: How long the lease lasts unless renewed (a crashed worker elsewhere is replaced after this).
LEASE_S = 10.0
#: Idle wait between looks at the outbox.
POLL_S = 0.2
#: First retry delay.
FIRST_RETRY_S = 1.0


@dataclass
class Tally:
    """What the worker did since it started (for logs and tests)."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _due(session: Session, *, endpoint: int, now_ms: int) -> list[OutboxRow]:
    return session.outbox_due(endpoint, now_ms, BATCH)


def body_of(row: OutboxRow) -> tuple[str, bytes]:
    """The ``webhook-id`` and JSON body of one delivery."""
    data = payload(row.item)
    message = {"type": f"prefcenter.{data['kind']}", "timestamp": data["time"], "data": data}
    return f"evt_{data['id']}", json.dumps(message, ensure_ascii=False).encode()


class WebhookWorker:
    """Delivers the outbox of ``center``'s store in a background thread.

    Args:
        center: an open center; the caller closes it after :meth:`stop`.
        urls, secret: the endpoints and ``whsec_`` secret (default: the settings').
        client: the HTTP client (default: one with ``EVENTS_WEBHOOK_TIMEOUT``).
        holder: this worker's name for the lease (default: host and HTTP address).
    """

    def __init__(
        self,
        center: PreferenceCenter,
        *,
        urls: Sequence[str] | None = None,
        secret: str | None = None,
        client: httpx.Client | None = None,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = center.settings
        self.center = center
        self.urls = list(settings.events_webhook_url if urls is None else urls)
        if secret is None:
            if settings.events_webhook_secret is None:
                raise ConfigError(
                    "Webhooks need EVENTS_WEBHOOK_SECRET; set it to whsec_ and the base64 of "
                    "32 random bytes.",
                    name="events_webhook_secret",
                )
            secret = settings.events_webhook_secret.reveal()
        self.signer = Signer(secret)
        timeout = settings.events_webhook_timeout.total_seconds()
        self.client = client or httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=CONCURRENCY * max(1, len(self.urls))),
        )
        self.holder = holder or f"{socket.gethostname()}:{settings.http}"
        self.max_backoff = settings.events_webhook_max_backoff.total_seconds()
        self.give_up = settings.events_webhook_give_up
        self.clock = clock
        self.tally = Tally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._endpoints: dict[str, int] = {}
        self._renew_at = 0.0
        #: Whether the last round read a full page for some endpoint (more is waiting).
        self.full = False
        self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="webhook")

    # -- running ---------------------------------------------------------------------
    def start(self) -> None:
        """Start delivering in a background thread."""
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current round, give the lease up and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)
        with contextlib.suppress(StoreError):  # else the lease runs out by itself
            self.center.store.run(lambda session: session.outbox_release(self.holder))
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # Straight on only while pages come back full: otherwise wait, so the
                # deletes of a busy store go in a few larger transactions, not many
                # small ones competing with the sidecar's commits for the write lock.
                self.round()
                busy = self.full
            except StoreError as error:  # the store is down: the rows wait in it
                log.warning("webhook delivery paused: %s", type(error).__name__)
                busy = False
                self._stop.wait(1.0)
            except Exception:  # a bug must not end deliveries for good
                log.exception("webhook delivery round failed")
                busy = False
                self._stop.wait(1.0)
            if not busy:
                self._stop.wait(POLL_S)

    def round(self) -> bool:
        """Deliver what is due now; True if anything was attempted."""
        store = self.center.store
        now = self.clock()
        now_ms = int(now * 1000)
        if not self._endpoints:  # from now on every change is queued for these URLs
            self._endpoints = store.run(lambda session: session.sync_endpoints(self.urls))
        if now >= self._renew_at:  # a write: only a few times per lease, not every round
            until = int((now + LEASE_S) * 1000)
            if not store.run(lambda session: session.outbox_lease(self.holder, now_ms, until)):
                self._renew_at = 0.0
                return False
            self._renew_at = now + LEASE_S / 3
        attempted = False
        self.full = False
        for url, endpoint in self._endpoints.items():
            rows = store.read(functools.partial(_due, endpoint=endpoint, now_ms=now_ms))
            if rows:
                attempted = True
                self.full = self.full or len(rows) >= BATCH
                self._deliver(url, rows, now)
        return attempted

    # -- one round for one endpoint -------------------------------------------------
    def _deliver(self, url: str, rows: list[OutboxRow], now: float) -> None:
        people: dict[str, list[OutboxRow]] = {}
        for row in rows:
            people.setdefault(row.item.event.identity_hash, []).append(row)
        done: list[int] = []
        failed: list[tuple[OutboxRow, str]] = []
        for delivered, failure in self._pool.map(
            lambda group: self._send(url, group), people.values()
        ):
            done += delivered
            if failure is not None:
                failed.append(failure)
        give_up_ms = self.give_up // timedelta(milliseconds=1)
        now_ms = int(now * 1000)

        def record(session: Session) -> None:
            session.outbox_delivered(done)
            for row, error in failed:
                attempts = row.attempts + 1
                wait = min(self.max_backoff, FIRST_RETRY_S * 2 ** min(row.attempts, 30))
                wait *= random.uniform(0.5, 1.0)
                dead = to_ms(row.item.event.at) + give_up_ms <= now_ms
                session.outbox_failed(
                    row.id,
                    attempts=attempts,
                    next_at=now_ms + int(wait * 1000),
                    dead=dead,
                    error=error,
                )

        self.center.store.run(record)
        dead = 0
        for row, error in failed:
            if to_ms(row.item.event.at) + give_up_ms <= now_ms:
                dead += 1
                log.warning("webhook event %s dead-lettered (%s)", row.item.event.id, error)
        with self.tally.lock:
            self.tally.delivered += len(done)
            self.tally.failed += len(failed)
            self.tally.dead += dead

    def _send(
        self, url: str, rows: list[OutboxRow]
    ) -> tuple[list[int], tuple[OutboxRow, str] | None]:
        """Deliver one person's rows in order, stopping at the first failure."""
        delivered: list[int] = []
        for row in rows:
            if self._stop.is_set():
                break
            message_id, body = body_of(row)
            headers = self.signer.headers(message_id, int(time.time()), body)  # the real send time
            try:
                response = self.client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                return delivered, (row, type(error).__name__)
            if not 200 <= response.status_code < 300:
                return delivered, (row, f"HTTP {response.status_code}")
            delivered.append(row.id)
        return delivered, None


__all__ = ["BATCH", "WebhookWorker", "body_of"]
