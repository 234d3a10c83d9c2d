"""Standard Webhooks signing: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signature is ``v1,`` and the base64 of HMAC-SHA256 over ``id.timestamp.body`` with
the key a ``whsec_`` secret carries (base64 after the prefix), so a receiver can verify
with any Standard Webhooks library (the tests verify with the ``standardwebhooks``
package).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from prefcenter.config.checks import webhook_key
from prefcenter.errors import ConfigError


class Signer:
    """Signs webhook bodies with one ``whsec_`` secret.

    Raises:
        ConfigError: the secret is not ``whsec_`` and the base64 of 24-64 bytes.
    """

    def __init__(self, secret: str) -> None:
        key = webhook_key(secret)
        if key is None:
            raise ConfigError(
                "The webhook secret is not whsec_ followed by the base64 of 24 to 64 bytes; "
                "set EVENTS_WEBHOOK_SECRET to one.",
                name="events_webhook_secret",
            )
        self._key = key

    def signature(self, message_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>``."""
        signed = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def headers(self, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three Standard Webhooks headers and the content type."""
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(message_id, timestamp, body),
            "content-type": "application/json",
        }


__all__ = ["Signer"]
