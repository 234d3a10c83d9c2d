"""A screen that hashes in a worker process answers exactly as one that does not.

The worker is forked for real here, both without the store's index (it hashes and finds
repeats) and with it (it also decides, leaving people with topic choices or ceilings to
the main process). Chunks are submitted a few ahead of the answers being read, as
``prefcenter filter`` does, with repeats across and within chunks, invalid values, odd
text, suppressions, topic choices, frequency ceilings and the cap; the paths where the
main process hashes a chunk itself and where a chunk is too large for a shared slot are
forced by shrinking the limits. A killed worker must surface as ``WorkerFailed``, never
as a wrong answer.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import WorkerFailed
from prefcenter.model import Reason, Source
from prefcenter.screening import screen, window
from prefcenter.screening import worker as hashworker
from tests.conftest import make_settings

PEOPLE = [f"user{n}@example.com" for n in range(3000)]
TOPIC = "news"
#: Without the index (a short list) and with it (a long one, next to this store).
SIZES = pytest.mark.parametrize(
    "expected", [len(PEOPLE), 10**6], ids=["hashing-worker", "deciding-worker"]
)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[PreferenceCenter]:
    """A SQLite center (a PostgreSQL store runs pool threads, so it never forks) with
    suppressions, topic choices, ceilings and people the cap (3 a week) refuses."""
    with PreferenceCenter(make_settings(tmp_path)) as center:
        with center.transaction() as changes:
            for person in PEOPLE[::7]:
                changes.suppress(person, source=Source.IMPORT)
            for person in PEOPLE[1::13]:
                changes.set_topic(person, TOPIC, subscribed=False, source=Source.WEB)
            for person in PEOPLE[2::17]:
                changes.set_frequency(person, 30, source=Source.WEB)
            for person in PEOPLE[3::19]:
                for _ in range(3):
                    changes.record_sent(person, topic=TOPIC)
        yield center


@pytest.fixture(autouse=True)
def fork_here() -> None:
    """The worker forks only where the fork rule allows it: no other thread in this
    process. A thread left running by an earlier test would make forking unsafe, and is
    named here rather than the rule switched off."""
    others = [
        thread.name for thread in threading.enumerate() if thread is not threading.current_thread()
    ]
    assert hashworker.can_fork_worker(), f"threads left running by earlier tests: {others}"


def chunks() -> list[list[str]]:
    """A list's chunks: repeats within a chunk and across chunks (other spellings),
    invalid values, non-ASCII, a line break inside a value, an empty chunk's neighbour."""
    values = [*PEOPLE, *(person.upper() for person in PEOPLE[::5])]
    values += ["not an address", "", "x\ny@example.com", "zoë@example.com", "\udcff@x.com"]
    values += [person.replace("@", "+tag@") for person in PEOPLE[::11]]
    size = 700
    return [values[start : start + size] for start in range(0, len(values), size)] + [["a@b.co"]]


def answers(screen: screen.Screen, ahead: int = 3) -> list[list[Reason | None]]:
    """Submit chunks ``ahead`` of reading their answers, in order."""
    pending: deque[Callable[[], list[Reason | None]]] = deque()
    found = []
    for chunk in chunks():
        pending.append(screen.submit(chunk))
        if len(pending) > ahead:
            found.append(pending.popleft()())
    found.extend(answer() for answer in pending)
    return found


def serial_answers(center: PreferenceCenter) -> list[list[Reason | None]]:
    with center.screen(TOPIC, expected_rows=len(PEOPLE)) as serial:
        return [serial(chunk) for chunk in chunks()]


@SIZES
def test_a_parallel_screen_answers_like_a_serial_one(
    center: PreferenceCenter, expected: int
) -> None:
    serial = serial_answers(center)
    found = {reason for reasons in serial for reason in reasons}
    assert found >= {
        None, Reason.DUPLICATE, Reason.INVALID, Reason.UNSUBSCRIBED_GLOBAL,
        Reason.UNSUBSCRIBED_TOPIC, Reason.FREQUENCY_CEILING, Reason.FREQUENCY_CAP,
    }  # fmt: skip
    with center.screen(TOPIC, expected_rows=expected, parallel=True) as parallel:
        assert answers(parallel) == serial
        assert parallel._worker is not None  # the worker did the work
        assert parallel._worker_decides == (expected > len(PEOPLE))
        with pytest.raises(RuntimeError, match="submit"):
            parallel.decide([None])  # who was seen lives in the worker
        process = parallel._worker._process
    assert process._closed  # type: ignore[attr-defined]  # closed, and joined first


@SIZES
@pytest.mark.parametrize(
    ("name", "value"),
    [("DEPTH", 0), ("SLOT", 4096)],
    ids=["main-process-hashes-every-chunk", "chunks-too-large-for-a-slot"],
)
def test_the_fallback_paths_answer_the_same(
    center: PreferenceCenter,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: int,
    expected: int,
) -> None:
    serial = serial_answers(center)
    monkeypatch.setattr(hashworker, name, value)
    with center.screen(TOPIC, expected_rows=expected, parallel=True) as parallel:
        assert answers(parallel, ahead=2) == serial
        assert parallel._worker is not None


@pytest.mark.parametrize("ahead", [3, 100], ids=["windows-of-four-chunks", "one-window"])
def test_a_window_split_with_the_worker_answers_the_same(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    """Without the index, chunks held are decided together; with SPLIT_MIN lowered the
    worker asks the store about the upper half of each window's people."""
    serial = serial_answers(center)
    monkeypatch.setattr(window, "SPLIT_MIN", 1)
    with center.screen(TOPIC, expected_rows=len(PEOPLE), parallel=True) as parallel:
        assert answers(parallel, ahead=ahead) == serial
        assert parallel._worker is not None
        assert parallel._window is not None and parallel.window_bytes > 0


def test_a_killed_worker_is_an_error_not_a_wrong_answer(center: PreferenceCenter) -> None:
    with center.screen(expected_rows=len(PEOPLE), parallel=True) as parallel:
        first = parallel.submit(PEOPLE[:100])
        assert first().count(Reason.UNSUBSCRIBED_GLOBAL) == len(PEOPLE[:100:7])
        assert parallel._worker is not None
        pid = parallel._worker._process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerFailed, match="run the filter again"):
            parallel.submit(PEOPLE[100:200])()


def test_without_a_spare_core_the_screen_hashes_itself(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screen, "can_fork_worker", lambda: False)
    serial = serial_answers(center)
    with center.screen(TOPIC, expected_rows=len(PEOPLE), parallel=True) as parallel:
        assert answers(parallel) == serial
        assert parallel._worker is None


def test_the_fork_rule() -> None:
    # The test runner may have threads; the rule itself is what is checked.
    allowed = hashworker.can_fork_worker()
    assert allowed == (
        os.name == "posix"
        and os.uname().sysname == "Linux"
        and len(os.sched_getaffinity(0)) > 1
        and __import__("threading").active_count() == 1
    )
