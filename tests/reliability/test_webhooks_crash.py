"""Webhooks survive a receiver that is down and a sidecar killed with SIGKILL.

One-click POSTs and SMTP unsubscribes run against a real ``prefcenter serve`` whose
webhook receiver is not listening; the server is killed -9 twice under that load and
restarted. Then the receiver comes up, the server is killed once more mid-delivery, and
every change the store holds must arrive: exactly as many distinct webhook-ids as audit
events, each verified with the ``standardwebhooks`` package.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from tests.reliability.load import Killer, Tally, drive, make_requests
from tests.reliability.server import ServerFactory, settings_for
from tests.webhooks.conftest import SECRET
from tests.webhooks.receiver import Receiver


def webhook_run(serve: ServerFactory, database: str, tmp_path: Path) -> None:
    receiver = Receiver(SECRET)
    receiver.down()  # the port is known; nothing listens on it yet
    server = serve(
        database,
        events_webhook_url=receiver.url,
        events_webhook_secret=SECRET,
        events_webhook_max_backoff="2s",
    )
    settings = settings_for(server.values, tmp_path)
    try:
        with PreferenceCenter(settings) as center:
            requests = make_requests(center, "hook", 300, 100)
        tally = Tally()
        killer = Killer([server], tally, total=len(requests), kills=2)
        killing = threading.Thread(target=killer.run)
        killing.start()
        try:
            drive(requests, [server.url], [("127.0.0.1", server.smtp_port)],
                  deadline=time.monotonic() + 300, tally=tally)  # fmt: skip
        finally:
            killer.done.set()
            killing.join(60)
        assert not killer.errors and killer.kills == 2
        with PreferenceCenter(settings) as center:
            expected = {f"evt_{event.id}" for event in center.store.events()}
        assert len(expected) >= len(requests)
        assert receiver.ids == []
        receiver.up()
        assert receiver.wait_for(random.randint(1, len(expected) // 2), 120)
        server.restart()  # kill -9 while delivering: what was in flight is sent again
        assert receiver.wait_for(len(expected), 180), (len(set(receiver.ids)), len(expected))
        assert set(receiver.ids) == expected
        assert receiver.bad_signatures == 0
        with PreferenceCenter(settings) as center:  # the worker deletes a round's rows after it
            deadline = time.monotonic() + 60
            while center.webhook_outbox() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert center.webhook_outbox() == {}
        print(f"\nwebhooks: {len(expected)} changes, {len(receiver.ids)} deliveries, "
              f"{len(set(receiver.ids))} distinct ids, {killer.kills + 1} kill -9")  # fmt: skip
    finally:
        server.kill()
        receiver.down()


@pytest.mark.timeout(600)
def test_webhooks_after_receiver_down_and_kill_9_sqlite(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path
) -> None:
    webhook_run(serve, sqlite_url, tmp_path)


@pytest.mark.timeout(600)
@pytest.mark.postgres
def test_webhooks_after_receiver_down_and_kill_9_postgres(
    serve: ServerFactory, postgres_url: str, tmp_path: Path
) -> None:
    webhook_run(serve, postgres_url, tmp_path)
