"""A screen that hashes in a worker process answers exactly as one that does not.

The worker is forked for real here. Chunks are submitted a few ahead of the answers
being read, as ``prefcenter filter`` does, with repeats across and within chunks,
invalid values and odd text; the paths where the main process hashes a chunk itself
and where a chunk is too large for a shared slot are forced by shrinking the limits.
A killed worker must surface as ``WorkerFailed``, never as a wrong answer.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import WorkerFailed
from prefcenter.model import Reason, Source
from prefcenter.store import hashworker, screen
from tests.conftest import make_settings

PEOPLE = [f"user{n}@example.com" for n in range(3000)]


@pytest.fixture
def center(tmp_path: Path) -> Iterator[PreferenceCenter]:
    """A SQLite center (a PostgreSQL store runs pool threads, so it never forks)."""
    with PreferenceCenter(make_settings(tmp_path)) as center:
        with center.transaction() as changes:
            for person in PEOPLE[::7]:
                changes.suppress(person, source=Source.IMPORT)
        yield center


@pytest.fixture(autouse=True)
def fork_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fork even if the test runner has threads of its own (the worker only hashes)."""
    monkeypatch.setattr(screen, "can_fork_worker", lambda: True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        yield


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
    with center.screen(expected_rows=len(PEOPLE)) as serial:
        return [serial(chunk) for chunk in chunks()]


def test_a_parallel_screen_answers_like_a_serial_one(center: PreferenceCenter) -> None:
    expected = serial_answers(center)
    assert any(Reason.DUPLICATE in reasons for reasons in expected)
    assert any(Reason.INVALID in reasons for reasons in expected)
    with center.screen(expected_rows=len(PEOPLE), parallel=True) as parallel:
        assert answers(parallel) == expected
        assert parallel._worker is not None  # the worker did the work
        with pytest.raises(RuntimeError, match="submit"):
            parallel.decide([None])  # who was seen lives in the worker
        process = parallel._worker._process
    assert process._closed  # type: ignore[attr-defined]  # closed, and joined first


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEPTH", 0), ("SLOT", 4096)],
    ids=["main-process-hashes-every-chunk", "chunks-too-large-for-a-slot"],
)
def test_the_fallback_paths_answer_the_same(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch, name: str, value: int
) -> None:
    expected = serial_answers(center)
    monkeypatch.setattr(hashworker, name, value)
    with center.screen(expected_rows=len(PEOPLE), parallel=True) as parallel:
        assert answers(parallel, ahead=2) == expected
        assert parallel._worker is not None


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
    expected = serial_answers(center)
    with center.screen(expected_rows=len(PEOPLE), parallel=True) as parallel:
        assert answers(parallel) == expected
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
