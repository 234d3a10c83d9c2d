"""The schema, as numbered forward migrations for each backend, and the meta checks.

Version 1 held suppressions, identities, events and contacts. Version 2 added person
groups (``links``), preferences, topic choices, the topic registry, the exceptions queue,
``identities.forgotten_at`` and ``events.detail``. Version 3 replaced the two
indexes on events by one. Migrations run on open, inside one
transaction; a database newer than this code is refused rather than guessed at.

Every table is keyed by the 16-byte identity hash. Suppressions use a WITHOUT ROWID
table on SQLite so a row is the key plus a few small integers (about 40 bytes). A
person-wide opt-out is a row of its own (``all_channels = 1``, part of the key) so that
lifting it never takes an identity's own channel opt-out with it.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prefcenter.errors import PepperMismatch, SchemaTooNew
from prefcenter.store.session import SqlSession

Step = Callable[[Any], None]


@dataclass(frozen=True)
class Migrations:
    """Forward steps; step ``n`` takes a database from version ``n`` to ``n + 1``."""

    meta_ddl: str
    steps: Sequence[Step]
    placeholder: str = "?"
    #: A query whose first column is true when the meta table exists: a store that is
    #: up to date then needs no DDL, so a role that may only read can open it.
    meta_exists: str = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"

    @property
    def latest(self) -> int:
        return len(self.steps)

    def version(self, conn: Any) -> int:
        found = conn.execute(self.meta_exists).fetchone()
        if not (found and found[0]):
            conn.execute(self.meta_ddl)
        row = conn.execute(
            f"SELECT value FROM meta WHERE key = {self.placeholder}", ["schema_version"]
        ).fetchone()
        return 0 if row is None else int(row[0])

    def apply(self, conn: Any, *, target: int | None = None) -> int:
        """Run the missing steps (up to ``target``) and return the version reached."""
        goal = self.latest if target is None else target
        current = self.version(conn)
        if current > self.latest:
            raise SchemaTooNew(
                f"The database has schema version {current} but this prefcenter knows only "
                f"up to {self.latest}; upgrade prefcenter."
            )
        for step in self.steps[current:goal]:
            step(conn)
        if goal > current:
            p = self.placeholder
            conn.execute(
                f"INSERT INTO meta(key, value) VALUES ({p}, {p}) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ["schema_version", str(goal)],
            )
        return max(goal, current)


def check_meta(session: SqlSession, fingerprint: str, url: str) -> None:
    """Record the pepper fingerprint on first open; refuse a different one later.

    Raises:
        PepperMismatch: the database was created with another pepper or folding rules.
    """
    row = session._one("SELECT value FROM meta WHERE key = ?", ["pepper_fingerprint"])
    if row is None:
        session._exec(
            "INSERT INTO meta(key, value) VALUES (?, ?)", ["pepper_fingerprint", fingerprint]
        )
        return
    if row[0] != fingerprint:
        stored, given = str(row[0]), fingerprint
        raise PepperMismatch(
            f"Store {url!r} was created with pepper fingerprint {stored!r} but PEPPER "
            f"(with the folding settings) gives {given!r}, so no stored opt-out would match; "
            "set PREFCENTER_PEPPER, FOLD_SUBADDRESS and FOLD_GMAIL back to the values the "
            "store was created with, or point DATABASE at a new store."
        )


# -- SQLite --------------------------------------------------------------------------
def _sqlite_v1(conn: Any) -> None:
    for ddl in (
        "CREATE TABLE suppressions(hash BLOB NOT NULL, scope INTEGER NOT NULL, "
        "topic BLOB NOT NULL, channel INTEGER NOT NULL, all_channels INTEGER NOT NULL "
        "DEFAULT 0, created_at INTEGER NOT NULL, source INTEGER NOT NULL, reason TEXT, "
        "PRIMARY KEY (hash, scope, topic, all_channels)) WITHOUT ROWID",
        "CREATE TABLE identities(hash BLOB PRIMARY KEY, address TEXT) WITHOUT ROWID",
        "CREATE TABLE events(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, hash BLOB NOT NULL, "
        "channel TEXT NOT NULL, action TEXT NOT NULL, source TEXT NOT NULL, scope TEXT NOT NULL, "
        "topic TEXT NOT NULL, reason TEXT, evidence TEXT, requested_at INTEGER)",
        "CREATE INDEX events_hash ON events(hash, id)",
        "CREATE INDEX events_at ON events(at)",
        "CREATE UNIQUE INDEX events_once ON events(hash, action, scope, topic, evidence) "
        "WHERE evidence IS NOT NULL",
        "CREATE TABLE contacts(id INTEGER PRIMARY KEY, hash BLOB NOT NULL, at INTEGER NOT NULL, "
        "kind INTEGER NOT NULL, topic BLOB NOT NULL, sender TEXT, message_id TEXT)",
        "CREATE INDEX contacts_hash ON contacts(hash, kind, at)",
    ):
        conn.execute(ddl)


def _sqlite_v2(conn: Any) -> None:
    import sqlite_utils  # deferred: only a store made before version 2 needs it

    db = sqlite_utils.Database(conn)
    if "forgotten_at" not in db.table("identities").columns_dict:
        db.table("identities").add_column("forgotten_at", int)
    if "detail" not in db.table("events").columns_dict:
        db.table("events").add_column("detail", str, not_null_default="")
    conn.execute("DROP INDEX IF EXISTS events_once")
    for ddl in (
        "CREATE UNIQUE INDEX events_once ON events(hash, action, scope, topic, detail, "
        "evidence) WHERE evidence IS NOT NULL",
        "CREATE TABLE links(hash BLOB PRIMARY KEY, group_id BLOB NOT NULL) WITHOUT ROWID",
        "CREATE INDEX links_group ON links(group_id)",
        "CREATE TABLE preferences(hash BLOB PRIMARY KEY, frequency_days INTEGER, "
        "paused_until INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE topic_prefs(hash BLOB NOT NULL, topic BLOB NOT NULL, "
        "subscribed INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
        "PRIMARY KEY (hash, topic)) WITHOUT ROWID",
        "CREATE TABLE topics(digest BLOB PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE exceptions(id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, "
        "due_at INTEGER NOT NULL, mailbox TEXT NOT NULL, why TEXT NOT NULL, raw BLOB NOT NULL, "
        "status TEXT NOT NULL, resolution TEXT, resolved_at INTEGER, "
        "summary TEXT NOT NULL DEFAULT '', evidence TEXT UNIQUE)",
        "CREATE INDEX exceptions_status ON exceptions(status, due_at)",
    ):
        conn.execute(ddl)


#: Version 3, both backends: one index on events instead of two. A plain UNIQUE index
#: treats NULL evidence as distinct (SQLite and PostgreSQL alike), so it enforces exactly
#: what the partial one did, and its leading ``hash`` serves history and soft-bounce
#: counts, so ``events_hash`` goes: one B-tree insert less for every change.
V3 = (
    "DROP INDEX IF EXISTS events_hash",
    "DROP INDEX IF EXISTS events_once",
    "CREATE UNIQUE INDEX events_once ON events(hash, action, scope, topic, detail, evidence)",
)


def _sqlite_v3(conn: Any) -> None:
    for ddl in V3:
        conn.execute(ddl)


#: Issue 21/20 (proof before action): the keyed hash of each Message-ID a sender
#: recorded at send time, and whose message it was. A bounce or complaint that returns
#: one of these ids proves it concerns a message we sent; the clear id is never stored.
SENT_MESSAGES = (
    "CREATE TABLE IF NOT EXISTS sent_messages(digest {blob} PRIMARY KEY, hash {blob} NOT NULL, "
    "at {int} NOT NULL){without_rowid}",
    "CREATE INDEX IF NOT EXISTS sent_messages_at ON sent_messages(at)",
    "CREATE INDEX IF NOT EXISTS sent_messages_hash ON sent_messages(hash)",
)


def _sqlite_sent_messages(conn: Any) -> None:
    """Issue 21: the sent_messages table (keyed Message-ID hashes, for proof)."""
    for ddl in SENT_MESSAGES:
        conn.execute(ddl.format(blob="BLOB", int="INTEGER", without_rowid=" WITHOUT ROWID"))


def _sqlite_compact_suppressions(conn: Any) -> None:
    """Issue 26, SQLite: nothing to do. The step that packs PostgreSQL's suppressions
    (:data:`PG_COMPACT_SUPPRESSIONS`) has no SQLite counterpart: its WITHOUT ROWID
    table already stores a row as the key and a few variable-length integers (about
    35 bytes). The step keeps both backends' version numbers in step."""
    del conn


