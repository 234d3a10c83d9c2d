"""The exceptions queue's SQL, and how ``forget`` erases an address from queued mail.

Queued items hold whole inbound messages, which name their sender. ``forget`` must not
leave the erased address there, so :meth:`ExceptionRows.scrub` applies one rule: every
item whose raw message, summary or resolution contains one of the erased spellings
(case-insensitively) gets its raw message replaced by a short placeholder naming the
date of erasure, and the spellings in its summary and resolution replaced by
``[erased]``. The item keeps its id, status and dates, and its audit events stay.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from prefcenter.errors import NotFound
from prefcenter.model import ExceptionItem
from prefcenter.store.codes import to_ms
from prefcenter.store.rows import EXCEPTION_COLUMNS, Statements, exception_from_row

ERASED = "[erased]"


def placeholder(at: datetime) -> bytes:
    """What replaces a raw message that named an erased address (still a parsable message)."""
    day = at.date().isoformat()
    return (
        f"X-Prefcenter-Erased: {day}\r\n\r\n"
        f"This message named an address erased by a forget request on {day}.\r\n"
    ).encode()


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

    def scrub(self, spellings: Iterable[str], at: datetime) -> int:
        """Erase ``spellings`` from every queued item that contains one; the number changed."""
        words = sorted({s.strip() for s in spellings if s and s.strip()}, key=len, reverse=True)
        if not words:
            return 0
        # bytes.lower() folds ASCII only; str.lower() folds more: look for both forms.
        needles = {w.lower().encode() for w in words} | {w.encode().lower() for w in words}
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        found = []
        for item_id, raw, summary, resolution in self._rows(
            "SELECT id, raw, summary, resolution FROM exceptions"
        ):
            text = f"{summary or ''}\n{resolution or ''}"
            lowered = bytes(raw).lower()
            if pattern.search(text) or any(needle in lowered for needle in needles):
                found.append((item_id, summary, resolution))
        erased = placeholder(at)
        for item_id, summary, resolution in found:
            self._exec(
                "UPDATE exceptions SET raw = ?, summary = ?, resolution = ? WHERE id = ?",
                [
                    erased,
                    pattern.sub(ERASED, summary or ""),
                    None if resolution is None else pattern.sub(ERASED, resolution),
                    item_id,
                ],
            )
        return len(found)


def no_such_exception(item_id: int) -> NotFound:
    """The error for an exception id that is not in the queue, with how to find the ids."""
    return NotFound(
        f"Exception {item_id} does not exist; list them with `exceptions list --status all`."
    )
