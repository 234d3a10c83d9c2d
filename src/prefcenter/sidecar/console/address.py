"""Where the console listens, read the same way by its listener here and in ``serve``'s child."""

from __future__ import annotations

from prefcenter.config import Settings
from prefcenter.errors import ConfigError
from prefcenter.sidecar.http.server import parse_listen


def console_address(
    settings: Settings, host: str | None = None, port: int | None = None
) -> tuple[str, int]:
    """Where the console listens: ``settings.console``, with ``host``/``port`` instead
    where given (the console in this process and in its child agree).

    Raises:
        ConfigError: ``CONSOLE`` is empty (the console is off) or not ``HOST:PORT``.
    """
    if not settings.console:
        raise ConfigError(
            "Setting CONSOLE is empty, so the console is off; set it to HOST:PORT.",
            name="console",
        )
    default_host, default_port = parse_listen(settings.console, "console")
    return (default_host if host is None else host, default_port if port is None else port)


__all__ = ["console_address"]
