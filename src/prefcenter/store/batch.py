"""Campaign filtering: a list of addresses in, one verdict per row out, chunk by chunk.

The hot loop of ``PreferenceCenter.filter``. Per chunk of rows it canonicalises and
hashes every address in one plain loop (no function call per row on the e-mail fast
path), drops second spellings of one person (:class:`Seen`), then asks the store two
set-based questions in one read: which optional rule tables hold rows, and per person
the strongest blocking suppression as a small code. Only people not blocked that way get
full rules (pause, ceilings, cap) and the policy. Verdicts come back as a list per
chunk, so a caller that wants lists (``filter``) never pays a generator step per row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast

from prefcenter.errors import InvalidRecipient
from prefcenter.identity import Identities
from prefcenter.model import Channel, Kind, Reason, Refusal
from prefcenter.policy import judge, message
from prefcenter.store.protocol import Store
from prefcenter.store.seen import Seen

T = TypeVar("T")

INVALID = "The address or number is not usable; correct it or drop it."
DUPLICATE = "Another spelling of this person appears earlier in the list."
#: Block codes from ``Session.blocks_many``, in code order.
BLOCKED = tuple(
    (reason, message(reason))
    for reason in (Reason.HARD_SUPPRESSED, Reason.UNSUBSCRIBED_GLOBAL, Reason.UNSUBSCRIBED_TOPIC)
)


def hasher(identities: Identities, channel: Channel) -> Callable[[list[str]], list[bytes | None]]:
    """values -> identity hash per value, None where the value is invalid."""
    locate = identities.locate

    def hashes(values: list[str]) -> list[bytes | None]:
        found: list[bytes | None] = []
        append = found.append
        for value in values:
            try:
                append(locate(value, channel)[1])
            except InvalidRecipient:
                append(None)
        return found

    return hashes


@dataclass(frozen=True)
class Campaign:
    """What one ``filter`` call asks: the send, and where to look."""

    store: Store
    hashes: Callable[[list[str]], list[bytes | None]]
    topic_digest: bytes
    kind: Kind
    at: datetime
    cap_count: int | None
    cap_window: timedelta | None

    def chunks(
        self, rows: Iterable[T], key: Callable[[T], str] | None, chunk_size: int
    ) -> Iterator[tuple[list[T], list[Refusal | None]]]:
        """Each chunk of rows with its verdicts (None: may be sent), in input order.

        ``key=None``: the rows are the addresses themselves.
        """
        seen = Seen()
        try:
            iterator = iter(rows)
            while chunk := list(itertools.islice(iterator, chunk_size)):
                values = chunk if key is None else [key(row) for row in chunk]
                yield chunk, self._verdicts(cast("list[str]", values), seen)
        finally:
            seen.close()

    def _verdicts(self, values: list[str], seen: Seen) -> list[Refusal | None]:
        hashes = self.hashes(values)
        valid = [h for h in hashes if h is not None]
        fresh = seen.fresh(valid)
        if len(valid) == len(hashes) and all(fresh):  # the common chunk: all valid and new
            firsts: list[bytes | None] = hashes
            wanted = valid
        else:
            flags = iter(fresh)
            firsts = [h if h is not None and next(flags) else None for h in hashes]
            wanted = [h for h in firsts if h is not None]
        marketing = self.kind is Kind.MARKETING
        with self.store.session() as session:
            # Suppressions come first in the policy and decide most refusals, so they
            # are asked as one code per person; only the rest get full rules, from the
            # tables that hold any row.
            present = session.present()
            blocked = session.blocks_many(
                wanted, topic=self.topic_digest, marketing=marketing, present=present
            )
            rest = [h for h in wanted if h not in blocked] if blocked and any(present) else wanted
            rules = session.rules_many(
                rest, at=self.at, cap_window=self.cap_window, blocks=False, present=present
            )
        verdicts: list[Refusal | None] = []
        append = verdicts.append
        for value, original, first in zip(values, hashes, firsts, strict=True):
            if first is None:
                if original is None:
                    append(Refusal(value, Reason.INVALID, INVALID))
                else:
                    append(Refusal(value, Reason.DUPLICATE, DUPLICATE))
            elif (code := blocked.get(first)) is not None:
                append(Refusal(value, *BLOCKED[code]))
            elif first in rules:
                verdict = judge(
                    rules[first],
                    topic_digest=self.topic_digest,
                    kind=self.kind,
                    at=self.at,
                    cap_count=self.cap_count,
                    cap_window=self.cap_window,
                )
                reason = verdict.reason
                append(
                    None if reason is Reason.ALLOWED else Refusal(value, reason, message(reason))
                )
            else:
                append(None)
        return verdicts
