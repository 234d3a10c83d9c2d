"""filter (the uploaded-list guard) and export, through the real command."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import stat
import subprocess
import sys
import threading

import pytest

from prefcenter.model import Source
from tests.cli.conftest import Prefcenter, one_error_line

LIST = (
    b"id,Email,name\r\n"
    b'1,alice@example.com,"Alice, A."\r\n'
    b"2,bob@example.com,Bob\r\n"
    b'3,BOB+promo@Example.com,"Bob ""again"""\r\n'
    b"4,not-an-address,Nobody\r\n"
    b"5,carol@example.com,Carol\r\n"
    b"6,dave@example.com,Dave\r\n"
)


def test_filter_drops_suppressed_invalid_and_duplicates(prefcenter: Prefcenter) -> None:
    with prefcenter.center() as center:
        center.suppress("alice@example.com", source=Source.API, evidence="r-1")
        center.suppress("dave@example.com", topic="offers", source=Source.API, evidence="r-2")
    source = prefcenter.tmp_path / "list.csv"
    source.write_bytes(LIST)
    out = prefcenter.tmp_path / "out.csv"

    result = prefcenter("filter", str(source), "--topic", "offers", "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (
        b"id,Email,name\r\n2,bob@example.com,Bob\r\n5,carol@example.com,Carol\r\n"
    )
    assert json.loads(result.stdout) == {
        "read": 6, "sendable": 2, "suppressed": 2, "invalid": 1, "duplicate": 1,
        "refused": {"duplicate": 1, "invalid": 1, "unsubscribed_global": 1,
                    "unsubscribed_topic": 1},
        "blank": 0, "header": True, "column": "Email", "encoding": "utf-8", "formula_cells": 0,
    }  # fmt: skip

    # Without -o the rows go to stdout and the human summary to stderr.
    piped = prefcenter("filter", str(source), "--column", "email")
    assert piped.stdout.replace("\n", "\r\n") == (
        "id,Email,name\r\n2,bob@example.com,Bob\r\n5,carol@example.com,Carol\r\n"
        "6,dave@example.com,Dave\r\n"
    )
    assert "read       6\nsendable   3\nsuppressed 1\n" in piped.stderr
    assert "filtering" not in piped.stderr  # no progress bar when stderr is not a terminal


def test_filter_one_address_per_line_from_stdin(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter_sqlite("suppress", "x@example.com")
    result = prefcenter_sqlite("filter", "-", input="a@example.com\nX@Example.com\nb@example.com\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a@example.com\nb@example.com\n"
    assert "column     #0 (no header)" in result.stderr


def test_filter_errors(prefcenter_sqlite: Prefcenter) -> None:
    source = prefcenter_sqlite.tmp_path / "list.csv"
    source.write_bytes(b"id,name\n1,Ann\n")
    result = prefcenter_sqlite("filter", str(source), "--column", "mail")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "Error: Column 'mail' is not in the header (columns: 'id', 'name'); "
        "pass --column with one of those names or a 0-based index."
    )
    missing = prefcenter_sqlite("filter", "nope.csv")
    assert missing.returncode == 2
    assert "'nope.csv'" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b'name,email\n"Alice,alice@example.com\nBob,bob@example.com\n', [],
         'Error: Line 2 of the list opens a quote (") that never closes, so the rest of the '
         "file would be read as one field; close or remove that quote and run again."),
        (b"name,email\nAlice,alice@example.com\n", ["--column", "5"],
         "Error: Column 5 is past the end of the header: it has 2 columns, numbered from 0 "
         "to 1; pass --column with one of those numbers or a header name."),
        ("name,email\nAlice,alice@example.com\n".encode("utf-16-le"), [],
         "Error: The list looks like UTF-16 text without a byte-order mark; save it as "
         "UTF-8 CSV, or pass --encoding utf-16-le."),
    ],
    ids=["unclosed-quote", "column-index", "utf-16-without-bom"],
)  # fmt: skip
def test_filter_refuses_a_list_it_would_misread(
    prefcenter_sqlite: Prefcenter, content: bytes, options: list[str], message: str
) -> None:
    """Each of these was read as rows of invalid addresses, with exit 0. The output of an
    earlier run stays as it was, and no part of this one is left behind."""
    (prefcenter_sqlite.tmp_path / "list.csv").write_bytes(content)
    earlier = prefcenter_sqlite.tmp_path / "out.csv"
    earlier.write_text("email\nearlier@example.com\n")
    result = prefcenter_sqlite("filter", "list.csv", *options, "-o", "out.csv")
    assert result.returncode == 2
    assert one_error_line(result) == message
    assert earlier.read_text() == "email\nearlier@example.com\n"
    assert not list(prefcenter_sqlite.tmp_path.glob(".out.csv*"))


@pytest.mark.parametrize("command", [["filter", "list.csv"], ["export"]], ids=["filter", "export"])
def test_an_unwritable_output_is_one_clear_line(
    prefcenter_sqlite: Prefcenter, command: list[str]
) -> None:
    (prefcenter_sqlite.tmp_path / "list.csv").write_bytes(LIST)
    target = prefcenter_sqlite.tmp_path / "missing" / "out.csv"
    result = prefcenter_sqlite(*command, "-o", str(target))
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: Cannot write {str(target)!r}: No such file or directory; "
        "pass -o with a file in a folder that exists and that you may write to."
    )
    assert not target.parent.exists()


