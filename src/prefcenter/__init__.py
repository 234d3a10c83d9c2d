"""prefcenter: unsubscribe links, preference checks and a suppression store for every sender.

``import prefcenter`` loads the library only: the HTTP and SMTP sidecars live in
``prefcenter.sidecar`` and are imported by ``prefcenter serve``.
"""

from __future__ import annotations

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings, load_settings
from prefcenter.errors import (
    ConfigError,
    HeaderInjection,
    InvalidInput,
    InvalidRecipient,
    InvalidTopic,
    NotFound,
    PepperMismatch,
    PrefcenterError,
    ReasonRequired,
    StoreError,
    StoreMisconfigured,
    StoreUnavailable,
    TokenError,
)
from prefcenter.model import (
    Action,
    Channel,
    Decision,
    Event,
    ExceptionItem,
    FilterResult,
    Identity,
    Kind,
    Preferences,
    Purged,
    Reason,
    Refusal,
    Scope,
    Source,
    Suppression,
)
from prefcenter.tokens import Purpose
from prefcenter.version import __version__

__all__ = [
    "Action",
    "Channel",
    "ConfigError",
    "Decision",
    "Event",
    "ExceptionItem",
    "FilterResult",
    "HeaderInjection",
    "Identity",
    "InvalidInput",
    "InvalidRecipient",
    "InvalidTopic",
    "Kind",
    "NotFound",
    "PepperMismatch",
    "PrefcenterError",
    "PreferenceCenter",
    "Preferences",
    "Purged",
    "Purpose",
    "Reason",
    "ReasonRequired",
    "Refusal",
    "Scope",
    "Settings",
    "Source",
    "StoreError",
    "StoreMisconfigured",
    "StoreUnavailable",
    "Suppression",
    "TokenError",
    "__version__",
    "load_settings",
]
