"""Configuration: one table of settings, read from arguments, environment and a TOML file.

Precedence is arguments > ``PREFCENTER_*`` environment > TOML file > defaults. This is
the only module that reads ``os.environ``; everything else receives a :class:`Settings`.
The table (:func:`settings_table`) produces validation, ``--help`` text and
``docs/config.md``, so the three cannot drift.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefcenter.errors import ConfigError

log = logging.getLogger("prefcenter.config")

ENV_PREFIX = "PREFCENTER_"


class Secret:
    """A secret string whose ``repr`` and ``str`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call only where it is used, never to log."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``count`` marketing contacts per channel per rolling ``window``."""

    count: int
    window: timedelta


def _setting(default: Any, help: str, *, kind: str = "str") -> Any:
    return field(default=default, metadata={"help": help, "kind": kind})


def _factory(factory: Any, help: str, *, kind: str) -> Any:
    return field(default_factory=factory, metadata={"help": help, "kind": kind})


@dataclass(frozen=True)
class Settings:
    """Every setting prefcenter reads. Build with :func:`load_settings`."""

    database: str = _setting(
        "sqlite:///var/prefcenter.db",
        "Store URL: sqlite:///path.db (one host) or postgresql://user@host/db (many hosts).",
    )
    secret: tuple[Secret, ...] = _factory(
        tuple,
        "Token signing keys, comma-separated, oldest first: the newest signs, all verify. "
        "Unset: a key is generated once into VAR_DIR/secret (development only).",
        kind="secrets",
    )
    pepper: Secret | None = _setting(
        None,
        "Key for hashing identities in the store; never change it. "
        "Unset: generated once into VAR_DIR/pepper (development only).",
        kind="secret",
    )
    base_url: str = _setting(
        "http://127.0.0.1:8080", "Public URL of the HTTP sidecar, used in links."
    )
    mail_domain: str = _setting(
        "localhost", "Domain of the sidecar's mailboxes: unsubscribe@, bounces@, fbl@."
    )
    http: str = _setting("127.0.0.1:8080", "HOST:PORT the HTTP sidecar listens on.")
    smtp: str = _setting("127.0.0.1:2525", "HOST:PORT the SMTP sidecar listens on.")
    var_dir: str = _setting("var", "Directory for development keys and the default database.")
    company_name: str = _setting("Example", "Name shown on pages and in List-Id phrases.")
    brand_color: str = _setting("#1d4ed8", "Accent colour of the pages (CSS hex colour).")
    topics: dict[str, str] = _factory(
        dict,
        "Known topics as id=Label pairs separated by ';' (TOML: a [topics] table). "
        "Unknown topics still work; these get names and descriptions on pages.",
        kind="topics",
    )
    topic_descriptions: dict[str, str] = _factory(
        dict, "Topic descriptions as id=Text pairs separated by ';'.", kind="topics"
    )
    list_id_domain: str = _setting("", "Domain for List-Id (RFC 2919); empty: MAIL_DOMAIN.")
    fold_subaddress: bool = _setting(
        True, "Treat user+tag@domain as user@domain (one person).", kind="bool"
    )
    fold_gmail: bool = _setting(
        True,
        "Ignore dots in gmail.com local parts and treat googlemail.com as gmail.com.",
        kind="bool",
    )
    frequency_cap: FrequencyCap | None = _setting(
        FrequencyCap(3, timedelta(days=7)),
        "Marketing contacts allowed per identity per channel per rolling window, "
        "as COUNT/DURATION (e.g. 3/7d); 'off' disables.",
        kind="cap",
    )
    soft_bounce_limit: int = _setting(
        3, "Soft bounces within SOFT_BOUNCE_WINDOW that make a hard suppression.", kind="int"
    )
    soft_bounce_window: timedelta = _setting(
        timedelta(days=14), "Window for counting soft bounces (e.g. 14d).", kind="duration"
    )
    exception_due: timedelta = _setting(
        timedelta(days=2),
        "Time a person has to decide an exception (e.g. 48h).",
        kind="duration",
    )
    violation_grace: timedelta = _setting(
        timedelta(days=2),
        "Sends this long after an opt-out are not yet violations (in-flight campaigns).",
        kind="duration",
    )
    max_message_size: int = _setting(
        1024 * 1024, "Largest inbound message in bytes (answered 552).", kind="int"
    )
    max_recipients: int = _setting(
        50, "Recipients accepted per inbound message (answered 452).", kind="int"
    )
    max_connections: int = _setting(200, "Concurrent SMTP connections overall.", kind="int")
    max_connections_per_ip: int = _setting(
        20, "Concurrent SMTP connections per client address.", kind="int"
    )
    smtp_timeout: timedelta = _setting(
        timedelta(seconds=60), "Idle timeout of an SMTP session.", kind="duration"
    )
    api_keys: tuple[Secret, ...] = _factory(
        tuple,
        "Bearer keys for /v1, comma-separated; write each as sha256:HEX to keep only the hash.",
        kind="secrets",
    )
    dkim_domain: str = _setting("", "DKIM d= domain for stamp(); empty disables signing.")
    dkim_selector: str = _setting("", "DKIM s= selector.")
    dkim_key_file: str = _setting("", "PEM (RSA) or raw/base64 (Ed25519) private key file.")
    cfbl: bool = _setting(
        False,
        "Add CFBL-Address (RFC 9477) pointing at fbl@MAIL_DOMAIN; needs DKIM.",
        kind="bool",
    )
    trusted_authserv_ids: tuple[str, ...] = _factory(
        tuple,
        "authserv-ids of upstream MTAs whose Authentication-Results are trusted, comma-separated.",
        kind="list",
    )
    notify_webhook: str = _setting("", "URL that gets a JSON POST for each exception.")
    notify_email: str = _setting("", "Operations address mailed for each exception.")
    notify_relay: str = _setting("127.0.0.1:25", "HOST:PORT of the relay for NOTIFY_EMAIL.")
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")

    @property
    def var_path(self) -> Path:
        """``var_dir`` as a path."""
        return Path(self.var_dir)

    def signing_keys(self) -> list[bytes]:
        """The token keys as bytes, oldest first (the last one signs)."""
        return [s.reveal().encode() for s in self.secret]

    def pepper_bytes(self) -> bytes:
        """The identity-hash pepper as bytes."""
        if self.pepper is None:
            raise ConfigError(
                "Setting PEPPER is not set; set PREFCENTER_PEPPER or let "
                "load_settings generate one for development.",
                name="pepper",
            )
        return self.pepper.reveal().encode()


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One row of the settings table: what docs and ``--help`` show."""

    name: str
    env: str
    kind: str
    default: str
    help: str


def settings_table() -> list[SettingSpec]:
    """Every setting with its environment variable, type, default and help."""
    rows = []
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        rows.append(
            SettingSpec(
                name=f.name,
                env=ENV_PREFIX + f.name.upper(),
                kind=f.metadata["kind"],
                default=_show(getattr(defaults, f.name), f.metadata["kind"]),
                help=f.metadata["help"],
            )
        )
    return rows


def _show(value: Any, kind: str) -> str:
    if kind in ("secret", "secrets"):
        return "(generated in development)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return _format_duration(value)
    if isinstance(value, FrequencyCap):
        return f"{value.count}/{_format_duration(value.window)}"
    if isinstance(value, dict | tuple):
        return "(empty)" if not value else str(value)
    if value is None:
        return "off"
    return str(value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(name: str, value: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``48h``, ``2d`` or ``1w``."""
    match = _DURATION.match(value.lower())
    if not match:
        raise ConfigError(
            f"Setting {name.upper()} has value {value!r}; write a duration like 90s, 48h or 7d.",
            name=name,
            value=value,
        )
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(
        f"Setting {name.upper()} has value {value!r}; write true or false.", name=name, value=value
    )


def _parse_int(name: str, value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(
            f"Setting {name.upper()} has value {value!r}; write a whole number of 0 or more.",
            name=name,
            value=value,
        )
    return number


def _parse_cap(name: str, value: str) -> FrequencyCap | None:
    if value.strip().lower() in ("off", "none", ""):
        return None
    count, slash, window = value.partition("/")
    if not slash:
        raise ConfigError(
            f"Setting {name.upper()} has value {value!r}; write COUNT/DURATION such as 3/7d.",
            name=name,
            value=value,
        )
    return FrequencyCap(_parse_int(name, count), parse_duration(name, window))


def _parse_pairs(name: str, value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(";"))):
        key, eq, label = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(
                f"Setting {name.upper()} has item {item!r}; write id=Label pairs separated by ';'.",
                name=name,
                value=value,
            )
        pairs[key.strip()] = label.strip()
    return pairs


def _convert(name: str, kind: str, raw: Any) -> Any:
    """Turn a string (environment) or a TOML value into the setting's type."""
    if kind == "str":
        return str(raw)
    if kind == "secret":
        return Secret(str(raw)) if raw else None
    if kind == "secrets":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(Secret(str(item).strip()) for item in items if str(item).strip())
    if kind == "list":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if kind == "topics":
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        return _parse_pairs(name, str(raw))
    if isinstance(raw, bool) and kind == "bool":
        return raw
    if isinstance(raw, int) and kind == "int":
        return _parse_int(name, str(raw))
    text = str(raw)
    if kind == "bool":
        return _parse_bool(name, text)
    if kind == "int":
        return _parse_int(name, text)
    if kind == "duration":
        return parse_duration(name, text)
    if kind == "cap":
        return _parse_cap(name, text)
    raise AssertionError(f"unknown setting kind {kind}")


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
        typed[name] = _convert(name, kind, raw) if plain else raw
    settings = Settings(**typed)
    _validate(settings)
    if generate_dev_keys:
        settings = _with_dev_keys(settings)
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


def _validate(settings: Settings) -> None:
    for name in ("http", "smtp", "notify_relay"):
        split_hostport(name, getattr(settings, name))
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", settings.base_url):
        raise ConfigError(
            f"Setting BASE_URL has value {settings.base_url!r}; write an http(s):// URL.",
            name="base_url",
            value=settings.base_url,
        )
    if not re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", settings.brand_color):
        raise ConfigError(
            f"Setting BRAND_COLOR has value {settings.brand_color!r}; write a colour like #1d4ed8.",
            name="brand_color",
            value=settings.brand_color,
        )


def split_hostport(name: str, value: str) -> tuple[str, int]:
    """Split ``HOST:PORT``; raise :class:`ConfigError` naming the setting when it is not."""
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"Setting {name.upper()} has value {value!r}; write HOST:PORT such as 127.0.0.1:8080.",
            name=name,
            value=value,
        )
    return host.strip("[]"), int(port)


def _with_dev_keys(settings: Settings) -> Settings:
    """Fill a missing secret or pepper from ``var/``, generating it once (development)."""
    changes: dict[str, Any] = {}
    if not settings.secret:
        changes["secret"] = (Secret(_dev_key(settings.var_path / "secret")),)
    if settings.pepper is None:
        changes["pepper"] = Secret(_dev_key(settings.var_path / "pepper"))
    return dataclasses.replace(settings, **changes) if changes else settings


def _dev_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    log.warning(
        "no %s configured: generated one into %s; set PREFCENTER_%s in production",
        path.name,
        path,
        path.name.upper(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
