"""Deciding many chunks of a long list together, in the order of the store's key.

Asked a chunk at a time, a store far larger than the list is probed from the root of
its key for every person, and the leaf pages two neighbouring people land on are far
apart: at ten million suppressions a chunk of 23,000 people touches 23,000 of about
100,000 leaf pages, one each, so every probe reads its page anew (2-4 µs of CPU on
SQLite). Sorted over a whole window of a million people, about ten land on each leaf,
one after the other, while it is still in the page cache: 1.2-1.6 µs a person, the sort
included (measured at ten million suppressions; docs/performance.md, issue 26).

So a screen that may hold a window (the list filter's, whose reader keeps the rows of
:attr:`Screen.window_bytes` until they are decided) keeps each chunk's hashes until an
answer is asked for, then decides every chunk held at once: repeats in list order, the
distinct people sorted, split at the middle of the key range between this process and
the worker (each half asked of the store on its own connection, in key order), and the
answers read back per row. The worker, in this mode, hashes, finds the repeats (it
holds who was seen) and asks about the half it is sent; the main process holds the
window's rows and hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from prefcenter.model import Reason

if TYPE_CHECKING:
    from prefcenter.screening.seen import Seen
    from prefcenter.screening.worker import HashWorker

#: Fewer distinct people than this are asked about in one process (a split costs a
#: round trip to the worker).
SPLIT_MIN = 20_000
#: The middle of the key range (hashes are uniform): the worker takes the upper half.
_MIDDLE = b"\x80"

#: Asks the store about distinct hashes (the store sorts them): the reason each refused
#: one is refused.
Asker = Callable[[list[bytes]], dict[bytes, Reason]]
Hasher = Callable[[list[str]], list["bytes | None"]]


@dataclass(slots=True)
class _Held:
    """One chunk held: its hashes and repeats once known (None while the worker has
    them), and its reasons once the window is decided."""

    hashes: list[bytes | None] | None
    repeats: list[int] | None = None
    reasons: list[Reason | None] | None = None


class Window:
    """The chunks submitted and not yet decided; decided together when one is asked for.

    With a worker, the worker finds the repeats (it holds who was seen, as without a
    window) and ``seen`` is not used; ``codes`` maps a code of the worker's answer to
    its reason (see :func:`answer_in_worker`).
    """

    def __init__(
        self,
        hashes: Hasher,
        ask: Asker,
        seen: Seen,
        worker: HashWorker | None,
        codes: tuple[Reason | None, ...],
    ) -> None:
        self._hashes, self._ask, self._seen, self._worker = hashes, ask, seen, worker
        self._codes = codes
        self._held: list[_Held] = []

    def submit(self, values: list[str]) -> Callable[[], list[Reason | None]]:
        """Hold a chunk (hashed by the worker, or here when the worker is behind)."""
        worker = self._worker
        if worker is None:
            hashes = self._hashes(values)
            held = _Held(hashes, self._seen.duplicates(hashes))
        elif worker.send_values(values):
            held = _Held(None)
        else:
            hashes = self._hashes(values)
            held = _Held(hashes)
            worker.send_hashes(hashes)  # for its repeats
        self._held.append(held)
        return lambda: held.reasons if held.reasons is not None else self._decide(held)

    def _decide(self, held: _Held) -> list[Reason | None]:
        """Decide every chunk held (``held`` among them); its reasons."""
        chunks, self._held = self._held, []
        for chunk in chunks:  # the worker answers in the order the chunks were sent
            if chunk.repeats is None:
                answer = cast("HashWorker", self._worker).receive()
                if chunk.hashes is None:
                    chunk.hashes, chunk.repeats = answer
                else:
                    chunk.repeats = answer
        # Each person once: their first row (repeats and invalid rows left out).
        people: list[bytes] = []
        for chunk in chunks:
            hashes, again = cast("list[bytes | None]", chunk.hashes), chunk.repeats
            if again or None in hashes:
                skip = set(again or ())
                hashes = [v for at, v in enumerate(hashes) if v is not None and at not in skip]
            people += cast("list[bytes]", hashes)
        refused = cast("dict[bytes | None, Reason]", self._refused(people))
        for chunk in chunks:
            hashes = cast("list[bytes | None]", chunk.hashes)
            reasons = list(map(refused.get, hashes))
            if None in hashes:
                for position, value in enumerate(hashes):
                    if value is None:
                        reasons[position] = Reason.INVALID
            for position in chunk.repeats or ():
                reasons[position] = Reason.DUPLICATE
            chunk.reasons, chunk.hashes, chunk.repeats = reasons, None, None
        return cast("list[Reason | None]", held.reasons)

    def _refused(self, people: list[bytes]) -> dict[bytes, Reason]:
        """The store's answer for each distinct person, half of them asked by the worker."""
        worker = self._worker
        if worker is None or len(people) < SPLIT_MIN:
            return self._ask(people)
        worker.send_hashes([_ASK, *(value for value in people if value >= _MIDDLE)])
        lower = [value for value in people if value < _MIDDLE]
        del people[:]
        refused = self._ask(lower)
        codes = self._codes
        pairs = cast("list[tuple[bytes, int]]", worker.receive())
        refused.update((value, cast("Reason", codes[code])) for value, code in pairs)
        return refused


#: First of the hashes sent to the worker when they are people to ask about (no hash
#: is empty).
_ASK = b""


def answer_in_worker(
    ask: Asker,
    code_of: dict[Reason | None, int],
    seen: Seen,
    hashes: list[bytes | None],
    own: bool,
) -> object:
    """The worker's part: a chunk it hashed (``own``) goes back as its hashes and
    repeats; of a chunk hashed by the main process, the repeats; people to ask about
    (sent after :data:`_ASK`) are asked of the store, answered as (hash, code) for each
    one refused."""
    if own:
        return hashes, seen.duplicates(hashes)
    if not hashes or hashes[0] != _ASK:
        return seen.duplicates(hashes)
    people = cast("list[bytes]", hashes)
    del people[0]
    refused = ask(people)
    return [(value, code_of[reason]) for value, reason in refused.items()]
