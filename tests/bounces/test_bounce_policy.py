"""The bounce policy as a library call (issue 21): what ESP webhook receivers use.

``record_bounce`` on a real SQLite store with a controlled clock: a proven dead address
stops at once, soft reasons score at most a point a day and reset after a quiet period,
refusals about us and unproven bounces never change anyone, a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prefcenter.bounces.policy import BounceAction, BounceReason, bounce_action, bounce_score
from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Scope
from tests.conftest import make_settings

ALICE = "alice@example.org"


@pytest.fixture
def now() -> list[datetime]:
    return [datetime(2026, 11, 2, 9, tzinfo=UTC)]


@pytest.fixture
def center(tmp_path: Path, now: list[datetime]) -> Iterator[PreferenceCenter]:
    with PreferenceCenter(make_settings(tmp_path, bounce_score_limit=3), clock=lambda: now[0]) as c:
        yield c


def test_a_proven_dead_address_stops_at_once_on_every_kind(center: PreferenceCenter) -> None:
    done = center.record_bounce(ALICE, reason="user-unknown", permanent=True, evidence="e1")
    assert (done.action, done.suppressed) == (BounceAction.HARD, True)
    assert {s.scope for s in center.suppressions(ALICE)} == {Scope.HARD}
    assert not center.check(ALICE, kind="transactional").allowed
    [event] = center.history(ALICE)
    assert (event.action, event.reason) == (Action.SUPPRESS, "bounce: user-unknown")
    again = center.record_bounce(ALICE, reason="user-unknown", permanent=True, evidence="e1")
    assert again.replay and len(center.history(ALICE)) == 1


@pytest.mark.parametrize("reason", ["filtered", "policy", "message-too-big"])
def test_refusals_about_us_never_count(
    center: PreferenceCenter, reason: str, now: list[datetime]
) -> None:
    for day in range(5):
        done = center.record_bounce(ALICE, reason=reason, permanent=True, evidence=f"e{day}")
        assert (done.action, done.score) == (BounceAction.EVIDENCE, 0)
        now[0] += timedelta(days=1)
    assert center.check(ALICE).allowed
    assert {e.action for e in center.history(ALICE)} == {Action.BOUNCE}


def test_unproven_bounces_are_evidence_only(center: PreferenceCenter, now: list[datetime]) -> None:
    for day in range(5):
        center.record_bounce(
            ALICE, reason="user-unknown", permanent=True, evidence=f"u{day}", proven=False
        )
        now[0] += timedelta(days=1)
    assert center.check(ALICE, kind="transactional").allowed
    assert "unproven" in (center.history(ALICE)[0].reason or "")


def test_soft_reasons_score_a_point_a_day_and_stop_at_the_limit(
    center: PreferenceCenter, now: list[datetime]
) -> None:
    scores = []
    for day in range(3):
        for n in range(2):  # two the same day: one point
            done = center.record_bounce(
                ALICE, reason="mailbox-full", permanent=False, evidence=f"d{day}-{n}"
            )
            scores.append(done.score)
        now[0] += timedelta(days=1)
    assert scores == [1, 1, 2, 2, 3, 3]
    assert not center.check(ALICE).allowed
    assert "score 1/3" in (center.history(ALICE)[0].reason or "")


def test_a_quiet_period_resets_the_score(center: PreferenceCenter, now: list[datetime]) -> None:
    center.record_bounce(ALICE, reason="expired", permanent=True, evidence="a")
    now[0] += timedelta(days=1)
    center.record_bounce(ALICE, reason="expired", permanent=True, evidence="b")
    now[0] += timedelta(days=15)
    done = center.record_bounce(ALICE, reason="expired", permanent=True, evidence="c")
    assert done.score == 1
    assert center.check(ALICE).allowed


def test_the_policy_table() -> None:
    assert (
        bounce_action(BounceReason.HOST_UNKNOWN, permanent=True, proven=True) is BounceAction.HARD
    )
    assert (
        bounce_action(BounceReason.USER_UNKNOWN, permanent=False, proven=True) is BounceAction.SCORE
    )
    assert (
        bounce_action(BounceReason.MAILBOX_FULL, permanent=True, proven=True) is BounceAction.SCORE
    )
    assert bounce_action(BounceReason.POLICY, permanent=True, proven=True) is BounceAction.EVIDENCE
    assert (
        bounce_action(BounceReason.USER_UNKNOWN, permanent=True, proven=False)
        is BounceAction.EVIDENCE
    )
    day = datetime(2026, 1, 10, tzinfo=UTC)
    assert bounce_score([], day, timedelta(days=14)).value == 1
    earlier = [day - timedelta(days=d) for d in (1, 2, 20)]
    assert bounce_score(earlier, day, timedelta(days=14)).value == 3
