"""The change feed and the webhook outbox: audit events read in commit order.

SQLite has one writer at a time, so an event's rowid is its commit order and a page is
``id > cursor``. PostgreSQL draws identity values at insert time, not at commit: a
transaction that inserted event 10 may commit after the one that inserted event 11, and
a reader that moved its cursor past 11 would never see 10. So every row also records its
transaction's id (``tx``), and a page holds only rows whose transaction is older than the
oldest transaction still running (``pg_snapshot_xmin`` of the reading statement's
snapshot), in (tx, id) order. Every transaction below that bound has ended, so nothing
can appear behind the cursor later; a long transaction only delays the feed.

The outbox is one row per (event, active endpoint), inserted by a trigger in the
transaction that appends the event (``store/schema.py``). The worker reads it in the
same (tx, id) order, so the changes of one person reach an endpoint in the order they
committed. A person here is a person group (``links``): an identity and every identity
linked to it share one order, keyed by the group's id (an unlinked identity: its hash).
"""

# SQL is assembled only from constants in this module; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefcenter.model import Event
from prefcenter.store.rows import Statements

#: Outbox states.
PENDING = 0
DEAD = 2


def _json(build: str, hex_of: str, time_of: str) -> str:
    """One event's payload as a JSON object, written by the database (``feed.payload``)."""
    return (
        f"{build}('id', CAST(e.id AS TEXT), 'kind', e.action, 'channel', NULLIF(e.channel, ''), "
        "'topic', NULLIF(e.topic, ''), 'scope', NULLIF(e.scope, ''), 'reason', e.reason, "
        f"'source', e.source, 'time', {time_of.format('e.at')}, "
        f"'requested_at', {time_of.format('e.requested_at')}, 'detail', NULLIF(e.detail, ''), "
        f"'identity_hash', NULLIF({hex_of}, ''), 'address', i.address)"
    )


#: Milliseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, NULL for NULL.
_SQLITE_JSON = _json(
    "json_object",
    "lower(hex(e.hash))",
    # %f is SS.SSS. SQLite turns the float into whole milliseconds (rounding) before it
    # prints, so whole milliseconds print exactly (tests/store/test_feed.py holds every
    # edge of a second to Python's form). One call instead of a CASE, a printf and three
    # concatenations: the largest cost per event of a page.
    "strftime('%Y-%m-%dT%H:%M:%fZ', {0} / 1000.0, 'unixepoch')",
)
_PG_JSON = (
    _json(
        "json_build_object",
        "encode(e.hash, 'hex')",
        "CASE WHEN {0} IS NULL THEN NULL ELSE to_char(to_timestamp({0} / 1000) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS') || '.' || lpad(mod({0}, 1000)::text, 3, '0') || 'Z' END",
    )
    + "::text"
)
#: The bound of the PostgreSQL feed: every transaction below it has ended.
_PG_FENCE = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One audit event as the feed hands it out.

    Attributes:
        tx: the transaction id of its commit on PostgreSQL (0 on SQLite); with
            ``event.id`` it is the feed position.
        event: the audit event.
        address: the clear address when the store keeps it (None for a hash-only or
            forgotten identity).
    """

    tx: int
    event: Event
    address: str | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending delivery of one event to one endpoint.

    Attributes:
        id: the outbox row's id.
        attempts: failed attempts so far.
        next_at: when it is due, milliseconds since the epoch.
        event_id: the audit event's id.
        identity_hash: the person's identity hash (deliveries keep each person's order).
        at_ms: when the change happened, milliseconds since the epoch.
        kind: the event's action (``suppress``, ``opt-out``...).
        body: the event's JSON payload, written by the database (``feed.payload``'s shape).
        person: the person the order is kept for: the identity's person group (``links``)
            at the time of reading, or its own hash when it is linked to nothing.
    """

    id: int
    attempts: int
    next_at: int
    event_id: int
    identity_hash: bytes
    at_ms: int
    kind: str
    body: str
    person: bytes


