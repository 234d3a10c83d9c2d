"""The ``prefcenter`` command line: a thin skin over :class:`PreferenceCenter`.

One module per group of commands; importing this package registers them all on
:data:`main`, the console script's entry point.
"""

from __future__ import annotations

from prefcenter import cli_migrate  # noqa: F401 - registers `prefcenter migrate`
from prefcenter.cli import lists, ops, people, serve
from prefcenter.cli._app import EXIT_CODES, main

__all__ = ["EXIT_CODES", "lists", "main", "ops", "people", "serve"]
