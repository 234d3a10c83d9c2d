"""``prefcenter events``: JSON lines in commit order, resumable, and --follow."""

from __future__ import annotations

import json
import subprocess
import sys

from prefcenter.model import Source
from tests.cli.conftest import Prefcenter, one_error_line


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
