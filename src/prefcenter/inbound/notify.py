"""Telling a person about exceptions: a webhook JSON POST and/or a mail to operations.

Nobody watches a queue, so every new exception (and every one that becomes overdue)
is pushed to a human. Delivery is retried with exponential backoff until it succeeds
or the sidecar stops. A notice carries the item's id, mailbox, reason and times — never
the raw message, which may hold a person's address and text; ops read that through
``prefcenter exceptions show ID``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from prefcenter.config import Settings, split_hostport
from prefcenter.model import ExceptionItem

log = logging.getLogger("prefcenter.notify")

OPENED = "exception-opened"
OVERDUE = "exception-overdue"


@dataclass(frozen=True)
class Notice:
    """What a person is told about one exception item."""

    event: str
    item_id: int
    mailbox: str
    why: str
    received_at: datetime
    due_at: datetime

    @classmethod
    def from_item(cls, item: ExceptionItem, event: str = OPENED) -> Notice:
        """The notice for an item; the raw message and summary are left out on purpose."""
        return cls(event, item.id, item.mailbox, item.why, item.received_at, item.due_at)

    def as_json(self) -> bytes:
        """The webhook body."""
        return json.dumps(
            {
                "event": self.event,
                "id": self.item_id,
                "mailbox": self.mailbox,
                "why": self.why,
                "received_at": self.received_at.isoformat(),
                "due_at": self.due_at.isoformat(),
                "command": f"prefcenter exceptions show {self.item_id}",
                # Chat tools' incoming webhooks (Slack, Microsoft Teams, Mattermost) show
                # only a "text" field and ignore the rest.
                "text": self.as_text(),
            },
            sort_keys=True,
        ).encode()

    def as_text(self) -> str:
        """One line for a chat channel: what happened, why, when due, what to run."""
        state = "is overdue" if self.event == OVERDUE else "needs a decision"
        return (
            f"prefcenter: exception #{self.item_id} ({self.mailbox}@) {state}: {self.why} "
            f"Due {self.due_at.isoformat()}. Run: prefcenter exceptions show {self.item_id}"
        )

    def as_email(self, sender: str, to: str) -> EmailMessage:
        """The operations mail, marked auto-generated so no responder answers it."""
        message = EmailMessage()
        state = "is overdue" if self.event == OVERDUE else "needs a decision"
        message["Subject"] = f"[prefcenter] exception #{self.item_id} ({self.mailbox}) {state}"
        message["From"] = sender
        message["To"] = to
        message["Date"] = format_datetime(self.received_at)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
        message.set_content(
            f"Exception #{self.item_id} at {self.mailbox}@ {state}.\n\n"
            f"Why: {self.why}\nReceived: {self.received_at.isoformat()}\n"
            f"Due: {self.due_at.isoformat()}\n\n"
            f"Read and decide it with: prefcenter exceptions show {self.item_id}\n"
        )
        return message


Transport = Callable[[Notice], None]


class Notifier:
    """Delivers notices through every configured channel, retrying each until delivered.

    Args:
        settings: ``notify_webhook``, ``notify_email``, ``notify_relay``, ``mail_domain``.
        first_delay: seconds before the first retry; doubles per failure.
        max_delay: the longest wait between attempts.
        timeout: seconds for one HTTP or SMTP attempt.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        first_delay: float = 1.0,
        max_delay: float = 300.0,
        timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failures = 0

    @property
    def transports(self) -> list[tuple[str, Transport]]:
        """The configured channels as (name, blocking send function)."""
        channels: list[tuple[str, Transport]] = []
        if self.settings.notify_webhook:
            channels.append(("webhook", self.post_webhook))
        if self.settings.notify_email:
            channels.append(("email", self.send_email))
        return channels

    def post_webhook(self, notice: Notice) -> None:
        """One JSON POST; raises OSError unless the answer is 2xx."""
        request = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
            self.settings.notify_webhook,
            data=notice.as_json(),
            headers={"Content-Type": "application/json", "User-Agent": "prefcenter-notify"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"Webhook answered {response.status}; expected 2xx.")

    def send_email(self, notice: Notice) -> None:
        """One mail through the relay, with the null reverse-path so it cannot loop."""
        host, port = split_hostport("notify_relay", self.settings.notify_relay)
        sender = f"prefcenter@{self.settings.mail_domain}"
        message = notice.as_email(sender, self.settings.notify_email)
        with smtplib.SMTP(host, port, timeout=self.timeout) as client:
            client.send_message(message, from_addr="", to_addrs=[self.settings.notify_email])

    def submit(self, notice: Notice) -> None:
        """Queue a notice on every channel; call on the event loop's thread."""
        for name, transport in self.transports:
            task = asyncio.get_running_loop().create_task(self._deliver(name, transport, notice))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """Notices (per channel) not yet delivered."""
        return len(self._tasks)

    async def _deliver(self, name: str, transport: Transport, notice: Notice) -> None:
        delay = self.first_delay
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(None, transport, notice)
            except Exception as error:  # any failure is retried: the person must hear
                self.failures += 1
                log.warning(
                    "notice for exception #%d by %s failed (%s); retrying in %.1fs",
                    notice.item_id,
                    name,
                    type(error).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            self.delivered += 1
            log.info("notice for exception #%d delivered by %s", notice.item_id, name)
            return

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for pending notices, then give up on the rest.

        The overdue sweep re-announces open items at the next start, so a notice cut
        off here is repeated later rather than lost.
        """
        tasks = set(self._tasks)
        if not tasks:
            return
        _, still = await asyncio.wait(tasks, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            log.warning("%d notices undelivered at shutdown", len(still))
            await asyncio.gather(*still, return_exceptions=True)
