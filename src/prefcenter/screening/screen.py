"""Screening one list: a reason (or None: may be sent) per address, chunk after chunk.

The hot loop of ``PreferenceCenter.filter`` and of ``prefcenter filter``. Per chunk it
hashes every address in bulk (``Identities.locate_many``), marks second spellings of
one person (:class:`Seen`), and then asks about the rest in one of two ways:

- **asking the store**: per chunk, one set-based statement finds who a suppression
  blocks (as a small code), and only people not blocked that way get their full rules
  (pause, ceilings, cap) and the policy. Right for small lists against large stores.
- **from the index**: once the list has shown itself large next to the store (rows seen,
  or the caller's estimate, at least a quarter of the rows the index is read from), the
  store is read once into a :class:`RuleIndex` and a chunk costs dictionary lookups; only
  people with other rules still get them from the store. A store too large to hold in
  memory (``index_limit`` rows) is never read whole.

Both ways give the same answers; the contract tests run both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from prefcenter.model import Kind, Reason
from prefcenter.policy import Rules, judge
from prefcenter.screening.seen import Seen
from prefcenter.screening.window import Window, answer_in_worker
from prefcenter.screening.worker import Finisher, HashWorker, can_fork_worker
from prefcenter.store.protocol import Store
from prefcenter.store.rule_index import BLOCK_REASONS, RuleIndex

#: Read the index once the list is at least this fraction of the rows it is read from:
#: reading a row costs about a quarter of asking about a person.
INDEX_RATIO = 4
#: Largest index held in memory, in store rows (about 100 bytes each).
INDEX_LIMIT = 2_000_000
#: Bytes one index entry or one person seen takes in memory: a 16-byte hash object and
#: its dictionary slot (91 measured with tracemalloc), rounded up for the table's growth.
ROW_BYTES = 100
#: Lists shorter than this never read the index (nor count the store's rows).
INDEX_MIN_ROWS = 10_000

#: Reasons as one byte each, in the answers of a worker that decides (0: may be sent).
_CODES: tuple[Reason | None, ...] = (
    None, *BLOCK_REASONS, Reason.FREQUENCY_CAP, Reason.INVALID, Reason.DUPLICATE,
    Reason.PAUSED, Reason.FREQUENCY_CEILING,
)  # fmt: skip
_CODE_OF = {reason: code for code, reason in enumerate(_CODES)}


@dataclass(frozen=True)
class Send:
    """What one screening asks about: the send, and where to look."""

    store: Store
    hashes: Callable[[list[str]], list[bytes | None]]
    topic_digest: bytes
    kind: Kind
    at: datetime
    cap_count: int | None
    cap_window: timedelta | None


@dataclass
class Screen:
    """Decides the chunks of one list in order; a second spelling of a person is refused.

    Call it with each chunk of addresses; close it (or use ``with``) at the end.

    Args:
        send: the send and the store.
        expected_rows: the caller's estimate of the list's length, if known; lets a large
            list use the index from its first chunk.
        index_limit: largest store (in rows) read whole into memory; 0 never reads it.
        parallel: let :meth:`submit` hash in a forked worker process where that can
            help (:mod:`prefcenter.screening.worker`); for large lists. The store's
            connections are closed before the fork (``Store.release``): no other thread
            may use the store meanwhile.
        memory: bytes the screen may hold (``FILTER_MEMORY``), when given: half for the
            index (which sets ``index_limit``), half for the people seen, past which
            they move to a temporary file. Neither grows with the store beyond that:
            a larger store is asked per chunk.
    """

    send: Send
    expected_rows: int | None = None
    index_limit: int = INDEX_LIMIT
    parallel: bool = False
    memory: int | None = None
    rows: int = 0
    _seen: Seen = field(default_factory=Seen)
    _index: RuleIndex | None = None
    _index_rows: int | None = None
    _worker: HashWorker | None = None
    _worker_tried: bool = False
    _worker_decides: bool = False
    _window: Window | None = None

    def __post_init__(self) -> None:
        if self.memory is not None:
            rows = max(0, self.memory // 2 // ROW_BYTES)
            self.index_limit = rows
            self._seen = Seen(limit=max(1, rows))

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def window_bytes(self) -> int:
        """Memory a caller may spend holding submitted rows before it asks for the
        oldest answer (0: answer each chunk as it comes): half of ``memory``, once a
        parallel screen with a memory bound asks the store rather than the index;
        chunks held together are asked about in key order
        (:mod:`prefcenter.screening.window`)."""
        if self._window is None or self.memory is None:
            return 0
        return max(1, self.memory // 2)

    @property
    def indexed(self) -> bool:
        """Whether chunks are now decided from the in-memory index."""
        return self._index is not None

    def close(self) -> None:
        """Forget the people seen (and drop the temporary file, if one was made); stop
        the worker, if one was started."""
        self._stop_worker()
        self._seen.close()
        self._index = None

    def __call__(self, values: Sequence[str]) -> list[Reason | None]:
        """The reason each value is refused, or None where it may be sent."""
        return self.submit(values)()

    def submit(self, values: Sequence[str]) -> Callable[[], list[Reason | None]]:
        """Start on a chunk; calling the answer gives what calling the screen would.

        Call the answers in the order the chunks were submitted. With ``parallel``, the
        next chunks are hashed meanwhile, their repeats found and (when the index is in
        memory) their people looked up, in a worker process
        (:mod:`prefcenter.screening.worker`).

        Raises:
            WorkerFailed: (when the answer is called) the worker stopped mid-way.
        """
        chunk = values if type(values) is list else list(values)  # a tuple works too
        worker = self._start_worker() if self.parallel else None
        if self._window is not None:
            return self._window.submit(chunk)
        if worker is None:
            hashes = self.send.hashes(chunk)
            return lambda: self.decide(hashes)
        if worker.send_values(chunk):
            return lambda: self._finish(worker.receive(), None)
        local = self.send.hashes(chunk)  # the worker is behind: hash this one here
        worker.send_hashes(local)
        return lambda: self._finish(worker.receive(), local)

    def _start_worker(self) -> HashWorker | None:
        if not self._worker_tried:
            self._worker_tried = True
            # Read before the fork, so that the worker decides from it.
            index = self._index or self._maybe_index()
            # No connection, and no thread of a connection pool, crosses the fork: each
            # process opens its own on its next question (so PostgreSQL's pool, whose
            # threads made forking unsafe, no longer keeps the worker from starting).
            # Unmapped: a large store is probed all over, and every page a memory map
            # touched would count in the process's memory (FILTER_MEMORY bounds it).
            store = self.send.store
            store.release(mapped=False)
            # Without the index, and with room to hold rows, chunks are held and asked
            # about together in key order; the worker then only hashes (and asks about
            # half of each window's people).
            windowed = index is None and self.memory is not None
            if can_fork_worker():
                seen = self._seen
                finish: Finisher = (
                    partial(answer_in_worker, self._refused, _CODE_OF, seen)
                    if windowed
                    else partial(_ask_in_worker, self, seen)
                    if index is None
                    else partial(_decide_in_worker, index, seen)
                )
                self._worker = HashWorker(
                    self.send.hashes, finish, partial(_close_in_worker, seen, store)
                )
                self._worker_decides = index is not None
            if windowed:
                self._window = Window(
                    self.send.hashes, self._refused, self._seen, self._worker, _CODES
                )
        return self._worker

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _finish(self, answer: Any, local: list[bytes | None] | None) -> list[Reason | None]:
        """Reasons from the worker's answer (see the ``_in_worker`` functions)."""
        if self._worker_decides:
            codes, ruled = cast("tuple[bytes, list[tuple[int, bytes]]]", answer)
            self.rows += len(codes)
            return self._from_codes(codes, ruled)
        if local is None:  # the worker hashed the chunk, and asked the store about it
            codes = cast("bytes", answer)
            self.rows += len(codes)
            return list(map(_CODES.__getitem__, codes))
        # This process hashed the chunk (the worker was behind): it asks the store too,
        # while the worker finds the repeats.
        self.rows += len(local)
        return self._ask(local, cast("list[int]", answer))

    def decide(self, hashes: list[bytes | None]) -> list[Reason | None]:
        """As calling the screen, for values already hashed (``Identities.locate_many``;
        None for an invalid value), so that hashing can run elsewhere.

        Raises:
            RuntimeError: the screen's worker has started; it holds who was seen, so
                chunks must go through :meth:`submit`.
        """
        if self._worker is not None:
            raise RuntimeError("This screen hashes in a worker; pass chunks to submit().")
        return self._decide(hashes, self._seen.duplicates(hashes))

    def _decide(self, hashes: list[bytes | None], repeats: list[int]) -> list[Reason | None]:
        self.rows += len(hashes)
        index = self._index or self._maybe_index()
        if index is not None:
            return self._from_codes(*_codes_from_index(index, hashes, repeats))
        return self._ask(hashes, repeats)

    def _ask(self, hashes: list[bytes | None], repeats: list[int]) -> list[Reason | None]:
        """A chunk decided by asking the store (``repeats``: positions of second spellings)."""
        reasons: list[Reason | None] = [None] * len(hashes)
        self._judge(set(hashes), enumerate(hashes), reasons, blocks=True)
        if None in hashes:
            for position, value in enumerate(hashes):
                if value is None:
                    reasons[position] = Reason.INVALID
        for position in repeats:
            reasons[position] = Reason.DUPLICATE
        return reasons

    def _refused(self, people: list[bytes]) -> dict[bytes, Reason]:
        """Distinct people asked of the store (a window's, in any order: the store puts
        them in key order): the reason each refused one is refused."""
        if not people:
            return {}
        send = self.send
        with send.store.session() as session:
            present = session.present()
            blocked = session.blocks_many(
                people, topic=send.topic_digest, marketing=send.kind is Kind.MARKETING,
                present=present,
            )  # fmt: skip
            rules = {}
            if any(present):
                asked = [value for value in people if value not in blocked]
                rules = session.rules_many(
                    asked, at=send.at, cap_window=send.cap_window, blocks=False, present=present
                )
        refused = {value: BLOCK_REASONS[code] for value, code in blocked.items()}
        for value, found in rules.items():
            reason = self._reason(found)
            if reason is not Reason.ALLOWED:
                refused[value] = reason
        return refused

    def _reason(self, rules: Rules) -> Reason:
        """The policy's answer for one person's ``rules``, for this send."""
        send = self.send
        return judge(
            rules,
            topic_digest=send.topic_digest,
            kind=send.kind,
            at=send.at,
            cap_count=send.cap_count,
            cap_window=send.cap_window,
        ).reason

    def _from_codes(self, codes: bytes, ruled: list[tuple[int, bytes]]) -> list[Reason | None]:
        """Reasons from :func:`_codes_from_index`, the ``ruled`` people asked of the store."""
        reasons = list(map(_CODES.__getitem__, codes))
        if ruled:
            self._judge({value for _, value in ruled}, ruled, reasons, blocks=False)
        return reasons

    def _judge(
        self,
        wanted: Iterable[bytes | None],
        located: Iterable[tuple[int, bytes | None]],
        reasons: list[Reason | None],
        *,
        blocks: bool,
    ) -> None:
        """Fill in ``reasons`` for the ``wanted`` hashes from the store (``located``:
        the chunk's hashes by position)."""
        send = self.send
        asked = [value for value in wanted if value is not None]
        if not asked:
            return
        with send.store.session() as session:
            present = session.present()
            blocked: dict[bytes, int] = {}
            if blocks:
                blocked = session.blocks_many(
                    asked,
                    topic=send.topic_digest,
                    marketing=send.kind is Kind.MARKETING,
                    present=present,
                )
                if blocked and any(present):
                    asked = [value for value in asked if value not in blocked]
            rules = session.rules_many(
                asked, at=send.at, cap_window=send.cap_window, blocks=False, present=present
            )
        if not blocked and not rules:
            return
        for position, value in located:
            if value is None:
                continue
            if (code := blocked.get(value)) is not None:
                reasons[position] = BLOCK_REASONS[code]
            elif value in rules:
                reason = self._reason(rules[value])
                reasons[position] = None if reason is Reason.ALLOWED else reason

    def _maybe_index(self) -> RuleIndex | None:
        """Read the index when the list is large enough next to the store (see module)."""
        rows = max(self.rows, self.expected_rows or 0)
        if self.index_limit <= 0 or rows < INDEX_MIN_ROWS:
            return None  # a short list never pays for counting the store
        send = self.send
        with_cap = send.cap_window is not None
        if self._index_rows is None:
            # Counted up to just past the limit: whether it is exceeded is all that counts.
            limit = self.index_limit + 1
            self._index_rows = send.store.read(
                lambda session: session.rule_rows(session.present(), with_cap=with_cap, limit=limit)
            )
        size = self._index_rows
        if size > self.index_limit or size > INDEX_RATIO * rows:
            return None
        self._index = send.store.read(
            lambda session: session.rule_index(
                session.present(),
                topic=send.topic_digest,
                marketing=send.kind is Kind.MARKETING,
                at=send.at,
                cap_window=send.cap_window,
                cap_count=send.cap_count,
            )
        )
        return self._index


