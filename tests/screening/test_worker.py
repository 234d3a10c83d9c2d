"""The hash worker's cases, run in a fresh interpreter.

The worker forks only where the fork rule allows it: no other thread in the process.
The test session has threads of its own by the time it gets here (sidecars, pools), so
rather than switch the rule off, the cases in ``worker_cases.py`` run under a pytest of
their own, where the rule holds for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_cases_pass_in_a_process_with_one_thread(tmp_path: Path) -> None:
    cases = Path(__file__).with_name("worker_cases.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(tmp_path / "cases"), str(cases)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
