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
only), framed by its length and its chunk's number in the file.

A second process may read half of the chunks (:mod:`prefcenter.esp.parallel`): it
writes its own bucket files into the same directory (a :class:`BucketFiles` with its
own prefix), and :meth:`HashSpool.adopt` adds them; a bucket is read back from every
writer's file, its parts put back in chunk order, so the rows are in file order
whichever process read them.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

#: Files an import's rows are spread over (by the first byte of the identity hash).
BUCKETS = 256


class BucketFiles:
    """One writer's bucket files (``<prefix><bucket>``) in a spool's directory."""

    def __init__(self, width: int, directory: str, prefix: str = "") -> None:
        self.width = width
        self.directory = directory
        self.prefix = prefix
        self._files: list[IO[bytes] | None] = [None] * BUCKETS
        self._chunks = 0
        self.rows = 0

    def path(self, bucket: int) -> str:
        return os.path.join(self.directory, f"{self.prefix}{bucket:02x}")

    def add(self, values: list[Any], chunk: int | None = None) -> None:
        """Append rows (``values`` flat, in file order) to their buckets; ``chunk`` is
        their chunk's number in the file (default: one more than the last)."""
        if chunk is None:
            chunk = self._chunks
        self._chunks = chunk + 1
        width = self.width
        parts: list[list[Any]] = [[] for _ in range(BUCKETS)]
        for row in zip(*[iter(values)] * width, strict=True):
            parts[row[0][0]] += row
        for bucket, part in enumerate(parts):
            if not part:
                continue
            sink = self._files[bucket]
            if sink is None:
                sink = open(self.path(bucket), "wb")  # noqa: SIM115
                self._files[bucket] = sink
            data = marshal.dumps(part)
            sink.write(len(data).to_bytes(4, "little") + chunk.to_bytes(4, "little"))
            sink.write(data)
        self.rows += len(values) // width

    def flush(self) -> None:
        """Write what the open files buffer (before a fork: the child's copies of the
        buffers are then empty)."""
        for sink in self._files:
            if sink is not None:
                sink.flush()

    def finish(self, bucket: int | None = None) -> None:
        """Close one bucket's file (or all), so that it can be read."""
        for which in range(BUCKETS) if bucket is None else (bucket,):
            sink = self._files[which]
            if sink is not None:
                sink.close()
                self._files[which] = None


class HashSpool(BucketFiles):
    """Temporary bucket files of one import; close it (or use ``with``) to remove them."""

    def __init__(self, width: int, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="prefcenter-import-", dir=directory)
        super().__init__(width, self._dir.name)
        self._others: list[str] = []

    def __enter__(self) -> HashSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def adopt(self, prefix: str, rows: int) -> None:
        """Read back, with this spool's own, the ``rows`` another writer (a
        :class:`BucketFiles` with ``prefix`` in :attr:`directory`) finished."""
        self._others.append(prefix)
        self.rows += rows

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
        self.finish(bucket)
        parts: list[tuple[int, memoryview]] = []
        sources = 0
        for path in [self.path(bucket)] + [
            os.path.join(self.directory, f"{prefix}{bucket:02x}") for prefix in self._others
        ]:
            if not os.path.exists(path):
                continue
            sources += 1
            with open(path, "rb") as source:
                data = memoryview(source.read())
            os.remove(path)
            # Each part is framed by its length and chunk number.
            start = 0
            while start < len(data):
                end = start + 8 + int.from_bytes(data[start : start + 4], "little")
                parts.append(
                    (int.from_bytes(data[start + 4 : start + 8], "little"), data[start + 8 : end])
                )
                start = end
        if sources > 1:
            parts.sort(key=_chunk_of)
        values: list[Any] = []
        for _, part in parts:
            # Our own files, in a directory only this user can open (mkdtemp: mode 0700).
            values += marshal.loads(part)  # noqa: S302
        return values

    def close(self) -> None:
        """Remove the files."""
        self.finish()
        self._dir.cleanup()


def _chunk_of(part: tuple[int, memoryview]) -> int:
    return part[0]


__all__ = ["BUCKETS", "BucketFiles", "HashSpool"]
