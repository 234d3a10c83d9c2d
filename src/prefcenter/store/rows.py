"""The shapes SQL comes back in, and the one rule query both backends run.

Kept apart from the session so the session reads as the list of operations it offers.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prefcenter.model import Action, Channel, Event, ExceptionItem, Scope, Source, Suppression
from prefcenter.store.codes import CHANNELS, SCOPES, SOURCES, from_ms

EXCEPTION_COLUMNS = (
    "id, received_at, due_at, mailbox, why, raw, status, resolution, resolved_at, summary"
)
EVENT_COLUMNS = (
    "id, at, hash, action, source, channel, scope, topic, reason, evidence, requested_at, detail"
)
SUPPRESSION_COLUMNS = (
    "s.hash, s.channel, s.scope, s.topic, s.reason, s.source, s.created_at, "
    "s.all_channels, i.address, t.name"
)


@dataclass
class Dialect:
    """What differs between SQLite and PostgreSQL, kept to a minimum."""

    name: str
    placeholder: str
    blob: str
    #: Lock that serialises changes to person groups (PostgreSQL); SQLite writers are serial.
    link_lock: str = ""
    _cache: dict[str, str] = field(default_factory=dict)
    #: Built rule statements and their parameter names, by shape.
    _statements: dict[tuple[object, ...], tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def sql(self, text: str) -> str:
        """The statement in this dialect's placeholder style."""
        if self.placeholder == "?":
            return text
        converted = self._cache.get(text)
        if converted is None:
            converted = self._cache[text] = text.replace("?", self.placeholder)
        return converted


