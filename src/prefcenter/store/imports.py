"""An import's key range written set by set: staged in a temporary table, then merged.

An ESP import writes hundreds of thousands of suppress events, each with its suppression
and its address. One INSERT per table per row (or multi-row INSERTs built from event
objects) spends most of its time handing values from Python to the database, once per
table. Here a group's rows cross once, as plain values (SQLite: multi-row ``VALUES``
into a temporary table; PostgreSQL: ``COPY`` in binary), and every table is then filled
by one ``INSERT ... SELECT`` in key order inside the database:

* ``identities``: each row's address, unless that hash is already kept (or forgotten);
* ``events``: each row's audit event (``suppress``, source ``import``); one already
  stored with the same evidence is a replay and writes nothing (idempotence);
* ``suppressions``: for each new event, unless the same suppression exists; the first
  row of a person in the group (file order) is the one that adds it.

The outbox trigger on ``events`` fires for each event as for any other change, so
registered webhook endpoints still get one delivery per imported change.
"""

# SQL is assembled only from constants in this module and the code tables; values
# always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from prefcenter.model import Action, Source
from prefcenter.store.codes import CHANNEL_CODE, SCOPE_CODE, SOURCE_CODE, to_ms

#: Values per staged row: hash, channel, address, kind, scope, topic, reason, date
#: text, requested_at (ms). Text left out is ``""``; a missing date is :data:`NO_DATE`.
WIDTH = 9
#: ``requested_at`` of a row without a date (no real time is this far back); it is
#: stored as NULL.
NO_DATE = -(1 << 62)


class ImportGroup(NamedTuple):
    """One key range of an import: ``rows`` rows of :data:`WIDTH` values, flat."""

    values: list[Any]
    rows: int
    at: datetime
    #: The evidence up to the kind (``import:sendgrid:``): the event's evidence is
    #: ``prefix + kind + ":" + date text``, so the same row imported again is a replay.
    prefix: str
    #: The digest of each topic the rows name.
    digests: dict[str, bytes]


_COLUMNS = "hash, channel, address, kind, scope, topic, reason, date_text, requested_at"
_SUPPRESS, _IMPORT = Action.SUPPRESS.value, Source.IMPORT.value
_SCOPE_CODE = (
    "CASE scope "
    + " ".join(f"WHEN '{scope.value}' THEN {code}" for scope, code in SCOPE_CODE.items())
    + " END"
)
_CHANNEL_CODE = (
    "CASE channel "
    + " ".join(f"WHEN '{channel.value}' THEN {code}" for channel, code in CHANNEL_CODE.items())
    + " END"
)


def _digest_case(count: int, placeholder: str, empty: str) -> str:
    """``topic``'s digest: one WHEN per topic of the group (``empty`` for none)."""
    if not count:
        return empty
    whens = " ".join(f"WHEN {placeholder} THEN {placeholder}" for _ in range(count))
    return f"CASE topic {whens} ELSE {empty} END"


def _topic_params(digests: dict[str, bytes], blob: type) -> list[Any]:
    params: list[Any] = []
    for name, digest in digests.items():
        params += (name, blob(digest))
    return params


