"""Loading settings: arguments > ``PREFCENTER_*`` environment > TOML file > defaults.

This is the only module that reads ``os.environ``; everything else receives a
:class:`~prefcenter.config.settings.Settings`. Development keys (``var/secret``,
``var/pepper``) are generated here when none is configured.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefcenter.config.checks import validate
from prefcenter.config.settings import ENV_PREFIX, Settings
from prefcenter.config.types import MIN_KEY_BYTES, Secret, byte_count, convert
from prefcenter.errors import ConfigError

__all__ = ["child_environment", "load_settings", "with_dev_keys"]

log = logging.getLogger("prefcenter.config")


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    generate_dev_keys: bool = True,
) -> Settings:
    """Build :class:`Settings` from arguments > environment > TOML file > defaults.

    Args:
        overrides: setting names (``database``, ``base_url``...) to values, strings or typed.
        environ: the environment to read; ``os.environ`` when omitted.
        config_file: a TOML file; when omitted, ``PREFCENTER_CONFIG`` names one, if set.
        generate_dev_keys: create ``var/secret`` and ``var/pepper`` when no key is set.

    Raises:
        ConfigError: a value cannot be used, or an unknown setting name was given.
    """
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        values.update(_read_toml(Path(path), fields))
    for name in fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw
    for name, raw in (overrides or {}).items():
        if name not in fields:
            raise ConfigError(
                f"Setting {name!r} does not exist; see docs/config.md for the names.", name=name
            )
        values[name] = raw

    typed: dict[str, Any] = {}
    for name, raw in values.items():
        kind = fields[name].metadata["kind"]
        # Strings come from the environment, lists/dicts/numbers from TOML; anything
        # else was passed already typed by a caller.
        plain = isinstance(raw, str | list | dict | int | bool)
        typed[name] = convert(name, kind, raw) if plain else raw
    settings = Settings(**typed)
    validate(settings)
    if generate_dev_keys:
        settings = with_dev_keys(settings)
    return settings


def _read_toml(path: Path, fields: Mapping[str, dataclasses.Field[Any]]) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {str(path)!r} does not exist; fix PREFCENTER_CONFIG or create it.",
            name="config",
            value=str(path),
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"Config file {str(path)!r} is not valid TOML ({error}); fix the syntax.",
            name="config",
            value=str(path),
        ) from None
    section = data.get("prefcenter", data)
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ConfigError(
            f"Config file {str(path)!r} has unknown setting {unknown[0]!r}; "
            "see docs/config.md for the names.",
            name=unknown[0],
        )
    return dict(section)


def with_dev_keys(settings: Settings) -> Settings:
    """Fill a missing secret or pepper from ``var/``, generating it once (development).

    Raises:
        ConfigError: ``var/`` cannot be written, or a key file there is too short.
    """
    changes: dict[str, Any] = {}
    if not settings.secret:
        changes["secret"] = (Secret(_dev_key(settings, "secret")),)
    if settings.pepper is None:
        changes["pepper"] = Secret(_dev_key(settings, "pepper"))
    return dataclasses.replace(settings, **changes) if changes else settings


def _dev_key(settings: Settings, name: str) -> str:
    path = settings.var_path / name
    verb = "read" if path.exists() else "written"
    try:
        key = path.read_text().strip() if verb == "read" else _generate(path)
    except OSError as error:
        raise ConfigError(
            f"Setting VAR_DIR is {str(settings.var_path)!r}, but the development key file "
            f"{str(path)!r} cannot be {verb} ({error.strerror or error}); point "
            f"{ENV_PREFIX}VAR_DIR at a writable directory, or set {ENV_PREFIX}SECRET and "
            f"{ENV_PREFIX}PEPPER.",
            name="var_dir",
            value=settings.var_dir,
        ) from None
    size = len(key.encode())
    if size < MIN_KEY_BYTES:
        # Only the pepper must never change: a new one makes every stored hash unreachable.
        unless = " if no store uses it yet" if name == "pepper" else ""
        raise ConfigError(
            f"Development key file {str(path)!r} holds {byte_count(size)}, fewer than "
            f"{MIN_KEY_BYTES}; set {ENV_PREFIX}{name.upper()}, or delete the file to generate "
            f"a new one{unless}.",
            name=name,
        )
    return key


def _generate(path: Path) -> str:
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # Written whole to a private file, then linked into place: a process starting at the
    # same moment reads a complete key or none, and a failed write leaves no empty key.
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            return path.read_text().strip()  # the other process was first: use its key
    finally:
        draft.unlink(missing_ok=True)
    log.warning(
        "no %s configured: generated one into %s; set %s%s in production",
        path.name,
        path,
        ENV_PREFIX,
        path.name.upper(),
    )
    return key


def child_environment(
    overrides: Mapping[str, object], config_file: str | None = None
) -> dict[str, str]:
    """The environment for a child ``prefcenter`` process that must load the settings
    this one did: this process's environment, plus ``overrides`` (what the command line
    set) as ``PREFCENTER_*`` variables and the configuration file as ``PREFCENTER_CONFIG``.

    Variables rather than options: a child's command line is visible to every user of
    the host, and a store URL may hold a password.
    """
    env = dict(os.environ)
    env.update({f"{ENV_PREFIX}{name.upper()}": str(value) for name, value in overrides.items()})
    if config_file:
        env[f"{ENV_PREFIX}CONFIG"] = config_file
    return env
