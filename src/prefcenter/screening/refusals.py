"""Campaign filtering for callers that hold rows: verdicts as :class:`Refusal` values.

:class:`~prefcenter.screening.screen.Screen` answers with a bare :class:`Reason` per
address, which is all a file filter needs to count and copy rows. ``filter`` and
``filter_stream`` hand their callers refusals that carry the address and a sentence, so
this module cuts rows into chunks, screens them and builds those.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

from prefcenter.identity import Identities
from prefcenter.model import Channel, Reason, Refusal
from prefcenter.policy import message
from prefcenter.screening.screen import Screen

T = TypeVar("T")

#: The sentence for each refusal reason.
MESSAGES = {reason: message(reason) for reason in Reason} | {
    Reason.INVALID: "The address or number is not usable; correct it or drop it.",
    Reason.DUPLICATE: "Another spelling of this person appears earlier in the list.",
}


def hasher(identities: Identities, channel: Channel) -> Callable[[list[str]], list[bytes | None]]:
    """values -> identity hash per value, None where the value is invalid."""
    return lambda values: identities.locate_many(values, channel)


def refusals(values: list[str], reasons: list[Reason | None]) -> list[Refusal | None]:
    """A :class:`Refusal` per refused value, None where it may be sent."""
    return [
        None if reason is None else Refusal(value, reason, MESSAGES[reason])
        for value, reason in zip(values, reasons, strict=True)
    ]


def chunks(
    screen: Screen, rows: Iterable[T], key: Callable[[T], str] | None, chunk_size: int
) -> Iterator[tuple[list[T], list[Refusal | None]]]:
    """Each chunk of rows with its verdicts, in input order; closes ``screen`` at the end.

    ``key=None``: the rows are the addresses themselves.
    """
    with screen:
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, chunk_size)):
            values = cast("list[str]", chunk if key is None else [key(row) for row in chunk])
            yield chunk, refusals(values, screen(values))
