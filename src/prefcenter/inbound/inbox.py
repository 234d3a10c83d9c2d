"""What a message to one of our mailboxes means, committed all at once.

:class:`Inbox` turns one received message into PreferenceCenter calls made inside one
``center.transaction()``: all commit, or none and the caller answers 451. Every change
carries the Message-ID as evidence, so a re-delivery changes nothing twice. A bounce or
complaint changes someone only with proof (:mod:`prefcenter.inbound.proof`); what a
person wrote and nobody can decide becomes an exception item; machine-made mail nobody
can act on is kept for audit; certain non-requests (out-of-office notices, delay and
success reports, ``not-spam`` feedback) are logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import TYPE_CHECKING

from prefcenter.bounces.policy import BounceAction
from prefcenter.bounces.reasons import Reason, is_permanent
from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput, TokenError
from prefcenter.inbound.arf import Complaint, parse_complaint
from prefcenter.inbound.auth import AuthResult, DnsFunc, Suffixes, authenticate
from prefcenter.inbound.dsn import Bounce, BounceKind, RecipientStatus, parse_bounce
from prefcenter.inbound.kinds import is_other_report, looks_like_bounce, machine_made
from prefcenter.inbound.mailbox import Mailbox, MailboxKind, parse_recipient, token_in_uri
from prefcenter.inbound.message import InboundMessage, parse_message
from prefcenter.inbound.proof import complaint_proof, find_proof, result_for, token_identity
from prefcenter.inbound.replies import ReplyClass, asks_to_stop, classify_reply, own_text
from prefcenter.model import ExceptionItem, Identity, Source
from prefcenter.tokens import Purpose

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.changes import Changes

log = logging.getLogger("prefcenter.inbox")

#: Feedback types that are reports but not a person's complaint (RFC 5965, RFC 6591).
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})

#: How far back the contact ledger is searched for "a recipient we actually mailed".
LEDGER_WINDOW = timedelta(days=365)
#: Bytes of machine-made mail kept for audit (the head and the start of the text).
AUDIT_KEEP = 64 * 1024


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


@dataclass(frozen=True, slots=True)
class SuppressWrite:
    """A write that only suppresses: the group commit may join its requests to other
    messages' in one ``suppress_many`` (a few statements for a burst, not a few each).

    Attributes:
        requests: the suppressions, one per identity.
        mailbox: the mailbox's stable spelling.
        detail: why, for the outcome and the log.
        identity: the short hash of the first identity.
    """

    requests: tuple[SuppressRequest, ...]
    mailbox: str
    detail: str
    identity: str

    def __call__(self, tx: Changes) -> Outcome:
        return self.outcome(tx.suppress_many(self.requests))

    def outcome(self, changed: Sequence[bool]) -> Outcome:
        """The outcome, given ``suppress_many``'s result for each of ``requests``."""
        return Outcome(
            self.mailbox, "suppressed" if any(changed) else "unchanged", self.detail, self.identity
        )


