"""The privacy tests start real servers with the reliability suite's fixtures."""

from __future__ import annotations

from tests.reliability.conftest import serve, sqlite_url

__all__ = ["serve", "sqlite_url"]
