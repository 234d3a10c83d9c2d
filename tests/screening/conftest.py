"""Screening runs against both stores: the store suite's fixtures, shared."""

from tests.store.conftest import center, clock, database, open_center

__all__ = ["center", "clock", "database", "open_center"]
