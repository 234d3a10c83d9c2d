"""An asyncio loop on a thread of its own: servers under test run there, tests call in.

The in-process harness of both sidecars (``tests/sidecar/conftest.py`` for HTTP,
``tests/sidecar/smtp_fixtures.py`` for SMTP); a sidecar that must be killed like a real
process runs under ``tests/reliability/server.py`` instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A running event loop on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> LoopThread:
        self.thread.start()
        return self

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop, join its thread and close it."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