#: Issue 24, both backends: the operator console's operators. A password is kept only
#: as its argon2 hash; ``failures`` and ``locked_until`` are the login lockout;
#: ``generation`` grows on every password reset or disable, which ends the operator's
#: open sessions (the session cookie names the generation it was issued for).
OPERATORS = (
    "CREATE TABLE IF NOT EXISTS operators(name TEXT PRIMARY KEY, role TEXT NOT NULL, "
    "password_hash TEXT NOT NULL, totp_secret TEXT, disabled INTEGER NOT NULL DEFAULT 0, "
    "failures INTEGER NOT NULL DEFAULT 0, locked_until BIGINT, "
    "generation INTEGER NOT NULL DEFAULT 1, created_at BIGINT NOT NULL, "
    "last_login_at BIGINT)",
    # The console's queue filters by mailbox and lists the mailboxes: from the index,
    # never from rows that hold whole messages.
    "CREATE INDEX IF NOT EXISTS exceptions_mailbox ON exceptions(status, mailbox, due_at)",
    # The report counts today's sends and finds today's violations by time, on every
    # request: without this, each one reads the whole contact ledger.
    "CREATE INDEX IF NOT EXISTS contacts_at ON contacts(at)",
)


def _sqlite_operators(conn: Any) -> None:
    """Issue 24: the console's operators table."""
    for ddl in OPERATORS:
        conn.execute(ddl)