# -- SQLite ------------------------------------------------------------------------
SQLITE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS import_stage(seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, "
    "channel TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL, scope TEXT NOT NULL, "
    "topic TEXT NOT NULL, reason TEXT NOT NULL, date_text TEXT NOT NULL, "
    "requested_at INTEGER NOT NULL)"
)
_SQLITE_ROW = "(" + ", ".join(["?"] * WIDTH) + ")"
#: Rows per staging INSERT: 1,000 rows of 9 values stay below SQLite's 32,766 (3.32+).
SQLITE_ROWS_PER_INSERT = 1000
_SQLITE_IDENTITIES = (
    "INSERT INTO identities(hash, address) SELECT hash, address FROM temp.import_stage "
    "WHERE address <> '' ORDER BY hash ON CONFLICT DO NOTHING"
)
_SQLITE_EVENTS = (
    "INSERT INTO events(at, hash, channel, action, source, scope, topic, reason, evidence, "
    f"requested_at, detail) SELECT ?1, hash, channel, '{_SUPPRESS}', '{_IMPORT}', scope, topic, "
    "NULLIF(reason, ''), ?2 || kind || ':' || date_text, NULLIF(requested_at, ?3), '' "
    "FROM temp.import_stage WHERE true ORDER BY hash, seq ON CONFLICT DO NOTHING"
)
#: Rows whose event is stored already (a replay), then the second of two identical rows.
_SQLITE_REPLAYS = (
    "DELETE FROM temp.import_stage AS s WHERE EXISTS (SELECT 1 FROM events e "
    f"WHERE e.hash = s.hash AND e.action = '{_SUPPRESS}' AND e.scope = s.scope "
    "AND e.topic = s.topic AND e.detail = '' AND e.evidence = ?1 || s.kind || ':' || s.date_text)"
)
_SQLITE_TWICE = (
    "DELETE FROM temp.import_stage WHERE seq NOT IN (SELECT min(seq) FROM temp.import_stage "
    "GROUP BY hash, kind, scope, topic, date_text)"
)
_SQLITE_SUPPRESSIONS = (
    "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, source, "
    f"reason) SELECT hash, {_SCOPE_CODE}, {{digest}}, {_CHANNEL_CODE}, 0, ?, "
    f"{SOURCE_CODE[Source.IMPORT]}, NULLIF(reason, '') FROM temp.import_stage WHERE true "
    "ORDER BY hash, seq ON CONFLICT DO NOTHING"
)
#: Suppressions each kind would add: a person's first row of each suppression, unless
#: stored (asked before inserting, when a group holds more than one kind).
_SQLITE_ADDS = (
    f"SELECT kind, count(*) FROM (SELECT kind, hash, {_SCOPE_CODE} AS scope_code, "
    "{digest} AS digest, row_number() OVER (PARTITION BY hash, scope, topic ORDER BY seq) AS n "
    "FROM temp.import_stage) AS s WHERE n = 1 AND NOT EXISTS (SELECT 1 FROM suppressions x "
    "WHERE x.hash = s.hash AND x.scope = s.scope_code AND x.topic = s.digest "
    "AND x.all_channels = 0) GROUP BY kind"
)


def sqlite_import(conn: Any, group: ImportGroup) -> dict[str, int]:
    """Write ``group`` in the open transaction of SQLite connection ``conn``; the
    suppressions added, by kind."""
    conn.execute(SQLITE_STAGE)
    conn.execute("DELETE FROM temp.import_stage")
    values, rows = group.values, group.rows
    # sqlite3 binds a bytearray at once; bytes are looked up in its adapter registry.
    values[0::WIDTH] = [bytearray(key) for key in values[0::WIDTH]]
    step = SQLITE_ROWS_PER_INSERT
    head = f"INSERT INTO temp.import_stage({_COLUMNS}) VALUES "
    full = head + ", ".join([_SQLITE_ROW] * step)
    for start in range(0, rows, step):
        count = min(step, rows - start)
        sql = full if count == step else head + ", ".join([_SQLITE_ROW] * count)
        conn.execute(sql, values[start * WIDTH : (start + count) * WIDTH])
    conn.execute(_SQLITE_IDENTITIES)
    at = to_ms(group.at)
    conn.execute("SAVEPOINT import_group")
    if conn.execute(_SQLITE_EVENTS, (at, group.prefix, NO_DATE)).rowcount != rows:
        # Some are stored already, or a row repeats: leave those out, then write the rest.
        conn.execute("ROLLBACK TO import_group")
        conn.execute(_SQLITE_REPLAYS, (group.prefix,))
        conn.execute(_SQLITE_TWICE)
        conn.execute(_SQLITE_EVENTS, (at, group.prefix, NO_DATE))
    conn.execute("RELEASE import_group")
    digest = _digest_case(len(group.digests), "?", "x''")
    topics = _topic_params(group.digests, bytearray)
    kinds = [kind for (kind,) in conn.execute("SELECT DISTINCT kind FROM temp.import_stage")]
    added: dict[str, int] = {}
    if len(kinds) > 1:
        added = dict(conn.execute(_SQLITE_ADDS.format(digest=digest), topics))
    written = conn.execute(_SQLITE_SUPPRESSIONS.format(digest=digest), [*topics, at]).rowcount
    if len(kinds) == 1 and written:
        added = {kinds[0]: written}
    conn.execute("DELETE FROM temp.import_stage")
    return added


