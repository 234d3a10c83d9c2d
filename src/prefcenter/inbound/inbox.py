"""What a message to one of our mailboxes means, committed all at once.

:class:`Inbox` turns one received message (and its envelope recipients) into
PreferenceCenter calls made inside one ``center.transaction()``: either every change a
message causes is committed, or none is and the caller answers 451 so the sending
server retries. Every change carries the Message-ID as evidence, so a re-delivery
changes nothing twice. Nothing inbound is lost: what cannot be decided becomes an
exception item; only messages that are certainly not requests (out-of-office notices,
delay reports, success reports, ``not-spam`` feedback) are dropped, and each of those
is logged with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prefcenter.errors import InvalidInput, TokenError
from prefcenter.inbound.arf import parse_complaint
from prefcenter.inbound.auth import DnsFunc, authenticate
from prefcenter.inbound.dsn import Bounce, BounceKind, looks_like_bounce, parse_bounce
from prefcenter.inbound.mailbox import Mailbox, MailboxKind, token_in_uri
from prefcenter.inbound.message import InboundMessage, parse_message
from prefcenter.inbound.replies import classify_reply
from prefcenter.model import Channel, ExceptionItem, Identity, Source
from prefcenter.tokens import Purpose

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.changes import Changes

log = logging.getLogger("prefcenter.inbox")

#: Feedback types that are reports but not a person's complaint (RFC 5965, RFC 6591).
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})

#: How far back the contact ledger is searched for "a recipient we actually mailed".
LEDGER_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class Outcome:
    """What one message did at one mailbox.

    Attributes:
        mailbox: the mailbox's stable spelling (``unsubscribe``, ``bounces+…``).
        action: ``suppressed``, ``unchanged``, ``soft-bounce``, ``exception`` or ``ignored``.
        detail: one sentence why; no clear address.
        identity: the short hash of the person concerned, if one was.
        exception: the exception item, when one was opened (or found, on re-delivery).
    """

    mailbox: str
    action: str
    detail: str
    identity: str | None = None
    exception: ExceptionItem | None = None


Write = Callable[["Changes"], Outcome]


class Plan:
    """The writes one message causes, decided in advance; call it with a transaction."""

    def __init__(self, writes: list[Write]) -> None:
        self.writes = writes

    def __call__(self, tx: Changes) -> list[Outcome]:
        return [write(tx) for write in self.writes]


def log_outcomes(outcomes: list[Outcome]) -> None:
    """Log what a committed message did: mailbox, action, why, short identity only."""
    for outcome in outcomes:
        log.info(
            "%s: %s (%s)%s",
            outcome.mailbox.split("+")[0],
            outcome.action,
            outcome.detail,
            f" identity {outcome.identity}" if outcome.identity else "",
        )


class Inbox:
    """Decides and commits what inbound mail means.

    Args:
        center: the PreferenceCenter to call (thread-safe; this class runs in a worker).
        dnsfunc: DKIM key lookup for tests; None uses real DNS.
    """

    def __init__(self, center: PreferenceCenter, *, dnsfunc: DnsFunc | None = None) -> None:
        self.center = center
        self.settings = center.settings
        self.dnsfunc = dnsfunc

    def prepare(
        self, raw: bytes, mailboxes: Sequence[Mailbox], mail_from: str | None = None
    ) -> Plan:
        """Decide what a message means, reading but never writing; never raises on input.

        The slow parts (parsing, DKIM and its DNS lookups, ledger reads) happen here,
        outside any write transaction, so the returned :class:`Plan` holds the write
        lock only for its writes.
        """
        message = parse_message(raw)
        evidence = message.message_id
        unique = list({mailbox.key: mailbox for mailbox in mailboxes}.values())
        return Plan([self._one(message, mailbox, mail_from, evidence) for mailbox in unique])

    def deliver(
        self, raw: bytes, mailboxes: Sequence[Mailbox], mail_from: str | None = None
    ) -> list[Outcome]:
        """Act on one message for each of our mailboxes it was sent to, in one transaction.

        Raises:
            Whatever the store raises (``StoreUnavailable``...): then nothing was committed.
        """
        plan = self.prepare(raw, mailboxes, mail_from)
        with self.center.transaction() as tx:
            outcomes = plan(tx)
        log_outcomes(outcomes)
        return outcomes

    # -- one mailbox -------------------------------------------------------------
    def _one(
        self,
        message: InboundMessage,
        mailbox: Mailbox,
        mail_from: str | None,
        evidence: str,
    ) -> Write:
        if mailbox.kind is MailboxKind.UNSUBSCRIBE and mailbox.token:
            return self._tokened_unsubscribe(message, mailbox, evidence)
        if mailbox.kind is MailboxKind.UNSUBSCRIBE:
            return self._plain_unsubscribe(message, mailbox, mail_from, evidence)
        if mailbox.kind is MailboxKind.BOUNCES:
            return self._bounce(message, mailbox, mail_from, evidence)
        if mailbox.kind is MailboxKind.POSTMASTER:
            return self._exception(message, mailbox, "Mail to postmaster: for a person.", evidence)
        return self._complaint(message, mailbox, evidence)

    def _exception(
        self, message: InboundMessage, mailbox: Mailbox, why: str, evidence: str
    ) -> Write:
        # The queue deduplicates on evidence: the body digest keeps a different message
        # that reuses a Message-ID from being folded into an older item and lost.
        key = f"{evidence} body:{message.body_digest}"

        def write(tx: Changes) -> Outcome:
            item = tx.open_exception(
                mailbox=str(mailbox.kind),
                why=why,
                raw=message.raw,
                summary=message.summary(),
                evidence=key,
            )
            return Outcome(mailbox.key, "exception", why, exception=item)

        return write

    @staticmethod
    def _ignored(mailbox: Mailbox, detail: str, identity: str | None = None) -> Write:
        return lambda tx: Outcome(mailbox.key, "ignored", detail, identity)

    @staticmethod
    def _suppress(
        mailbox: Mailbox,
        identities: Sequence[Identity],
        detail: str,
        source: Source,
        evidence: str,
        *,
        topic: str | None = None,
        hard: bool = False,
    ) -> Write:
        def write(tx: Changes) -> Outcome:
            changed = False
            for identity in identities:
                changed |= tx.suppress(
                    identity,
                    topic=topic,
                    channel=identity.channel,
                    hard=hard,
                    reason=detail,
                    source=source,
                    evidence=evidence,
                    requested_at=None,
                )
            action = "suppressed" if changed else "unchanged"
            return Outcome(mailbox.key, action, detail, identities[0].short)

        return write

    def _tokened_unsubscribe(
        self, message: InboundMessage, mailbox: Mailbox, evidence: str
    ) -> Write:
        # The token is the request: act whatever the headers say (some clients mark
        # their mailto unsubscribe Auto-Submitted, and it is still the person's click).
        try:
            claims = self.center.verify_token(mailbox.token or "", Purpose.UNSUBSCRIBE)
        except TokenError as error:
            why = f"The unsubscribe token is not valid ({error.reason or type(error).__name__})."
            return self._exception(message, mailbox, why, evidence)
        identity = self.center.identity_from_claims(claims)
        topic = self.center.topic_name(claims.topic_digest) if claims.has_topic else None
        detail = f"mailto unsubscribe{f' from topic {topic}' if topic else ''}"
        if claims.has_topic and topic is None:
            # An unknown topic digest cannot be honoured per topic: stop all marketing,
            # the reading that can only ever stop more mail, never less.
            detail = "mailto unsubscribe for an unknown topic, widened to all marketing"
        return self._suppress(mailbox, [identity], detail, Source.MAILTO, evidence, topic=topic)

    def _plain_unsubscribe(
        self,
        message: InboundMessage,
        mailbox: Mailbox,
        mail_from: str | None,
        evidence: str,
    ) -> Write:
        reply = classify_reply(message)
        if parse_bounce(message, mail_from=mail_from) is not None or looks_like_bounce(message):
            return self._ignored(mailbox, "a delivery report, not a request")
        if reply.automatic or reply.out_of_office:
            if reply.unsubscribe_intent:
                why = f"An automatic reply ({reply.reason}) that may ask to unsubscribe."
                return self._exception(message, mailbox, why, evidence)
            return self._ignored(mailbox, f"automatic reply ({reply.reason})")
        auth = authenticate(
            message,
            trusted_authserv_ids=self.settings.trusted_authserv_ids,
            dnsfunc=self.dnsfunc,
        )
        address = message.from_address
        if not auth.authenticated or address is None:
            why = f"Unsubscribe request without a token from an unproven sender: {auth.reason}"
            return self._exception(message, mailbox, why, evidence)
        try:
            identity = self.center.identity(address)
        except InvalidInput:
            why = "Unsubscribe request from a From address that is not usable."
            return self._exception(message, mailbox, why, evidence)
        detail = f"plain unsubscribe, sender proven by {auth.method} ({auth.domain})"
        return self._suppress(mailbox, [identity], detail, Source.MAILTO, evidence)

    def _not_a_report(
        self, message: InboundMessage, mailbox: Mailbox, what: str, evidence: str
    ) -> Write:
        reply = classify_reply(message)
        if (reply.automatic or reply.out_of_office) and not reply.unsubscribe_intent:
            return self._ignored(mailbox, f"automatic reply ({reply.reason}), not {what}")
        why = f"A message at {mailbox.kind}@ that is not {what}."
        return self._exception(message, mailbox, why, evidence)

    def _bounce(
        self,
        message: InboundMessage,
        mailbox: Mailbox,
        mail_from: str | None,
        evidence: str,
    ) -> Write:
        bounce = parse_bounce(message, mail_from=mail_from, mail_domain=self.settings.mail_domain)
        if bounce is None:
            return self._not_a_report(message, mailbox, "a bounce", evidence)
        if mailbox.token:
            try:
                claims = self.center.verify_token(mailbox.token, Purpose.BOUNCE)
            except TokenError as error:
                why = (
                    f"The return-path token is not valid ({error.reason or type(error).__name__})."
                )
                return self._exception(message, mailbox, why, evidence)
            identity = self.center.identity_from_claims(claims)
            return self._apply_bounce(message, mailbox, bounce, bounce.kind, identity, evidence)
        return self._untokened_bounce(message, mailbox, bounce, evidence)

    def _apply_bounce(
        self,
        message: InboundMessage,
        mailbox: Mailbox,
        bounce: Bounce,
        kind: BounceKind,
        identity: Identity,
        evidence: str,
    ) -> Write:
        status = next((r.status for r in bounce.recipients if r.kind is kind and r.status), "")
        detail = f"{kind} bounce{f' {status}' if status else ''} ({bounce.format})"
        if kind is BounceKind.HARD:
            return self._suppress(mailbox, [identity], detail, Source.BOUNCE, evidence, hard=True)
        if kind is BounceKind.SOFT:

            def write(tx: Changes) -> Outcome:
                stopped = tx.record_soft_bounce(
                    identity, channel=identity.channel, source=Source.BOUNCE, evidence=evidence
                )
                if stopped:  # this one reached the limit: say what the store now holds
                    detail_stop = f"{detail}; soft-bounce limit reached, hard stop"
                    return Outcome(mailbox.key, "suppressed", detail_stop, identity.short)
                return Outcome(mailbox.key, "soft-bounce", detail, identity.short)

            return write
        if kind in (BounceKind.DELAYED, BounceKind.DELIVERED):
            return self._ignored(mailbox, detail, identity.short)
        why = f"A bounce whose meaning is unclear ({bounce.format}, no usable status)."
        return self._exception(message, mailbox, why, evidence)

    def _untokened_bounce(
        self, message: InboundMessage, mailbox: Mailbox, bounce: Bounce, evidence: str
    ) -> Write:
        # Without a VERP token only a recipient we actually mailed may be blamed, and
        # only as named by the report itself (dsn.py never reads the returned original).
        writes: list[Write] = []
        unattributed = 0
        for result in bounce.recipients:
            if result.kind in (BounceKind.DELAYED, BounceKind.DELIVERED):
                continue
            identity = self._mailed_identity(result.original, result.recipient)
            if identity is None:
                unattributed += 1
                continue
            single = Bounce(bounce.format, (result,))
            writes.append(
                self._apply_bounce(message, mailbox, single, result.kind, identity, evidence)
            )
        if not writes and not unattributed and bounce.recipients:
            return self._ignored(mailbox, f"{bounce.kind} report ({bounce.format})")
        if unattributed or not writes:
            why = (
                f"A bounce ({bounce.format}) naming {unattributed} recipient(s) we have no "
                "record of mailing, or none at all."
            )
            writes.append(self._exception(message, mailbox, why, evidence))

        def write(tx: Changes) -> Outcome:
            outcomes = [each(tx) for each in writes]
            # The exception, if any, is what a person must see; else the first decision.
            first = next((o for o in outcomes if o.exception is not None), outcomes[0])
            if len(outcomes) == 1:
                return first
            more = f"{first.detail} and {len(outcomes) - 1} more"
            return Outcome(first.mailbox, first.action, more, first.identity, first.exception)

        return write

    def _mailed_identity(self, *addresses: str | None) -> Identity | None:
        for address in addresses:
            if not address:
                continue
            try:
                identity = self.center.identity(address)
            except InvalidInput:
                continue
            if self._was_mailed(identity):
                return identity
        return None

    def _was_mailed(self, identity: Identity) -> bool:
        return bool(self.center.contacted(identity, since=datetime.now(UTC) - LEDGER_WINDOW))

    def _complaint(self, message: InboundMessage, mailbox: Mailbox, evidence: str) -> Write:
        complaint = parse_complaint(message)
        if complaint is None:
            return self._not_a_report(message, mailbox, "a feedback report", evidence)
        if complaint.feedback_type in NOT_COMPLAINTS:
            detail = f"feedback type {complaint.feedback_type!r} is not a complaint"
            return self._ignored(mailbox, detail)
        if not complaint.is_complaint:
            why = f"A feedback report of unknown type {complaint.feedback_type[:40]!r}."
            return self._exception(message, mailbox, why, evidence)
        identities = [self._token_identity(uri) for uri in complaint.list_unsubscribe]
        found = [identity for identity in identities if identity is not None]
        how = "our token in List-Unsubscribe"
        if not found and complaint.original_rcpt_to:
            # Anyone can send a report naming anyone: without our token, only a
            # recipient the contact ledger shows we mailed may be stopped (as bounces).
            how = "Original-Rcpt-To"
            mailed = (self._mailed_identity(a) for a in complaint.original_rcpt_to)
            found = [identity for identity in mailed if identity is not None]
            if not found:
                why = (
                    "A complaint naming a recipient we have no record of mailing, and "
                    "whose original carries no token of ours."
                )
                return self._exception(message, mailbox, why, evidence)
        if not found:
            why = (
                "A complaint whose recipient is redacted or missing and whose original "
                "carries no token of ours."
            )
            return self._exception(message, mailbox, why, evidence)
        detail = f"complaint ({complaint.feedback_type or 'no type'}), recipient by {how}"
        unique = list({identity.hash: identity for identity in found}.values())
        return self._suppress(mailbox, unique, detail, Source.COMPLAINT, evidence, hard=True)

    def _token_identity(self, uri: str) -> Identity | None:
        """Our unsubscribe token in a mailto: or https: List-Unsubscribe URI, verified."""
        token = token_in_uri(uri, self.settings.mail_domain, self.settings.base_url)
        if token is None:
            return None
        try:
            claims = self.center.verify_token(token, Purpose.UNSUBSCRIBE)
        except TokenError:
            return None
        if claims.channel is not Channel.EMAIL:
            return None
        return self.center.identity_from_claims(claims)


# token_in_uri lives in mailbox.py; it is re-exported for callers that found it here.
__all__ = ["LEDGER_WINDOW", "Inbox", "Outcome", "Plan", "Write", "log_outcomes", "token_in_uri"]