def _codes_from_index(
    index: RuleIndex, hashes: list[bytes | None], repeats: list[int]
) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A chunk decided from the index: a code per row (``_CODES``: a suppression's or
    the cap's reason, invalid, or a repeat, which wins), and the people whose other
    rules only the store knows, as (position, hash)."""
    blocked = cast("dict[bytes | None, Reason]", index.blocked)
    codes = bytearray(map(_CODE_OF.__getitem__, map(blocked.get, hashes)))
    if None in hashes:
        for position, value in enumerate(hashes):
            if value is None:
                codes[position] = _CODE_OF[Reason.INVALID]
    for position in repeats:
        codes[position] = _CODE_OF[Reason.DUPLICATE]
    ruled: list[tuple[int, bytes]] = []
    if index.ruled and (wanted := index.ruled.intersection(hashes).difference(blocked)):
        ruled = [
            (at, value) for at, value in enumerate(hashes) if value in wanted and not codes[at]
        ]
    return bytes(codes), ruled


# -- run in the worker process (forked with the screen's state) ----------------------


def _ask_in_worker(screen: Screen, seen: Seen, hashes: list[bytes | None], own: bool) -> object:
    """Without an index: a chunk the worker hashed (``own``) is asked of the store on the
    worker's own connection, a code per row; of a chunk the main process hashed (and asks
    about), only the repeats, which only the worker can tell."""
    repeats = seen.duplicates(hashes)
    if not own:
        return repeats
    return bytes(map(_CODE_OF.__getitem__, screen._ask(hashes, repeats)))


def _decide_in_worker(
    index: RuleIndex, seen: Seen, hashes: list[bytes | None], own: bool
) -> object:
    """From the index, in the worker: what :func:`_codes_from_index` answers."""
    return _codes_from_index(index, hashes, seen.duplicates(hashes))


def _close_in_worker(seen: Seen, store: Store) -> None:
    """At the end of the list: drop the spill file, and the worker's own connection."""
    seen.close()
    store.close()


#: Reasons of the other phone channel that refuse here too (the SMS/voice rule).
_COVERING = frozenset({Reason.UNSUBSCRIBED_GLOBAL, Reason.UNSUBSCRIBED_TOPIC})


@dataclass
class PhoneScreen(Screen):
    """A screen for a phone channel that also refuses the marketing opt-outs made on the
    other phone channel for the same number (``PHONE_OPT_OUT=texts_and_calls``).

    ``other`` screens the same values on the other channel; only its opt-outs count
    (its pauses, ceilings and cap belong to that channel).
    """

    other: Screen | None = None

    def submit(self, values: Sequence[str]) -> Callable[[], list[Reason | None]]:
        own = super().submit(values)
        if self.other is None:
            return own
        theirs = self.other.submit(values)

        def answer() -> list[Reason | None]:
            return [
                reason if reason is not None or other not in _COVERING else other
                for reason, other in zip(own(), theirs(), strict=True)
            ]

        return answer

    def close(self) -> None:
        super().close()
        if self.other is not None:
            self.other.close()
