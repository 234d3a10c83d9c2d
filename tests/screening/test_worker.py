"""The hash worker's cases (``worker_cases.py``), run in a fresh interpreter where the
fork rule holds for real (see :mod:`tests.fresh_pytest`)."""

from __future__ import annotations

from pathlib import Path

from tests.fresh_pytest import run_cases


def test_the_worker_cases_pass_in_a_process_with_one_thread(tmp_path: Path) -> None:
    run_cases(Path(__file__).with_name("worker_cases.py"), tmp_path)