@pytest.mark.parametrize("command", [["filter", "list.csv"], ["export"]], ids=["filter", "export"])
def test_output_to_a_fifo_is_written_in_place_not_replaced(
    prefcenter_sqlite: Prefcenter, command: list[str]
) -> None:
    """-o naming a device or a pipe (/dev/null, a FIFO) writes into it: replacing it with
    a regular file, as a file output is replaced, would turn root's /dev/null into one."""
    (prefcenter_sqlite.tmp_path / "list.csv").write_bytes(LIST)
    fifo = prefcenter_sqlite.tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = prefcenter_sqlite(*command, "-o", str(fifo))
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and received[0].startswith(
        b"id,Email" if command[0] == "filter" else b"address"
    )


@pytest.mark.parametrize("command", [["export"], ["history", "alice@example.com"]])
def test_a_full_disk_on_stdout_is_one_clear_line(
    prefcenter_sqlite: Prefcenter, command: list[str]
) -> None:
    prefcenter_sqlite("suppress", "alice@example.com", "--reason", "asked by phone")
    with open("/dev/full", "w") as full:  # every write fails with ENOSPC
        result = subprocess.run(
            [sys.executable, "-m", "prefcenter", *command],
            env=prefcenter_sqlite.environment(),
            cwd=prefcenter_sqlite.tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert one_error_line(result) == (
        "Error: Cannot write the output: No space left on device; free some space or "
        "choose another output, then run the command again."
    )


def test_export_csv_and_json(prefcenter: Prefcenter) -> None:
    prefcenter("suppress", "alice@example.com", "--reason", "asked by phone")
    with prefcenter.center() as center:
        center.suppress("bob@example.com", topic="news", source=Source.CLI, evidence="r-0")
        center.suppress("gone@example.com", source=Source.API, evidence="r-1")
        center.forget("gone@example.com", source=Source.API, evidence="r-2")

    exported = prefcenter("export")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted((r["address"], r["scope"], r["topic"]) for r in rows) == [
        ("alice@example.com", "global", ""), ("bob@example.com", "topic", "news")
    ]  # fmt: skip
    assert exported.stderr == (
        "left out 1 suppressions whose address is not stored (hash only); --all adds them, "
        "or run `prefcenter filter` on the provider's list instead\n"
    )
    alice = next(r for r in rows if r["address"] == "alice@example.com")
    assert alice["all_channels"] == "false"  # as JSON and most tools spell it
    assert (alice["reason"], alice["source"], alice["channel"]) == (
        "asked by phone",
        "cli",
        "email",
    )

    target = prefcenter.tmp_path / "all.json"
    everything = prefcenter("export", "--format", "json", "--all", "-o", str(target))
    assert (everything.returncode, everything.stderr) == (0, "")
    items = json.loads(target.read_text())
    assert len(items) == 3
    assert sorted(str(i["address"]) for i in items) == [
        "None", "alice@example.com", "bob@example.com"
    ]  # fmt: skip
    assert all(len(i["identity_hash"]) == 32 for i in items)


def test_filter_shows_progress_on_a_terminal(prefcenter_sqlite: Prefcenter) -> None:
    source = prefcenter_sqlite.tmp_path / "big.csv"
    source.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(5_000)))
    out = prefcenter_sqlite.tmp_path / "out.csv"
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "prefcenter", "filter", str(source), "-o", str(out)],
            env=prefcenter_sqlite.environment(), stderr=terminal, stdout=subprocess.PIPE,
            timeout=120, check=False,
        )  # fmt: skip
        os.close(terminal)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal side is closed
            while chunk := os.read(controller, 65536):
                shown += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert b"filtering" in shown and b"100%" in shown
    assert out.read_text().count("\n") == 5_001


@pytest.mark.parametrize("to_stdout", [False, True], ids=["to-file", "to-stdout"])
def test_filter_a_long_list_in_two_processes(
    prefcenter_sqlite: Prefcenter, to_stdout: bool
) -> None:
    """A list long enough for a hash worker (see cli/lists.py) gives the same counts and
    rows as the rule says: every tenth person suppressed, every twentieth row a second
    spelling of the row before. On stdout too, every row comes out once and in order
    (the worker is a fork of a process that had started writing)."""
    rows = 120_000
    with prefcenter_sqlite.center() as center, center.transaction() as changes:
        for n in range(0, rows, 10):
            changes.suppress(f"user{n}@example.com", source=Source.IMPORT)
    lines = ["id,email,note"]
    expected = []
    for n in range(rows):
        address = f"User{n - 1}+x@EXAMPLE.com" if n % 20 == 19 else f"user{n}@example.com"
        line = f'{n},{address},"note for row {n}, kept as it was written"'
        lines.append(line)
        if n % 10 and n % 20 != 19:
            expected.append(line)
    source = prefcenter_sqlite.tmp_path / "long.csv"
    source.write_text("\n".join(lines) + "\n")
    assert source.stat().st_size >= 100_000 * 64  # what makes the command fork a worker
    out = prefcenter_sqlite.tmp_path / "out.csv"

    if to_stdout:
        result = prefcenter_sqlite("filter", str(source))
        written = result.stdout
        assert f"read       {rows}\n" in result.stderr
        assert f"duplicate  {rows // 20}\n" in result.stderr
    else:
        result = prefcenter_sqlite("filter", str(source), "-o", str(out), "--json")
        written = out.read_text()
        summary = json.loads(result.stdout)
        assert (summary["read"], summary["duplicate"]) == (rows, rows // 20)
        assert summary["refused"]["unsubscribed_global"] == rows // 10
    assert result.returncode == 0, result.stderr
    assert written.splitlines() == ["id,email,note", *expected]
