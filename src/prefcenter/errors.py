"""Every error prefcenter raises, in one tree.

Each class also inherits the builtin it refines, so ``except ValueError`` keeps
working for callers who do not know prefcenter::

    PrefcenterError
     ├── InvalidInput (ValueError)            bad data from a caller: .value, .reason
     │    ├── InvalidRecipient                an address or phone number we cannot use
     │    ├── InvalidTopic                    a topic name we cannot use
     │    ├── HeaderInjection                 CR, LF or another line break in header input
     │    ├── MostlyInvalid                   a list whose address column is mostly not addresses
     │    └── ReasonRequired                  a resubscribe or resolution without a reason
     ├── ConfigError (ValueError)             a setting with an unusable value: .name, .value
     ├── TokenError (ValueError)              a link or mailto token we will not act on
     │    ├── TokenMalformed                  not a token: wrong alphabet, length, encoding
     │    ├── TokenSignatureInvalid           tampered, truncated or signed with an unknown key
     │    └── TokenWrongPurpose               a valid token used where another kind belongs
     ├── NotFound (LookupError)               no such exception item or record
 ├── NotAllowed (PermissionError)         a console login refused, or a role without the right
     ├── DkimError (ValueError)               a DKIM key or signature we cannot use
     ├── WorkerFailed (RuntimeError)          a helper process stopped mid-way: run again
     ├── WebhookError (ValueError)            a provider's webhook we will not act on: .provider
     │    ├── WebhookUnauthorized             bad signature or credentials, stale, replayed token
     │    ├── WebhookForbidden                genuine, but from a topic or account not configured
     │    └── WebhookMalformed                not the shape the provider documents
     ├── QueueFull (OSError)                  open exception items hold their byte budget
     └── StoreError                           the suppression store failed
          ├── StoreUnavailable (OSError)      cannot reach or write the database: retry later
          │    └── StoreBusy                  a lock or conflict outlasted the bounded wait
          │         └── StoreConflict         a deadlock or serialization failure, rolled back
          ├── PepperMismatch (ValueError)     the store was created with another hashing pepper
          ├── SchemaTooNew (RuntimeError)     the database was written by a newer prefcenter
          └── MigrationError (RuntimeError)   a store copy refused or rolled back (non-empty target)

Messages are one sentence naming the bad value and the fix. They never contain a
secret. An address appears in exactly one case: ``InvalidRecipient`` quotes the address it
refuses, since the caller who wrote it must see what to correct (the JSON API echoes it
in its 422 to the client that sent it). Such a message is never logged: the sidecars
log the class name and the identity hash's first characters, never ``str(error)``.
"""

from __future__ import annotations


class PrefcenterError(Exception):
    """Root of every error prefcenter raises."""


class InvalidInput(PrefcenterError, ValueError):
    """Data from a caller that prefcenter cannot use."""

    def __init__(self, message: str, *, value: object = None, reason: str = "") -> None:
        super().__init__(message)
        self.value = value
        self.reason = reason


class InvalidRecipient(InvalidInput):
    """An email address or phone number that cannot be canonicalised."""


class InvalidTopic(InvalidInput):
    """A topic name that is empty, too long or has characters we refuse."""


class HeaderInjection(InvalidInput):
    """Input that would break out of a mail header (CR, LF, other line breaks)."""


class MostlyInvalid(InvalidInput):
    """A list whose chosen address column is mostly invalid: the wrong column, most likely."""


class ReasonRequired(InvalidInput):
    """An action that must be justified (resubscribe, resolve) came without a reason."""


class ConfigError(PrefcenterError, ValueError):
    """A setting has a value prefcenter cannot use."""

    def __init__(self, message: str, *, name: str = "", value: object = None) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


class TokenError(PrefcenterError, ValueError):
    """A token prefcenter will not act on."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class TokenMalformed(TokenError):
    """Not a token at all: wrong alphabet, wrong length or a non-canonical encoding."""


class TokenSignatureInvalid(TokenError):
    """The signature does not match: tampered, truncated, or signed with an unknown key."""


class TokenWrongPurpose(TokenError):
    """A genuine token used for another purpose than the one it was signed for."""


class NotFound(PrefcenterError, LookupError):
    """A record that was asked for by id does not exist."""


class NotAllowed(PrefcenterError, PermissionError):
    """An operator who may not do this: a refused login (.reason) or a role too low."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class DkimError(PrefcenterError, ValueError):
    """A DKIM key or signing request prefcenter cannot use."""


class WorkerFailed(PrefcenterError, RuntimeError):
    """A helper process (a large list's hash worker) stopped before its work was done."""


class WebhookError(PrefcenterError, ValueError):
    """A provider's webhook request that prefcenter will not act on; nothing was changed."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class WebhookUnauthorized(WebhookError):
    """A bad signature or credentials, a stale timestamp or a reused token (HTTP 401)."""


class WebhookForbidden(WebhookError):
    """A genuine request from a source not configured here, e.g. an unknown SNS topic (403)."""


class WebhookMalformed(WebhookError):
    """A body that is not what the provider documents (HTTP 400)."""


class QueueFull(PrefcenterError, OSError):
    """Open exception items hold ``EXCEPTION_BUDGET`` bytes: no new item until some are
    decided or purged (the SMTP sidecar answers 452, so the sender retries later)."""

    def __init__(self, message: str, *, held: int = 0, budget: int = 0) -> None:
        super().__init__(message)
        self.held = held
        self.budget = budget


class StoreError(PrefcenterError):
    """The suppression store failed."""


class StoreUnavailable(StoreError, OSError):
    """The database cannot be reached or written right now; nothing was committed."""


class StoreMisconfigured(StoreUnavailable):
    """The database refuses prefcenter for a reason a retry will not fix: a database or
    role that does not exist, a failed login, a missing privilege, a bad connection
    option. Nothing was committed; fix ``DATABASE`` or the database's grants."""


class StoreBusy(StoreUnavailable):
    """A lock or serialization conflict lasted longer than the bounded wait; retry later."""


class StoreConflict(StoreBusy):
    """The database rolled the transaction back to end a deadlock or a serialization
    failure with another one (several sidecars on one PostgreSQL); nothing of it was
    committed, and running it again at once usually succeeds."""


class PepperMismatch(StoreError, ValueError):
    """The store was created with another pepper, so no stored key would match."""


class SchemaTooNew(StoreError, RuntimeError):
    """The database schema is newer than this version of prefcenter understands."""


class MigrationError(StoreError, RuntimeError):
    """A store-to-store copy was refused (same store, non-empty target) or rolled back."""


__all__ = [
    "ConfigError",
    "DkimError",
    "HeaderInjection",
    "InvalidInput",
    "InvalidRecipient",
    "InvalidTopic",
    "MigrationError",
    "NotFound",
    "PepperMismatch",
    "PrefcenterError",
    "ReasonRequired",
    "SchemaTooNew",
    "StoreBusy",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TokenError",
    "TokenMalformed",
    "TokenSignatureInvalid",
    "TokenWrongPurpose",
    "WebhookError",
    "WebhookForbidden",
    "WebhookMalformed",
    "WebhookUnauthorized",
    "WorkerFailed",
]
