"""The value types of settings and how text becomes them.

Environment variables and TOML give strings, lists and numbers; these parsers turn them
into typed values or raise :class:`ConfigError` naming the setting, the value and the
form to write instead.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prefcenter.errors import ConfigError

#: The shortest secret or pepper accepted, in bytes.
MIN_KEY_BYTES = 16


def byte_count(size: int) -> str:
    """``size`` as "1 byte" or "N bytes", for messages that must not show the key."""
    return "1 byte" if size == 1 else f"{size} bytes"


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


def show(value: Any, kind: str) -> str:
    """A default as docs and ``--help`` show it; a secret's value never appears."""
    if kind in ("secret", "secrets"):
        return "(none)" if not value else "(set)"
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
    try:
        if slash:
            return FrequencyCap(_parse_int(name, count), parse_duration(name, window))
    except ConfigError:
        pass  # the message below names the whole value, not the part that failed
    raise ConfigError(
        f"Setting {name.upper()} has value {value!r}; write COUNT/DURATION such as 3/7d or "
        "10/1w (DURATION in s, m, h, d or w), or off.",
        name=name,
        value=value,
    )


_COMMA_PAIR = re.compile(r",\s*[^,=\s]+\s*=")


def _parse_pairs(name: str, value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(";"))):
        key, eq, label = item.partition("=")
        # "a=A,b=B": pairs joined with "," instead of ";" would make one odd label.
        if not eq or not key.strip() or _COMMA_PAIR.search(label):
            raise ConfigError(
                f"Setting {name.upper()} has item {item!r}; write id=Label pairs separated by ';'.",
                name=name,
                value=value,
            )
        pairs[key.strip()] = label.strip()
    return pairs


def convert(name: str, kind: str, raw: Any) -> Any:
    """Turn a string (environment) or a TOML value into the setting's type."""
    if kind == "str":
        return str(raw)
    if kind == "secret":
        return Secret(str(raw)) if raw else None
    if kind == "secrets":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        keys = tuple(Secret(str(item).strip()) for item in items if str(item).strip())
        if not keys and (raw if isinstance(raw, list) else str(raw).strip()):
            # " , " is a typo, not "unset": SECRET would silently fall back to a dev key.
            raise ConfigError(
                f"Setting {name.upper()} has no key in it, only commas and spaces; "
                "write at least one key, or leave it unset.",
                name=name,
            )
        return keys
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