#: Issue 23, the change feed and the webhook outbox. SQLite has one writer at a time, so
#: an event's rowid is its commit order and the feed needs no column. The outbox holds one
#: row per (event, active endpoint), written by a trigger in the transaction that appends
#: the event: no write path can forget it, and without endpoints it inserts nothing.
SQLITE_FEED = (
    "CREATE TABLE webhook_endpoints(id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, "
    "active INTEGER NOT NULL DEFAULT 1)",
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, tx INTEGER NOT NULL DEFAULT 0, "
    "event_id INTEGER NOT NULL, endpoint INTEGER NOT NULL, hash BLOB NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, "
    "state INTEGER NOT NULL DEFAULT 0, last_error TEXT)",
    "CREATE INDEX outbox_due ON outbox(endpoint, state, tx, id)",
    "CREATE TABLE webhook_lease(id INTEGER PRIMARY KEY, holder TEXT NOT NULL, "
    "until_ms INTEGER NOT NULL)",
)
#: SQLite's outbox trigger. Since issue 22's third pass it exists only while an endpoint
#: is active (``SqliteSession.sync_endpoints`` creates or drops it in the transaction that
#: changes the endpoints): with none it would insert nothing anyway, yet it ran a
#: sub-program for every appended event.
SQLITE_OUTBOX_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS events_outbox AFTER INSERT ON events BEGIN "
    "INSERT INTO outbox(event_id, endpoint, hash) SELECT NEW.id, e.id, NEW.hash "
    "FROM webhook_endpoints e WHERE e.active = 1; END"
)


def _sqlite_feed(conn: Any) -> None:
    """Issue 23: the webhook outbox (the feed reads ``events`` by rowid)."""
    for ddl in (*SQLITE_FEED, SQLITE_OUTBOX_TRIGGER):
        conn.execute(ddl)


