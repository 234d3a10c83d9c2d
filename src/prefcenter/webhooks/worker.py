"""The outbox worker: deliver every queued change to every webhook endpoint, at least once.

The outbox rows are written by the store in the transaction of each change, so a crash
loses nothing: a restarted worker finds the rows still there and sends them again (a
receiver deduplicates on each change's ``id``; a delivery of one change has the
``webhook-id`` ``evt_`` and its id). One worker per store delivers at a time (a lease
row in the store, renewed while it works; a worker restarted on the same host and
address takes it back at once).

Deliveries: up to ``EVENTS_WEBHOOK_BATCH`` changes in one signed POST, in commit order
(1: each change alone). The store writes each change's JSON, so a delivery costs Python
one string join, one HMAC and one request, whatever it carries.

Order: every person's rows go to one lane (one of up to 16 sequences of deliveries made
at the same time), in commit order. A person is a person group: an identity and every
identity linked to it (``links``) share one order, so a CRM that keeps one record per
person never sees a phone number's change before an earlier one of the email it is
linked to. A person whose delivery failed gets nothing more until that one succeeds, so
each person's changes arrive in the order they happened; nobody else waits for them. A
batch the receiver refuses (any answer but 2xx) is split in two by person and each half
sent again, down to single people, so only those whose own delivery is refused are
held back (a receiver refusing everything is not probed person by person: a lane stops
splitting once its refusals outnumber its accepted deliveries by ``REFUSALS``). A
transport error (the endpoint is down) stops the lane. A failed delivery is retried after 1 s,
2 s, 4 s ... up to ``EVENTS_WEBHOOK_MAX_BACKOFF``; the wait is stored with the rows, so
it survives restarts. An endpoint that cannot be reached at all (connection refused,
timeout) is left alone until that retry is due, instead of being tried with every
round's new rows. A delivery still failing ``EVENTS_WEBHOOK_GIVE_UP`` after its change
is dead-lettered: it stays in the store, counted by ``report`` and ``/metrics``, until
``prefcenter webhooks retry`` queues it again. So are the rows of an endpoint removed
from ``EVENTS_WEBHOOK_URL`` (nothing would ever deliver them), until the URL comes back
or ``prefcenter webhooks discard`` deletes them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from prefcenter.errors import ConfigError, StoreError
from prefcenter.store.feed import OutboxRow
from prefcenter.store.protocol import Session
from prefcenter.webhooks.sign import Signer

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

log = logging.getLogger("prefcenter.webhooks")

#: Most rows read per endpoint per round (at least 500, else one full batch per lane).
READ = 2000
#: Lanes (sequences of deliveries) sent at the same time.
CONCURRENCY = 16
#: How long the lease lasts unless renewed (a crashed worker elsewhere is replaced after this).
LEASE_S = 10.0
#: Wait between looks at an empty outbox: a lone change goes out within this.
POLL_S = 0.2
#: Wait after a round that delivered (unless it read a full page): while changes keep
#: coming, the worker writes to the store (its deletes) about once a second, in one
#: larger transaction, instead of one small one per look. Each of its write transactions
#: holds SQLite's single write lock, and a sidecar commit that finds it taken sleeps in
#: SQLite's busy handler (1, 2, 5 ms ...): with a write every 0.2 s, one-click throughput
#: fell by a fifth and its p99 doubled.
SETTLE_S = 1.0
#: First retry delay.
FIRST_RETRY_S = 1.0
#: A lane stops splitting refused batches (and sends nothing more this round) once its
#: refused requests outnumber its accepted ones by this many (the count never drops below
#: 0, so a run of deliveries buys no refusals): one refused person in a batch of 100
#: costs about 2 x 7 requests, a receiver refusing everything about 8 per lane.
REFUSALS = 8


@dataclass
class Tally:
    """What the worker did since it started (for logs and tests)."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _due(session: Session, *, endpoint: int, now_ms: int, limit: int) -> list[OutboxRow]:
    return session.outbox_due(endpoint, now_ms, limit)


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def message_of(rows: Sequence[OutboxRow], *, batch: bool) -> tuple[str, bytes]:
    """The ``webhook-id`` and JSON body of one delivery of ``rows`` (commit order).

    One change alone (``batch`` false) is ``{"type": "prefcenter.KIND", "timestamp",
    "data": CHANGE}``; a batch is ``{"type": "prefcenter.changes", "timestamp", "data":
    {"events": [CHANGE, ...]}}``, the timestamp its newest change's. The id of a delivery
    of one change is ``evt_`` and its id; of several, ``batch_`` and a digest of their
    ids, the same whenever the same changes are sent again.
    """
    if len(rows) == 1:
        message_id = f"evt_{rows[0].event_id}"
    else:
        ids = ",".join(str(row.event_id) for row in rows).encode()
        message_id = "batch_" + hashlib.sha256(ids).hexdigest()[:32]
    stamp = json.dumps(_iso(rows[-1].at_ms))
    if batch:
        events = ",".join(row.body for row in rows)
        text = f'{{"type":"prefcenter.changes","timestamp":{stamp},"data":{{"events":[{events}]}}}}'
    else:
        (row,) = rows
        kind = json.dumps(f"prefcenter.{row.kind}")
        text = f'{{"type":{kind},"timestamp":{stamp},"data":{row.body}}}'
    return message_id, text.encode()


