"""The SQL both backends share: one :class:`SqlSession` per connection and transaction.

SQL is written once with ``?`` placeholders; the PostgreSQL dialect rewrites them to
``%s``. Only portable SQL is used (``INSERT ... ON CONFLICT``, ``RETURNING``, ``CASE``),
so the contract tests exercise the same statements on both databases.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from prefcenter.errors import InvalidTopic
from prefcenter.model import (
    Action,
    Channel,
    Contact,
    Event,
    Preferences,
    Scope,
    Source,
    Suppression,
)
from prefcenter.policy import EMPTY, Block, Rules
from prefcenter.store.audit import AuditRows
from prefcenter.store.codes import (
    CHANNEL_CODE,
    KIND_CODE,
    SCOPE_CODE,
    SCOPES,
    SOURCE_CODE,
    SOURCES,
    from_ms,
    from_topic_key,
    to_ms,
    topic_key,
)
from prefcenter.store.console import ConsoleRows
from prefcenter.store.feed import FeedRows
from prefcenter.store.imports import ImportGroup
from prefcenter.store.person import PersonRows
from prefcenter.store.protocol import NewEvent
from prefcenter.store.retention import RetentionRows
from prefcenter.store.rows import (
    EVENT_COLUMNS,
    EVERY,
    PRESENT_SQL,
    SUPPRESSION_COLUMNS,
    Dialect,
    Present,
    blocks_sql,
    event_from_row,
    rules_sql,
    suppression_from_row,
)
from prefcenter.store.rule_index import IndexRows


class SqlSession(PersonRows, RetentionRows, IndexRows, ConsoleRows, AuditRows, FeedRows, ABC):
    """Reads and writes on one connection; the backend owns begin, commit and rollback."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        super().__init__(conn, dialect)
        self.forgot = False

    @abstractmethod
    def _match_many(self, hashes: Sequence[bytes]) -> tuple[str, list[Any]]:
        """A ``hash <match>`` fragment and its parameters for a chunk of hashes."""

    # -- rules -------------------------------------------------------------------
    def present(self) -> Present:
        """Which optional rule tables hold any row (one cheap statement)."""
        return Present(*(bool(flag) for flag in self.conn.execute(PRESENT_SQL).fetchone()))

    def rules(self, identity_hash: bytes, *, at: datetime, cap_window: timedelta | None) -> Rules:
        # check's hot path: one statement probing every rule table by primary key (cheaper
        # than asking which tables are empty first), and nothing built for a clean record.
        with_cap = cap_window is not None
        found = self.dialect._statements.get(("one", with_cap))
        if found is None:
            built = rules_sql("= ?", self.dialect, EVERY, blocks=True, with_cap=with_cap)
            found = self.dialect._statements[("one", with_cap)] = built
        sql, names = found
        at_ms = to_ms(at)
        low = at_ms - cap_window // _MS if cap_window is not None else 0
        values = {"match": identity_hash, "at": at_ms, "low": low}
        rows = self._fetch_rules(sql, [values[name] for name in names])
        if not rows:
            return EMPTY
        return _decode(rows).get(bytes(identity_hash), EMPTY)

    def _fetch_rules(self, sql: str, params: list[Any]) -> list[Any]:
        """The rows of :meth:`rules`' statement (a backend may keep a cursor for it)."""
        rows: list[Any] = self.conn.execute(sql, params).fetchall()
        return rows

    def rules_many(
        self,
        hashes: Sequence[bytes],
        *,
        at: datetime,
        cap_window: timedelta | None,
        blocks: bool = True,
        present: Present | None = None,
    ) -> dict[bytes, Rules]:
        known = present or self.present()
        if not hashes or not (blocks or any(known)):
            return {}  # nothing to ask: no hashes, or every table asked about is empty
        match, params = self._match_many(hashes)
        return self._rules(match, params, known, at=at, cap_window=cap_window, blocks=blocks)

    def blocks_many(
        self, hashes: Sequence[bytes], *, topic: bytes, marketing: bool, present: Present
    ) -> dict[bytes, int]:
        """hash -> 0 (hard), 1 (global) or 2 (this topic) for hashes a suppression blocks."""
        if not hashes:
            return {}
        match, params = self._match_many(hashes)
        sql, names = self._cached(
            ("blocks", match, present), lambda: blocks_sql(match, self.dialect, present)
        )
        values: dict[str, list[Any]] = {
            "marketing": [int(marketing)],
            "topic": [topic_key(topic)],
            "match": params,
        }
        args = [value for name in names for value in values[name]]
        return dict(self.conn.execute(sql, args).fetchall())

    def _cached(
        self, key: tuple[object, ...], build: Callable[[], tuple[str, tuple[str, ...]]]
    ) -> tuple[str, tuple[str, ...]]:
        found = self.dialect._statements.get(key)
        if found is None:
            found = self.dialect._statements[key] = build()
        return found

    def _rules(
        self,
        match: str,
        params: list[Any],
        present: Present,
        *,
        at: datetime,
        cap_window: timedelta | None,
        blocks: bool,
    ) -> dict[bytes, Rules]:
        with_cap = cap_window is not None
        sql, names = self._cached(
            ("rules", match, present, blocks, with_cap),
            lambda: rules_sql(match, self.dialect, present, blocks=blocks, with_cap=with_cap),
        )
        if not sql:
            return {}
        at_ms = to_ms(at)
        low = at_ms - cap_window // timedelta(milliseconds=1) if cap_window is not None else 0
        values: dict[str, list[Any]] = {"match": params, "at": [at_ms], "low": [low]}
        args = [value for name in names for value in values[name]]
        return _decode(self.conn.execute(sql, args))

    # -- small reads -------------------------------------------------------------
    def topic_name(self, digest: bytes) -> str | None:
        row = self._one("SELECT name FROM topics WHERE digest = ?", [bytes(digest)])
        return None if row is None else str(row[0])

    def topic_choice(self, identity_hash: bytes, topic: bytes) -> bool | None:
        row = self._one(
            "SELECT subscribed FROM topic_prefs WHERE hash = ? AND topic = ?",
            [identity_hash, topic_key(topic)],
        )
        return None if row is None else bool(row[0])

    def suppressions(self, identity_hash: bytes) -> list[Suppression]:
        base = (
            f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions s "
            "LEFT JOIN identities i ON i.hash = s.hash LEFT JOIN topics t ON t.digest = s.topic "
        )
        rows = self._rows(base + "WHERE s.hash = ?", [identity_hash])
        root = self.group(identity_hash)
        if root is not None and root != identity_hash:
            rows += self._rows(base + "WHERE s.hash = ? AND s.all_channels = 1", [root])
        return [suppression_from_row(row) for row in rows]

    def preferences(self, identity_hash: bytes) -> Preferences:
        row = self._one(
            "SELECT frequency_days, paused_until FROM preferences WHERE hash = ?", [identity_hash]
        )
        topics = {
            (name if name is not None else "#" + bytes(digest).hex()): bool(subscribed)
            for digest, subscribed, name in self._rows(
                "SELECT p.topic, p.subscribed, t.name FROM topic_prefs p "
                "LEFT JOIN topics t ON t.digest = p.topic WHERE p.hash = ?",
                [identity_hash],
            )
        }
        if row is None:
            return Preferences(topics=topics)
        paused = None if row[1] is None else from_ms(row[1])
        return Preferences(topics=topics, frequency_days=row[0], paused_until=paused)

    def history(self, identity_hash: bytes) -> list[Event]:
        rows = self._rows(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE hash = ? ORDER BY id", [identity_hash]
        )
        return [event_from_row(row) for row in rows]

    def contacted(self, identity_hash: bytes, since: datetime | None) -> bool:
        low = -(2**62) if since is None else to_ms(since)
        row = self._one(
            "SELECT 1 FROM contacts WHERE hash = ? AND at >= ? LIMIT 1", [identity_hash, low]
        )
        return row is not None

    def event_times(self, identity_hash: bytes, action: Action, since: datetime) -> list[datetime]:
        rows = self._rows(
            "SELECT at FROM events WHERE hash = ? AND action = ? AND at >= ? ORDER BY at DESC "
            "LIMIT 1000",
            [identity_hash, action.value, to_ms(since)],
        )
        return [from_ms(row[0]) for row in rows]

    def sent_message(self, digest: bytes) -> bytes | None:
        row = self._one("SELECT hash FROM sent_messages WHERE digest = ?", [digest])
        return None if row is None else bytes(row[0])

    def count_events(self, identity_hash: bytes, action: Action, since: datetime) -> int:
        row = self._one(
            "SELECT count(*) FROM events WHERE hash = ? AND action = ? AND at >= ?",
            [identity_hash, action.value, to_ms(since)],
        )
        return int(row[0])

    # -- writes ------------------------------------------------------------------
    def probe_write(self) -> None:
        """Rewrite one meta row with its own value: a write that changes nothing but must
        reach the disk (readiness: a held lock, a read-only file or a full disk fail it)."""
        self._exec("UPDATE meta SET value = value WHERE key = ?", ["schema_version"])

    def register_topic(self, digest: bytes, name: str) -> None:
        added = self._exec(
            "INSERT INTO topics(digest, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [bytes(digest), name],
        )
        if added:
            return
        known = self.topic_name(digest)
        if known is not None and known != name:
            # Links carry a short digest: two names sharing one would share opt-outs.
            raise InvalidTopic(
                f"Topic {name[:60]!r} cannot be used: its digest in links is the one of "
                f"topic {known[:60]!r}; choose another name (a suffix will do).",
                value=name,
                reason="digest collision",
            )

    def remember(self, identity_hash: bytes, address: str) -> None:
        # A forgotten identity keeps its row with a NULL address, so this never re-adds it.
        self._exec(
            "INSERT INTO identities(hash, address) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [identity_hash, address],
        )

    def remember_many(self, pairs: Sequence[tuple[bytes, str]]) -> None:
        for identity_hash, address in pairs:
            self.remember(identity_hash, address)

    def append_event(self, event: NewEvent) -> bool:
        row = self._one(
            "INSERT INTO events(at, hash, channel, action, source, scope, topic, reason, "
            "evidence, requested_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            [
                to_ms(event.at),
                event.identity_hash,
                event.channel.value if event.channel else "",
                event.action.value,
                event.source.value,
                event.scope.value if event.scope else "",
                event.topic or "",
                event.reason,
                event.evidence,
                None if event.requested_at is None else to_ms(event.requested_at),
                event.detail,
            ],
        )
        return row is not None

    def outbox_discard(self, endpoint: str, event: NewEvent) -> int:
        count = self._outbox_discard(endpoint)
        if count:  # the audit event carries how many
            self.append_event(replace(event, reason=f"{count} dead-lettered deliveries"))
        return count

    def _lock_links(self) -> None:
        if self.dialect.link_lock:
            self._one(self.dialect.link_lock)

    def suppress_batch(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        return None  # no batch path: the caller suppresses one by one (SQLite has one)

    @abstractmethod
    def import_group(self, group: ImportGroup) -> dict[str, int]:
        """Each backend stages and merges in its own way (``store.imports``)."""

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
        target = identity_hash
        if all_channels:
            # A person-wide opt-out lives on the group, so identities linked later are covered.
            self._lock_links()
            target = self.group(identity_hash) or identity_hash
        inserted = self._one(
            "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, "
            "source, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            [
                target,
                SCOPE_CODE[scope],
                topic_key(topic),
                CHANNEL_CODE[channel],
                int(all_channels),
                to_ms(at),
                SOURCE_CODE[source],
                reason or None,
            ],
        )
        return inserted is not None

    def lift(self, identity_hash: bytes, scope: Scope, topic: bytes) -> bool:
        sql, params = self._lift_where(identity_hash, scope, topic)
        return self._exec("DELETE FROM suppressions " + sql, params) > 0

    def liftable(self, identity_hash: bytes, scope: Scope, topic: bytes) -> bool:
        sql, params = self._lift_where(identity_hash, scope, topic)
        return self._one("SELECT 1 FROM suppressions " + sql + " LIMIT 1", params) is not None

    def _lift_where(
        self, identity_hash: bytes, scope: Scope, topic: bytes
    ) -> tuple[str, list[Any]]:
        root = self.group(identity_hash)
        params: list[Any] = [SCOPE_CODE[scope], topic_key(topic), identity_hash]
        sql = "WHERE scope = ? AND topic = ? AND (hash = ?"
        if root is not None:
            sql += " OR (all_channels = 1 AND hash IN (SELECT hash FROM links WHERE group_id = ?))"
            params.append(root)
        return sql + ")", params

    def set_topic(self, identity_hash: bytes, topic: bytes, subscribed: bool, at: datetime) -> bool:
        key = [identity_hash, topic_key(topic)]
        row = self._one("SELECT subscribed FROM topic_prefs WHERE hash = ? AND topic = ?", key)
        if row is not None and bool(row[0]) == subscribed:
            return False
        self._exec(
            "INSERT INTO topic_prefs(hash, topic, subscribed, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (hash, topic) DO UPDATE SET subscribed = excluded.subscribed, "
            "updated_at = excluded.updated_at",
            [*key, int(subscribed), to_ms(at)],
        )
        return True

    def _set_preference(self, column: str, identity_hash: bytes, value: Any, at: datetime) -> bool:
        row = self._one(f"SELECT {column} FROM preferences WHERE hash = ?", [identity_hash])
        if (row[0] if row is not None else None) == value:
            return False
        self._exec(
            f"INSERT INTO preferences(hash, {column}, updated_at) VALUES (?, ?, ?) "
            f"ON CONFLICT (hash) DO UPDATE SET {column} = excluded.{column}, "
            "updated_at = excluded.updated_at",
            [identity_hash, value, to_ms(at)],
        )
        return True

    def set_frequency(self, identity_hash: bytes, days: int | None, at: datetime) -> bool:
        return self._set_preference("frequency_days", identity_hash, days, at)

    def set_pause(self, identity_hash: bytes, until: datetime | None, at: datetime) -> bool:
        value = None if until is None else to_ms(until)
        return self._set_preference("paused_until", identity_hash, value, at)

    def record_contact(self, contact: Contact, identity_hash: bytes, topic: bytes) -> None:
        self._exec(
            "INSERT INTO contacts(hash, at, kind, topic, sender, message_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                identity_hash,
                to_ms(contact.at),
                KIND_CODE[contact.kind],
                topic_key(topic),
                contact.sender,
                contact.message_id,
            ],
        )

    def record_sent_message(self, digest: bytes, identity_hash: bytes, at: datetime) -> None:
        self._exec(
            "INSERT INTO sent_messages(digest, hash, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [digest, identity_hash, to_ms(at)],
        )

    def admit_token(self, token: bytes, body: bytes, at: datetime, since: datetime) -> bool:
        self._exec("DELETE FROM webhook_tokens WHERE at < ?", [to_ms(since)])
        if self._exec(
            "INSERT INTO webhook_tokens(token, body, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [token, body, to_ms(at)],
        ):
            return True
        row = self._one("SELECT body FROM webhook_tokens WHERE token = ?", [token])
        return row is not None and hmac.compare_digest(bytes(row[0]), body)

    def link(self, first: bytes, second: bytes, at: datetime) -> bool:
        self._lock_links()
        root = self.group(first) or first
        other = self.group(second) or second
        if root == other:
            return False
        self._exec("UPDATE links SET group_id = ? WHERE group_id = ?", [root, other])
        for member in {first, second, root, other}:
            self._exec(
                "INSERT INTO links(hash, group_id) VALUES (?, ?) ON CONFLICT (hash) "
                "DO UPDATE SET group_id = excluded.group_id",
                [member, root],
            )
        # Never weaken: every person-wide opt-out of the absorbed group moves to the new root.
        self._exec(
            "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, "
            "source, reason) SELECT ?, scope, topic, channel, 1, created_at, source, reason "
            "FROM suppressions WHERE hash = ? AND all_channels = 1 "
            "ON CONFLICT (hash, scope, topic, all_channels) DO UPDATE SET created_at = "
            "CASE WHEN excluded.created_at < suppressions.created_at "
            "THEN excluded.created_at ELSE suppressions.created_at END",
            [root, other],
        )
        return True


