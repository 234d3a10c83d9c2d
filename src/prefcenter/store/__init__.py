"""The suppression store: one protocol, a SQLite and a PostgreSQL implementation.

Open one with :func:`open_store` from the ``DATABASE`` setting's URL.
"""

from __future__ import annotations

import os

from prefcenter.errors import ConfigError
from prefcenter.store.protocol import NewEvent, Session, Store, Violation


def open_store(url: str, *, fingerprint: str, pool_size: int = 8) -> Store:
    """Open (creating or upgrading) the store a URL names.

    ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` name a SQLite file;
    ``postgresql://user@host/db`` (or ``postgres://``) a PostgreSQL database.

    Raises:
        ConfigError: the URL names no backend prefcenter has.
        PepperMismatch: the store was created with another pepper.
        SchemaTooNew: the store was written by a newer prefcenter.
        StoreUnavailable: the database cannot be reached or created.
    """
    if url.startswith("sqlite:///"):
        from prefcenter.store.sqlite import SqliteStore

        return SqliteStore(_sqlite_path(url), fingerprint=fingerprint)
    if url.startswith(("postgresql://", "postgres://")):
        from prefcenter.store.postgres import PostgresStore

        return PostgresStore(url, fingerprint=fingerprint, max_size=max(1, pool_size))
    from prefcenter.store.postgres import redact

    shown = redact(url)  # the scheme stays: it is what is wrong
    raise ConfigError(
        f"Setting DATABASE has value {shown!r}; use sqlite:///path.db or "
        "postgresql://user@host/db.",
        name="database",
        value=shown,
    )


def require_existing(url: str, *, command: str) -> None:
    """Refuse a SQLite ``url`` whose file does not exist, for a command that must not make it.

    Opening a store creates it, so a mistyped ``DATABASE`` (or a relative path used from
    another directory) would otherwise give a new, empty store that says everyone may
    be contacted, and keeps an opt-out where no sender looks. A PostgreSQL database is
    never created by opening it, but its tables are: one without them is refused too.

    Raises:
        ConfigError: the file is missing, or the database has no prefcenter tables.
        StoreUnavailable: the PostgreSQL database cannot be reached to ask.
    """
    if url.startswith(("postgresql://", "postgres://")):
        _require_postgres_store(url, command)
        return
    if not url.startswith("sqlite:///"):
        return
    path = _sqlite_path(url)
    if os.path.exists(path):
        return
    where = os.path.abspath(path)
    relative = "" if os.path.isabs(path) else f", relative to the working directory {os.getcwd()}"
    raise ConfigError(
        f"Store {url!r} does not exist (no file {where!r}{relative}), and `{command}` does "
        "not create one: an empty store would let everyone be contacted. Fix DATABASE "
        "(--database or PREFCENTER_DATABASE; sqlite:////abs/path.db for an absolute "
        "path), run it where the sidecar runs, or create the store with `prefcenter init`.",
        name="database",
        value=url,
    )


def _require_postgres_store(url: str, command: str) -> None:
    from prefcenter.store.postgres import has_store, redact

    if has_store(url):
        return
    raise ConfigError(
        f"PostgreSQL database {redact(url)!r} holds no prefcenter store (no meta table), "
        f"and `{command}` does not create one: an empty store would let everyone be "
        "contacted. Fix DATABASE, or create the store with `prefcenter init`.",
        name="database",
        value=redact(url),
    )


def _sqlite_path(url: str) -> str:
    path = url[len("sqlite:///") :]
    if not path or path.startswith(":memory:"):
        raise ConfigError(
            f"Setting DATABASE has value {url!r}; use a file such as "
            "sqlite:///var/prefcenter.db (an in-memory database would lose every opt-out).",
            name="database",
            value=url,
        )
    return path


__all__ = ["NewEvent", "Session", "Store", "Violation", "open_store", "require_existing"]
