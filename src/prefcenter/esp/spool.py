"""An import's rows spread over temporary files by identity hash, read back in key order.

Writing a suppression list in the order of the file scatters every transaction over
the whole of each index (the identity hashes are random): a chunk of a few thousand
rows dirties a few thousand pages of each B-tree, and once the indexes outgrow the page
cache every chunk rewrites most of them. So an import reads the file once, canonicalising
and hashing a chunk at a time, and appends each row to one of :data:`BUCKETS` files by
the first byte of its hash. It then writes the buckets in order, a few at a time: each
transaction covers one narrow range of keys, whose pages are read, changed and written
once (the database sorts each group by hash as it merges it, in C).

Memory holds one chunk while reading and one group of buckets while writing, whatever
the length of the file: about ``rows / BUCKETS`` rows at most per bucket (a file of ten
million rows has buckets of about 40,000).

Rows are flat: ``width`` values each, the first the 16-byte identity hash, as the
store's staging INSERT takes them. Each chunk's rows are dealt to their buckets, and
each bucket's part goes to disk as one :mod:`marshal` list (bytes, text and numbers
only), framed by its length.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

#: Files an import's rows are spread over (by the first byte of the identity hash).
BUCKETS = 256


class HashSpool:
    """Temporary bucket files of one import; close it (or use ``with``) to remove them."""

    def __init__(self, width: int, directory: str | None = None) -> None:
        self.width = width
        self._dir = tempfile.TemporaryDirectory(prefix="prefcenter-import-", dir=directory)
        self._files: list[IO[bytes] | None] = [None] * BUCKETS
        self.rows = 0

    def __enter__(self) -> HashSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, values: list[Any]) -> None:
        """Append rows (``values`` flat, in file order) to their buckets."""
        width = self.width
        parts: list[list[Any]] = [[] for _ in range(BUCKETS)]
        for row in zip(*[iter(values)] * width, strict=True):
            parts[row[0][0]] += row
        for bucket, part in enumerate(parts):
            if not part:
                continue
            sink = self._files[bucket]
            if sink is None:
                sink = open(os.path.join(self._dir.name, f"{bucket:02x}"), "wb")  # noqa: SIM115
                self._files[bucket] = sink
            data = marshal.dumps(part)
            sink.write(len(data).to_bytes(4, "little"))
            sink.write(data)
        self.rows += len(values) // width

    def groups(self, size: int) -> Iterator[tuple[list[Any], int]]:
        """The rows as (values flat, rows), whole buckets at a time in bucket order, about
        ``size`` rows a group (one bucket may be more); in a bucket, in file order."""
        group: list[Any] = []
        for bucket in range(BUCKETS):
            group += self._read(bucket)
            if len(group) >= size * self.width:
                yield group, len(group) // self.width
                group = []
        if group:
            yield group, len(group) // self.width

    def _read(self, bucket: int) -> list[Any]:
        sink = self._files[bucket]
        if sink is None:
            return []
        sink.close()
        self._files[bucket] = None
        values: list[Any] = []
        with open(sink.name, "rb") as source:
            data = memoryview(source.read())
        os.remove(sink.name)
        # Each part is framed by its length: marshal.load on a file reads piece by piece.
        start = 0
        while start < len(data):
            end = start + 4 + int.from_bytes(data[start : start + 4], "little")
            # Our own file, in a directory only this user can open (mkdtemp: mode 0700).
            values += marshal.loads(data[start + 4 : end])  # noqa: S302
            start = end
        return values

    def close(self) -> None:
        """Remove the files."""
        for sink in self._files:
            if sink is not None:
                sink.close()
        self._files = [None] * BUCKETS
        self._dir.cleanup()


__all__ = ["BUCKETS", "HashSpool"]
