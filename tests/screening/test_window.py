"""A screen holding a window of chunks answers exactly as one deciding chunk by chunk.

The window's people are asked about together, sorted by key (and on PostgreSQL, from
a window of STAGE_MIN people on, copied into a temporary table and merge-joined with
the key; STAGE_MIN is lowered here so that every window goes that way). Random stores
(suppressions of every scope, topic choices, pauses, ceilings) and random lists
(repeats in other spellings, invalid values, chunks of any size, a list longer than
the window) must give the same reasons either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.model import Reason, Source
from prefcenter.store import postgres

TOPIC = "news"
#: What a person's record holds: nothing, a suppression (global, topic, hard), an
#: opt-out of the topic, a pause, a ceiling.
STATES = ("clean", "global", "topic", "hard", "topic-choice", "paused", "ceiling")
_runs = count()


def _record(center: PreferenceCenter, person: str, state: str) -> None:
    if state == "global":
        center.suppress(person, source=Source.IMPORT)
    elif state == "topic":
        center.suppress(person, topic=TOPIC, source=Source.IMPORT)
    elif state == "hard":
        center.suppress(person, hard=True, source=Source.IMPORT)
    elif state == "topic-choice":
        center.set_topic(person, TOPIC, False, source=Source.WEB)
    elif state == "paused":
        center.pause(person, center.now() + timedelta(days=3), source=Source.WEB)
    elif state == "ceiling":
        center.set_frequency(person, 30, source=Source.WEB)
        center.record_sent(person)


def _spelling(person: str, variant: int) -> str:
    return (person, person.upper(), f" {person} ", "not an address")[variant]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    states=st.lists(st.sampled_from(STATES), min_size=1, max_size=40),
    picks=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3)), max_size=120),
    size=st.integers(1, 25),
    ahead=st.integers(0, 8),
    topic=st.sampled_from([TOPIC, None]),
)
def test_a_window_answers_as_chunks_do(
    center: PreferenceCenter,
    monkeypatch: pytest.MonkeyPatch,
    states: list[str],
    picks: list[tuple[int, int]],
    size: int,
    ahead: int,
    topic: str | None,
) -> None:
    run = next(_runs)  # people of their own in each example: the store is shared
    people = [f"p{run}x{n}@example.com" for n in range(len(states))]
    for person, state in zip(people, states, strict=True):
        _record(center, person, state)
    # Indexes past the people recorded are people the store has never seen.
    values = [_spelling(f"p{run}x{n}@example.com", variant) for n, variant in picks]
    chunks = [values[at : at + size] for at in range(0, len(values), size)]
    with center.screen(topic) as serial:
        expected = [serial(chunk) for chunk in chunks]
    with monkeypatch.context() as patch, center.screen(topic, parallel=True) as windowed:
        patch.setattr(postgres, "STAGE_MIN", 0)  # undone before the next example
        assert _held(windowed.submit, chunks, ahead) == expected
        assert windowed.window_bytes > 0 or not chunks


def _held(
    submit: Callable[[list[str]], Callable[[], list[Reason | None]]],
    chunks: list[list[str]],
    ahead: int,
) -> list[list[Reason | None]]:
    """Submit chunks ``ahead`` of reading their answers, as the list filter does."""
    pending: deque[Callable[[], list[Reason | None]]] = deque()
    found = []
    for chunk in chunks:
        pending.append(submit(chunk))
        if len(pending) > ahead:
            found.append(pending.popleft()())
    found.extend(answer() for answer in pending)
    return found