class Statements:
    """Runs this package's SQL on one connection, in the connection's dialect."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.execute(self.dialect.sql(sql), params).fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.dialect.sql(sql), params).fetchone()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(self.dialect.sql(sql), params).rowcount)


#: Which rule tables hold any row at all: one cheap statement, asked per check or chunk,
#: so the rule query leaves out the tables a store does not use (most stores have no
#: links, preferences or topic choices, and many record no contacts).
PRESENT_SQL = (
    "SELECT EXISTS (SELECT 1 FROM links), EXISTS (SELECT 1 FROM preferences), "
    "EXISTS (SELECT 1 FROM topic_prefs), EXISTS (SELECT 1 FROM contacts)"
)


class Present(NamedTuple):
    """Which optional rule tables are non-empty (``PRESENT_SQL``); a tuple, so cheap to hash."""

    links: bool
    preferences: bool
    topic_prefs: bool
    contacts: bool


#: Every table, for one identity: a primary-key probe of an empty table costs less than
#: asking which tables are empty.
EVERY = Present(links=True, preferences=True, topic_prefs=True, contacts=True)


def rules_sql(
    match: str, dialect: Dialect, present: Present, *, blocks: bool, with_cap: bool
) -> tuple[str, tuple[str, ...]]:
    """One statement returning every rule row for the matched hashes, and its parameters.

    Columns: hash, kind of row, four integers, a blob and a text. The parameter names
    say what to bind, in order: ``match`` (the hashes), ``at``, ``low`` (cap window start).
    Tables that ``present`` says are empty are left out; ``blocks=False`` leaves out the
    suppressions (the caller judged them already). The empty string means no query.
    """
    null_i, null_b, null_t = (
        "CAST(NULL AS BIGINT)",
        f"CAST(NULL AS {dialect.blob})",
        "CAST(NULL AS TEXT)",
    )
    branches: list[tuple[str, tuple[str, ...]]] = []
    if blocks:
        branches.append((
            f"SELECT hash, 0, scope, created_at, source, all_channels, topic, reason "
            f"FROM suppressions WHERE hash {match}", ("match",)
        ))  # fmt: skip
    if blocks and present.links:
        branches.append((
            f"SELECT l.hash, 1, s.scope, s.created_at, s.source, s.all_channels, s.topic, "
            f"s.reason FROM links l JOIN suppressions s ON s.hash = l.group_id "
            f"WHERE l.hash {match} AND s.all_channels = 1 AND l.group_id <> l.hash", ("match",)
        ))  # fmt: skip
    if present.preferences:
        branches.append((
            f"SELECT hash, 2, frequency_days, paused_until, {null_i}, {null_i}, {null_b}, "
            f"{null_t} FROM preferences WHERE hash {match}", ("match",)
        ))  # fmt: skip
    if present.topic_prefs:
        branches.append((
            f"SELECT hash, 3, subscribed, updated_at, {null_i}, {null_i}, topic, {null_t} "
            f"FROM topic_prefs WHERE hash {match}", ("match",)
        ))  # fmt: skip
    if present.preferences and present.contacts:
        branches.append((
            f"SELECT c.hash, 5, {null_i}, max(c.at), {null_i}, {null_i}, {null_b}, {null_t} "
            f"FROM contacts c JOIN preferences p ON p.hash = c.hash "
            f"WHERE c.hash {match} AND p.frequency_days IS NOT NULL AND c.kind = 0 "
            f"AND c.at <= ? AND c.at > ? - CAST(p.frequency_days AS BIGINT) * 86400000 "
            f"GROUP BY c.hash", ("match", "at", "at")
        ))  # fmt: skip
    if with_cap and present.contacts:
        branches.append((
            f"SELECT hash, 4, count(*), min(at), {null_i}, {null_i}, {null_b}, {null_t} "
            f"FROM contacts WHERE hash {match} AND kind = 0 AND at > ? AND at <= ? "
            f"GROUP BY hash", ("match", "low", "at")
        ))  # fmt: skip
    sql = " UNION ALL ".join(branch for branch, _ in branches)
    return dialect.sql(sql), tuple(name for _, names in branches for name in names)


def blocks_sql(match: str, dialect: Dialect, present: Present) -> tuple[str, tuple[str, ...]]:
    """Per matched hash, the strongest suppression that blocks this send, as a code.

    Codes: 0 hard, 1 global, 2 the topic asked for; hashes with no blocking row are not
    returned. Parameters: ``marketing`` (1 or 0), ``topic`` (stored form), then ``match``.
    """
    rows = f"SELECT hash, scope, topic FROM suppressions WHERE hash {match}"
    names: tuple[str, ...] = ("marketing", "topic", "match")
    if present.links:
        rows += (
            f" UNION ALL SELECT l.hash, s.scope, s.topic FROM links l "
            f"JOIN suppressions s ON s.hash = l.group_id "
            f"WHERE l.hash {match} AND s.all_channels = 1 AND l.group_id <> l.hash"
        )
        names += ("match",)
    sql = (
        "SELECT hash, min(code) FROM (SELECT hash, CASE WHEN scope = 0 THEN 0 "
        "WHEN ? = 0 THEN 9 WHEN scope = 1 THEN 1 WHEN scope = 2 AND topic = ? THEN 2 "
        f"ELSE 9 END AS code FROM ({rows}) AS found) AS coded WHERE code < 9 GROUP BY hash"
    )
    return dialect.sql(sql), names


def suppression_from_row(row: Sequence[Any]) -> Suppression:
    """A :class:`Suppression` from ``SUPPRESSION_COLUMNS``."""
    name = row[9] if row[9] is not None else (("#" + bytes(row[3]).hex()) if row[3] else None)
    return Suppression(
        identity_hash=bytes(row[0]).hex(),
        channel=CHANNELS[row[1]],
        scope=SCOPES[row[2]],
        topic=name,
        reason=row[4] or "",
        source=SOURCES[row[5]],
        created_at=from_ms(row[6]),
        all_channels=bool(row[7]),
        address=row[8],
    )


def event_from_row(row: Sequence[Any]) -> Event:
    """An :class:`Event` from ``EVENT_COLUMNS``."""
    return Event(
        id=int(row[0]),
        at=from_ms(row[1]),
        identity_hash=bytes(row[2]).hex(),
        action=Action(row[3]),
        source=Source(row[4]),
        channel=Channel(row[5]) if row[5] else None,
        scope=Scope(row[6]) if row[6] else None,
        topic=row[7] or None,
        reason=row[8],
        evidence=row[9],
        requested_at=None if row[10] is None else from_ms(row[10]),
        detail=row[11] or "",
    )


def exception_from_row(row: Sequence[Any]) -> ExceptionItem:
    """An :class:`ExceptionItem` from ``EXCEPTION_COLUMNS``."""
    return ExceptionItem(
        id=int(row[0]),
        received_at=from_ms(row[1]),
        due_at=from_ms(row[2]),
        mailbox=row[3],
        why=row[4],
        raw=bytes(row[5]),
        status=row[6],
        resolution=row[7],
        resolved_at=None if row[8] is None else from_ms(row[8]),
        summary=row[9] or "",
    )
