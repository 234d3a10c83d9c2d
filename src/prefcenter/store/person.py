"""A person's identities, and how ``forget`` erases their clear data (GDPR).

A person is an identity and every identity linked to it (one group in ``links``). An
erasure request names one of them and reaches all: clear addresses, the free-text
reasons on their rules and events, and queued mail that names them (``scrub``).
"""

# SQL is assembled only from constants and placeholders; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from prefcenter.store.codes import to_ms
from prefcenter.store.exceptions import ERASED, ExceptionRows


class PersonRows(ExceptionRows):
    """Person groups and erasure; part of the session."""

    #: Set by ``forget``: the backend then wipes old copies of pages after the commit.
    forgot: bool

    def group(self, identity_hash: bytes) -> bytes | None:
        row = self._one("SELECT group_id FROM links WHERE hash = ?", [identity_hash])
        return None if row is None else bytes(row[0])

    def address(self, identity_hash: bytes) -> str | None:
        row = self._one("SELECT address FROM identities WHERE hash = ?", [identity_hash])
        return None if row is None else row[0]

    def person(self, identity_hash: bytes) -> list[bytes]:
        root = self.group(identity_hash)
        if root is None:
            return [identity_hash]
        rows = self._rows("SELECT hash FROM links WHERE group_id = ? ORDER BY hash", [root])
        others = [bytes(row[0]) for row in rows if bytes(row[0]) != identity_hash]
        return [identity_hash, *others]

    def forget(
        self,
        hashes: Sequence[bytes],
        at: datetime,
        spellings: Sequence[str] = (),
        names_person: Callable[[str], bool] | None = None,
    ) -> bool:
        self.forgot = True
        stored = [address for address in map(self.address, hashes) if address]
        scrubbed = self.scrub([*spellings, *stored], at, names_person)
        among = ", ".join("?" * len(hashes))
        erased = self._exec(
            "UPDATE identities SET address = NULL, forgotten_at = ? "
            f"WHERE hash IN ({among}) AND forgotten_at IS NULL",
            [to_ms(at), *hashes],
        )
        # The sent Message-ID digests would still tie a returned message to the person.
        erased += self._exec(f"DELETE FROM sent_messages WHERE hash IN ({among})", [*hashes])
        # Reasons are free text (an operator's note, a bounce's diagnostic): they may
        # name the person. The rule and the event keep every other field.
        for table in ("suppressions", "events"):
            erased += self._exec(
                f"UPDATE {table} SET reason = ? WHERE hash IN ({among}) "
                "AND reason IS NOT NULL AND reason <> '' AND reason <> ?",
                [ERASED, *hashes, ERASED],
            )
        # Every identity of the person gets a row marked forgotten, also one never
        # stored (a one-click opt-out knows only the hash): a later send or change then
        # never stores its address.
        for identity_hash in hashes:
            marker = self._one(
                "INSERT INTO identities(hash, address, forgotten_at) VALUES (?, NULL, ?) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                [identity_hash, to_ms(at)],
            )
            erased += marker is not None
        return bool(erased or scrubbed)
