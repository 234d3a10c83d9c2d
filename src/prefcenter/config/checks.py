"""Checks of a whole :class:`~prefcenter.config.Settings`, run when settings are loaded.

Each check names the setting, shows the bad value (never a secret's: only its size)
and says what to write instead.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from prefcenter.config.types import MIN_KEY_BYTES, byte_count, split_hostport
from prefcenter.errors import ConfigError

if TYPE_CHECKING:
    from prefcenter.config.settings import Settings

#: Shortest signing SECRET key, PEPPER and API key, in bytes (UTF-8): 128 bits if every
#: byte were random.
LOG_LEVELS = ("debug", "info", "warning", "error")
_GENERATE = 'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))".'


def validate(settings: Settings) -> None:
    """Raise ConfigError for the first setting that cannot work, naming it and the fix."""
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
    if settings.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"Setting LOG_LEVEL has value {settings.log_level!r}; "
            f"write {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}.",
            name="log_level",
            value=settings.log_level,
        )
    _check_key_sizes(settings)
    _check_topic_digests(settings)
    _check_retention(settings)
    _check_hardening(settings)


def _check_hardening(settings: Settings) -> None:
    """Rates need at least one request per window; proxies must be addresses."""
    for name in ("page_rate", "api_rate", "api_failure_rate", "smtp_connection_rate",
                 "smtp_message_rate"):  # fmt: skip
        rate = getattr(settings, name)
        if rate is not None and (rate.count < 1 or rate.window.total_seconds() <= 0):
            raise ConfigError(
                f"Setting {name.upper()} allows no request at all; write COUNT/DURATION with "
                "COUNT of 1 or more (e.g. 60/1m), or off.",
                name=name,
                value=f"{rate.count}/{rate.window}",
            )
    for value in settings.trusted_proxies:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(
                f"Setting TRUSTED_PROXIES has item {value!r}; write IP addresses or networks "
                "such as 10.0.0.1 or 10.0.0.0/8, comma-separated.",
                name="trusted_proxies",
                value=value,
            ) from None
    if settings.smtp_session_limit < settings.smtp_timeout:
        raise ConfigError(
            f"Setting SMTP_SESSION_LIMIT ({settings.smtp_session_limit}) is shorter than "
            f"SMTP_TIMEOUT ({settings.smtp_timeout}); make it longer (e.g. 10m).",
            name="smtp_session_limit",
            value=str(settings.smtp_session_limit),
        )
    if bool(settings.smtp_tls_cert) != bool(settings.smtp_tls_key):
        raise ConfigError(
            "Settings SMTP_TLS_CERT and SMTP_TLS_KEY go together; set both files, or neither.",
            name="smtp_tls_cert",
            value=settings.smtp_tls_cert,
        )


def _check_retention(settings: Settings) -> None:
    """Purging must not delete what a rule still counts."""
    cap = settings.frequency_cap
    if cap is not None and settings.contact_retention < cap.window:
        raise ConfigError(
            f"Setting CONTACT_RETENTION ({settings.contact_retention}) is shorter than the "
            f"FREQUENCY_CAP window ({cap.window}), which counts the sends it would delete; "
            "make it at least as long.",
            name="contact_retention",
            value=str(settings.contact_retention),
        )
    for name in ("exception_retention", "contact_retention", "exception_open_retention"):
        if getattr(settings, name) < timedelta(days=1):
            raise ConfigError(
                f"Setting {name.upper()} is {getattr(settings, name)}; keep at least 1 day "
                "(e.g. 90d).",
                name=name,
                value=str(getattr(settings, name)),
            )


def _check_topic_digests(settings: Settings) -> None:
    """Two configured topics must not share the short digest links carry (nor opt-outs)."""
    from prefcenter.topics import topic_digest  # deferred: tokens is not needed to load

    seen: dict[bytes, str] = {}
    for name in settings.topics:
        other = seen.setdefault(topic_digest(name), name)
        if other != name:
            raise ConfigError(
                f"Setting TOPICS has {name[:60]!r} and {other[:60]!r}, whose digests in "
                "links are the same; rename one (a suffix will do).",
                name="topics",
                value=name,
            )


def _check_key_sizes(settings: Settings) -> None:
    # The message gives sizes, never the value: it may be printed or logged.
    if settings.pepper is not None:
        size = len(settings.pepper.reveal().encode())
        if size < MIN_KEY_BYTES:
            raise ConfigError(
                f"Setting PEPPER is {byte_count(size)} long; it needs at least {MIN_KEY_BYTES} "
                f"bytes: {_GENERATE}",
                name="pepper",
            )
    # Only the newest key signs. Older ones only verify links already in people's
    # mailboxes, whatever their length: refusing them would break those unsubscribes.
    if settings.secret:
        size = len(settings.secret[-1].reveal().encode())
        if size < MIN_KEY_BYTES:
            which = "" if len(settings.secret) == 1 else " (the last key, which signs)"
            raise ConfigError(
                f"Setting SECRET has a signing key {byte_count(size)} long{which}; it needs at "
                f"least {MIN_KEY_BYTES} bytes: {_GENERATE} Keep a shorter old key before it "
                "so links already sent keep working.",
                name="secret",
            )
    # A short API key is guessed, or cracked from its unsalted sha256: form, quickly.
    for number, key in enumerate(settings.api_keys, start=1):
        value = key.reveal()
        size = len(value.encode())
        if not value.lower().startswith("sha256:") and size < MIN_KEY_BYTES:
            raise ConfigError(
                f"Setting API_KEYS has a key (entry {number}) {byte_count(size)} long; each needs "
                f"at least {MIN_KEY_BYTES} bytes: {_GENERATE}",
                name="api_keys",
            )
