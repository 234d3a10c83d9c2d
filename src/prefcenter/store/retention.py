"""Storage limitation (GDPR Art. 5(1)(e)): what ``purge`` removes once it is kept long enough.

Two kinds of data outlive their use. A closed exception item keeps the whole inbound
message (a person's words, and in returned originals other people's mail); once the
item is decided and ``exception_retention`` has passed, the message is replaced by a
placeholder and the summary by ``[purged]``, and the item keeps its id, status, dates
and resolution. An item nobody decides keeps its mail for ``exception_open_retention``
(from receipt); then the mail is replaced by the same placeholder, and the item stays
open with its summary, so a person can still see what came and decide it. The contact
ledger keeps every send; rows older than ``contact_retention`` are deleted. Suppressions
and audit events are never purged: they are the opt-out and its proof.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from prefcenter.store.codes import to_ms
from prefcenter.store.exceptions import ERASED, placeholder
from prefcenter.store.rows import Statements

PURGED = "[purged]"
#: Most items, and most ledger rows, one purge transaction changes.
PURGE_CHUNK = 5_000
#: Pause between chunks: longer than SQLite's busy handler sleeps between its tries
#: early on, so a waiting writer takes the lock before the next chunk does.
PURGE_PAUSE_S = 0.1
#: Closed items whose mail is still there: an erased or purged item has one of these
#: summaries, which no summary of received mail is (the raw mail is the sender's to
#: shape, so it cannot be the mark).
#: Closed items past EXCEPTION_RETENTION, and machine mail kept for audit ('audit', issue
#: 21) past MACHINE_MAIL_RETENTION: their mail is erased, the record stays.
_CLOSED_MAIL = (
    "FROM exceptions WHERE ((status = 'audit' AND resolved_at < ?) OR "
    "(status NOT IN ('open', 'audit') AND resolved_at < ?)) AND summary NOT IN (?, ?)"
)


#: Open items whose mail is still there: the placeholder starts with this mark.
_PURGED_MARK = b"X-Prefcenter-Purged:"
_OPEN_MAIL = (
    "FROM exceptions WHERE status = 'open' AND received_at < ? "
    f"AND substr(raw, 1, {len(_PURGED_MARK)}) <> ?"
)


def purged_placeholder(at: datetime) -> bytes:
    """What replaces a closed item's mail once its retention has passed."""
    why = "This message was erased on {day}, its retention period having passed."
    return placeholder(at, "Purged", why)


class RetentionRows(Statements):
    """Counting and purging what is past its retention; part of the session."""

    #: Set by ``purge``: the backend then wipes old copies of pages after the commit.
    forgot: bool

    def purge(
        self,
        mail_before: datetime,
        contacts_before: datetime,
        at: datetime,
        *,
        dry_run: bool,
        limit: int = PURGE_CHUNK,
        audit_before: datetime | None = None,
        open_before: datetime | None = None,
    ) -> tuple[int, int]:
        """Erase the mail of up to ``limit`` items closed before ``mail_before`` and delete
        up to ``limit`` ledger rows from before ``contacts_before``; (items, rows).

        Oldest first, ``limit`` at a time, so that one transaction never holds the write
        lock for long (a day of a big sender's ledger is millions of rows): the caller
        repeats until fewer than ``limit`` come back. ``dry_run`` counts them all.
        """
        audit = to_ms(mail_before if audit_before is None else audit_before)
        mail = [audit, to_ms(mail_before), ERASED, PURGED]
        contacts = [to_ms(contacts_before)]
        undecided = [to_ms(open_before), _PURGED_MARK] if open_before is not None else None
        if dry_run:
            items = self._one(f"SELECT COUNT(*) {_CLOSED_MAIL}", mail)[0]
            if undecided is not None:
                items += self._one(f"SELECT COUNT(*) {_OPEN_MAIL}", undecided)[0]
            rows = self._one("SELECT COUNT(*) FROM contacts WHERE at < ?", contacts)[0]
            return int(items), int(rows)
        items = self._exec(
            "UPDATE exceptions SET raw = ?, summary = ? WHERE id IN "
            f"(SELECT id {_CLOSED_MAIL} ORDER BY id LIMIT ?)",
            [purged_placeholder(at), PURGED, *mail, limit],
        )
        if undecided is not None:  # open items keep their summary: still to be decided
            items += self._exec(
                f"UPDATE exceptions SET raw = ? WHERE id IN (SELECT id {_OPEN_MAIL} "
                "ORDER BY id LIMIT ?)",
                [purged_placeholder(at), *undecided, limit],
            )
        # Ids grow with time, so the oldest rows come first and the scan stops early.
        rows = self._exec(
            "DELETE FROM contacts WHERE id IN "
            "(SELECT id FROM contacts WHERE at < ? ORDER BY id LIMIT ?)",
            [*contacts, limit],
        )
        # A sent Message-ID proves a bounce only as long as the ledger keeps its contact.
        self._exec("DELETE FROM sent_messages WHERE at < ?", contacts)
        # The erased mail must not stay in freed pages or the WAL; the wipe (a WAL
        # checkpoint that makes writers wait) runs once, after the last chunk.
        self.forgot = items < limit and rows < limit
        return items, rows
