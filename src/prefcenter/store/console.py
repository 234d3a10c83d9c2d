"""The operator console's SQL: operators, a page of the exceptions queue, daily counts.

Everything here is read in bounded work whatever the store's size: a page of the queue
is one index range (``exceptions_status``) with a limit, the message bodies stay in the
database, and the report's days are counted by the database (``GROUP BY``) over the
``events_at`` range of the period instead of being read row by row.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prefcenter.model import Contact, ExceptionItem, Suppression
from prefcenter.store.codes import KINDS, from_ms, to_ms
from prefcenter.store.rows import SUPPRESSION_COLUMNS, Statements, suppression_from_row

#: The queue's columns without the raw message (a page never needs 10,000 bodies).
_LISTED = "id, received_at, due_at, mailbox, why, status, resolution, resolved_at, summary"
_OPERATOR = (
    "name, role, password_hash, totp_secret, disabled, failures, locked_until, generation, "
    "created_at, last_login_at"
)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Operator:
    """A person who may use the console.

    Attributes:
        name: the login name.
        role: ``viewer``, ``agent`` or ``admin``.
        password_hash: the argon2 hash (never the password).
        totp_secret: the base32 TOTP secret when a second factor is set up.
        disabled: True once ``operators disable`` ran; such an operator cannot log in.
        failures: failed logins since the last success.
        locked_until: no login is tried before this moment (after too many failures).
        generation: grows with every reset and disable; older sessions stop working.
        created_at: when the operator was added.
        last_login_at: the last successful login.
    """

    name: str
    role: str
    password_hash: str
    totp_secret: str | None
    disabled: bool
    failures: int
    locked_until: datetime | None
    generation: int
    created_at: datetime
    last_login_at: datetime | None


def _operator(row: Sequence[object]) -> Operator:
    locked, last = row[6], row[9]
    return Operator(
        name=str(row[0]),
        role=str(row[1]),
        password_hash=str(row[2]),
        totp_secret=None if row[3] is None else str(row[3]),
        disabled=bool(row[4]),
        failures=int(row[5]),  # type: ignore[call-overload]
        locked_until=None if locked is None else from_ms(int(locked)),  # type: ignore[call-overload]
        generation=int(row[7]),  # type: ignore[call-overload]
        created_at=from_ms(int(row[8])),  # type: ignore[call-overload]
        last_login_at=None if last is None else from_ms(int(last)),  # type: ignore[call-overload]
    )


@dataclass(frozen=True, slots=True)
class DayCount:
    """One cell of a per-day table: ``count`` rows of ``label`` on ``day`` (UTC midnight)."""

    day: datetime
    label: str
    count: int


class ConsoleRows(Statements):
    """The console's reads and writes; part of the session."""

    # -- operators -------------------------------------------------------------------
    def operator(self, name: str) -> Operator | None:
        row = self._one(f"SELECT {_OPERATOR} FROM operators WHERE name = ?", [name])
        return None if row is None else _operator(row)

    def operators(self) -> list[Operator]:
        return [
            _operator(row) for row in self._rows(f"SELECT {_OPERATOR} FROM operators ORDER BY name")
        ]

    def add_operator(self, name: str, role: str, password_hash: str, at: datetime) -> bool:
        return (
            self._exec(
                "INSERT INTO operators(name, role, password_hash, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [name, role, password_hash, to_ms(at)],
            )
            > 0
        )

    def update_operator(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        totp_secret: str | None = None,
        disabled: bool | None = None,
        new_generation: bool = False,
    ) -> bool:
        """Change the given fields (None leaves one as it is); True when the operator exists."""
        sets: list[str] = ["failures = 0", "locked_until = NULL"]
        params: list[object] = []
        if password_hash is not None:
            sets.append("password_hash = ?")
            params.append(password_hash)
        if totp_secret is not None:
            sets.append("totp_secret = ?")
            params.append(totp_secret or None)
        if disabled is not None:
            sets.append("disabled = ?")
            params.append(int(disabled))
        if new_generation:
            sets.append("generation = generation + 1")
        return (
            self._exec(f"UPDATE operators SET {', '.join(sets)} WHERE name = ?", [*params, name])
            > 0
        )

    def login_failed(self, name: str, locked_until: datetime | None) -> None:
        self._exec(
            "UPDATE operators SET failures = failures + 1, locked_until = ? WHERE name = ?",
            [None if locked_until is None else to_ms(locked_until), name],
        )

    def login_succeeded(self, name: str, at: datetime) -> None:
        self._exec(
            "UPDATE operators SET failures = 0, locked_until = NULL, last_login_at = ? "
            "WHERE name = ?",
            [to_ms(at), name],
        )

    # -- the exceptions queue ------------------------------------------------------------
    def exception_page(
        self,
        *,
        status: str,
        mailbox: str | None,
        due_before: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ExceptionItem], int]:
        """Items by due time (overdue first), without their messages; and how many match."""
        where: list[str] = ["status = ?"]
        params: list[object] = [status]
        if mailbox:
            where.append("mailbox = ?")
            params.append(mailbox)
        if due_before is not None:
            where.append("due_at < ?")
            params.append(to_ms(due_before))
        clause = " AND ".join(where)
        rows = self._rows(
            f"SELECT {_LISTED} FROM exceptions WHERE {clause} ORDER BY due_at, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        total = int(self._one(f"SELECT COUNT(*) FROM exceptions WHERE {clause}", params)[0])
        items = [
            ExceptionItem(
                id=int(row[0]),
                received_at=from_ms(row[1]),
                due_at=from_ms(row[2]),
                mailbox=row[3],
                why=row[4],
                raw=b"",
                status=row[5],
                resolution=row[6],
                resolved_at=None if row[7] is None else from_ms(row[7]),
                summary=row[8] or "",
            )
            for row in rows
        ]
        return items, total

    def exception_mailboxes(self) -> list[str]:
        """The mailboxes items came from, any status: one index probe per mailbox (a
        DISTINCT would read every item's index entry, 10,000 for a queue that size)."""
        found: set[str] = set()
        for status in ("open", "resolved", "dismissed"):
            rows = self._rows(
                "WITH RECURSIVE m(name) AS (SELECT MIN(mailbox) FROM exceptions WHERE "
                "status = ? UNION ALL SELECT (SELECT MIN(mailbox) FROM exceptions WHERE "
                "status = ? AND mailbox > m.name) FROM m WHERE m.name IS NOT NULL) "
                "SELECT name FROM m WHERE name IS NOT NULL",
                [status, status],
            )
            found.update(str(row[0]) for row in rows)
        return sorted(found)

    def exception_counts(self, now: datetime) -> tuple[int, int]:
        """Open items, and how many of them are overdue at ``now``."""
        row = self._one(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_at < ? THEN 1 ELSE 0 END), 0) "
            "FROM exceptions WHERE status = 'open'",
            [to_ms(now)],
        )
        return int(row[0]), int(row[1])

    # -- daily counts for the report's charts ----------------------------------------------
    def event_facts(
        self, since: datetime, until: datetime, actions: Sequence[str], edges_ms: Sequence[int]
    ) -> list[tuple[datetime, str, str, str, int, int]]:
        """Events of ``actions`` counted per UTC day, action, source, channel and
        time-to-honour bucket (the index of the first edge the delay is under), in one pass."""
        delay = "(at - COALESCE(requested_at, at))"
        cases = " ".join(
            f"WHEN {delay} < {int(edge)} THEN {index}" for index, edge in enumerate(edges_ms)
        )
        marks = ", ".join("?" for _ in actions)
        rows = self._rows(
            f"SELECT at / {DAY_MS}, action, source, channel, CASE {cases} ELSE "
            f"{len(edges_ms)} END, COUNT(*) FROM events WHERE at >= ? AND at < ? "
            f"AND action IN ({marks}) GROUP BY 1, 2, 3, 4, 5",
            [to_ms(since), to_ms(until), *actions],
        )
        return [
            (from_ms(int(r[0]) * DAY_MS), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5]))
            for r in rows
        ]

    def honour_delays(
        self, since: datetime, until: datetime, actions: Sequence[str]
    ) -> list[tuple[int, int]]:
        """(UTC day number, milliseconds from request to change) of each event of
        ``actions`` in the period, by day then delay: the exact time-to-honour figures."""
        marks = ", ".join("?" for _ in actions)
        rows = self._rows(
            f"SELECT at / {DAY_MS}, at - COALESCE(requested_at, at) FROM events "
            f"WHERE at >= ? AND at < ? AND action IN ({marks}) ORDER BY 1, 2",
            [to_ms(since), to_ms(until), *actions],
        )
        return [(int(row[0]), int(row[1])) for row in rows]

    def violations_between(
        self, since: datetime, until: datetime, grace: timedelta
    ) -> list[tuple[Suppression, Contact]]:
        """Contacts sent in ``since .. until`` more than ``grace`` after a stop that blocks them.

        Driven from the period's contacts (a stop is found by its key), so the cost
        follows the sends of the period, not the number of suppressions.
        """
        grace_ms = grace // timedelta(milliseconds=1)
        blocks = (
            "(s.scope = 0 OR (c.kind = 0 AND (s.scope = 1 OR (s.scope = 2 AND c.topic = s.topic))))"
        )
        contact = "c.hash, c.at, c.kind, c.topic, c.sender, c.message_id"
        joins = "LEFT JOIN identities i ON i.hash = s.hash LEFT JOIN topics t ON t.digest = s.topic"
        period = "c.at >= ? AND c.at < ?"
        rows = self._rows(
            f"SELECT {SUPPRESSION_COLUMNS}, {contact} FROM contacts c "
            f"CROSS JOIN suppressions s {joins} WHERE s.hash = c.hash AND {period} "
            f"AND c.at > s.created_at + ? AND {blocks} "
            f"UNION ALL SELECT {SUPPRESSION_COLUMNS}, {contact} FROM contacts c "
            "CROSS JOIN links l CROSS JOIN suppressions s "
            f"{joins} WHERE l.hash = c.hash AND s.hash = l.group_id AND s.all_channels = 1 "
            f"AND l.hash <> l.group_id AND {period} AND c.at > s.created_at + ? AND {blocks}",
            [to_ms(since), to_ms(until), grace_ms] * 2,
        )
        names = {bytes(d): n for d, n in self._rows("SELECT digest, name FROM topics")}
        found = []
        for row in rows:
            suppression = suppression_from_row(row[:10])
            topic = bytes(row[13]) if row[13] else None
            found.append(
                (
                    suppression,
                    Contact(
                        identity_hash=bytes(row[10]).hex(),
                        channel=suppression.channel,
                        topic=None if topic is None else names.get(topic, "#" + topic.hex()),
                        kind=KINDS[row[12]],
                        at=from_ms(row[11]),
                        sender=row[14],
                        message_id=row[15],
                    ),
                )
            )
        return found

    def sends_by_day(self, since: datetime, until: datetime) -> list[DayCount]:
        """Contacts recorded per UTC day (the denominator of bounce and complaint rates)."""
        rows = self._rows(
            f"SELECT at / {DAY_MS} AS day, COUNT(*) FROM contacts WHERE at >= ? AND at < ? "
            "GROUP BY 1 ORDER BY 1",
            [to_ms(since), to_ms(until)],
        )
        return [DayCount(from_ms(int(row[0]) * DAY_MS), "sent", int(row[1])) for row in rows]

    def contact_counts(
        self, identity_hash: bytes, week: datetime, month: datetime
    ) -> list[tuple[int, int, int]]:
        """Per kind code: contacts since ``week`` and since ``month``."""
        rows = self._rows(
            "SELECT kind, SUM(CASE WHEN at >= ? THEN 1 ELSE 0 END), COUNT(*) FROM contacts "
            "WHERE hash = ? AND at >= ? GROUP BY kind ORDER BY kind",
            [to_ms(week), identity_hash, to_ms(month)],
        )
        return [(int(row[0]), int(row[1]), int(row[2])) for row in rows]


__all__ = ["DAY_MS", "ConsoleRows", "DayCount", "Operator"]
