"""The outbox worker against a real receiver: every change once, signed, alone or in
batches, in each person's order, retried with backoff, dead-lettered, and queued again
on request; an endpoint that is down rests, a removed one is dead-lettered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.model import Source
from prefcenter.webhooks.worker import REFUSALS, WebhookWorker
from tests.conftest import make_settings
from tests.webhooks.conftest import SECRET
from tests.webhooks.receiver import Receiver

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """One hand-moved clock for the center (datetime) and the worker (epoch seconds)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def setup(
    database: str, tmp_path: Path, receiver: Receiver, clock: Clock
) -> Iterator[Callable[..., tuple[PreferenceCenter, WebhookWorker]]]:
    made: list[tuple[PreferenceCenter, WebhookWorker]] = []

    def make(**overrides: Any) -> tuple[PreferenceCenter, WebhookWorker]:
        settings = make_settings(
            tmp_path,
            database=database,
            events_webhook_url=receiver.url,
            events_webhook_secret=SECRET,
            **overrides,
        )
        center = PreferenceCenter(settings, clock=clock)
        worker = WebhookWorker(center, clock=clock.seconds, holder="test")
        worker.round()  # registers the endpoint: changes from now on are queued
        made.append((center, worker))
        return center, worker

    yield make
    for center, worker in made:
        worker.stop()
        center.close()


def drain(worker: WebhookWorker) -> None:
    for _ in range(20):
        if not worker.round():
            return
    raise AssertionError("the outbox did not drain in 20 rounds")


def test_every_change_arrives_once_signed_with_its_payload(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver
) -> None:
    center, worker = setup(events_webhook_batch=1)
    center.suppress("a@example.com", source=Source.ONE_CLICK, reason="one click")
    center.set_topic("b@example.com", "news", False, source=Source.WEB)
    center.forget("c@example.com", source=Source.CLI)
    drain(worker)
    bodies = sorted(receiver.bodies(), key=lambda b: int(b["data"]["id"]))  # people in parallel
    assert receiver.bad_signatures == 0
    assert [b["type"] for b in bodies] == [
        "prefcenter.suppress",
        "prefcenter.opt-out",
        "prefcenter.forget",
    ]
    first = bodies[0]["data"]
    assert first["address"] == "a@example.com" and first["reason"] == "one click"
    assert first["source"] == "one-click" and first["scope"] == "global"
    assert bodies[2]["data"]["address"] is None  # forgotten: its hash only
    assert sorted(receiver.ids) == sorted(f"evt_{b['data']['id']}" for b in bodies)
    assert center.webhook_outbox() == {}


