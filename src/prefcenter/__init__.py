"""prefcenter: unsubscribe links, preference checks and a suppression store for every sender."""

from __future__ import annotations

from prefcenter.center import PreferenceCenter
from prefcenter.errors import (
    ConfigError,
    InvalidRecipient,
    PrefcenterError,
    StoreUnavailable,
    TokenError,
)
from prefcenter.model import Channel, Decision, Kind, Scope, Source
from prefcenter.version import __version__

__all__ = [
    "Channel",
    "ConfigError",
    "Decision",
    "InvalidRecipient",
    "Kind",
    "PreferenceCenter",
    "PrefcenterError",
    "Scope",
    "Source",
    "StoreUnavailable",
    "TokenError",
    "__version__",
]
