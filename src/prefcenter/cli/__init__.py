"""The ``prefcenter`` command line: a thin skin over :class:`PreferenceCenter`.

One module per group of commands; importing this package registers them all on
:data:`main`, the console script's entry point.
"""

from __future__ import annotations

from prefcenter.cli import esp, feed, init, lists, migrate, operators, ops, people, serve
from prefcenter.cli._app import EXIT_CODES, main

__all__ = [
    "EXIT_CODES",
    "esp",
    "feed",
    "init",
    "lists",
    "main",
    "migrate",
    "operators",
    "ops",
    "people",
    "serve",
]