class Plan:
    """The writes one message causes, decided in advance; call it with a transaction."""

    def __init__(self, writes: list[Write]) -> None:
        self.writes = writes

    def __call__(self, tx: Changes) -> list[Outcome]:
        return [write(tx) for write in self.writes]

    def suppress_requests(self) -> list[SuppressRequest] | None:
        """Every suppression of the plan when suppressing is all it does, else None.

        The group commit then writes them with other messages' (``suppress_many``) and
        hands their results to :meth:`finish` instead of calling the plan.
        """
        writes = [write for write in self.writes if isinstance(write, SuppressWrite)]
        if not writes or len(writes) < len(self.writes):
            return None
        return [request for write in writes for request in write.requests]

    def finish(self, changed: Sequence[bool]) -> list[Outcome]:
        """The outcomes, given ``suppress_many``'s result for each of :meth:`suppress_requests`."""
        outcomes: list[Outcome] = []
        start = 0
        for write in self.writes:
            assert isinstance(write, SuppressWrite)
            stop = start + len(write.requests)
            outcomes.append(write.outcome(changed[start:stop]))
            start = stop
        return outcomes


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
        self._suffixes: Suffixes | None = None

    @property
    def suffixes(self) -> Suffixes:
        """The Public Suffix List, loaded on first use (about 0.1 s)."""
        if self._suffixes is None:
            self._suffixes = Suffixes()
        return self._suffixes

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
        requests = tuple(
            SuppressRequest(
                recipient=identity, source=source, topic=topic, channel=identity.channel,
                reason=detail, evidence=evidence, hard=hard,
            )
            for identity in identities
        )  # fmt: skip
        return SuppressWrite(requests, mailbox.key, detail, identities[0].short)

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
        # The change needs the hash only: no store read per message for the address
        # (on PostgreSQL a round trip in the commit thread, before every group).
        identity = self.center.identity_from_claims(claims, address=False)
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
            suffixes=self.suffixes,
        )
        address = message.from_address
        if not auth.authenticated or address is None:
            why = f"Unsubscribe request without a token from an unproven sender: {auth.reason}"
            return self._exception(message, mailbox, why, evidence)
        not_ours = self._not_written_to_us(message, auth, reply)
        if not_ours:
            return self._exception(message, mailbox, f"A signed message, but {not_ours}", evidence)
        try:
            identity = self.center.identity(address)
        except InvalidInput:
            why = "Unsubscribe request from a From address that is not usable."
            return self._exception(message, mailbox, why, evidence)
        detail = f"plain unsubscribe, sender proven by {auth.method} ({auth.domain})"
        return self._suppress(mailbox, [identity], detail, Source.MAILTO, evidence)

    def _not_written_to_us(
        self, message: InboundMessage, auth: AuthResult, reply: ReplyClass
    ) -> str:
        """Why a proven message is not its author's request to us, or ``""``.

        Anyone can re-send a person's signed mail (``lunch on friday?``) to our address:
        the signature proves who wrote it, not to whom. It is a request only when a
        ``To`` or ``Cc`` covered by the signature names our unsubscribe mailbox and the
        author asks to stop: in a signed subject, or in their own words of a body the
        signature covers whole. A trusted DMARC pass without any aligned signature rests
        on SPF: the author's own servers handed this message to us, which nobody else
        can replay, so there the fields themselves are read.
        """
        by_envelope = auth.method == "authentication-results" and not auth.signed
        signed = {"to", "cc", "subject"} if by_envelope else auth.signed
        named: list[str] = []
        for field in ("to", "cc"):
            values = message.headers(field)
            if len(values) > 1:  # RFC 5322 allows one; a second may be a forger's
                return f"it has {len(values)} {field.capitalize()} fields."
            addresses = [address for _, address in getaddresses(values)]
            if any(self._is_unsubscribe(address) for address in addresses):
                named.append(field)
        if not named:
            return "its To and Cc do not name our unsubscribe address."
        if not any(field in signed for field in named):
            return "its signature does not cover the To or Cc that names our address."
        subject = "subject" in signed and asks_to_stop(message.subject)
        whole_body = auth.whole_body or by_envelope
        body = (
            whole_body
            and reply.unsubscribe_intent
            and asks_to_stop(own_text(message.text())[:4000])
        )
        if not (subject or body):
            return "neither its signed subject nor its author's own words ask to stop."
        return ""

    def _is_unsubscribe(self, address: str) -> bool:
        mailbox = parse_recipient(address, self.settings.mail_domain)
        return mailbox is not None and mailbox.kind is MailboxKind.UNSUBSCRIBE

    def _not_a_report(
        self, message: InboundMessage, mailbox: Mailbox, what: str, evidence: str
    ) -> Write:
        reply = classify_reply(message)
        if (reply.automatic or reply.out_of_office) and not reply.unsubscribe_intent:
            return self._ignored(mailbox, f"automatic reply ({reply.reason}), not {what}")
        if is_other_report(message) or machine_made(message):
            # A DMARC/TLS report, a mail system's notice: no person wrote it, none can act.
            why = f"Machine-made mail at {mailbox.kind}@ that is not {what}."
            return self._audit(message, mailbox, why, evidence)
        why = f"A message at {mailbox.kind}@ that is not {what}."
        return self._exception(message, mailbox, why, evidence)

    def _audit(self, message: InboundMessage, mailbox: Mailbox, why: str, evidence: str) -> Write:
        """Machine-made mail whose meaning is unclear: kept for audit, not a person's item."""
        key = f"{evidence} body:{message.body_digest}"

        def write(tx: Changes) -> Outcome:
            tx.keep_for_audit(
                mailbox=str(mailbox.kind),
                why=why,
                raw=message.raw[:AUDIT_KEEP],
                summary=message.summary(),
                evidence=key,
            )
            return Outcome(mailbox.key, "kept", why)

        return write

    # -- bounces -----------------------------------------------------------------
    def proof(self, message: InboundMessage, mailbox: Mailbox) -> tuple[Identity | None, str]:
        """Who a bounce provably concerns, and how; see :mod:`prefcenter.inbound.proof`."""
        return find_proof(self.center, message, mailbox)

    def complaint_proof(self, complaint: Complaint) -> tuple[Identity | None, str]:
        """Who a complaint provably concerns, and how; see :mod:`prefcenter.inbound.proof`."""
        return complaint_proof(self.center, complaint)

    def _token_identity(self, uri: str) -> Identity | None:
        return token_identity(self.center, uri)

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
        identity, how = self.proof(message, mailbox)
        if identity is not None:
            return self._proven_bounce(message, mailbox, bounce, identity, how, evidence)
        return self._unproven_bounce(message, mailbox, bounce, how, evidence)

    def _proven_bounce(
        self,
        message: InboundMessage,
        mailbox: Mailbox,
        bounce: Bounce,
        identity: Identity,
        how: str,
        evidence: str,
    ) -> Write:
        result = result_for(self.center, bounce, identity)
        if result is None:
            kind, reason, status, permanent = bounce.kind, bounce.reason, "", False
            if bounce.recipients:  # several people named, none of them ours: say nothing
                kind, reason = BounceKind.UNDECIDED, Reason.UNDECIDED
        else:
            kind, reason, status = result.kind, result.reason, result.status
            permanent = kind is BounceKind.HARD or bool(
                is_permanent(result.action, result.status, result.diagnostic)
            )
        detail = f"{reason} bounce{f' {status}' if status else ''} ({bounce.format}), proof: {how}"
        if kind in (BounceKind.DELAYED, BounceKind.DELIVERED):
            return self._ignored(mailbox, detail, identity.short)

        def write(tx: Changes) -> Outcome:
            done = tx.record_bounce(
                identity,
                reason=reason,
                permanent=permanent,
                evidence=evidence,
                proven=True,
                channel=identity.channel,
                detail=f"{status + ' ' if status else ''}{bounce.format}",
            )
            if done.suppressed or (done.action is BounceAction.HARD and not done.replay):
                action = "suppressed"
            elif done.action is BounceAction.SCORE:
                action = "soft-bounce"
            else:
                action = "evidence"
            text = f"{detail}; {done.action} (score {done.score})"
            return Outcome(mailbox.key, action, text, identity.short)

        return write

    def _unproven_bounce(
        self, message: InboundMessage, mailbox: Mailbox, bounce: Bounce, how: str, evidence: str
    ) -> Write:
        # Anyone can write a bounce naming anyone: without proof it changes nobody. A
        # named recipient we did mail gets an evidence event (never a score point or a
        # suppression); the message itself is kept for audit when it is unclear.
        writes: list[Write] = []
        for result in bounce.recipients:
            if result.kind in (BounceKind.DELAYED, BounceKind.DELIVERED):
                continue
            named = self._mailed_identity(result.original, result.recipient)
            if named is None:
                continue
            writes.append(self._evidence(mailbox, bounce, result, named, how, evidence))
        if bounce.recipients and all(
            r.kind in (BounceKind.DELAYED, BounceKind.DELIVERED) for r in bounce.recipients
        ):
            return self._ignored(mailbox, f"{bounce.kind} report ({bounce.format})")
        why = f"A {bounce.reason} bounce ({bounce.format}) without proof: {how}."
        if not writes:
            return self._audit(message, mailbox, why, evidence)

        def write(tx: Changes) -> Outcome:
            outcomes = [each(tx) for each in writes]
            first = outcomes[0]
            more = f" and {len(outcomes) - 1} more" if len(outcomes) > 1 else ""
            return Outcome(first.mailbox, first.action, first.detail + more, first.identity)

        return write

    def _evidence(
        self,
        mailbox: Mailbox,
        bounce: Bounce,
        result: RecipientStatus,
        identity: Identity,
        how: str,
        evidence: str,
    ) -> Write:
        permanent = bool(is_permanent(result.action, result.status, result.diagnostic))

        def write(tx: Changes) -> Outcome:
            tx.record_bounce(
                identity,
                reason=result.reason,
                permanent=permanent,
                evidence=evidence,
                proven=False,
                channel=identity.channel,
                detail=f"{result.status + ' ' if result.status else ''}{bounce.format}",
            )
            detail = f"{result.reason} bounce without proof ({how}): evidence only"
            return Outcome(mailbox.key, "evidence", detail, identity.short)

        return write

    def _mailed_identity(self, *addresses: str | None) -> Identity | None:
        for address in addresses:
            if not address:
                continue
            try:
                identity = self.center.identity(address)
            except InvalidInput:
                continue
            if self.center.contacted(identity, since=datetime.now(UTC) - LEDGER_WINDOW):
                return identity
        return None

    # -- complaints --------------------------------------------------------------
    def _complaint(self, message: InboundMessage, mailbox: Mailbox, evidence: str) -> Write:
        complaint = parse_complaint(message)
        if complaint is None:
            return self._not_a_report(message, mailbox, "a feedback report", evidence)
        if complaint.feedback_type in NOT_COMPLAINTS:
            detail = f"feedback type {complaint.feedback_type!r} is not a complaint"
            return self._ignored(mailbox, detail)
        if not complaint.is_complaint:
            why = f"A feedback report of unknown type {complaint.feedback_type[:40]!r}."
            return self._audit(message, mailbox, why, evidence)
        identity, how = self.complaint_proof(complaint)
        if identity is None:
            # Anyone can send a report naming anyone: without our token or a recorded
            # Message-ID it changes nobody. It is kept for audit, counted, not queued.
            named = "names a recipient" if complaint.original_rcpt_to else "names nobody"
            why = (
                f"A complaint ({complaint.layout}) that {named} but carries no token of "
                "ours and no recorded Message-ID: evidence only."
            )
            return self._audit(message, mailbox, why, evidence)
        detail = f"complaint ({complaint.feedback_type or 'no type'}), recipient by {how}"
        return self._suppress(mailbox, [identity], detail, Source.COMPLAINT, evidence, hard=True)


# token_in_uri lives in mailbox.py; it is re-exported for callers that found it here.
__all__ = ["LEDGER_WINDOW", "Inbox", "Outcome", "Plan", "Write", "log_outcomes", "token_in_uri"]
