"""Issue 20 items 9 and 10: lists and exports an outsider can shape.

9. One endless line in a list given to ``filter`` took a gigabyte and minutes: the real
   command now refuses it, naming the line, in the memory a normal list takes.
10. An address or reason planted through mail (``=HYPERLINK(...)``) came out of
    ``export`` as a live spreadsheet formula: every cell that starts like one gets a
    leading ``'`` (OWASP). ``filter`` keeps the list's bytes but warns.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefcenter.model import Source
from prefcenter.screening.csv.cells import count_formula_cells, neutralise
from tests.cli.conftest import Prefcenter


@pytest.fixture
def cli(tmp_path: Path) -> Prefcenter:
    prefcenter = Prefcenter(f"sqlite:///{tmp_path / 'prefcenter.db'}", tmp_path)
    prefcenter.center().close()
    return prefcenter


def _measured(cli: Prefcenter, path: Path) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS (KiB) of ``prefcenter filter PATH``."""
    err = cli.tmp_path / f"{path.name}.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefcenter", "filter", str(path), "-o", os.devnull],
            env=cli.environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, err.read_text(), usage.ru_maxrss


def _normal_list(path: Path) -> None:
    path.write_text("email,name\n" + "".join(f"p{n}@example.com,P {n}\n" for n in range(2000)))


@pytest.mark.parametrize("where", ["middle", "first", "last without a line break"])
def test_one_endless_line_is_refused_by_number_in_flat_memory(
    cli: Prefcenter, tmp_path: Path, where: str
) -> None:
    normal = tmp_path / "normal.csv"
    _normal_list(normal)
    code, _, normal_rss = _measured(cli, normal)
    assert code == 0
    path = tmp_path / "huge.csv"
    # Written a mebibyte at a time: the test process must not hold it (a child's peak
    # RSS starts from its parent's at fork).
    before, after, line = {
        "middle": ("email,name\na@example.com,A\n", ",B\nb@example.com,B\n", 3),
        "first": ("", "\na@example.com\n", 1),
        "last without a line break": ("email,name\na@example.com,A\n", "", 3),
    }[where]
    with path.open("w") as out:
        out.write(before)
        for _ in range(96):  # 96 MiB in one line
            out.write("x" * (1 << 20))
        out.write(after)
    code, stderr, rss = _measured(cli, path)
    assert code != 0
    assert f"Line {line} of the list is over" in stderr
    assert "Traceback" not in stderr
    assert rss - normal_rss < 40_000, (normal_rss, rss)  # KiB: not the line's 96 MiB


def test_export_neutralises_cells_a_spreadsheet_would_run(cli: Prefcenter) -> None:
    planted = {
        "=cmd@example.com": '=HYPERLINK("http://evil.example","x")',
        "+1@example.com": "+SUM(A1)",
        "-x@example.com": "-1+1",
        "at@example.com": "@SUM(1)",
        "tab@example.com": "\tTAB",
        "cr@example.com": "\rCR",
    }
    center = cli.center()
    try:
        for address, reason in planted.items():
            center.suppress(address, reason=reason, source=Source.API)
    finally:
        center.close()
    result = cli("export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert len(rows) == len(planted), rows
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    by_reason = {row["reason"] for row in rows}
    # (the command's output is read as text: a CR arrives as a line feed)
    assert {neutralise(reason).replace("\r", "\n") for reason in planted.values()} == by_reason
    assert "'=cmd@example.com" in {row["address"] for row in rows}


def test_filter_keeps_formula_cells_as_they_were_and_warns(cli: Prefcenter, tmp_path: Path) -> None:
    data = b'email,note\r\na@example.com,=1+1\r\nb@example.com,"@SUM(1)"\r\nc@example.com,ok\r\n'
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    out = tmp_path / "out.csv"
    result = cli("filter", str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == data  # byte for byte, as documented
    assert "warning: 2 cells start with" in result.stderr


def test_formula_cells_are_counted_in_every_position() -> None:
    assert count_formula_cells("a,b\nc,d", ",") == 0
    assert count_formula_cells('=a,"+b"\n-c;x,@d', ",") == 4
    assert count_formula_cells("a,b\r\nc,\r\n", ",") == 0  # CRLF endings are not cells
    assert count_formula_cells("a\t=b\n", "\t") == 1
