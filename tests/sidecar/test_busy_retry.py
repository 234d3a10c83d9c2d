"""A deadlock or serialization failure inside a commit is retried, not answered.

Several sidecars on one PostgreSQL can meet in a deadlock (two groups inserting the
same people in another order) or a serialization failure; the database rolls one
transaction back (``StoreBusy``). The HTTP group commit and the SMTP batch run the
whole transaction again, a bounded number of times, so the client sees 200 or 250,
and the change is stored exactly once; past the bound the client gets its 503 or 451.
"""

from __future__ import annotations

from pathlib import Path

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action
from prefcenter.store.base import RETRIES
from tests.conftest import make_settings
from tests.faults import FaultyStore
from tests.sidecar.conftest import LiveSidecar
from tests.sidecar.helpers import unsubscribe_path
from tests.sidecar.smtp_fixtures import RunningSidecar, mailto

BODY = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _suppress_events(center: PreferenceCenter, address: str) -> int:
    return sum(1 for event in center.history(address) if event.action is Action.SUPPRESS)


def test_one_click_survives_deadlocks_at_commit(live: LiveSidecar) -> None:
    live.faults.busy = RETRIES - 1  # every try but the last ends in a deadlock
    path = unsubscribe_path(live.real_center, "deadlocked@example.org")
    with live.client() as client:
        answer = client.post(path, content=BODY, headers=FORM)
    assert answer.status_code == 200
    assert live.faults.busy == 0
    assert not live.real_center.check("deadlocked@example.org").allowed
    assert _suppress_events(live.real_center, "deadlocked@example.org") == 1


def test_one_click_answers_503_when_the_conflicts_do_not_end(live: LiveSidecar) -> None:
    live.faults.busy = 10 * RETRIES
    path = unsubscribe_path(live.real_center, "stuck@example.org")
    with live.client() as client:
        answer = client.post(path, content=BODY, headers=FORM)
    assert answer.status_code == 503
    assert live.faults.busy > 0  # bounded: it gave up
    live.faults.busy = 0
    assert live.real_center.check("stuck@example.org").allowed  # nothing half-written


def test_smtp_unsubscribe_survives_deadlocks_at_commit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, smtp="127.0.0.1:0")
    with PreferenceCenter(settings) as real:
        faults = FaultyStore(real.store)
        center = PreferenceCenter(settings, store=faults)
        faults.busy = RETRIES - 1
        server = RunningSidecar(center).start()
        try:
            code, _ = server.send(
                b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n", [mailto(real, "smtp@example.org")]
            )
        finally:
            server.stop()
        assert code == 250
        assert faults.busy == 0
        assert not real.check("smtp@example.org").allowed
        assert _suppress_events(real, "smtp@example.org") == 1
