"""Peak memory of a command and its children, counted once: the sum of their PSS.

A forked worker shares pages with its parent, so the sum of the processes' peak RSS
(VmHWM) counts those pages twice. PSS (proportional set size) divides each shared page
among the processes that map it, so the sum over a process tree is what the tree holds.
Linux has no peak PSS; :class:`PeakPss` samples ``/proc/<pid>/smaps_rollup`` of the
tree every :data:`INTERVAL` seconds while it runs (a peak shorter than that can be
missed).
"""

from __future__ import annotations

import os
import subprocess
import threading

#: Seconds between samples.
INTERVAL = 0.02


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (those alive now)."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    found += _tree(int(child))
    except OSError:  # it ended meanwhile
        pass
    return found


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakPss:
    """Samples a running process tree's PSS sum until :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
        self.pid = process.pid
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(INTERVAL):
            total = sum(_pss_kib(pid) for pid in _tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)

    def stop(self) -> float:
        """Stop sampling; the peak in MB (10**6 bytes)."""
        self._done.set()
        self._thread.join()
        return self.peak_kib * 1024 / 1e6
