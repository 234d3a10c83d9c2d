"""Import a provider's suppression list with its history: each row an audited change.

Each row is a ``suppress`` with source ``import``: a bounce, block or spam report is a
hard suppression, an unsubscribe a global one, a group unsubscribe a topic opt-out. The
provider's date becomes ``requested_at`` and its reason the change's reason. The
evidence names the format, list and date (the identity is in the event's key), so
importing the same file again (or an overlapping later export) writes nothing twice.

Two passes, so that memory stays flat and the store writes each index page about once:
the file is read a chunk of :data:`CHUNK` rows at a time, column by column (the
provider's mapping, the dates, canonicalising and hashing, each one pass over the
chunk's values; rejects reported in file order) into a
:class:`~prefcenter.esp.spool.HashSpool`; then the spool's buckets are written in hash
order, one transaction per group of about :data:`GROUP` rows, each staged and merged by
the store in a few statements (:mod:`prefcenter.store.imports`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import chain, islice
from typing import IO, TYPE_CHECKING, Any

from prefcenter.errors import InvalidInput
from prefcenter.esp.parallel import PREFIX, ReadWorker
from prefcenter.esp.providers import HARD_KINDS, MAPPERS, Columns, Mapped, Reject, parse_date
from prefcenter.esp.records import Block, Record, Table, blocks, tables, tables_of
from prefcenter.esp.spool import HashSpool
from prefcenter.model import Scope
from prefcenter.screening.worker import can_fork_worker
from prefcenter.store.imports import NO_DATE, WIDTH, ImportGroup
from prefcenter.topics import check_topic, topic_digest

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.store.protocol import Session

#: Rows read, mapped, canonicalised and hashed at a time.
CHUNK = 5000
#: Rows written per transaction (whole spool buckets, so a group may hold more).
GROUP = 32768
#: Chunks a two-core import reads alone before it forks its reader: the fork, the
#: reader's own spool files and its start cost more than half of a shorter file's
#: reading saves (measured: 100,000 rows took 0.2-0.4 s longer with the reader).
ALONE = 20
#: Longest reason kept, in characters.
REASON = 500


@dataclass
class ImportSummary:
    """What an import did."""

    rows: int = 0
    added: int = 0
    known: int = 0
    rejected: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "added": self.added,
            "already_known": self.known,
            "rejected": self.rejected,
            "by_kind": dict(sorted(self.by_kind.items())),
        }


#: Called with (record number, why, the row's fields) for each row left out.
OnReject = Callable[[int, str, dict[str, str]], None]
#: A row left out: (record number, why, the row's fields).
Reject_ = tuple[int, str, dict[str, str]]
#: Called after each group is written with (rows written so far, rows to write).
OnWrite = Callable[[int, int], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: A date of at most this many digits is Unix time read without a datetime (seconds up
#: to 10**11, milliseconds above, as :func:`parse_date` reads it).
_DIGITS = 13
_SECONDS_UP_TO = 100_000_000_000


def import_stream(
    center: PreferenceCenter,
    stream: IO[str],
    fmt: str,
    *,
    header: bool = True,
    kind: str | None = None,
    topic: str | None = None,
    on_reject: OnReject | None = None,
    on_chunk: Callable[[], None] | None = None,
    on_write: OnWrite | None = None,
    spool_dir: str | None = None,
    parallel: bool = False,
) -> ImportSummary:
    """:func:`import_tables` of a CSV or JSON export (a seekable text stream), read a
    chunk at a time; ``header=False`` reads a CSV as ``address, reason`` lines."""
    chunks = (blocks if parallel else tables)(stream, header=header, size=CHUNK)
    return import_tables(
        center, chunks, fmt, kind=kind, topic=topic,
        on_reject=on_reject, on_chunk=on_chunk, on_write=on_write, spool_dir=spool_dir,
        parallel=parallel,
    )  # fmt: skip


def import_records(
    center: PreferenceCenter,
    rows: Iterable[Record],
    fmt: str,
    *,
    kind: str | None = None,
    topic: str | None = None,
    on_reject: OnReject | None = None,
    on_chunk: Callable[[], None] | None = None,
    on_write: OnWrite | None = None,
    spool_dir: str | None = None,
    parallel: bool = False,
) -> ImportSummary:
    """:func:`import_tables` of records (from :func:`~prefcenter.esp.records.records`)."""
    return import_tables(
        center, tables_of(rows, CHUNK), fmt, kind=kind, topic=topic, on_reject=on_reject,
        on_chunk=on_chunk, on_write=on_write, spool_dir=spool_dir, parallel=parallel,
    )  # fmt: skip


def import_tables(
    center: PreferenceCenter,
    chunks: Iterable[Table | Block],
    fmt: str,
    *,
    kind: str | None = None,
    topic: str | None = None,
    on_reject: OnReject | None = None,
    on_chunk: Callable[[], None] | None = None,
    on_write: OnWrite | None = None,
    spool_dir: str | None = None,
    parallel: bool = False,
) -> ImportSummary:
    """Suppress every usable row of a ``fmt`` export; rows that are not usable are
    reported to ``on_reject`` (in file order) and left out.

    ``kind`` forces the list (``bounce``, ``block``, ``spam``, ``unsubscribe``,
    ``group``) when the file does not say; ``topic`` makes unsubscribes topic opt-outs.
    ``on_chunk`` is called after each chunk is read, ``on_write`` after each group is
    written (each its own committed transaction: an interrupted import keeps what it
    wrote, and running it again writes the rest). The spool's temporary files go in
    ``spool_dir`` (default: the system's). ``parallel``: read the file on two cores,
    a forked worker taking every chunk it has room for (:mod:`prefcenter.esp.parallel`;
    only where forking is safe: Linux, two usable cores, no other thread); the result
    is the same.

    Raises:
        InvalidInput: ``fmt`` is not a known format, or ``topic`` is not a topic name.
        WorkerFailed: (``parallel``) the worker failed or was killed while reading;
            nothing was written.
    """
    mapper = MAPPERS.get(fmt)
    if mapper is None:
        raise InvalidInput(
            f"Format {fmt!r} is not one of: {', '.join(MAPPERS)}.", value=fmt, reason="format"
        )
    reading = _Reading(center, mapper, kind, check_topic(topic), on_reject)
    summary = reading.summary
    with HashSpool(WIDTH, spool_dir) as spool:
        if parallel and can_fork_worker():
            _read_parallel(center, reading, chunks, spool, on_reject, on_chunk)
        else:
            for item in chunks:
                values, rejects = reading.read(item if isinstance(item, Table) else item.table())
                spool.add(values)
                _tell(rejects, on_reject)
                if on_chunk is not None:
                    on_chunk()
        names = {name for name in reading.topics.values() if name is not None}
        digests = {name: topic_digest(name) for name in names}
        prefix = f"import:{fmt}:"
        written = 0
        with center.store.bulk():
            for values, rows in spool.groups(GROUP):
                group = ImportGroup(values, rows, center.now(), prefix, digests)
                added = center.store.run(partial(_write, group=group))
                count = sum(added.values())
                summary.added += count
                summary.known += rows - count
                for which, number in added.items():
                    summary.by_kind[which] = summary.by_kind.get(which, 0) + number
                written += rows
                if on_write is not None:
                    on_write(written, spool.rows)
    return summary


def _read_parallel(
    center: PreferenceCenter,
    reading: _Reading,
    chunks: Iterable[Table | Block],
    spool: HashSpool,
    on_reject: OnReject | None,
    on_chunk: Callable[[], None] | None,
) -> None:
    """Pass one with a forked worker reading every chunk it has room for
    (:mod:`prefcenter.esp.parallel`) after the first :data:`ALONE`; rejects still
    reported in file order.

    Raises:
        WorkerFailed: the worker failed or was killed (nothing is written yet).
    """
    items = iter(chunks)
    for number, item in enumerate(islice(items, ALONE)):
        values, rejects = reading.read(item if isinstance(item, Table) else item.table())
        spool.add(values, number)
        _tell(rejects, on_reject)
        if on_chunk is not None:
            on_chunk()
    following = next(items, None)
    if following is None:
        return  # a short file: not worth a fork
    # No connection (nor a pool's thread) crosses the fork, and no buffered spool data
    # (the worker never closes the copies); pass two opens new connections.
    spool.flush()
    center.store.release()
    worker = ReadWorker(reading.read, reading.met, WIDTH, spool.directory)
    # Each chunk in file order: its rejects, or None while the worker holds it.
    waiting: deque[list[Reject_] | None] = deque()
    try:
        for number, item in enumerate(chain([following], items), start=ALONE):
            if worker.send(number, item):
                waiting.append(None)
            else:
                values, rejects = reading.read(item if isinstance(item, Table) else item.table())
                spool.add(values, number)
                waiting.append(rejects)
            _report_ready(waiting, worker, reading.summary, on_reject, wait=False)
            if on_chunk is not None:
                on_chunk()
        _report_ready(waiting, worker, reading.summary, on_reject, wait=True)
        rows, met = worker.finish()
    finally:
        worker.close()
    spool.adopt(PREFIX, rows)
    for name, checked in met.items():
        reading.topics.setdefault(name, checked)


def _report_ready(
    waiting: deque[list[Reject_] | None],
    worker: ReadWorker,
    summary: ImportSummary,
    on_reject: OnReject | None,
    *,
    wait: bool,
) -> None:
    """Report the rejects of the chunks at the front of ``waiting`` that are done."""
    while waiting:
        rejects = waiting[0]
        if rejects is None:
            if not wait and not worker.ready():
                return
            rows, rejects = worker.answer()
            summary.rows += rows + len(rejects)
            summary.rejected += len(rejects)
        waiting.popleft()
        _tell(rejects, on_reject)


def _tell(rejects: list[Reject_], on_reject: OnReject | None) -> None:
    if on_reject is not None:
        for number, why, fields in rejects:
            on_reject(number, why, fields)


def _write(session: Session, group: ImportGroup) -> dict[str, int]:
    for name, digest in group.digests.items():  # idempotent; a handful per import
        session.register_topic(digest, name)
    return session.import_group(group)


class _Reading:
    """Pass one: each chunk mapped, checked, canonicalised and hashed, column by column."""

    def __init__(
        self,
        center: PreferenceCenter,
        mapper: Callable[[Columns, str | None], Mapped],
        kind: str | None,
        topic: str | None,
        on_reject: OnReject | None,
    ) -> None:
        self.center = center
        self.mapper = mapper
        self.kind = kind
        self.topic = topic
        self.on_reject = on_reject
        self.summary = ImportSummary()
        #: The last chunk's rejects: (line, why, fields) in file order.
        self.rejects: list[Reject_] = []
        #: Each group name met, checked once: the topic, or None when it is not one.
        self.topics: dict[str, str | None] = {} if topic is None else {topic: topic}
        #: Each kind's scope and topic when the row names no group.
        self.scopes = {
            which: (Scope.HARD.value, "") if which in HARD_KINDS
            else (Scope.TOPIC.value, topic) if topic else (Scope.GLOBAL.value, "")
            for which in ("bounce", "block", "spam", "unsubscribe")
        }  # fmt: skip

    def read(self, table: Table) -> tuple[list[Any], list[Reject_]]:
        """The usable rows of ``table``, flat as the spool keeps them, and the rest
        (line, why, fields) in file order; counted in :attr:`summary`."""
        self.rejects = []
        values = self.chunk(table)
        self.summary.rows += len(table.rows)
        self.summary.rejected += len(self.rejects)
        return values, self.rejects

    def met(self) -> dict[str, str | None]:
        """Each group name met: the topic, or None when it is not one."""
        return self.topics

    def chunk(self, table: Table) -> list[Any]:
        """The usable rows of ``table``, flat as the spool keeps them; the rest in
        :attr:`rejects`."""
        count = len(table.rows)
        mapped = self.mapper(Columns(table), self.kind)
        rejects = mapped.rejects
        times = self._times(mapped.dates, rejects)
        addresses = mapped.addresses
        if rejects:  # canonicalise only what is still in
            addresses = [("" if index in rejects else a) for index, a in enumerate(addresses)]
        hashes, channels, canonical = self.center.identities.parse_columns(addresses)
        if None in hashes:
            for index, found in enumerate(hashes):
                if found is None and index not in rejects:
                    rejects[index] = _why_not_address(self.center, addresses[index])
        scopes, topics = self._scopes(mapped, rejects)
        reasons = mapped.reasons
        if max(map(len, reasons), default=0) > REASON:
            reasons = [reason[:REASON] for reason in reasons]
        columns: list[list[Any]] = [
            hashes, channels, canonical, mapped.kinds, scopes, topics, reasons, mapped.dates,
            times,
        ]  # fmt: skip
        if rejects:
            self._report(table, rejects)
            kept = [index for index in range(count) if index not in rejects]
            columns = [[column[index] for index in kept] for column in columns]
        values: list[Any] = [None] * (len(columns[0]) * WIDTH)
        for position, column in enumerate(columns):
            values[position::WIDTH] = column
        return values

    def _times(self, dates: list[str], rejects: dict[int, str]) -> list[int]:
        """Each date in milliseconds (:data:`NO_DATE` for none); a date that does not
        parse, or is in the future, is a reject."""
        times: list[int | None] = [
            ((value * 1000 if (value := int(text)) <= _SECONDS_UP_TO else value)
             if len(text) <= _DIGITS and text.isdigit() and text.isascii() else None)
            for text in dates
        ]  # fmt: skip
        now = (self.center.now() - _EPOCH) // _MICROSECOND
        for index, text in enumerate(dates):
            if times[index] is not None:
                continue
            times[index] = NO_DATE
            try:
                moment = parse_date(text)
            except Reject as error:
                rejects.setdefault(index, str(error))
                continue
            if moment is None:
                continue
            micros = (moment - _EPOCH) // _MICROSECOND
            if micros > now:
                rejects.setdefault(index, _future(text))
            times[index] = micros // 1000
        found: list[int] = times  # type: ignore[assignment]  # every None replaced above
        if found and max(found) * 1000 > now:
            for index, (text, ms) in enumerate(zip(dates, found, strict=True)):
                if ms * 1000 > now:
                    rejects.setdefault(index, _future(text))
        return found

    def _scopes(self, mapped: Mapped, rejects: dict[int, str]) -> tuple[list[str], list[str]]:
        """Each row's scope and topic (``""`` for none); a group that is not a topic name
        is a reject."""
        scopes: list[str] = []
        topics: list[str] = []
        known = self.scopes
        for index, (which, group) in enumerate(zip(mapped.kinds, mapped.topics, strict=True)):
            if which != "group":
                scope, topic = known[which]
                scopes.append(scope)
                topics.append(topic or "")
                continue
            if group not in self.topics:
                try:
                    self.topics[group] = check_topic(group)
                except InvalidInput:
                    self.topics[group] = None
            checked = self.topics[group]
            if checked is None:
                rejects.setdefault(index, _why_topic(group))
            scopes.append(Scope.TOPIC.value)
            topics.append(checked or "")
        return scopes, topics

    def _report(self, table: Table, rejects: dict[int, str]) -> None:
        if self.on_reject is None:  # only counted
            self.rejects = [(0, "", {})] * len(rejects)
            return
        self.rejects = [
            (table.numbers[index], rejects[index],
             dict(zip(table.names, table.rows[index], strict=False)))
            for index in sorted(rejects)
        ]  # fmt: skip


def _future(text: str) -> str:
    return f"date {text[:40]!r} is in the future"


def _why_not_address(center: PreferenceCenter, address: str) -> str:
    try:
        center.identity(address)
    except InvalidInput as error:
        return str(error).split(";")[0]
    return "not an address"


def _why_topic(name: str) -> str:
    try:
        check_topic(name)
    except InvalidInput as error:
        return str(error).split(";")[0]
    return "not a topic"


__all__ = [
    "ALONE",
    "CHUNK",
    "GROUP",
    "ImportSummary",
    "import_records",
    "import_stream",
    "import_tables",
]
