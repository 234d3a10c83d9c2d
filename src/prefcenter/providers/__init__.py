"""Provider webhooks: verify a signed request and read it as :class:`HookEvent` values.

One module per provider (SES through SNS, SendGrid, Postmark, Mailgun, Twilio, and a
generic Standard Webhooks receiver), each with a ``verify``/``parse`` pair or one
``read`` function that does both. Nothing here speaks HTTP or imports starlette: the
sidecar's ``/hooks`` routes hand in the raw body and headers, and
:func:`~prefcenter.providers.record.record` writes the events through the center's
change methods, so every opt-out lands in the same audit log whoever reported it.
"""

from __future__ import annotations

from prefcenter.providers.event import EventKind, HookEvent

__all__ = ["EventKind", "HookEvent"]
