"""``suppress_many`` writes what one ``suppress`` per request writes, on both backends."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput
from prefcenter.model import Action, Scope, Source
from prefcenter.store.protocol import NewEvent
from prefcenter.store.sqlite import SqliteStore
from prefcenter.topics import topic_digest
from tests.store.conftest import START, Clock

REQUESTED = START.replace(hour=8)


def _shapes(prefix: str) -> list[SuppressRequest]:
    """Global and topic, several sources and reasons, with and without evidence."""
    return [
        SuppressRequest(f"{prefix}1@example.com", Source.ONE_CLICK, reason="link", evidence="r1"),
        SuppressRequest(f"{prefix}2@example.com", Source.WEB, topic="news", evidence="r2"),
        SuppressRequest(f"{prefix}3@example.com", Source.API, requested_at=REQUESTED),
        SuppressRequest(f"{prefix}4@example.com", Source.ONE_CLICK, channel="email", evidence="r4"),
    ]


def _one_by_one(center: PreferenceCenter, requests: list[SuppressRequest]) -> list[bool]:
    return [
        center.suppress(
            request.recipient,
            topic=request.topic,
            channel=request.channel,
            reason=request.reason,
            source=request.source,
            evidence=request.evidence,
            requested_at=request.requested_at,
        )
        for request in requests
    ]


def _stored(center: PreferenceCenter, recipient: str) -> tuple[list[Any], list[Any]]:
    """History and suppressions of ``recipient`` without ids and hashes (they differ)."""
    events = [
        dataclasses.replace(event, id=0, identity_hash="") for event in center.history(recipient)
    ]
    suppressions = [
        dataclasses.replace(suppression, identity_hash="", address=None)
        for suppression in center.suppressions(recipient)
    ]
    return events, suppressions


def test_rows_are_those_of_one_suppress_per_request(center: PreferenceCenter) -> None:
    batch, single = _shapes("batch"), _shapes("single")
    assert center.suppress_many(batch) == [True] * len(batch)
    assert _one_by_one(center, single) == [True] * len(single)
    for mine, theirs in zip(batch, single, strict=True):
        assert isinstance(mine.recipient, str) and isinstance(theirs.recipient, str)
        assert _stored(center, mine.recipient) == _stored(center, theirs.recipient)
        assert _stored(center, mine.recipient)[1]  # something was stored


def test_replays_repeats_and_existing_suppressions_answer_as_suppress_does(
    center: PreferenceCenter, clock: Clock
) -> None:
    def mixed(prefix: str) -> list[SuppressRequest]:
        return [
            SuppressRequest(f"{prefix}a@example.com", Source.ONE_CLICK, evidence="old"),  # replay
            SuppressRequest(f"{prefix}b@example.com", Source.ONE_CLICK, evidence="new-1"),
            SuppressRequest(f"{prefix}b@example.com", Source.ONE_CLICK, evidence="new-2"),
            SuppressRequest(f"{prefix}c@example.com", Source.ONE_CLICK, evidence="other"),
        ]

    for prefix in ("batch", "single"):
        center.suppress(f"{prefix}a@example.com", source=Source.ONE_CLICK, evidence="old")
        center.suppress(f"{prefix}c@example.com", source=Source.CLI, evidence="earlier")
    clock.advance(minutes=5)
    batch = center.suppress_many(mixed("batch"))
    single = _one_by_one(center, mixed("single"))
    assert batch == single == [False, True, False, False]
    for name in "abc":
        assert _stored(center, f"batch{name}@example.com") == _stored(
            center, f"single{name}@example.com"
        )
    # The whole batch again is a replay: nothing changes, no second event.
    events = len(center.history("batchb@example.com"))
    assert center.suppress_many(mixed("batch")) == [False] * 4
    assert len(center.history("batchb@example.com")) == events == 2


def test_a_bad_request_writes_nothing(center: PreferenceCenter) -> None:
    requests = [
        SuppressRequest("fine@example.com", Source.ONE_CLICK, evidence="r1"),
        SuppressRequest("other@example.com", Source.ONE_CLICK, topic=" ", evidence="r2"),
    ]
    with pytest.raises(InvalidInput):
        center.suppress_many(requests)
    assert center.check("fine@example.com").allowed
    assert center.history("fine@example.com") == []


def test_inside_a_transaction_it_commits_with_the_rest(center: PreferenceCenter) -> None:
    with center.transaction() as transaction:
        assert transaction.suppress_many(_shapes("tx")) == [True] * 4
        transaction.suppress("also@example.com", source=Source.CLI)
    assert not center.check("tx1@example.com").allowed
    assert not center.check("also@example.com").allowed
    assert center.suppress_many([]) == []


@pytest.mark.parametrize("size", [7, 8, 64, 65, 150])
def test_groups_of_any_size_store_every_request_once(center: PreferenceCenter, size: int) -> None:
    """SQLite writes a group in several multi-row statements; none loses or repeats a row,
    and a replay in the last statement answers False for that request alone."""

    def group(prefix: str) -> list[SuppressRequest]:
        return [
            SuppressRequest(f"{prefix}{n}@example.com", Source.ONE_CLICK, evidence=f"{prefix}{n}")
            for n in range(size)
        ]

    first, second = group("first"), group("second")
    assert center.suppress_many(first) == [True] * size
    assert center.suppress_many([*second, first[0]]) == [True] * size + [False]
    for request in [*first, *second]:
        assert isinstance(request.recipient, str)
        assert len(center.history(request.recipient)) == 1
    assert sum(1 for _ in center.export()) == 2 * size


_RUNS = itertools.count()
#: (person, topic, evidence) of one request, drawn from few values so they collide.
_SPEC = st.tuples(
    st.sampled_from("abc"), st.sampled_from([None, "news"]), st.sampled_from([None, "e1", "e2"])
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(earlier=st.lists(_SPEC, max_size=4), group=st.lists(_SPEC, min_size=1, max_size=12))
def test_any_mix_of_replays_and_repeats_answers_as_one_suppress_each(
    center: PreferenceCenter,
    earlier: list[tuple[str, str | None, str | None]],
    group: list[tuple[str, str | None, str | None]],
) -> None:
    run = next(_RUNS)

    def requests(side: str, specs: list[tuple[str, str | None, str | None]]) -> list[Any]:
        return [
            SuppressRequest(f"{side}{run}{person}@example.com", Source.ONE_CLICK, topic=topic,
                            evidence=evidence)
            for person, topic, evidence in specs
        ]  # fmt: skip

    for side in ("batch", "single"):
        _one_by_one(center, requests(side, earlier))
    statements: list[str] = []
    if isinstance(center.store, SqliteStore):  # PostgreSQL has no batch path
        center.store._connection().set_trace_callback(statements.append)
    batch = center.suppress_many(requests("batch", group))
    if isinstance(center.store, SqliteStore):
        center.store._connection().set_trace_callback(None)
        # The group was written as a group, not one by one (append_event's RETURNING id).
        assert not [sql for sql in statements if "RETURNING id" in sql]
    assert batch == _one_by_one(center, requests("single", group))
    for person in "abc":
        assert _stored(center, f"batch{run}{person}@example.com") == _stored(
            center, f"single{run}{person}@example.com"
        )


def test_alone_is_one_committed_statement_on_postgresql_and_none_elsewhere(
    center: PreferenceCenter,
) -> None:
    """PostgreSQL writes a group on its own as one autocommit statement: committed when
    it returns (another connection sees it), the answers those of ``suppress_batch``. In
    a transaction, and on SQLite, it answers None and writes nothing."""
    requests = [
        SuppressRequest("alone1@example.com", Source.ONE_CLICK, evidence="a1"),
        SuppressRequest("alone2@example.com", Source.ONE_CLICK, topic="news", evidence="a2"),
    ]
    center.suppress_many([requests[0]])  # a replay next time: False, suppression kept
    items = _events(center, requests, at=START)
    with center.store.transaction():
        assert center.store.suppress_alone(items) is None
    if isinstance(center.store, SqliteStore):
        assert center.store.suppress_alone(items) is None
        assert center.check("alone2@example.com", topic="news").allowed
        return
    assert center.store.suppress_alone(items) == [False, True]
    assert center.store.suppress_alone([items[1], items[1]]) is None  # a key twice
    import psycopg  # only on PostgreSQL

    with psycopg.connect(center.settings.database) as other:
        row = other.execute("SELECT count(*) FROM events WHERE evidence = 'a2'").fetchone()
    assert row == (1,)
    assert not center.check("alone2@example.com", topic="news").allowed


def _events(
    center: PreferenceCenter, requests: list[SuppressRequest], *, at: Any
) -> list[tuple[Any, bytes]]:
    """The (event, topic digest) pairs ``suppress_many`` builds for ``requests``."""
    pairs = []
    for request in requests:
        assert isinstance(request.recipient, str)
        identity = center.identity(request.recipient, request.channel)
        scope = Scope.TOPIC if request.topic else Scope.GLOBAL
        event = NewEvent(
            at, identity.hash, Action.SUPPRESS, request.source, identity.channel, scope,
            request.topic, request.reason or None, request.evidence, None,
        )  # fmt: skip
        pairs.append((event, topic_digest(request.topic)))
    return pairs