def test_one_persons_failure_holds_back_only_that_person(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, worker = setup(events_webhook_batch=1)
    alice = center.identity("alice@example.com").hash_hex
    receiver.fail = {alice}
    center.suppress("alice@example.com", source=Source.CLI, topic="news")
    center.suppress("bob@example.com", source=Source.CLI)
    center.suppress("alice@example.com", source=Source.CLI)
    worker.round()
    assert [b["data"]["address"] for b in receiver.bodies()] == ["bob@example.com"]
    worker.round()  # alice waits for her retry: nothing is sent out of order
    assert len(receiver.bodies()) == 1
    assert center.webhook_outbox() == {(receiver.url, "pending"): 2}
    receiver.fail = set()
    clock.advance(seconds=1.5)  # the first retry is due within 1 s
    drain(worker)
    bodies = receiver.bodies()
    assert [(b["data"]["address"], b["data"]["topic"]) for b in bodies[1:]] == [
        ("alice@example.com", "news"),
        ("alice@example.com", None),
    ]


def test_backoff_doubles_then_the_delivery_is_dead_lettered_and_retried(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, worker = setup(events_webhook_give_up="1h", events_webhook_max_backoff="8s")
    receiver.fail = "all"
    center.suppress("a@example.com", source=Source.CLI)
    waits = []
    for _ in range(6):
        assert worker.round()
        (row,) = center.store.read(lambda s: s.outbox_due(1, 2**62, 10))
        waits.append(row.next_at / 1000 - clock.seconds())
        clock.advance(seconds=waits[-1])
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    assert all(4 <= wait <= 8 for wait in waits[4:])  # capped at the maximum
    clock.advance(hours=1)
    worker.round()
    assert center.webhook_outbox() == {(receiver.url, "dead"): 1}
    assert not worker.round()  # dead rows are not tried again
    receiver.fail = set()
    assert center.retry_dead_webhooks() == 1
    drain(worker)
    assert len(receiver.changes) == 1 and center.webhook_outbox() == {}


def test_a_second_worker_waits_for_the_lease(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, worker = setup()
    other = WebhookWorker(center, holder="other", clock=clock.seconds)
    try:
        center.suppress("a@example.com", source=Source.CLI)
        assert not other.round()
        assert worker.round()
        assert len(receiver.bodies()) == 1
        clock.advance(seconds=11)  # the first worker stopped renewing: the lease runs out
        center.suppress("b@example.com", source=Source.CLI)
        assert other.round()
        assert len(receiver.bodies()) == 2
    finally:
        other.client.close()


def test_a_batch_carries_changes_in_commit_order_under_one_signature(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver
) -> None:
    center, worker = setup()  # the default: up to 100 changes per delivery
    center.suppress("a@example.com", source=Source.ONE_CLICK, reason="one click")
    center.set_topic("b@example.com", "news", False, source=Source.WEB)
    center.forget("c@example.com", source=Source.CLI)
    drain(worker)
    (body,) = receiver.bodies()  # verified by the standardwebhooks package
    assert receiver.bad_signatures == 0
    assert body["type"] == "prefcenter.changes"
    events = body["data"]["events"]
    assert [e["kind"] for e in events] == ["suppress", "opt-out", "forget"]
    assert body["timestamp"] == events[-1]["time"]
    assert events[0]["address"] == "a@example.com" and events[2]["address"] is None
    (message_id,) = receiver.ids
    assert message_id.startswith("batch_")
    assert center.webhook_outbox() == {}


def test_many_changes_go_in_few_deliveries_each_person_in_order(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver
) -> None:
    center, worker = setup(events_webhook_batch=10)
    people = [f"p{n}@example.com" for n in range(30)]
    for round_number in range(4):
        for address in people:
            center.set_topic(address, f"t{round_number}", False, source=Source.API)
    drain(worker)
    assert receiver.bad_signatures == 0
    assert all(len(body["data"]["events"]) <= 10 for body in receiver.bodies())
    assert len(receiver.ids) == worker.tally.requests <= 120 // 10 + 16
    assert len(receiver.changes) == len(receiver.change_ids()) == 120
    for address in people:
        person = center.identity(address).hash_hex
        topics = [c["topic"] for c in receiver.changes if c["identity_hash"] == person]
        assert topics == ["t0", "t1", "t2", "t3"]


def test_a_batch_sent_again_has_the_same_webhook_id(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, worker = setup()
    receiver.fail = "all"
    center.suppress("a@example.com", source=Source.CLI)
    center.suppress("b@example.com", source=Source.CLI)
    assert worker.round()
    receiver.fail = set()
    clock.advance(seconds=1.5)
    drain(worker)
    # The receiver can tell it is the same one (then each person alone was refused too).
    assert receiver.ids == receiver.refused_ids[:1]
    assert receiver.ids[0].startswith("batch_") and len(receiver.changes) == 2


def test_an_endpoint_that_is_down_rests_until_its_retry_is_due(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, worker = setup()
    receiver.down()
    center.suppress("a@example.com", source=Source.CLI)
    assert worker.round()  # connection refused
    center.suppress("b@example.com", source=Source.CLI)  # someone else, due at once
    assert not worker.round()  # the endpoint rests: nothing is tried
    assert worker.tally.requests == 1
    receiver.up()
    clock.advance(seconds=1.5)  # the first retry is due within 1 s
    drain(worker)
    assert receiver.change_ids() == {str(e.id) for e in center.store.events()}
    assert center.webhook_outbox() == {}


def test_the_rows_of_a_removed_endpoint_are_dead_lettered_not_left_pending(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    center, _worker = setup()
    receiver.down()  # nothing goes out to the old endpoint
    center.suppress("a@example.com", source=Source.CLI)
    center.suppress("b@example.com", source=Source.CLI)
    other = Receiver(SECRET)
    try:
        moved = WebhookWorker(center, urls=[other.url], holder="test", clock=clock.seconds)
        try:
            moved.round()  # the endpoints are now [other]: the old one's rows are retired
            center.suppress("c@example.com", source=Source.CLI)
            drain(moved)
            assert center.webhook_outbox() == {(receiver.url, "dead"): 2}
            assert center.retry_dead_webhooks() == 0  # nothing would deliver them
            assert [c["address"] for c in other.changes] == ["c@example.com"]
        finally:
            moved.stop()
    finally:
        other.down()


def test_a_refused_person_in_a_batch_holds_back_only_that_person(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    """Batches of 100: the receiver refuses every delivery that carries alice. Everyone
    else's changes arrive at once, in this round and the next; none of alice's overtakes
    her refused one, and they all arrive, in order, once she is accepted."""
    center, worker = setup()
    alice = center.identity("alice@example.com").hash_hex
    receiver.fail = {alice}
    others = [f"p{n}@example.com" for n in range(40)]
    for number, address in enumerate(others):
        center.set_topic(address, "t0", False, source=Source.API)
        if number == 20:
            center.set_topic("alice@example.com", "t0", False, source=Source.API)
    center.set_topic("alice@example.com", "t1", False, source=Source.API)
    assert worker.round()
    assert len(receiver.change_ids()) == 40 and alice not in _people(receiver)
    assert worker.tally.requests <= 2 * 7 + 1  # one refused person costs a bisection
    for address in others:  # later changes of the others go out while alice waits
        center.set_topic(address, "t1", False, source=Source.API)
    center.set_topic("alice@example.com", "t2", False, source=Source.API)
    clock.advance(seconds=0.2)  # alice's retry is not due yet
    assert worker.round()
    assert len(receiver.change_ids()) == 80 and alice not in _people(receiver)
    assert center.webhook_outbox() == {(receiver.url, "pending"): 3}
    receiver.fail = set()
    clock.advance(seconds=1.5)  # her first retry is due within 1 s
    drain(worker)
    assert [c["topic"] for c in receiver.changes if c["identity_hash"] == alice] == [
        "t0",
        "t1",
        "t2",
    ]
    for address in others:
        person = center.identity(address).hash_hex
        assert [c["topic"] for c in receiver.changes if c["identity_hash"] == person] == [
            "t0",
            "t1",
        ]
    assert center.webhook_outbox() == {}


def test_a_receiver_refusing_everything_is_not_probed_person_by_person(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver
) -> None:
    center, worker = setup()
    receiver.fail = "all"
    for n in range(100):
        center.suppress(f"p{n}@example.com", source=Source.CLI)
    assert worker.round()
    assert worker.tally.delivered == 0
    assert worker.tally.requests <= REFUSALS + 2  # not one per person
    assert center.webhook_outbox() == {(receiver.url, "pending"): 100}


def test_a_linked_phone_waits_behind_its_email(
    setup: Callable[..., tuple[PreferenceCenter, WebhookWorker]], receiver: Receiver, clock: Clock
) -> None:
    """Order is kept per person group: the receiver refuses the email's change, and the
    later change of the phone number linked to it does not arrive before it."""
    center, worker = setup(events_webhook_batch=1)
    center.link("a@example.com", "+14155550100", second_channel="sms", source=Source.API)
    drain(worker)
    email = center.identity("a@example.com").hash_hex
    phone = center.identity("+14155550100", "sms").hash_hex
    receiver.fail = {email}
    center.suppress("a@example.com", source=Source.CLI, topic="news")
    center.suppress("+14155550100", channel="sms", source=Source.CLI)
    center.suppress("b@example.com", source=Source.CLI)
    linked = len(receiver.changes)  # the link event(s)
    worker.round()
    sent = {(c["identity_hash"], c["address"]) for c in receiver.changes[linked:]}
    assert sent == {(center.identity("b@example.com").hash_hex, "b@example.com")}
    receiver.fail = set()
    clock.advance(seconds=1.5)
    drain(worker)
    kinds = [(c["identity_hash"], c["kind"]) for c in receiver.changes[-2:]]
    assert kinds == [(email, "suppress"), (phone, "suppress")]


def _people(receiver: Receiver) -> set[str]:
    return {change["identity_hash"] for change in receiver.changes}
