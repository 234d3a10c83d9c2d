"""``prefcenter events``: JSON lines in commit order, resumable, and --follow."""

from __future__ import annotations

import json
import subprocess
import sys

from prefcenter.model import Source
from tests.cli.conftest import Prefcenter, one_error_line
from tests.webhooks.conftest import SECRET


def test_events_print_json_lines_and_resume(prefcenter: Prefcenter) -> None:
    with prefcenter.center() as center:
        center.suppress("a@example.com", source=Source.CLI, reason="asked")
        center.set_topic("b@example.com", "news", False, source=Source.WEB)
    result = prefcenter("events", "--limit", "1")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["kind"], line.get("address")) for line in lines] == [
        ("suppress", "a@example.com"),
        ("opt-out", "b@example.com"),
    ]
    again = prefcenter("events", "--after", lines[0]["cursor"])
    assert [json.loads(line)["id"] for line in again.stdout.splitlines()] == [lines[1]["id"]]
    assert prefcenter("events", "--from-end").stdout == ""


def test_a_bad_cursor_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("events", "--after", "garbage")
    assert result.returncode != 0
    assert "was not made by this feed" in one_error_line(result)


def test_follow_prints_new_events_as_they_commit(prefcenter_sqlite: Prefcenter) -> None:
    follower = subprocess.Popen(
        [sys.executable, "-m", "prefcenter", "events", "--follow"],
        env=prefcenter_sqlite.environment(),
        cwd=prefcenter_sqlite.tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        with prefcenter_sqlite.center() as center:
            for n in range(3):
                center.suppress(f"f{n}@example.com", source=Source.CLI)
                line = json.loads(follower.stdout.readline())  # blocks until it is printed
                assert line["address"] == f"f{n}@example.com"
    finally:
        follower.terminate()
        follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()


def test_webhooks_discard_asks_for_yes_then_deletes_a_removed_endpoints_dead_letters(
    prefcenter: Prefcenter,
) -> None:
    with prefcenter.center() as center:
        old = "http://127.0.0.1:9/old?token=s3cret"
        center.store.run(lambda session: session.sync_endpoints([old]))
        center.suppress("a@example.com", source=Source.CLI)
        center.store.run(lambda session: session.sync_endpoints([]))
        center.store.run(lambda session: session.outbox_retire())
    asked = prefcenter("webhooks", "discard", "http://127.0.0.1:9/old")
    assert asked.returncode == 1
    assert "has 1 dead-lettered deliveries; add --yes" in one_error_line(asked)
    assert "s3cret" not in asked.stderr
    done = prefcenter("webhooks", "discard", "http://127.0.0.1:9/old", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "discarded 1 dead-lettered deliveries\n"
    assert prefcenter("webhooks", "status").stdout == "no webhook deliveries waiting\n"
    lines = [json.loads(line) for line in prefcenter("events").stdout.splitlines()]
    assert lines[-1]["kind"] == "webhooks-discarded"
    assert lines[-1]["detail"] == "http://127.0.0.1:9/old" and lines[-1]["source"] == "cli"


def test_webhooks_discard_refuses_a_configured_endpoint(prefcenter_sqlite: Prefcenter) -> None:
    hook = "http://127.0.0.1:9/live"
    result = prefcenter_sqlite(
        "webhooks", "discard", hook, "--yes",
        PREFCENTER_EVENTS_WEBHOOK_URL=hook, PREFCENTER_EVENTS_WEBHOOK_SECRET=SECRET,
    )  # fmt: skip
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: Endpoint '{hook}' is still in EVENTS_WEBHOOK_URL; remove it, or send its "
        "deliveries with `prefcenter webhooks retry`."
    )
