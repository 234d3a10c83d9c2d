"""An import's rows spread over temporary files by identity hash, read back in key order.

Writing a suppression list in the order of the file scatters every transaction over
the whole of each index (the identity hashes are random): a chunk of a few thousand
rows dirties a few thousand pages of each B-tree, and once the indexes outgrow the page
cache every chunk rewrites most of them. So an import reads the file once, canonicalising
and hashing a chunk at a time, and appends each row to one of :data:`BUCKETS` files by
the first byte of its hash. It then writes the buckets in order, a few at a time: each
transaction covers one narrow range of keys, whose pages are read, changed and written
once, and whose rows are sorted by hash (neighbours share pages).

Memory holds one chunk while reading and one group of buckets while writing, whatever
the length of the file: about ``rows / BUCKETS`` rows at most per bucket (a file of ten
million rows has buckets of about 40,000).

Rows are tuples whose first item is the 16-byte identity hash; they go to disk with
:mod:`marshal` (bytes, text, numbers and None only), each chunk's part framed by its
length.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import IO, Any

#: Files an import's rows are spread over (by the first byte of the identity hash).
BUCKETS = 256

Row = tuple[Any, ...]


class HashSpool:
    """Temporary bucket files of one import; close it (or use ``with``) to remove them."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="prefcenter-import-", dir=directory)
        self._files: list[IO[bytes] | None] = [None] * BUCKETS
        self._counts = [0] * BUCKETS
        self.rows = 0

    def __enter__(self) -> HashSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, rows: Sequence[Row]) -> None:
        """Append ``rows`` (in file order) to their buckets."""
        parts: dict[int, list[Row]] = {}
        for row in rows:
            bucket = row[0][0]
            part = parts.get(bucket)
            if part is None:
                parts[bucket] = [row]
            else:
                part.append(row)
        for bucket, part in parts.items():
            sink = self._files[bucket]
            if sink is None:
                sink = open(os.path.join(self._dir.name, f"{bucket:02x}"), "wb")  # noqa: SIM115
                self._files[bucket] = sink
            data = marshal.dumps(part)
            sink.write(len(data).to_bytes(4, "little"))
            sink.write(data)
            self._counts[bucket] += len(part)
        self.rows += len(rows)

    def groups(self, size: int) -> Iterator[list[Row]]:
        """The rows, whole buckets at a time in hash order, about ``size`` rows a group
        (one bucket may be more), each sorted by hash (rows of one hash in file order)."""
        group: list[Row] = []
        for bucket in range(BUCKETS):
            group += self._read(bucket)
            if len(group) >= size:
                group.sort(key=_HASH)
                yield group
                group = []
        if group:
            group.sort(key=_HASH)
            yield group

    def _read(self, bucket: int) -> list[Row]:
        sink = self._files[bucket]
        if sink is None:
            return []
        sink.close()
        self._files[bucket] = None
        rows: list[Row] = []
        with open(sink.name, "rb") as source:
            data = memoryview(source.read())
        os.remove(sink.name)
        # Each part is framed by its length: marshal.load on a file reads piece by piece.
        start = 0
        while start < len(data):
            end = start + 4 + int.from_bytes(data[start : start + 4], "little")
            # Our own file, in a directory only this user can open (mkdtemp: mode 0700).
            rows += marshal.loads(data[start + 4 : end])  # noqa: S302
            start = end
        return rows

    def close(self) -> None:
        """Remove the files."""
        for sink in self._files:
            if sink is not None:
                sink.close()
        self._files = [None] * BUCKETS
        self._dir.cleanup()


_HASH = itemgetter(0)

__all__ = ["BUCKETS", "HashSpool"]
