"""Limits of the SMTP sidecar that aiosmtpd does not have: connections, rates, time, lines.

aiosmtpd caps message size and counts commands per session, but not connections, and
refuses any line over 1,000 octets with a permanent 500 — real bounce notices carry
longer lines. :class:`LimitedSMTP` admits a connection only through a
:class:`ConnectionGate` (421 when full, or when the client address has opened
connections faster than ``SMTP_CONNECTION_RATE``), accepts lines up to the size cap,
and bounds time two ways:

- the idle timeout (``SMTP_TIMEOUT``) counts only the client's silence: any bytes
  arriving (a command, or a line of a message body) start it again, and the time our
  hooks take (a commit) never counts;
- the whole session lasts at most ``SMTP_SESSION_LIMIT``, however busy the client
  keeps it (a ``NOOP`` every 50 s, a body sent a line a minute): then ``421 4.4.2`` and
  close. A message still arriving is cut (its sender retries it); a commit under way
  is answered first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from aiosmtpd.smtp import SMTP

from prefcenter.sidecar.ratelimit import TokenBuckets, retry_after
from prefcenter.sidecar.smtp.path import plain_path

log = logging.getLogger("prefcenter.smtp")


class ConnectionGate:
    """Counts open sessions overall and per client address.

    Args:
        total: most sessions at once.
        per_ip: most sessions at once from one client address.
        rate: new connections per client address over time (None: no limit).
        session_limit: longest session in seconds (None: no limit).
    """

    def __init__(
        self,
        total: int,
        per_ip: int,
        rate: TokenBuckets | None = None,
        session_limit: float | None = None,
    ) -> None:
        self.total = total
        self.per_ip = per_ip
        self.rate = rate
        self.session_limit = session_limit
        self._by_ip: Counter[str] = Counter()
        self.sessions: set[LimitedSMTP] = set()

    @property
    def open(self) -> int:
        """Sessions currently admitted."""
        return sum(self._by_ip.values())

    def admit(self, ip: str) -> bool:
        """Take a place for ``ip``; False when a limit is reached."""
        if self.open >= self.total or self._by_ip[ip] >= self.per_ip:
            return False
        self._by_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        """Give a place back."""
        self._by_ip[ip] -= 1
        if self._by_ip[ip] <= 0:
            del self._by_ip[ip]


#: RCPT commands one transaction may send past the recipient limit before 421 and close.
RCPT_OVERRUN = 100


def command_limits() -> dict[str, int]:
    """Commands of one kind allowed per session before 421 and close (aiosmtpd's limit).

    Generous for MAIL/RCPT/DATA, so a relay can reuse one connection for thousands of
    messages; tight for commands a sender of bounces and replies never needs in bulk.
    Recipients per transaction are limited separately (:data:`RCPT_OVERRUN`).
    """
    return {"NOOP": 100, "VRFY": 10, "EXPN": 10, "HELP": 10, "*": 100_000}


#: The reply to a message over the size cap, however aiosmtpd noticed it.
TOO_BIG = "552 5.3.4 Message too big; the limit is the server's SIZE"


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP session with a connection gate and a line limit of the size cap."""

    def __init__(self, handler: Any, *, gate: ConnectionGate, line_limit: int, **kwargs: Any):
        # aiosmtpd sizes its StreamReader from line_length_limit inside __init__, so the
        # instance value must exist before the base initialiser runs.
        self.line_length_limit = line_limit
        self._gate = gate
        self._admitted: str | None = None
        self._in_hook = False
        self._session_timer: asyncio.TimerHandle | None = None
        super().__init__(handler, **kwargs)

    def _peer_ip(self) -> str:
        peer = self.session.peer if self.session is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)

    async def _handle_client(self) -> None:
        ip = self._peer_ip()
        rate = self._gate.rate
        wait = rate.take(ip) if rate is not None else 0.0
        if wait:
            log.warning("refused a connection: the client's connection rate was reached")
            await self.push(
                f"421 4.7.0 Too many connections from your address; try again in "
                f"{retry_after(wait)} seconds"
            )
            if self.transport is not None:
                self.transport.close()
            return
        if not self._gate.admit(ip):
            log.warning("refused a connection: connection limit reached")
            await self.push("421 4.7.0 Too many connections; try again later")
            if self.transport is not None:
                self.transport.close()
            return
        self._admitted = ip
        self._gate.sessions.add(self)
        limit = self._gate.session_limit
        if limit is not None:
            self._session_timer = self.loop.call_later(limit, self._session_over)
        await super()._handle_client()

    def _session_over(self) -> None:
        """The session has lasted SMTP_SESSION_LIMIT: say so and close, after a commit."""
        transport = self.transport
        if not isinstance(transport, asyncio.WriteTransport) or transport.is_closing():
            return
        if self._in_hook:  # our commit is under way: its reply first, then close
            self._session_timer = self.loop.call_later(1.0, self._session_over)
            return
        log.info("closed an SMTP session at its time limit")
        transport.write(b"421 4.4.2 Session time limit reached; closing\r\n")
        transport.close()

    def data_received(self, data: bytes) -> None:
        # Only silence counts against the idle timeout: aiosmtpd restarts it per command,
        # not while a message body arrives line by line.
        super().data_received(data)
        if not self._in_hook and self._timeout_handle is not None and self.transport is not None:
            self._reset_timeout()

    def connection_lost(self, error: Exception | None) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
        if self._admitted is not None:
            self._gate.release(self._admitted)
            self._gate.sessions.discard(self)
            self._admitted = None
        super().connection_lost(error)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        # aiosmtpd's timeout runs from the last command; a hook waiting on the store
        # (bounded by the sidecar's reply deadline) is not an idle client, so the clock
        # stops while our hook runs and starts again once its reply is ready.
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._in_hook = True
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            self._in_hook = False
            if self.transport is not None:
                self._reset_timeout()

    async def push(self, status: Any) -> None:
        # The line limit is the size cap, so a line aiosmtpd finds too long is also a
        # message too big: say so with the size reply (RFC 5321 §4.5.3.1.10), not a 500;
        # and aiosmtpd's own size reply gets its enhanced status code (RFC 3463) too.
        if isinstance(status, str) and status.startswith(
            ("500 Line too long", "552 Error: Too much mail data")
        ):
            status = TOO_BIG
        await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # The plain path without aiosmtpd's RFC 5322 parser (sidecar/smtp/path.py).
        plain = plain_path(arg, self.local_part_limit)
        if plain is not None:
            return plain
        return super()._getaddr(arg)

    def close(self) -> None:
        """Close the session's connection (used when the sidecar stops)."""
        if self.transport is not None:
            self.transport.close()


async def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() >= end:
            return False
        await asyncio.sleep(step)
    return True
