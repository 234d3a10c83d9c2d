"""The duplicate detector behind ``filter_stream``: small in memory, spilling to disk.

A campaign of ten million rows must not need ten million Python objects. Up to
``limit`` identities are remembered in a dictionary (the hashes themselves, so a chunk
needs no slicing); past that, 8-byte prefixes of them move to a temporary SQLite file and each
chunk is checked with two set-based statements. A prefix collision (about 1 in 10^6 at
10^7 rows) marks a person as a duplicate, which leaves them out of the campaign: the
safe direction.
"""

from __future__ import annotations

import itertools
import operator
import os
import sqlite3
import tempfile
from collections.abc import Sequence

PREFIX = 8


class Seen:
    """Answers "was this identity already in the input?" for a chunk at a time."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        # Each hash maps to itself as first seen, so ``setdefault`` tells a first sighting
        # (it returns the very object passed in) from a repeat (an equal, older object)
        # in one C-level pass. The screen keeps few containers alive, so full garbage
        # collections (which walk every entry) are rare; keep it that way.
        self._known: dict[bytes | None, bytes | None] = {None: None}
        self._db: sqlite3.Connection | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def duplicates(self, hashes: Sequence[bytes | None]) -> list[int]:
        """Positions of the hashes seen before (earlier in this chunk or in an earlier one).

        None (an invalid value) is never a duplicate.
        """
        known = self._known
        if self._db is None and len(known) + len(hashes) <= self.limit:
            before = len(known)
            first = list(map(operator.is_, map(known.setdefault, hashes, hashes), hashes))
            # None (there from the start) maps to itself: never a repeat. One object
            # passed twice would read as two first sightings but add one entry.
            added = len(known) - before
            if first.count(True) - hashes.count(None) != added:
                return self._repeats_by_value(hashes, added)
            if all(first):
                return []  # the common chunk: nobody seen before, nobody twice
            return list(itertools.compress(range(len(hashes)), map(operator.not_, first)))
        fresh = self._fresh_on_disk([value for value in hashes if value is not None])
        flags = iter(fresh)
        return [
            index for index, value in enumerate(hashes) if value is not None and not next(flags)
        ]

    def _repeats_by_value(self, hashes: Sequence[bytes | None], added: int) -> list[int]:
        """The repeats of a chunk whose ``added`` new hashes were just entered, compared
        by value (for a caller that passes one object twice)."""
        new = set(itertools.islice(reversed(self._known), added))  # insertion order
        here: set[bytes] = set()
        repeats = []
        for index, value in enumerate(hashes):
            if value is not None:
                if value not in new or value in here:
                    repeats.append(index)
                here.add(value)
        return repeats

    def _fresh_on_disk(self, hashes: Sequence[bytes]) -> list[bool]:
        db = self._db or self._spill()
        local: set[int] = set()
        keys = [int.from_bytes(value[:PREFIX], "big", signed=True) for value in hashes]
        # One transaction per chunk: in autocommit every staged row would be its own
        # transaction on the temporary database, about 35 µs each.
        db.execute("BEGIN")
        db.execute("DELETE FROM stage")
        db.executemany("INSERT OR IGNORE INTO stage(p) VALUES (?)", ((k,) for k in keys))
        known = {row[0] for row in db.execute("SELECT p FROM stage JOIN main.seen USING (p)")}
        db.execute("INSERT OR IGNORE INTO seen(p) SELECT p FROM stage")
        db.execute("COMMIT")
        result = []
        for key in keys:
            if key in known or key in local:
                result.append(False)
            else:
                local.add(key)
                result.append(True)
        return result

    def _spill(self) -> sqlite3.Connection:
        self._dir = tempfile.TemporaryDirectory(prefix="prefcenter-seen-")
        db = sqlite3.connect(os.path.join(self._dir.name, "seen.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE seen(p INTEGER PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE stage(p INTEGER PRIMARY KEY)")
        # Sorted, the keys go into the B-tree in order; the set is dropped first.
        keys = sorted(
            int.from_bytes(key[:PREFIX], "big", signed=True) for key in self._known if key
        )
        self._known = {None: None}
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO seen(p) VALUES (?)", ((key,) for key in keys))
        db.execute("COMMIT")
        self._db = db
        return db

    def close(self) -> None:
        """Drop the temporary file, if one was made."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
