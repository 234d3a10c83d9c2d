"""The SMTP sidecar: unsubscribe replies, bounces and complaints, answered after commit.

An aiosmtpd server for ``unsubscribe[+token]@``, ``bounces[+token]@`` and ``fbl@`` at
``settings.mail_domain``; every other recipient is refused at RCPT with 550 (never an
open relay). A message is handed to :class:`prefcenter.inbound.inbox.Inbox` in a worker
thread (the center is synchronous) and answered 250 only after ``center.transaction()``
committed everything it caused. Any failure, ours or the store's, is answered
``451 4.3.0`` so the sending server retries: aiosmtpd would otherwise turn an uncaught
exception into a permanent ``500`` and the request would be lost. New exception items
and overdue ones are announced through :class:`prefcenter.inbound.notify.Notifier`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prefcenter.config import Settings, split_hostport
from prefcenter.errors import ConfigError, QueueFull, TokenMalformed
from prefcenter.inbound.auth import DnsFunc
from prefcenter.inbound.inbox import Inbox, Outcome, Plan, log_outcomes
from prefcenter.inbound.mailbox import Mailbox, MailboxKind, parse_recipient
from prefcenter.inbound.notify import OPENED, OVERDUE, Notice, Notifier
from prefcenter.sidecar.groupcommit import GroupCommitter, Prepared, alone_for, writers_for
from prefcenter.sidecar.metrics import Metrics
from prefcenter.sidecar.ratelimit import buckets, retry_after
from prefcenter.sidecar.smtp.limits import (
    RCPT_OVERRUN,
    ConnectionGate,
    LimitedSMTP,
    command_limits,
    wait_until,
)
from prefcenter.sidecar.smtp.tls import server_context
from prefcenter.tokens import Purpose

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

log = logging.getLogger("prefcenter.smtp")

TEMPFAIL = "451 4.3.0 Temporary failure; nothing was recorded, please retry"

#: The one answer to every message committed, whatever it did (no membership oracle).
ACCEPTED = "250 2.0.0 Message accepted"

#: The answer when open exception items hold their whole byte budget.
QUEUE_FULL = "452 4.3.1 Insufficient system storage; please retry later"

TEMPFAIL_SLOW = "451 4.3.0 Temporary failure; the store did not answer in time, please retry"


class SmtpHandler:
    """aiosmtpd handler hooks: RCPT checks the address, DATA commits the message."""

    def __init__(self, sidecar: SmtpSidecar) -> None:
        self.sidecar = sidecar
        self.settings = sidecar.settings
        self.in_flight = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        mailbox = parse_recipient(address, self.settings.mail_domain)
        if mailbox is None:
            return "550 5.1.1 No such mailbox here; this server relays nothing"
        if mailbox.token:
            purpose = Purpose.BOUNCE if mailbox.kind is MailboxKind.BOUNCES else Purpose.UNSUBSCRIBE
            try:
                self.sidecar.center.verify_token(mailbox.token, purpose)
            except TokenMalformed:
                return "550 5.1.1 No such mailbox here: the address token is malformed"
            except Exception:
                # A forged or outdated token: accepted, and a person decides (queued).
                log.info("accepting a %s address whose token does not verify", mailbox.kind)
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            envelope.rcpt_overrun = getattr(envelope, "rcpt_overrun", 0) + 1
            if envelope.rcpt_overrun > RCPT_OVERRUN:
                # A flood, not a relay: the reply is written before the close runs.
                server.loop.call_soon(server.transport.close)
                return "421 4.7.0 Too many recipients in one transaction; closing"
            return "452 4.5.3 Too many recipients; send the rest in another transaction"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_MAIL(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        rate = self.sidecar.message_rate
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        wait = rate.take(peer) if rate is not None else 0.0
        if wait:
            log.warning("refused a message: the client's message rate was reached")
            return (
                "452 4.7.0 Too many messages from your address; try again in "
                f"{retry_after(wait)} seconds"
            )
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mailboxes = [
            mailbox
            for mailbox in (
                parse_recipient(address, self.settings.mail_domain) for address in envelope.rcpt_tos
            )
            if mailbox is not None
        ]
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.in_flight += 1
        try:
            # A store that hangs (a pool waiting for a database that is restarting, a
            # lock) must not hang the sender: past the deadline the answer is 451, and
            # a commit that still lands later is found unchanged on re-delivery.
            async with asyncio.timeout(self.sidecar.reply_timeout):
                outcomes = await self._decide_and_commit(raw, mailboxes, envelope.mail_from)
        except TimeoutError:
            log.warning(
                "message not recorded within %.0f s, answered 451", self.sidecar.reply_timeout
            )
            return TEMPFAIL_SLOW
        except QueueFull as error:
            # Loud, never silent: mail waits at its senders until a person decides.
            log.error(
                "exceptions queue full: open items hold %d of EXCEPTION_BUDGET %d bytes; "
                "a message for a person was answered 452 (the sender retries). Decide or "
                "purge open items (prefcenter exceptions), or raise the budget.",
                error.held,
                error.budget,
            )
            return QUEUE_FULL
        except Exception as error:
            log.warning("message not recorded, answered 451: %s", type(error).__name__)
            return TEMPFAIL
        finally:
            self.in_flight -= 1
        log_outcomes(outcomes)
        for outcome in outcomes:
            self.sidecar.metrics.inbound(outcome.mailbox.split("+")[0], outcome.action)
        self.sidecar.announce(outcomes)
        # One reply whatever happened: what the store knows (mailed, suppressed, never
        # seen) must not show to whoever sent the message. The log has the outcome.
        return ACCEPTED

    async def _decide_and_commit(
        self, raw: bytes, mailboxes: list[Mailbox], mail_from: str | None
    ) -> list[Outcome]:
        inbox = self.sidecar.inbox
        if any(m.kind is MailboxKind.UNSUBSCRIBE and not m.token for m in mailboxes):
            # DKIM may wait on DNS: decide it apart, not inside a shared batch.
            plan = await self.sidecar.run(inbox.prepare, raw, mailboxes, mail_from)
            operation: Plan | Prepared = plan
        else:
            operation = Prepared(functools.partial(inbox.prepare, raw, mailboxes, mail_from))
        # Messages arriving together are decided and committed in one transaction (the
        # group commit one-click uses); submit returns only after that transaction.
        committer = self.sidecar.committer
        if committer is None:
            raise RuntimeError("the SMTP sidecar is not started")
        outcomes: list[Outcome] = await committer.submit(operation)
        return outcomes

    async def handle_exception(self, error: Exception) -> str:
        # Override aiosmtpd's default 500: our own failure must never look permanent.
        log.warning("SMTP session error answered 451: %s", type(error).__name__)
        return TEMPFAIL


class SmtpSidecar:
    """The SMTP sidecar, started and stopped inside a running event loop.

    Args:
        center: the PreferenceCenter every message is recorded through.
        settings: ``smtp`` (HOST:PORT; port 0 picks a free one), ``mail_domain`` and the
            limits ``max_message_size``, ``max_recipients``, ``max_connections``,
            ``max_connections_per_ip``, ``smtp_timeout``, plus the notify settings.
        dnsfunc: DKIM key lookup (tests serve their own key); None uses real DNS.
        workers: threads calling the center.
        sweep_interval: seconds between checks for overdue exceptions.
        reply_timeout: longest wait, in seconds, for a message's commit after DATA; past
            it the sender gets 451 (a store that hangs never hangs the sender). Default:
            ``settings.store_timeout`` (25 s: well under the 10 minutes RFC 5321
            §4.5.3.2.6 gives clients, long enough to ride out a PostgreSQL pool timeout
            of 10 s or a SQLite busy timeout of 5 s and a batch commit).
    """

    def __init__(
        self,
        center: PreferenceCenter,
        settings: Settings,
        *,
        dnsfunc: DnsFunc | None = None,
        workers: int = 4,
        sweep_interval: float = 300.0,
        notifier: Notifier | None = None,
        reply_timeout: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.center = center
        self.metrics = metrics if metrics is not None else Metrics()
        self.settings = settings
        self.inbox = Inbox(center, dnsfunc=dnsfunc)
        self.notifier = notifier or Notifier(settings)
        self.handler = SmtpHandler(self)
        self.committer: GroupCommitter | None = None
        self.host, self.port = split_hostport("smtp", settings.smtp)
        self.gate = ConnectionGate(
            settings.max_connections,
            settings.max_connections_per_ip,
            rate=buckets(settings.smtp_connection_rate),
            session_limit=settings.smtp_session_limit.total_seconds(),
        )
        self.message_rate = buckets(settings.smtp_message_rate)
        #: STARTTLS, when a certificate is configured (new sessions take the newest).
        self.tls: ssl.SSLContext | None = None
        if settings.smtp_tls_cert:
            self.tls = server_context(settings.smtp_tls_cert, settings.smtp_tls_key)
        self.workers = workers
        self.sweep_interval = sweep_interval
        self.reply_timeout = (
            settings.store_timeout.total_seconds() if reply_timeout is None else reply_timeout
        )
        self._server: asyncio.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._announced: set[int] = set()
        self._overdue: set[int] = set()

    def _session(self) -> LimitedSMTP:
        size = self.settings.max_message_size
        return LimitedSMTP(
            self.handler,
            gate=self.gate,
            line_limit=size + 1024,
            data_size_limit=size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.settings.mail_domain,
            ident="prefcenter",
            timeout=self.settings.smtp_timeout.total_seconds(),
            command_call_limit=command_limits(),
            loop=asyncio.get_running_loop(),
            tls_context=self.tls,
        )

    def reload_tls(self) -> bool:
        """Read the certificate and key again (on SIGHUP); True when the new pair is in use.

        Sessions already open keep the certificate they have; a pair that cannot be used
        is logged and the one in use is kept.
        """
        if not self.settings.smtp_tls_cert:
            return False
        try:
            self.tls = server_context(self.settings.smtp_tls_cert, self.settings.smtp_tls_key)
        except ConfigError as error:
            log.error("STARTTLS certificate not reloaded, the old one stays: %s", error)
            return False
        log.info("STARTTLS certificate reloaded")
        return True

    async def start(self) -> None:
        """Listen on ``settings.smtp``; afterwards ``.port`` is the bound port."""
        # aiosmtpd logs every command line, addresses included, at INFO: logs outlive
        # erasure requests, so only its warnings are kept.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="prefcenter-smtp")
        self.committer = GroupCommitter(
            self.center,
            self.metrics,
            max_batch=256,
            timeout=self.reply_timeout,
            writers=writers_for(self.center),
            alone=alone_for(self.center),
        )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._session, self.host, self.port, reuse_port=self.settings.reuse_port or None
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._sweeper = loop.create_task(self._sweep_forever())
        log.info("SMTP sidecar listening on %s:%d", self.host, self.port)

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting, let in-flight messages commit and answer, then close.

        Args:
            grace: seconds to wait for in-flight messages and pending notices.
        """
        if self._server is not None:
            self._server.close()
        await wait_until(lambda: self.handler.in_flight == 0, grace)
        if self.committer is not None:
            await self.committer.close()
        for session in list(self.gate.sessions):
            session.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.notifier.drain(min(grace, 5.0))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def run(self, function: Any, *args: Any) -> Any:
        """Run a blocking center call in the sidecar's worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def announce(self, outcomes: list[Outcome]) -> None:
        """Notify a person about each exception opened by a message (once per item)."""
        for outcome in outcomes:
            item = outcome.exception
            if item is None or item.id in self._announced or item.status != "open":
                continue
            self._announced.add(item.id)
            self.notifier.submit(Notice.from_item(item, OPENED))

    async def sweep(self) -> int:
        """Announce open items that are past due (once per item per process)."""
        items = await self.run(lambda: self.center.exceptions(status="open"))
        now = datetime.now(UTC)
        count = 0
        for item in items:
            if item.due_at <= now and item.id not in self._overdue:
                self._overdue.add(item.id)
                self.notifier.submit(Notice.from_item(item, OVERDUE))
                count += 1
        return count

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as error:  # the store may be down; try again next round
                log.warning("overdue sweep failed: %s", type(error).__name__)
            await asyncio.sleep(self.sweep_interval)
