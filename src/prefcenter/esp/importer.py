"""Import a provider's suppression list with its history: each row an audited change.

Rows are read one at a time and written in transactions of :data:`CHUNK` rows, so memory
stays flat. Each row is a ``suppress`` with source ``import``: a bounce, block or spam
report is a hard suppression, an unsubscribe a global one, a group unsubscribe a topic
opt-out. The provider's date becomes ``requested_at`` and its reason the change's
reason. The evidence names the format, list, address and date, so importing the same
file again (or an overlapping later export) writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput
from prefcenter.esp.providers import HARD_KINDS, READERS, Entry, Reject
from prefcenter.esp.records import Record
from prefcenter.model import Identity, Source
from prefcenter.topics import check_topic

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

#: Rows per transaction.
CHUNK = 5000


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


def import_records(
    center: PreferenceCenter,
    rows: Iterable[Record],
    fmt: str,
    *,
    kind: str | None = None,
    topic: str | None = None,
    on_reject: OnReject | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> ImportSummary:
    """Suppress every usable row of a ``fmt`` export; rows that are not usable are
    reported to ``on_reject`` and left out.

    ``kind`` forces the list (``bounce``, ``block``, ``spam``, ``unsubscribe``,
    ``group``) when the file does not say; ``topic`` makes unsubscribes topic opt-outs.

    Raises:
        InvalidInput: ``fmt`` is not a known format.
    """
    read = READERS.get(fmt)
    if read is None:
        raise InvalidInput(
            f"Format {fmt!r} is not one of: {', '.join(READERS)}.", value=fmt, reason="format"
        )
    summary = ImportSummary()
    now = center.now()
    batch: list[tuple[Record, Entry]] = []

    def reject(record: Record, why: str) -> None:
        summary.rejected += 1
        if on_reject is not None:
            on_reject(record.number, why, record.fields)

    def flush() -> None:
        # A chunk at a time: canonicalised and hashed in bulk, written in one transaction,
        # in hash order (neighbouring keys share B-tree pages).
        identities = center.identities.parse_many([entry.address for _, entry in batch])
        planned: list[tuple[bytes, SuppressRequest, str]] = []
        for (record, entry), identity in zip(batch, identities, strict=True):
            if identity is None:
                reject(record, _why_not_address(center, entry.address))
                continue
            try:
                planned.append((identity.hash, _request(identity, entry, fmt, topic), entry.kind))
            except (Reject, InvalidInput) as error:
                reject(record, _why(error))
        batch.clear()
        planned.sort(key=lambda item: item[0])
        if planned:
            results = center.suppress_many([request for _, request, _ in planned])
            for added, (_, _, which) in zip(results, planned, strict=True):
                if added:
                    summary.added += 1
                    summary.by_kind[which] = summary.by_kind.get(which, 0) + 1
                else:
                    summary.known += 1
        if on_chunk is not None:
            on_chunk()

    for record in rows:
        summary.rows += 1
        try:
            entry = read(record, kind)
            if entry.at is not None and entry.at > now:
                raise Reject(f"date {entry.date_text[:40]!r} is in the future")
        except (Reject, InvalidInput) as error:
            reject(record, _why(error))
            continue
        batch.append((record, entry))
        if len(batch) >= CHUNK:
            flush()
    flush()
    return summary


def _why_not_address(center: PreferenceCenter, address: str) -> str:
    try:
        center.identity(address)
    except InvalidInput as error:
        return _why(error)
    return "not an address"


def _why(error: Exception) -> str:
    text = str(error)
    return text if isinstance(error, Reject) else text.split(";")[0]


def _request(identity: Identity, entry: Entry, fmt: str, topic: str | None) -> SuppressRequest:
    hard = entry.kind in HARD_KINDS
    chosen = check_topic(entry.topic if entry.kind == "group" else (None if hard else topic))
    # The identity is already in the event's key (events_once): only what else tells one
    # export row from another goes in the evidence.
    evidence = f"import:{fmt}:{entry.kind}:{entry.date_text}"
    return SuppressRequest(
        identity,
        Source.IMPORT,
        topic=chosen,
        reason=entry.reason[:500],
        evidence=evidence,
        requested_at=entry.at,
        hard=hard,
    )


__all__ = ["CHUNK", "ImportSummary", "import_records"]