#: Issue 22: one-use tokens of signed webhook requests (Mailgun's), shared by every
#: process on the store; rows older than the provider's timestamp window are deleted as
#: new ones arrive.
WEBHOOK_TOKENS = (
    "CREATE TABLE webhook_tokens(token {blob} PRIMARY KEY, body {blob} NOT NULL, "
    "at {int} NOT NULL){without_rowid}",
    "CREATE INDEX webhook_tokens_at ON webhook_tokens(at)",
)


def _sqlite_webhook_tokens(conn: Any) -> None:
    """Issue 22: the webhook_tokens table (Mailgun's one-use tokens, for every replica)."""
    for ddl in WEBHOOK_TOKENS:
        conn.execute(ddl.format(blob="BLOB", int="INTEGER", without_rowid=" WITHOUT ROWID"))


#: Issue 23, second pass: the people whose webhook delivery waits for a retry, found
#: without reading every pending row. Partial: only rows that failed at least once, so
#: the trigger's inserts (attempts 0, on every change's commit) never touch it.
OUTBOX_RETRY = "CREATE INDEX outbox_retry ON outbox(endpoint, hash) WHERE attempts > 0"


def _sqlite_outbox_retry(conn: Any) -> None:
    """Issue 23 (second pass): the partial index of outbox rows waiting for a retry."""
    conn.execute(OUTBOX_RETRY)


def _sqlite_statement_outbox(conn: Any) -> None:
    """Issue 23, third pass, SQLite: nothing to do. PostgreSQL's step
    (:data:`PG_STATEMENT_OUTBOX`) has no SQLite counterpart: SQLite has row triggers
    only, and its trigger program costs a fraction of a row insert. The step keeps both
    backends' version numbers in step."""
    del conn


def _sqlite_outbox_on_demand(conn: Any) -> None:
    """Issue 22 (third pass): no outbox trigger while no webhook endpoint is active.

    Registering an endpoint creates it again in the same transaction, so every event
    committed after the registration still gets its outbox row.
    """
    if conn.execute("SELECT 1 FROM webhook_endpoints WHERE active = 1 LIMIT 1").fetchone() is None:
        conn.execute("DROP TRIGGER IF EXISTS events_outbox")


sqlite_migrations = Migrations(
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    (
        _sqlite_v1,
        _sqlite_v2,
        _sqlite_v3,
        _sqlite_sent_messages,
        _sqlite_compact_suppressions,
        _sqlite_operators,
        _sqlite_feed,
        _sqlite_webhook_tokens,
        _sqlite_outbox_retry,
        _sqlite_statement_outbox,
        _sqlite_outbox_on_demand,
    ),
)


# -- PostgreSQL ----------------------------------------------------------------------
def _pg(*statements: str) -> Step:
    def step(conn: Any) -> None:
        for ddl in statements:
            conn.execute(ddl)

    return step


#: Issue 26, PostgreSQL: suppressions rebuilt with the fixed-width columns first and the
#: small codes as SMALLINT, so no byte goes to alignment padding: 68 bytes of heap per
#: row instead of 84, and 32-byte index entries instead of 40 (118 bytes a suppression
#: with its primary key, measured at 200,000 rows written in random order, against 149).
#: Privileges other roles held on the table are granted again on the new one.
PG_COMPACT_SUPPRESSIONS = (
    "CREATE TABLE suppressions_compact(created_at BIGINT NOT NULL, scope SMALLINT NOT NULL, "
    "channel SMALLINT NOT NULL, all_channels SMALLINT NOT NULL DEFAULT 0, "
    "source SMALLINT NOT NULL, hash BYTEA NOT NULL, topic BYTEA NOT NULL, reason TEXT)",
    "INSERT INTO suppressions_compact(created_at, scope, channel, all_channels, source, hash, "
    "topic, reason) SELECT created_at, scope, channel, all_channels, source, hash, topic, "
    "reason FROM suppressions ORDER BY hash, scope, topic, all_channels",
    """DO $$
DECLARE g record;
BEGIN
  FOR g IN SELECT grantee, privilege_type FROM information_schema.role_table_grants
           WHERE table_schema = current_schema() AND table_name = 'suppressions'
             AND grantee <> current_user
  LOOP
    IF g.grantee = 'PUBLIC' THEN
      EXECUTE format('GRANT %s ON suppressions_compact TO PUBLIC', g.privilege_type);
    ELSE
      EXECUTE format('GRANT %s ON suppressions_compact TO %I', g.privilege_type, g.grantee);
    END IF;
  END LOOP;
END $$""",
    "DROP TABLE suppressions",
    "ALTER TABLE suppressions_compact RENAME TO suppressions",
    "ALTER TABLE suppressions ADD PRIMARY KEY (hash, scope, topic, all_channels)",
)

