"""Login throttling: a token bucket per client address.

A stand-in until the sidecar's shared rate limiter (issue 20, ``sidecar/ratelimit.py``)
is on main; the console then asks that one instead. The per-operator lockout (five
wrong logins, fifteen minutes) lives in the store (:mod:`prefcenter.operators`) and
holds across restarts and replicas; this bucket only slows one address guessing fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Buckets kept at most; the least recently used go first beyond this.
MAX_CLIENTS = 10_000


@dataclass
class LoginThrottle:
    """``burst`` attempts at once per client, then one every ``every`` seconds."""

    burst: int = 10
    every: float = 6.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, client: str) -> bool:
        """Take one token for ``client``; False when it has none left."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) / self.every)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)  # newest last
        while len(self._buckets) > MAX_CLIENTS:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def retry_after(self, client: str) -> int:
        """Whole seconds until ``client`` has a token again."""
        tokens, _ = self._buckets.get(client, (float(self.burst), 0.0))
        return max(1, int((1.0 - tokens) * self.every + 0.999))
