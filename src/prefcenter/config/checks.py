"""Checks of a whole :class:`~prefcenter.config.Settings`, run when settings are loaded.

Each check names the setting, shows the bad value (never a secret's: only its size)
and says what to write instead.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
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
#: Values of PHONE_OPT_OUT: a number's marketing opt-out covers both phone channels, or one.
PHONE_OPT_OUT = ("texts_and_calls", "channel")
KEYGEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
_GENERATE = f"generate one with {KEYGEN}."
#: Fewest different characters a key may use: a random key of 16 bytes or more has far more.
MIN_DISTINCT = 8
#: Words that mark a value written as an example, never generated (lower case).
PLACEHOLDER_WORDS = (
    "replace", "changeme", "change-me", "change_me", "placeholder", "example", "your-",
    "your_", "insert", "xxxx", "todo", "secret-here", "goes-here",
)  # fmt: skip


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
    if settings.phone_opt_out not in PHONE_OPT_OUT:
        raise ConfigError(
            f"Setting PHONE_OPT_OUT has value {settings.phone_opt_out!r}; "
            f"write {' or '.join(PHONE_OPT_OUT)}.",
            name="phone_opt_out",
            value=settings.phone_opt_out,
        )
    _check_pages(settings)
    _check_console(settings)
    _check_key_sizes(settings)
    _check_key_quality(settings)
    _check_topic_digests(settings)
    _check_retention(settings)
    _check_hardening(settings)
    _check_webhooks(settings)


def _check_hardening(settings: Settings) -> None:
    """Rates need at least one request per window; proxies must be addresses."""
    for name in ("page_rate", "api_rate", "feed_rate", "api_failure_rate", "hook_rate",
                 "hook_failure_rate", "smtp_connection_rate", "smtp_message_rate"):  # fmt: skip
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


def _check_console(settings: Settings) -> None:
    """The console listens apart from the public port; its header role is a role; its
    niceness is one the kernel knows."""
    if settings.console:
        _, port = split_hostport("console", settings.console)
        _, http_port = split_hostport("http", settings.http)
        if port == http_port and port != 0:
            raise ConfigError(
                f"Setting CONSOLE has value {settings.console!r}, the HTTP port; give the "
                "console a port of its own (the default is 127.0.0.1:8081) or leave it empty.",
                name="console",
                value=settings.console,
            )
    if settings.console_header_role not in ("", "viewer", "agent", "admin"):
        raise ConfigError(
            f"Setting CONSOLE_HEADER_ROLE has value {settings.console_header_role!r}; write "
            "viewer, agent or admin, or leave it empty to refuse names that are not operators.",
            name="console_header_role",
            value=settings.console_header_role,
        )
    if not 0 <= settings.console_nice <= 19:
        raise ConfigError(
            f"Setting CONSOLE_NICE has value '{settings.console_nice}'; write a niceness from 0 "
            "(the console gets as much CPU as the sidecars) to 19 (the least).",
            name="console_nice",
            value=str(settings.console_nice),
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


#: Languages the pages ship in (prefcenter.sidecar.http.i18n.LANGUAGES).
PAGE_LANGUAGES = ("en", "de", "fr", "es", "pt", "ja")
_URL = re.compile(r"https?://[^\s<>\"']+")


def _check_pages(settings: Settings) -> None:
    """LANGUAGE, LOGO, CONTACT and PRIVACY_URL: what every page shows."""
    if settings.language not in PAGE_LANGUAGES:
        raise ConfigError(
            f"Setting LANGUAGE has value {settings.language!r}; write one of "
            f"{', '.join(PAGE_LANGUAGES)}.",
            name="language",
            value=settings.language,
        )
    contact = settings.contact
    if contact and not (
        _URL.fullmatch(contact) or re.fullmatch(r"[^@\s<>\"']+@[^@\s<>\"']+", contact)
    ):
        raise ConfigError(
            f"Setting CONTACT has value {contact!r}; write an email address such as "
            "privacy@example.com or an https:// URL.",
            name="contact",
            value=contact,
        )
    if settings.privacy_url and not _URL.fullmatch(settings.privacy_url):
        raise ConfigError(
            f"Setting PRIVACY_URL has value {settings.privacy_url!r}; write an https:// URL.",
            name="privacy_url",
            value=settings.privacy_url,
        )
    logo = settings.logo
    if logo and not _URL.fullmatch(logo):
        suffix = logo.rsplit(".", 1)[-1].lower()
        if suffix not in ("png", "jpg", "jpeg", "svg", "webp") or not os.path.isfile(logo):
            raise ConfigError(
                f"Setting LOGO has value {logo!r}; write an https:// URL or the path of an "
                "existing .png, .jpg, .svg or .webp file.",
                name="logo",
                value=logo,
            )


def _check_key_quality(settings: Settings) -> None:
    """Refuse keys copied from an example, and keys too repetitive to be random.

    Anyone who can read the example could forge tokens signed with it, and a pepper
    can never be changed once a store uses it: both are refused before anything starts.
    """
    keys = [("secret", key.reveal()) for key in settings.secret]
    if settings.pepper is not None:
        keys.append(("pepper", settings.pepper.reveal()))
    for name, value in keys:
        if is_placeholder(value):
            raise ConfigError(
                f"Setting {name.upper()} holds a placeholder written as an example, which "
                f"anyone reading the example knows; {_GENERATE}",
                name=name,
            )
    # Only the newest key signs; an older repetitive one only verifies links already sent.
    newest = [("secret", settings.secret[-1].reveal())] if settings.secret else []
    pepper = [("pepper", settings.pepper.reveal())] if settings.pepper is not None else []
    for name, value in newest + pepper:
        distinct = len(set(value))
        if distinct < MIN_DISTINCT:
            raise ConfigError(
                f"Setting {name.upper()} uses only {distinct} different characters, too few "
                f"to be random; {_GENERATE}",
                name=name,
            )
    for number, key in enumerate(settings.api_keys, start=1):
        value = key.reveal()
        hashed = value.lower().startswith("sha256:")
        body = value[len("sha256:") :] if hashed else value
        repetitive = hashed and len(body) == 64 and len(set(body.lower())) < MIN_DISTINCT
        if is_placeholder(value) or repetitive:
            raise ConfigError(
                f"Setting API_KEYS has a placeholder (entry {number}) written as an example; "
                f"write sha256:HEX of a key made with {KEYGEN}.",
                name="api_keys",
            )


def is_placeholder(value: str) -> bool:
    """Whether a key reads like an example someone was meant to replace."""
    lowered = value.lower()
    return any(word in lowered for word in PLACEHOLDER_WORDS)


def _check_webhooks(settings: Settings) -> None:
    """Issue 23: every change webhook URL is http(s), and a usable whsec_ secret signs them."""
    for url in settings.events_webhook_url:
        if not url.lower().startswith(("http://", "https://")) or len(url) < 10:
            raise ConfigError(
                f"Setting EVENTS_WEBHOOK_URL has an entry {url[:80]!r}; write absolute http(s) "
                "URLs separated by commas, e.g. https://crm.example.com/hooks/prefcenter.",
                name="events_webhook_url",
                value=url[:80],
            )
    if not 1 <= settings.events_webhook_batch <= 1000:
        raise ConfigError(
            f"Setting EVENTS_WEBHOOK_BATCH has value {settings.events_webhook_batch}; write a "
            "number of changes per delivery from 1 (each change alone) to 1000.",
            name="events_webhook_batch",
            value=str(settings.events_webhook_batch),
        )
    secret = settings.events_webhook_secret
    if secret is None:
        if settings.events_webhook_url:
            raise ConfigError(
                "Setting EVENTS_WEBHOOK_URL is set but EVENTS_WEBHOOK_SECRET is not; set it to "
                "whsec_ and the base64 of 32 random bytes (the receiver verifies with it).",
                name="events_webhook_secret",
            )
        return
    if webhook_key(secret.reveal()) is None:
        raise ConfigError(
            "Setting EVENTS_WEBHOOK_SECRET is not whsec_ followed by the base64 of 24 to 64 "
            'bytes; make one with: python -c "import base64, os; '
            "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"",
            name="events_webhook_secret",
        )


def webhook_key(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_`` secret, or None when it is not one."""
    if not secret.startswith("whsec_"):
        return None
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if 24 <= len(key) <= 64 else None