# -- PostgreSQL --------------------------------------------------------------------
PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS import_stage(seq BIGINT GENERATED ALWAYS AS IDENTITY, "
    "hash BYTEA NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL, "
    "scope TEXT NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, date_text TEXT NOT NULL, "
    "requested_at BIGINT NOT NULL) ON COMMIT DELETE ROWS"
)
_PG_TYPES = ["bytea", "text", "text", "text", "text", "text", "text", "text", "int8"]
_PG_IDENTITIES = (
    "INSERT INTO identities(hash, address) SELECT hash, address FROM import_stage "
    "WHERE address <> '' ORDER BY hash ON CONFLICT DO NOTHING"
)
#: Events, then suppressions for the new ones (a person's first row of each), in one
#: statement; the answer is the suppressions added, by kind.
_PG_MERGE = (
    "WITH ev AS (INSERT INTO events(at, hash, channel, action, source, scope, topic, reason, "
    f"evidence, requested_at, detail) SELECT %(at)s, hash, channel, '{_SUPPRESS}', '{_IMPORT}', "
    "scope, topic, NULLIF(reason, ''), %(prefix)s || kind || ':' || date_text, "
    "NULLIF(requested_at, %(none)s), '' FROM import_stage ORDER BY hash, seq "
    "ON CONFLICT DO NOTHING RETURNING hash, scope, topic, evidence), "
    "fresh AS (SELECT DISTINCT ON (s.hash, s.scope, s.topic) s.hash, s.kind, s.channel, "
    f"s.reason, {_SCOPE_CODE.replace('scope', 's.scope', 1)} AS scope_code, "
    "{digest} AS digest FROM import_stage s JOIN ev ON ev.hash = s.hash "
    "AND ev.scope = s.scope AND ev.topic = s.topic "
    "AND ev.evidence = %(prefix)s || s.kind || ':' || s.date_text "
    "ORDER BY s.hash, s.scope, s.topic, s.seq), "
    "sup AS (INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, "
    f"source, reason) SELECT hash, scope_code, digest, {_CHANNEL_CODE}, 0, %(at)s, "
    f"{SOURCE_CODE[Source.IMPORT]}, NULLIF(reason, '') FROM fresh ORDER BY hash "
    "ON CONFLICT DO NOTHING RETURNING hash, scope, topic) "
    "SELECT f.kind, count(*) FROM fresh f JOIN sup ON sup.hash = f.hash "
    "AND sup.scope = f.scope_code AND sup.topic = f.digest GROUP BY f.kind"
)


def postgres_import(conn: Any, group: ImportGroup) -> dict[str, int]:
    """Write ``group`` in the open transaction of psycopg connection ``conn``; the
    suppressions added, by kind."""
    conn.execute(PG_STAGE)
    conn.execute("TRUNCATE import_stage")  # rows of an earlier try of this transaction
    values = group.values
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY import_stage({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_PG_TYPES)
            write = copy.write_row
            for row in zip(*[iter(values)] * WIDTH, strict=True):
                write(row)
        # The planner cannot tell how many of the group's rows its joins keep (a new
        # temporary table has no statistics, and four join columns look selective), and
        # with a nested loop each row is compared with every other: 4 s for 5,000 rows.
        # Hash joins take one pass each; this transaction runs nothing else.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(_PG_IDENTITIES)
        params: dict[str, Any] = {"at": to_ms(group.at), "prefix": group.prefix, "none": NO_DATE}
        whens = []
        for index, (name, digest) in enumerate(group.digests.items()):
            params[f"t{index}"], params[f"d{index}"] = name, digest
            whens.append(f"WHEN %(t{index})s THEN %(d{index})s")
        digest_sql = "CASE s.topic " + " ".join(whens) + " ELSE ''::bytea END"
        if not whens:
            digest_sql = "''::bytea"
        cursor.execute(_PG_MERGE.replace("{digest}", digest_sql), params)
        return {str(kind): int(count) for kind, count in cursor.fetchall()}


__all__ = ["NO_DATE", "WIDTH", "ImportGroup", "postgres_import", "sqlite_import"]
