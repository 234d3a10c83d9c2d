"""The two-core import's cases (``parallel_cases.py``), run in a fresh interpreter where
the fork rule holds for real (see :mod:`tests.fresh_pytest`): in the suite, a thread
left by an earlier test file on the same xdist worker made the import stay on one core
and the cases fail."""

from __future__ import annotations

from pathlib import Path

from tests.fresh_pytest import run_cases


def test_the_two_core_import_cases_pass_in_a_process_with_one_thread(tmp_path: Path) -> None:
    run_cases(Path(__file__).with_name("parallel_cases.py"), tmp_path)
