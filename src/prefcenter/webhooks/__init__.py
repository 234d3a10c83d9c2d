"""Outgoing webhooks of the change feed: Standard Webhooks signatures and the outbox worker."""

from prefcenter.webhooks.sign import Signer
from prefcenter.webhooks.worker import WebhookWorker

__all__ = ["Signer", "WebhookWorker"]
