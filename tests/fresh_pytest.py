"""Run a file of test cases under a pytest of its own, in a fresh interpreter.

The workers that ``filter`` and ``import`` fork are used only where the fork rule allows
it: no other thread in the process. By the time a case runs in the suite, the session
has threads of its own (sidecars, pools, receivers from earlier test files on the same
xdist worker), so rather than switch the rule off, such cases live in ``*_cases.py``
files and run here, where the rule holds for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cases(cases: Path, tmp_path: Path) -> None:
    """Run ``cases`` under a fresh pytest; fail with its output unless all passed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(tmp_path / "cases"), str(cases)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