@dataclass(frozen=True)
class Failure:
    """One failed delivery: its rows, why, and whether the endpoint was unreachable."""

    rows: list[OutboxRow]
    error: str
    unreachable: bool


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
        self.batch = settings.events_webhook_batch
        #: Rows per round: a full batch for every lane, so a busy round's requests are full.
        self.read = min(READ, max(500, self.batch * CONCURRENCY))
        self.max_backoff = settings.events_webhook_max_backoff.total_seconds()
        self.give_up = settings.events_webhook_give_up
        self.clock = clock
        self.tally = Tally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._endpoints: dict[str, int] = {}
        #: endpoint -> epoch seconds before which it is not tried (it could not be reached).
        self._resting: dict[int, float] = {}
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
            self.center.store.run(
                lambda session: session.outbox_release(self.holder), durable=False
            )
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # Straight on only while pages come back full; after a delivery, settle
                # (SETTLE_S); when there was nothing, look again soon (POLL_S).
                attempted = self.round()
                wait = 0.0 if self.full else SETTLE_S if attempted else POLL_S
            except StoreError as error:  # the store is down: the rows wait in it
                log.warning("webhook delivery paused: %s", type(error).__name__)
                wait = 1.0
            except Exception:  # a bug must not end deliveries for good
                log.exception("webhook delivery round failed")
                wait = 1.0
            if wait:
                self._stop.wait(wait)

    def round(self) -> bool:
        """Deliver what is due now; True if anything was attempted."""
        store = self.center.store
        now = self.clock()
        now_ms = int(now * 1000)
        if not self._endpoints:  # from now on every change is queued for these URLs
            self._endpoints = store.run(self._sync)
        if now >= self._renew_at:  # a write: only a few times per lease, not every round
            until = int((now + LEASE_S) * 1000)
            if not store.run(
                lambda session: session.outbox_lease(self.holder, now_ms, until), durable=False
            ):
                self._renew_at = 0.0
                return False
            self._renew_at = now + LEASE_S / 3
        attempted = False
        self.full = False
        for url, endpoint in self._endpoints.items():
            if self._resting.get(endpoint, 0.0) > now:
                continue
            rows = store.read(
                functools.partial(_due, endpoint=endpoint, now_ms=now_ms, limit=self.read)
            )
            if rows:
                attempted = True
                self.full = self.full or len(rows) >= self.read
                self._deliver(url, endpoint, rows, now)
        return attempted

    def _sync(self, session: Session) -> dict[str, int]:
        endpoints = session.sync_endpoints(self.urls)
        retired = session.outbox_retire()
        if retired:
            log.warning(
                "%d webhook deliveries for endpoints no longer in EVENTS_WEBHOOK_URL were "
                "dead-lettered; `prefcenter webhooks status` counts them",
                retired,
            )
        return endpoints

    # -- one round for one endpoint -------------------------------------------------
    def _deliver(self, url: str, endpoint: int, rows: list[OutboxRow], now: float) -> None:
        lane_count = max(1, min(CONCURRENCY, -(-len(rows) // self.batch)))
        lanes: list[list[OutboxRow]] = [[] for _ in range(lane_count)]
        lane_of: dict[bytes, int] = {}
        for row in rows:  # a person's rows stay in one lane, in commit order
            lanes[lane_of.setdefault(row.person, len(lane_of) % lane_count)].append(row)
        done: list[int] = []
        failures: list[Failure] = []
        requests = 0
        for lane in self._pool.map(lambda lane: self._send(url, lane), lanes):
            done += lane.delivered
            requests += lane.sent
            failures += lane.failures
        give_up_ms = self.give_up // timedelta(milliseconds=1)
        now_ms = int(now * 1000)
        retries: list[tuple[Failure, int, list[int], list[int]]] = []
        for failure in failures:
            attempts = max(row.attempts for row in failure.rows)
            wait = min(self.max_backoff, FIRST_RETRY_S * 2 ** min(attempts, 30))
            next_at = now_ms + int(wait * random.uniform(0.5, 1.0) * 1000)
            dead = [row.id for row in failure.rows if row.at_ms + give_up_ms <= now_ms]
            alive = [row.id for row in failure.rows if row.at_ms + give_up_ms > now_ms]
            retries.append((failure, next_at, dead, alive))

        def record(session: Session) -> None:
            session.outbox_delivered(done)
            for failure, next_at, dead, alive in retries:
                if dead:
                    session.outbox_failed(dead, next_at=next_at, dead=True, error=failure.error)
                if alive:
                    session.outbox_failed(alive, next_at=next_at, dead=False, error=failure.error)

        # Not waiting for the disk: a delete lost in a crash only sends a change again.
        self.center.store.run(record, durable=False)
        if not done and failures and all(failure.unreachable for failure in failures):
            # Down, not refusing some changes: rest until the first retry is due.
            self._resting[endpoint] = min(next_at for _, next_at, _, _ in retries) / 1000
        dead_count = 0
        for failure, _, dead, _ in retries:
            dead_count += len(dead)
            if dead:
                log.warning("%d webhook deliveries dead-lettered (%s)", len(dead), failure.error)
        with self.tally.lock:
            self.tally.delivered += len(done)
            self.tally.failed += sum(len(failure.rows) for failure in failures)
            self.tally.dead += dead_count
            self.tally.requests += requests

    def _send(self, url: str, rows: list[OutboxRow]) -> Lane:
        """Deliver one lane's rows in commit order, ``batch`` at a time, leaving out the
        later rows of every person whose delivery failed (their order is kept); stops
        at a transport error or once refusals outnumber deliveries by ``REFUSALS``."""
        lane = Lane()
        todo = deque(rows)
        while todo and not self._stop.is_set():
            batch: list[OutboxRow] = []
            while todo and len(batch) < self.batch:
                row = todo.popleft()
                if row.person not in lane.held:
                    batch.append(row)
            if not batch or not self._settle(url, batch, lane):
                break
        return lane

    def _settle(self, url: str, rows: list[OutboxRow], lane: Lane) -> bool:
        """Deliver ``rows``; if refused, split them in two by person and send each half,
        and so on, until every person in them is delivered or refused alone. False when
        the lane should stop (the endpoint is down, or refuses everything)."""
        failure = self._post(url, rows, lane)
        if failure is None:
            return True
        if failure.unreachable:
            lane.fail(failure)
            return False
        refused = deque([failure])
        while refused:
            failure = refused.popleft()
            people = list(dict.fromkeys(row.person for row in failure.rows))
            if len(people) == 1 or lane.margin >= REFUSALS or self._stop.is_set():
                lane.fail(failure)
                continue
            first = set(people[: len(people) // 2])
            for half in (
                [row for row in failure.rows if row.person in first],
                [row for row in failure.rows if row.person not in first],
            ):
                outcome = self._post(url, half, lane)
                if outcome is not None and outcome.unreachable:  # down midway
                    for waiting in (*refused, outcome):
                        lane.fail(waiting)
                    return False
                if outcome is not None:
                    refused.append(outcome)
        return lane.margin < REFUSALS

    def _post(self, url: str, rows: list[OutboxRow], lane: Lane) -> Failure | None:
        """One signed POST of ``rows``: None if the receiver took it (2xx)."""
        message_id, body = message_of(rows, batch=self.batch > 1)
        headers = self.signer.headers(message_id, int(time.time()), body)  # the real send time
        lane.sent += 1
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Failure(rows, type(error).__name__, unreachable=True)
        if not 200 <= response.status_code < 300:
            lane.margin += 1
            return Failure(rows, f"HTTP {response.status_code}", unreachable=False)
        lane.margin = max(0, lane.margin - 1)  # a run of deliveries buys no refusals
        lane.delivered += [row.id for row in rows]
        return None


@dataclass
class Lane:
    """What one lane did in one round.

    Attributes:
        delivered: the rows the receiver took.
        failures: the deliveries that failed, each down to one person where possible.
        held: the people whose delivery failed: nothing more of theirs goes this round.
        sent: requests made.
        margin: refused requests minus accepted ones, never below 0 (the lane stops at
            ``REFUSALS``).
    """

    delivered: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    held: set[bytes] = field(default_factory=set)
    sent: int = 0
    margin: int = 0

    def fail(self, failure: Failure) -> None:
        self.failures.append(failure)
        self.held.update(row.person for row in failure.rows)


__all__ = ["CONCURRENCY", "READ", "REFUSALS", "WebhookWorker", "message_of"]
