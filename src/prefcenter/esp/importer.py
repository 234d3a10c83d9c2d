"""Import a provider's suppression list with its history: each row an audited change.

Each row is a ``suppress`` with source ``import``: a bounce, block or spam report is a
hard suppression, an unsubscribe a global one, a group unsubscribe a topic opt-out. The
provider's date becomes ``requested_at`` and its reason the change's reason. The
evidence names the format, list and date (the identity is in the event's key), so
importing the same file again (or an overlapping later export) writes nothing twice.

Two passes, so that memory stays flat and the store writes each index page about once:
the file is read a chunk of :data:`CHUNK` rows at a time (canonicalised and hashed in
bulk, rejects reported in file order) into a :class:`~prefcenter.esp.spool.HashSpool`;
then the spool's buckets are written in hash order, one transaction per group of about
:data:`GROUP` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prefcenter.errors import InvalidInput
from prefcenter.esp.providers import HARD_KINDS, READERS, Entry, Reject
from prefcenter.esp.records import Record
from prefcenter.esp.spool import HashSpool, Row
from prefcenter.model import Action, Channel, Scope, Source
from prefcenter.store.protocol import NewEvent
from prefcenter.topics import check_topic

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

#: Rows read, canonicalised and hashed at a time.
CHUNK = 5000
#: Rows written per transaction (whole spool buckets, so a group may hold more).
GROUP = 32768


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
#: Called after each group is written with (rows written so far, rows to write).
OnWrite = Callable[[int, int], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CHANNELS = {channel.value: channel for channel in Channel}
#: ``channel.value`` without the enum's descriptor, once per row.
_CHANNEL_VALUES = {channel: channel.value for channel in Channel}


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
) -> ImportSummary:
    """Suppress every usable row of a ``fmt`` export; rows that are not usable are
    reported to ``on_reject`` (in file order) and left out.

    ``kind`` forces the list (``bounce``, ``block``, ``spam``, ``unsubscribe``,
    ``group``) when the file does not say; ``topic`` makes unsubscribes topic opt-outs.
    ``on_chunk`` is called after each chunk is read, ``on_write`` after each group is
    written. The spool's temporary files go in ``spool_dir`` (default: the system's).

    Raises:
        InvalidInput: ``fmt`` is not a known format, or ``topic`` is not a topic name.
    """
    read = READERS.get(fmt)
    if read is None:
        raise InvalidInput(
            f"Format {fmt!r} is not one of: {', '.join(READERS)}.", value=fmt, reason="format"
        )
    chosen = check_topic(topic)
    summary = ImportSummary()
    with HashSpool(spool_dir) as spool:
        _read(center, rows, read, fmt, kind, chosen, summary, spool, on_reject, on_chunk)
        written = 0
        with center.store.bulk():
            for group in spool.groups(GROUP):
                for layer in _layers(group):
                    _write(center, layer, summary)
                written += len(group)
                if on_write is not None:
                    on_write(written, spool.rows)
    return summary


def _read(
    center: PreferenceCenter,
    rows: Iterable[Record],
    read: Callable[[Record, str | None], Entry],
    fmt: str,
    kind: str | None,
    topic: str | None,
    summary: ImportSummary,
    spool: HashSpool,
    on_reject: OnReject | None,
    on_chunk: Callable[[], None] | None,
) -> None:
    """Pass one: every row read, checked, canonicalised and hashed, a chunk at a time,
    into ``spool`` as (hash, channel, address, kind, topic, reason, evidence,
    requested_at in microseconds or None)."""
    now = center.now()
    prefix = f"import:{fmt}:"
    batch: list[tuple[Record, Entry]] = []
    topics: dict[str, str | None] = {}

    def reject(record: Record, why: str) -> None:
        summary.rejected += 1
        if on_reject is not None:
            on_reject(record.number, why, record.fields)

    def flush() -> None:
        identities = center.identities.parse_many([entry.address for _, entry in batch])
        ready: list[Row] = []
        for (record, entry), identity in zip(batch, identities, strict=True):
            if identity is None:
                reject(record, _why_not_address(center, entry.address))
                continue
            which = entry.kind
            if which == "group":
                name = entry.topic or ""
                if name not in topics:
                    try:
                        topics[name] = check_topic(name)
                    except InvalidInput as error:
                        topics[name] = None
                        reject(record, _why(error))
                        continue
                chosen = topics[name]
                if chosen is None:
                    reject(record, _why_topic(name))
                    continue
            else:
                chosen = None if which in HARD_KINDS else topic
            at = entry.at
            ready.append((
                identity.hash, _CHANNEL_VALUES[identity.channel], identity.address, which, chosen,
                entry.reason[:500], f"{prefix}{which}:{entry.date_text}",
                None if at is None else (at - _EPOCH) // _MICROSECOND,
            ))  # fmt: skip
        batch.clear()
        spool.add(ready)
        if on_chunk is not None:
            on_chunk()

    keep = batch.append
    for record in rows:
        summary.rows += 1
        try:
            entry = read(record, kind)
            at = entry.at
            if at is not None and at > now:
                raise Reject(f"date {entry.date_text[:40]!r} is in the future")
        except (Reject, InvalidInput) as error:
            reject(record, _why(error))
            continue
        keep((record, entry))
        if len(batch) >= CHUNK:
            flush()
    flush()


def _layers(group: list[Row]) -> list[list[Row]]:
    """``group`` (sorted by hash) as transactions in which no person appears twice: each
    person's first row, then each one's second, and so on (their file order).

    One person listed twice (two bounces on two dates) is rare; PostgreSQL's bulk write
    gives up on a group that names someone twice and goes one row at a time, so such
    a group is split instead.
    """
    keys = [row[0] for row in group]
    if len(set(keys)) == len(keys):
        return [group]
    layers: list[list[Row]] = [[]]
    depth, previous = 0, None
    for key, row in zip(keys, group, strict=True):
        depth = depth + 1 if key == previous else 0
        previous = key
        if depth == len(layers):
            layers.append([])
        layers[depth].append(row)
    return layers


def _write(center: PreferenceCenter, group: list[Row], summary: ImportSummary) -> None:
    """Pass two: one group of spooled rows (sorted by hash) in one transaction."""
    at = center.now()
    items: list[tuple[NewEvent, str | None]] = []
    addresses: list[tuple[bytes, str]] = []
    append, remember = items.append, addresses.append
    for key, channel, address, which, chosen, reason, evidence, micros in group:
        scope = Scope.HARD if which in HARD_KINDS else Scope.TOPIC if chosen else Scope.GLOBAL
        append((
            NewEvent(
                at, key, Action.SUPPRESS, Source.IMPORT, _CHANNELS[channel], scope, chosen,
                reason or None, evidence,
                None if micros is None else _EPOCH + micros * _MICROSECOND,
            ),
            chosen,
        ))  # fmt: skip
        if address:
            remember((key, address))
    results = center.suppress_events(items, addresses)
    by_kind = summary.by_kind
    for added, row in zip(results, group, strict=True):
        if added:
            summary.added += 1
            by_kind[row[3]] = by_kind.get(row[3], 0) + 1
        else:
            summary.known += 1


def _why_not_address(center: PreferenceCenter, address: str) -> str:
    try:
        center.identity(address)
    except InvalidInput as error:
        return _why(error)
    return "not an address"


def _why(error: Exception) -> str:
    text = str(error)
    return text if isinstance(error, Reject) else text.split(";")[0]


def _why_topic(name: str) -> str:
    try:
        check_topic(name)
    except InvalidInput as error:
        return _why(error)
    return "not a topic"


__all__ = ["CHUNK", "GROUP", "ImportSummary", "import_records"]