class FeedRows(Statements):
    """The feed and outbox statements of one session."""

    def _fenced(self) -> bool:
        return self.dialect.name == "postgresql"

    def feed(self, after: tuple[int, int], limit: int) -> list[tuple[int, int, str]]:
        """Up to ``limit`` events after position ``after`` = (tx, id), in commit order, as
        (tx, id, the event's JSON payload). The database writes the JSON (the shape of
        ``prefcenter.feed.payload``), so a page costs Python one string per event."""
        join = "FROM events e LEFT JOIN identities i ON i.hash = e.hash "
        if self._fenced():
            sql = (
                f"SELECT e.tx, e.id, {_PG_JSON} {join}WHERE (e.tx, e.id) > (?, ?) "
                f"AND e.tx < {_PG_FENCE} ORDER BY e.tx, e.id LIMIT ?"
            )
            return self._rows(sql, [after[0], after[1], limit])
        sql = f"SELECT 0, e.id, {_SQLITE_JSON} {join}WHERE e.id > ? ORDER BY e.id LIMIT ?"
        return self._rows(sql, [after[1], limit])

    def feed_end(self) -> tuple[int, int]:
        """The position of the newest event the feed would hand out now."""
        if self._fenced():
            row = self._one(
                f"SELECT tx, id FROM events WHERE tx < {_PG_FENCE} ORDER BY tx DESC, id DESC "
                "LIMIT 1"
            )
        else:
            row = self._one("SELECT 0, id FROM events ORDER BY id DESC LIMIT 1")
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    # -- the outbox ----------------------------------------------------------------
    def sync_endpoints(self, urls: Sequence[str]) -> dict[str, int]:
        """Make ``urls`` the active endpoints (others stop getting rows); url -> id."""
        self._exec("UPDATE webhook_endpoints SET active = 0 WHERE active = 1")
        found: dict[str, int] = {}
        for url in urls:
            row = self._one(
                "INSERT INTO webhook_endpoints(url, active) VALUES (?, 1) ON CONFLICT (url) "
                "DO UPDATE SET active = 1 RETURNING id",
                [url],
            )
            found[url] = int(row[0])
        return found

    def outbox_due(self, endpoint: int, now_ms: int, limit: int) -> list[OutboxRow]:
        """Pending rows of ``endpoint`` due at ``now_ms``, in commit order, leaving out
        every person (group of linked identities) whose earlier row waits for a retry
        (their order is kept). Each row's JSON is written by the database, as for the
        feed's pages."""
        fence = f"AND o.tx < {_PG_FENCE} " if self._fenced() else ""
        build = _PG_JSON if self._fenced() else _SQLITE_JSON
        # The person: the group in links (one primary-key lookup a row, about 1 us),
        # else the hash; a store where nobody is linked skips the lookup.
        linked = self._one("SELECT 1 FROM links LIMIT 1") is not None
        person, links = (
            ("COALESCE(l.group_id, o.hash)", "LEFT JOIN links l ON l.hash = o.hash ")
            if linked
            else ("o.hash", "")
        )
        rows = self._rows(
            f"SELECT o.id, o.attempts, o.next_at, e.id, o.hash, e.at, e.action, {build}, "
            f"{person} FROM outbox o JOIN events e ON e.id = o.event_id "
            f"LEFT JOIN identities i ON i.hash = e.hash {links}"
            f"WHERE o.endpoint = ? AND o.state = 0 AND o.next_at <= ? {fence}"
            "ORDER BY o.tx, o.id LIMIT ?",
            [endpoint, now_ms, limit],
        )
        if not rows:
            return []
        # Only rows that failed carry attempts > 0: the partial index outbox_retry.
        waiting = {
            bytes(found[0])
            for found in self._rows(
                f"SELECT DISTINCT {person} FROM outbox o {links}WHERE o.endpoint = ? "
                "AND o.attempts > 0 AND o.state = 0 AND o.next_at > ?",
                [endpoint, now_ms],
            )
        }
        if not waiting:  # the usual case: the rows as the database gave them
            return [OutboxRow(*row) for row in rows]
        return [OutboxRow(*row) for row in rows if bytes(row[8]) not in waiting]

    @abstractmethod
    def _match_many(self, hashes: Sequence[bytes]) -> tuple[str, list[Any]]:
        """A ``hash <match>`` fragment for a chunk of hashes (each backend's session)."""

    def outbox_delivered(self, ids: Sequence[int]) -> None:
        """Remove delivered rows."""
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            self._exec(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)

    def outbox_failed(self, ids: Sequence[int], *, next_at: int, dead: bool, error: str) -> None:
        """Record a failed attempt of rows ``ids`` (one delivery): count it, and retry
        them at ``next_at`` (ms) or dead-letter them."""
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            self._exec(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?, state = ?, "
                f"last_error = ? WHERE id IN ({marks})",
                [next_at, DEAD if dead else PENDING, error[:500], *chunk],
            )

    def outbox_retire(self) -> int:
        """Dead-letter the pending rows of endpoints no longer in EVENTS_WEBHOOK_URL (nothing
        delivers them; ``webhooks retry`` queues them again if the URL comes back); how
        many."""
        return self._exec(
            "UPDATE outbox SET state = ?, last_error = ? WHERE state = ? AND endpoint IN "
            "(SELECT id FROM webhook_endpoints WHERE active = 0)",
            [DEAD, "endpoint removed from EVENTS_WEBHOOK_URL", PENDING],
        )

    def outbox_retry_dead(self) -> int:
        """Put every dead-lettered row of an active endpoint back in the queue, due now;
        how many."""
        return self._exec(
            "UPDATE outbox SET state = ?, attempts = 0, next_at = 0 WHERE state = ? AND "
            "endpoint IN (SELECT id FROM webhook_endpoints WHERE active = 1)",
            [PENDING, DEAD],
        )

    def _outbox_discard(self, endpoint: str) -> int:
        """Delete the dead-lettered rows of the removed (inactive) endpoint ``endpoint``:
        its URL, or its URL without the query as ``webhooks status`` shows it; how many.
        A configured endpoint's rows are left alone. (``outbox_discard`` audits it.)"""
        ids = [
            int(found[0])
            for found in self._rows("SELECT id, url FROM webhook_endpoints WHERE active = 0")
            if endpoint in (found[1], str(found[1]).split("?", 1)[0])
        ]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return self._exec(
            f"DELETE FROM outbox WHERE state = ? AND endpoint IN ({marks})", [DEAD, *ids]
        )

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(endpoint url, ``pending`` or ``dead``) -> rows."""
        rows = self._rows(
            "SELECT w.url, o.state, count(*) FROM outbox o "
            "JOIN webhook_endpoints w ON w.id = o.endpoint GROUP BY w.url, o.state"
        )
        return {
            (str(url), "dead" if state == DEAD else "pending"): int(count)
            for url, state, count in rows
        }

    def outbox_lease(self, holder: str, now_ms: int, until_ms: int) -> bool:
        """Take or renew the one delivery lease (one worker per store); True if held."""
        row = self._one(
            "INSERT INTO webhook_lease(id, holder, until_ms) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
            "until_ms = excluded.until_ms WHERE webhook_lease.holder = excluded.holder "
            "OR webhook_lease.until_ms < ? RETURNING holder",
            [holder, until_ms, now_ms],
        )
        return row is not None

    def outbox_release(self, holder: str) -> None:
        """Give the lease up (a clean stop lets another worker take over at once)."""
        self._exec("DELETE FROM webhook_lease WHERE holder = ?", [holder])


__all__ = ["DEAD", "PENDING", "FeedEvent", "FeedRows", "OutboxRow"]
