"""The suppression store: one protocol, a SQLite and a PostgreSQL implementation.

Open one with :func:`open_store` from the ``DATABASE`` setting's URL.
"""

from __future__ import annotations

from prefcenter.errors import ConfigError
from prefcenter.store.protocol import NewEvent, Session, Store, Violation


def open_store(url: str, *, fingerprint: str) -> Store:
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

        path = url[len("sqlite:///") :]
        if not path or path.startswith(":memory:"):
            raise ConfigError(
                f"Setting DATABASE has value {url!r}; use a file such as "
                "sqlite:///var/prefcenter.db (an in-memory database would lose every opt-out).",
                name="database",
                value=url,
            )
        return SqliteStore(path, fingerprint=fingerprint)
    if url.startswith(("postgresql://", "postgres://")):
        from prefcenter.store.postgres import PostgresStore

        return PostgresStore(url, fingerprint=fingerprint)
    shown = url.split("@")[-1] if "@" in url else url
    raise ConfigError(
        f"Setting DATABASE has value {shown!r}; use sqlite:///path.db or "
        "postgresql://user@host/db.",
        name="database",
        value=shown,
    )


__all__ = ["NewEvent", "Session", "Store", "Violation", "open_store"]