_MS = timedelta(milliseconds=1)


def _decode(rows: Iterable[Sequence[Any]]) -> dict[bytes, Rules]:
    """Rules by hash from the rows of ``rules_sql``."""
    by_hash: dict[bytes, list[Block]] = {}
    extra: dict[bytes, dict[str, Any]] = {}
    for key, kind, one, two, three, four, blob, text in rows:
        if kind <= 1:
            block = Block(
                SCOPES[one],
                from_topic_key(blob),
                from_ms(two),
                SOURCES[three],
                text or "",
                bool(four),
                kind == 1,
            )
            found = by_hash.get(key)
            if found is None:
                by_hash[key] = [block]
            else:
                found.append(block)
            continue
        part = extra.setdefault(bytes(key), {})
        if kind == 2:
            part["frequency_days"] = one
            part["paused_until"] = None if two is None else from_ms(two)
        elif kind == 3:
            part.setdefault("topics", {})[from_topic_key(blob)] = (bool(one), from_ms(two))
        elif kind == 4:
            part["recent_contacts"] = int(one)
            part["oldest_recent"] = from_ms(two)
        else:
            part["last_contact"] = from_ms(two)
    result = {bytes(key): Rules(tuple(found)) for key, found in by_hash.items()}
    for key, part in extra.items():
        result[key] = Rules(result[key].blocks if key in result else (), **part)
    return result
