"""``prefcenter filter`` screens a long list in two processes on both stores.

The command forks a worker for a list of 100,000 rows or more (estimated from the file's
size). The store closes its connections, and PostgreSQL's pool its threads, before the
fork, so the worker starts on PostgreSQL too (it did not while the pool's threads ran),
and it opens its own connection to ask the store about the chunks it hashed. Both ways
(the store read into the index, and the store asked per chunk because FILTER_MEMORY
leaves no room for it) must give the counts a serial screen gives. The worker's
existence is read from the command's own rusage of its children. Asked rather than
indexed, the rows are held in windows (more than ten here, with second spellings
across them), and a window's people split between the two processes and, on
PostgreSQL, staged in a temporary table.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from prefcenter.model import Source
from tests.cli.conftest import Prefcenter

ROWS = 24_000
#: Pads each row to about 300 bytes, so the file looks like 100,000+ rows of 64 bytes.
PAD = "x" * 280
MEASURED = """
import atexit, resource, runpy, sys
def report():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("children-cpu", children.ru_utime + children.ru_stime, file=sys.stderr)
atexit.register(report)
sys.argv = ["prefcenter", *sys.argv[1:]]
runpy.run_module("prefcenter", run_name="__main__")
"""


def _person(i: int) -> str:
    return f"reader{i}@example{i % 5}.org"


#: Lowers the thresholds of the window's split and of PostgreSQL's staged table, so that
#: a test-sized window (half of 1 MiB of FILTER_MEMORY: about 1,100 of these rows) takes both.
SMALL_WINDOWS = """
import prefcenter.screening.window, prefcenter.store.postgres
prefcenter.screening.window.SPLIT_MIN = 100
prefcenter.store.postgres.STAGE_MIN = 100
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("memory_mib", "prelude"),
    [(200, ""), (1, ""), (1, SMALL_WINDOWS)],
    ids=["index", "asked-in-windows", "windows-split-and-staged"],
)
def test_a_long_list_is_screened_by_a_worker(
    prefcenter: Prefcenter, memory_mib: int, prelude: str
) -> None:
    rows = [f"{_person(i)},{PAD}" for i in range(ROWS)]
    rows += [_person(i).upper() + "," for i in range(0, ROWS, 10)]  # second spellings
    (prefcenter.tmp_path / "list.csv").write_text("email,note\n" + "\n".join(rows) + "\n")
    with prefcenter.center() as center, center.transaction() as changes:
        for i in range(0, ROWS, 3):
            changes.suppress(_person(i), source=Source.IMPORT)
        for i in range(1, ROWS, 7):
            changes.set_topic(_person(i), "news", subscribed=False, source=Source.WEB)

    result = subprocess.run(
        [sys.executable, "-c", prelude + MEASURED, "filter", "list.csv", "--topic", "news",
         "-o", "out.csv", "--json"],
        env=prefcenter.environment(PREFCENTER_FILTER_MEMORY=str(memory_mib)),
        cwd=prefcenter.tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    suppressed = len(range(0, ROWS, 3))
    topic = len([i for i in range(1, ROWS, 7) if i % 3])
    assert summary["refused"] == {
        "duplicate": len(range(0, ROWS, 10)),
        "unsubscribed_global": suppressed,
        "unsubscribed_topic": topic,
    }
    assert summary["sendable"] == ROWS - suppressed - topic
    cpu = [line for line in result.stderr.splitlines() if line.startswith("children-cpu ")]
    assert float(cpu[-1].split()[1]) > 0, "no worker process ran"
