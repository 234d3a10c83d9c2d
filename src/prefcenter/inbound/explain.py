"""What the SMTP sidecar would do with one message, and why, without changing the store.

For operators and bug reports (``prefcenter explain FILE``): the message's kind
(bounce, complaint, auto-reply...), the reason and addresses the report gives, the proof
found that it concerns a message we sent, and the action the bounce policy would take.
Only reads happen: token checks and Message-ID look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prefcenter.bounces.policy import BounceReason, bounce_action
from prefcenter.bounces.reasons import is_permanent
from prefcenter.errors import InvalidInput
from prefcenter.inbound.arf import parse_complaint
from prefcenter.inbound.dsn import BounceKind, parse_bounce
from prefcenter.inbound.inbox import NOT_COMPLAINTS, Inbox
from prefcenter.inbound.kinds import is_auto_reply, is_other_report, machine_made
from prefcenter.inbound.mailbox import Mailbox, MailboxKind
from prefcenter.inbound.message import InboundMessage, parse_message


@dataclass(frozen=True)
class RecipientLine:
    """One failed recipient as the report gives it."""

    address: str
    kind: str
    reason: str
    status: str
    permanent: bool
    diagnostic: str


@dataclass(frozen=True)
class Explanation:
    """What one message means at one mailbox.

    Attributes:
        mailbox: the mailbox it was explained for (``bounces``, ``fbl``...).
        kind: ``bounce``, ``complaint``, ``auto-reply``, ``report`` (not about delivery),
            ``machine`` (machine-made, unclear) or ``person`` (a person wrote it).
        format: the bounce or complaint layout (``rfc3464``, ``exim``, ``hotmail``...).
        recipients: the failed recipients (bounces) or complained-about ones.
        proof: how the message proves it concerns a message we sent, or ``""``.
        proven_identity: the short hash of the proven person, or ``""``.
        why_not_proven: why there is no proof, when there is none.
        action: what the sidecar would do, in a few words.
        source_ip: a complaint's Source-IP, when given.
    """

    mailbox: str
    kind: str
    format: str = ""
    recipients: tuple[RecipientLine, ...] = field(default=())
    proof: str = ""
    proven_identity: str = ""
    why_not_proven: str = ""
    action: str = ""
    source_ip: str = ""


def explain(inbox: Inbox, raw: bytes, mailbox: Mailbox, mail_from: str | None) -> Explanation:
    """Explain ``raw`` arriving at ``mailbox``; reads the store, never writes."""
    message = parse_message(raw)
    name = str(mailbox.kind)
    if mailbox.kind is MailboxKind.FBL:
        complaint = parse_complaint(message)
        if complaint is None:
            return Explanation(name, _other_kind(message), action=_not_a_report_action(message))
        identity, how = inbox.complaint_proof(complaint)
        lines = tuple(
            RecipientLine(address, "complaint", complaint.feedback_type, "", True, "")
            for address in complaint.original_rcpt_to
        )
        if complaint.feedback_type in NOT_COMPLAINTS or not complaint.is_complaint:
            action = f"nothing: feedback type {complaint.feedback_type!r} is not a complaint"
        elif identity is not None:
            action = "hard suppression (complaint)"
        else:
            action = "kept for audit: no proof, changes nobody"
        return Explanation(
            name,
            "complaint",
            complaint.layout,
            lines,
            how if identity else "",
            identity.short if identity else "",
            "" if identity else how,
            action,
            complaint.source_ip,
        )
    bounce = parse_bounce(message, mail_from=mail_from, mail_domain=inbox.settings.mail_domain)
    if bounce is None:
        return Explanation(name, _other_kind(message), action=_not_a_report_action(message))
    lines = tuple(
        RecipientLine(
            result.recipient or "",
            result.kind.value,
            result.reason.value,
            result.status,
            result.kind is BounceKind.HARD
            or bool(is_permanent(result.action, result.status, result.diagnostic)),
            result.diagnostic[:200],
        )
        for result in bounce.recipients
    )
    identity, how = inbox.proof(message, mailbox)
    if bounce.kind in (BounceKind.DELAYED, BounceKind.DELIVERED):
        action = f"nothing: a {bounce.kind} report"
    elif identity is None:
        action = "evidence only (a named recipient we mailed gets an audit event); no change"
    else:
        mine = [line for line in lines if _same(inbox, line.address, identity.hash)]
        line = mine[0] if mine else (lines[0] if len(lines) == 1 else None)
        if line is None:
            action = "one score point (undecided)"
        else:
            decided = bounce_action(
                BounceReason(line.reason), permanent=line.permanent, proven=True
            )
            action = {
                "hard": "hard suppression now",
                "score": "one score point (at most one a day)",
                "evidence": "evidence only: about us or no news, never held against the person",
            }[decided.value]
    return Explanation(
        name,
        "bounce",
        bounce.format,
        lines,
        how if identity else "",
        identity.short if identity else "",
        "" if identity else how,
        action,
    )


def _same(inbox: Inbox, address: str, identity_hash: bytes) -> bool:
    if not address:
        return False
    try:
        return inbox.center.identity(address).hash == identity_hash
    except InvalidInput:
        return False


def _other_kind(message: InboundMessage) -> str:
    if is_auto_reply(message):
        return "auto-reply"
    if is_other_report(message):
        return "report"
    return "machine" if machine_made(message) else "person"


def _not_a_report_action(message: InboundMessage) -> str:
    kind = _other_kind(message)
    return {
        "auto-reply": "ignored (logged): an automatic reply",
        "report": "kept for audit: a machine report that is not about delivery",
        "machine": "kept for audit: machine-made mail nobody can act on",
        "person": "an exception item for a person",
    }[kind]


__all__ = ["Explanation", "RecipientLine", "explain"]
