"""The exceptions queue's SQL, and how ``forget`` erases a person from queued mail.

Queued items hold whole inbound messages, which name their sender. ``forget`` must not
leave the person there, so :meth:`ExceptionRows.scrub` applies one rule: every item
that names them (a spelling given to ``forget``, their stored address, or any address
in the item that folds to one of their identities) gets its raw message replaced by a
short placeholder naming the date of erasure, its summary (which quotes the subject)
replaced by ``[erased]``, and those spellings in its resolution replaced by
``[erased]``. The item keeps its id, status and dates, and its audit events stay.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime

from prefcenter.errors import NotFound
from prefcenter.model import ExceptionItem
from prefcenter.store.codes import to_ms
from prefcenter.store.rows import EXCEPTION_COLUMNS, Statements, exception_from_row

ERASED = "[erased]"


def placeholder(
    at: datetime,
    header: str = "Erased",
    why: str = "This message named an address erased by a forget request on {day}.",
) -> bytes:
    """What replaces a raw message that named an erased address (still a parsable message):
    an ``X-Prefcenter-<header>`` line with the day, and ``why`` (``{day}`` filled in)."""
    day = at.date().isoformat()
    return f"X-Prefcenter-{header}: {day}\r\n\r\n{why.format(day=day)}\r\n".encode()


class ExceptionRows(Statements):
    """Reads and writes of the ``exceptions`` table; part of the session."""

    def exceptions(self, status: str | None) -> list[ExceptionItem]:
        where, params = ("WHERE status = ? ", [status]) if status is not None else ("", [])
        rows = self._rows(
            f"SELECT {EXCEPTION_COLUMNS} FROM exceptions {where}ORDER BY due_at, id", params
        )
        return [exception_from_row(row) for row in rows]

    def exception(self, item_id: int) -> ExceptionItem | None:
        row = self._one(f"SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE id = ?", [item_id])
        return None if row is None else exception_from_row(row)

    def open_exception(
        self,
        *,
        received_at: datetime,
        due_at: datetime,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str,
        evidence: str | None,
    ) -> tuple[ExceptionItem, bool]:
        select = f"SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE evidence = ?"
        if evidence is not None:
            row = self._one(select, [evidence])
            if row is not None:
                return exception_from_row(row), False
        row = self._one(
            "INSERT INTO exceptions(received_at, due_at, mailbox, why, raw, status, summary, "
            f"evidence) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) ON CONFLICT DO NOTHING "
            f"RETURNING {EXCEPTION_COLUMNS}",
            [to_ms(received_at), to_ms(due_at), mailbox, why, bytes(raw), summary, evidence],
        )
        if row is None:  # a concurrent delivery of the same message won the race
            return exception_from_row(self._one(select, [evidence])), False
        return exception_from_row(row), True

    def open_exception_bytes(self) -> int:
        """Bytes of mail all open items hold together (EXCEPTION_BUDGET counts these)."""
        row = self._one(
            "SELECT COALESCE(SUM(LENGTH(raw)), 0) FROM exceptions WHERE status = 'open'"
        )
        return int(row[0]) if row is not None else 0

    def close_exception(
        self, item_id: int, *, status: str, resolution: str, at: datetime
    ) -> ExceptionItem:
        self._exec(
            "UPDATE exceptions SET status = ?, resolution = ?, resolved_at = ? "
            "WHERE id = ? AND status = 'open'",
            [status, resolution, to_ms(at), item_id],
        )
        item = self.exception(item_id)
        if item is None:
            raise no_such_exception(item_id)
        return item

    def scrub(
        self,
        spellings: Iterable[str],
        at: datetime,
        names_person: Callable[[str], bool] | None = None,
    ) -> int:
        """Erase a person from every queued item that names them; the number changed.

        An item names them when it contains one of ``spellings`` (case-insensitively) or
        an address for which ``names_person`` is true (another spelling of the same
        identity: ``Alice.Smith+news@gmail.com`` for ``alicesmith@gmail.com``).
        """
        words = {s.strip() for s in spellings if s and s.strip()}
        if not words and names_person is None:
            return 0
        verdicts: dict[str, bool] = {}  # each address found is folded and hashed once
        found = []
        for item_id, raw, summary, resolution in self._rows(
            "SELECT id, raw, summary, resolution FROM exceptions"
        ):
            text = f"{summary or ''}\n{resolution or ''}\n" + bytes(raw).decode("latin-1")
            named = _named(text, words, names_person, verdicts)
            if named:
                found.append((item_id, resolution, named))
        erased = placeholder(at)
        for item_id, resolution, named in found:
            pattern = re.compile(
                "|".join(re.escape(w) for w in sorted(named, key=len, reverse=True)),
                re.IGNORECASE,
            )
            self._exec(
                "UPDATE exceptions SET raw = ?, summary = ?, resolution = ? WHERE id = ?",
                [
                    erased,
                    ERASED,  # the summary quotes the mail's subject: the person's words
                    None if resolution is None else pattern.sub(ERASED, resolution),
                    item_id,
                ],
            )
        return len(found)


#: Characters of an address's local part (RFC 5322 atoms and dots) and of its domain.
_LOCAL = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~.-"
)
_DOMAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def _addresses(text: str) -> set[str]:
    """Address-like words in ``text``: found from each ``@`` outwards, in linear time (a
    pattern scanned from every position would take quadratic time on a long crafted
    line of mail), at most 64 characters before the ``@`` and 255 after (RFC 5321)."""
    found: set[str] = set()
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL:
            start -= 1
        end = at + 1
        while end < len(text) and end - at <= 255 and text[end] in _DOMAIN:
            end += 1
        domain = text[at + 1 : end].strip(".-")
        if start < at and "." in domain:
            local = text[start:at]
            found.add(local + "@" + domain)
            # `smtp.mailfrom=alice@...`, `?email=alice@...`: atoms may hold = / ? &, so
            # the address may also start after any of them.
            for index, char in enumerate(local):
                if char in _SEPARATORS and index + 1 < len(local):
                    found.add(local[index + 1 :] + "@" + domain)
        at = text.find("@", at + 1)
    return found


#: Characters an address may contain that also join it to text before it.
_SEPARATORS = frozenset("=/?&")


def _named(
    text: str,
    words: set[str],
    names_person: Callable[[str], bool] | None,
    verdicts: dict[str, bool],
) -> set[str]:
    """The spellings of the person in ``text``: ``words`` it contains, and its addresses
    ``names_person`` recognises."""
    lowered = text.lower()
    # str.lower() folds more than ASCII; the raw message was decoded byte for byte, so
    # look for a word's UTF-8 bytes (as latin-1 text) too.
    named = {
        word
        for word in words
        if word.lower() in lowered or word.encode().decode("latin-1").lower() in lowered
    }
    if names_person is not None:
        for address in _addresses(text):
            verdict = verdicts.get(address)
            if verdict is None:
                verdict = verdicts[address] = names_person(address)
            if verdict:
                named.add(address)
    return named


def no_such_exception(item_id: int) -> NotFound:
    """The error for an exception id that is not in the queue, with how to find the ids."""
    return NotFound(
        f"Exception {item_id} does not exist; list them with `exceptions list --status all`."
    )