#: Issue 23, third pass, PostgreSQL: the outbox rows of a statement's events written by
#: one statement-level trigger over its inserted rows (a transition table) instead of a
#: PL/pgSQL call per event: a bulk insert of 100,000 events took 3.7-4.1 s with the row
#: trigger against 2.2-2.5 s (2.4-2.8 s with no trigger at all). The same rows, in the
#: same order (by event, then endpoint); an INSERT ... ON CONFLICT DO NOTHING lists only
#: the rows it inserted.
PG_STATEMENT_OUTBOX = (
    "DROP TRIGGER IF EXISTS events_outbox ON events",
    "CREATE OR REPLACE FUNCTION prefcenter_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO outbox(event_id, endpoint, hash) SELECT n.id, e.id, n.hash "
    "FROM prefcenter_new_events n CROSS JOIN webhook_endpoints e WHERE e.active = 1 "
    "ORDER BY n.id, e.id; RETURN NULL; END $$",
    "CREATE TRIGGER events_outbox AFTER INSERT ON events "
    "REFERENCING NEW TABLE AS prefcenter_new_events FOR EACH STATEMENT "
    "EXECUTE FUNCTION prefcenter_outbox()",
)

postgres_migrations = Migrations(
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    (
        _pg(
            "CREATE TABLE suppressions(hash BYTEA NOT NULL, scope INTEGER NOT NULL, "
            "topic BYTEA NOT NULL, channel INTEGER NOT NULL, all_channels INTEGER NOT NULL "
            "DEFAULT 0, created_at BIGINT NOT NULL, source INTEGER NOT NULL, reason TEXT, "
            "PRIMARY KEY (hash, scope, topic, all_channels))",
            "CREATE TABLE identities(hash BYTEA PRIMARY KEY, address TEXT)",
            "CREATE TABLE events(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "at BIGINT NOT NULL, hash BYTEA NOT NULL, channel TEXT NOT NULL, "
            "action TEXT NOT NULL, source TEXT NOT NULL, scope TEXT NOT NULL, "
            "topic TEXT NOT NULL, reason TEXT, evidence TEXT, requested_at BIGINT)",
            "CREATE INDEX events_hash ON events(hash, id)",
            "CREATE INDEX events_at ON events(at)",
            "CREATE UNIQUE INDEX events_once ON events(hash, action, scope, topic, evidence) "
            "WHERE evidence IS NOT NULL",
            "CREATE TABLE contacts(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "hash BYTEA NOT NULL, at BIGINT NOT NULL, kind INTEGER NOT NULL, "
            "topic BYTEA NOT NULL, sender TEXT, message_id TEXT)",
            "CREATE INDEX contacts_hash ON contacts(hash, kind, at)",
        ),
        _pg(
            "ALTER TABLE identities ADD COLUMN IF NOT EXISTS forgotten_at BIGINT",
            "ALTER TABLE events ADD COLUMN IF NOT EXISTS detail TEXT NOT NULL DEFAULT ''",
            "DROP INDEX IF EXISTS events_once",
            "CREATE UNIQUE INDEX events_once ON events(hash, action, scope, topic, detail, "
            "evidence) WHERE evidence IS NOT NULL",
            "CREATE TABLE links(hash BYTEA PRIMARY KEY, group_id BYTEA NOT NULL)",
            "CREATE INDEX links_group ON links(group_id)",
            "CREATE TABLE preferences(hash BYTEA PRIMARY KEY, frequency_days INTEGER, "
            "paused_until BIGINT, updated_at BIGINT NOT NULL)",
            "CREATE TABLE topic_prefs(hash BYTEA NOT NULL, topic BYTEA NOT NULL, "
            "subscribed INTEGER NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (hash, topic))",
            "CREATE TABLE topics(digest BYTEA PRIMARY KEY, name TEXT NOT NULL)",
            "CREATE TABLE exceptions(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "received_at BIGINT NOT NULL, due_at BIGINT NOT NULL, mailbox TEXT NOT NULL, "
            "why TEXT NOT NULL, raw BYTEA NOT NULL, status TEXT NOT NULL, resolution TEXT, "
            "resolved_at BIGINT, summary TEXT NOT NULL DEFAULT '', evidence TEXT UNIQUE)",
            "CREATE INDEX exceptions_status ON exceptions(status, due_at)",
        ),
        _pg(*V3),
        # Issue 21: the sent_messages table (keyed Message-ID hashes, for proof).
        _pg(*(ddl.format(blob="BYTEA", int="BIGINT", without_rowid="") for ddl in SENT_MESSAGES)),
        _pg(*PG_COMPACT_SUPPRESSIONS),
        _pg(*OPERATORS),  # issue 24: the console's operators
        # Issue 23, the change feed and the webhook outbox. Identity ids are drawn when a
        # row is inserted, not when it commits, so on PostgreSQL every event and outbox row
        # also records its transaction's id (``tx``, an xid8 as bigint). The feed hands out
        # only rows whose transaction is older than the oldest one still running
        # (``pg_snapshot_xmin``), in (tx, id) order: a transaction that commits late holds
        # the feed back instead of being skipped (docs/store.md, "The change feed").
        _pg(
            "ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL "
            "DEFAULT (pg_current_xact_id()::text::bigint)",
            "CREATE INDEX events_feed ON events(tx, id)",
            "CREATE TABLE webhook_endpoints(id BIGINT GENERATED BY DEFAULT AS IDENTITY "
            "PRIMARY KEY, url TEXT NOT NULL UNIQUE, active INTEGER NOT NULL DEFAULT 1)",
            "CREATE TABLE outbox(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint), "
            "event_id BIGINT NOT NULL, endpoint BIGINT NOT NULL, hash BYTEA NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0, next_at BIGINT NOT NULL DEFAULT 0, "
            "state INTEGER NOT NULL DEFAULT 0, last_error TEXT)",
            "CREATE INDEX outbox_due ON outbox(endpoint, state, tx, id)",
            "CREATE TABLE webhook_lease(id INTEGER PRIMARY KEY, holder TEXT NOT NULL, "
            "until_ms BIGINT NOT NULL)",
            "CREATE FUNCTION prefcenter_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO outbox(event_id, endpoint, hash) SELECT NEW.id, e.id, NEW.hash "
            "FROM webhook_endpoints e WHERE e.active = 1; RETURN NULL; END $$",
            "CREATE TRIGGER events_outbox AFTER INSERT ON events FOR EACH ROW "
            "EXECUTE FUNCTION prefcenter_outbox()",
        ),
        # Issue 22: Mailgun's one-use tokens, shared by every sidecar on the database.
        _pg(*(ddl.format(blob="BYTEA", int="BIGINT", without_rowid="") for ddl in WEBHOOK_TOKENS)),
        _pg(OUTBOX_RETRY),  # issue 23, second pass: rows waiting for a webhook retry
        _pg(*PG_STATEMENT_OUTBOX),  # issue 23, third pass: one outbox insert a statement
        # Issue 22, third pass: nothing here (SQLite drops its row trigger while no
        # endpoint is active; this statement trigger runs once a statement, not a row).
        # The step keeps both backends' version numbers in step.
        _pg(),
    ),
    placeholder="%s",
    meta_exists="SELECT to_regclass('meta') IS NOT NULL",
)
