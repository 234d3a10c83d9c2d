"""The bounce policy: why a delivery failed, and what that may change for a person.

A postmaster does not count every bounce alike. A dead address (user or host unknown,
permanent) stops mail at once, but only when the bounce proves it concerns a message we
sent. A full mailbox, an expired delivery or a suspended account add to a per-person
score, at most one point a day, and the score starts again from zero after a quiet
period (as GNU Mailman does). A refusal that is about us (our content, our IP, our
size) never counts against the recipient. A bounce without proof is evidence only: it
is recorded, never turned into a suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BounceReason(StrEnum):
    """Why a delivery failed, in the vocabulary bounce libraries share."""

    #: The mailbox does not exist (X.1.1, "user unknown", "no such user").
    USER_UNKNOWN = "user-unknown"
    #: The domain or its mail host does not exist or cannot be routed (X.1.2, X.4.4).
    HOST_UNKNOWN = "host-unknown"
    #: The mailbox is full or over quota (X.2.2): the person exists.
    MAILBOX_FULL = "mailbox-full"
    #: The message exceeds a size limit (X.2.3, X.3.4): about us.
    TOO_BIG = "message-too-big"
    #: Refused as spam or for its content (X.6.x, X.7.1 with spam wording): about us.
    FILTERED = "filtered"
    #: Refused by policy: our IP, domain, authentication, a block list (X.7.x): about us.
    POLICY = "policy"
    #: The mailbox is disabled or suspended (X.2.1, "account disabled"): may come back.
    SUSPENDED = "suspended"
    #: Delivery was given up after retrying (X.4.7, "retry time exceeded").
    EXPIRED = "expired"
    #: Still being retried (a delay report).
    DELAYED = "delayed"
    #: Connection or routing trouble on the way (X.4.x).
    NETWORK = "network"
    #: The receiving system failed (X.3.x, X.5.x, "local error").
    SYSTEM = "system"
    #: The message is held for the recipient's review (challenge-response, quarantine).
    ON_HOLD = "on-hold"
    #: A success report (delivered, relayed, expanded).
    DELIVERED = "delivered"
    #: A bounce that says too little to tell.
    UNDECIDED = "undecided"


#: Reasons that are about the address itself: only these can ever make a hard bounce.
ADDRESS_REASONS = frozenset({BounceReason.USER_UNKNOWN, BounceReason.HOST_UNKNOWN})
#: Reasons that are about us (our content, IP or domain), never held against a person.
ABOUT_US = frozenset({BounceReason.FILTERED, BounceReason.POLICY, BounceReason.TOO_BIG})
#: Reasons that change nothing at all (the message is still on its way, or arrived).
NOTHING = frozenset({BounceReason.DELAYED, BounceReason.DELIVERED})


class BounceAction(StrEnum):
    """What one bounce does to a person."""

    #: A proven permanent address failure: hard suppression now.
    HARD = "hard"
    #: A proven failure that counts: one score point (at most one a day).
    SCORE = "score"
    #: Recorded on the audit trail, changes nothing (about us, unproven, or no news).
    EVIDENCE = "evidence"


def bounce_action(reason: BounceReason, *, permanent: bool, proven: bool) -> BounceAction:
    """The per-reason action of the policy.

    * user or host unknown, permanent, proven: hard at once;
    * filtered, policy, too big (about us), delayed, delivered: evidence only;
    * without proof: evidence only, whatever the reason;
    * everything else proven (mailbox full, expired, suspended, network, system, on hold,
      undecided, and a temporary "user unknown"): one score point.
    """
    if not proven or reason in ABOUT_US or reason in NOTHING:
        return BounceAction.EVIDENCE
    if reason in ADDRESS_REASONS and permanent:
        return BounceAction.HARD
    return BounceAction.SCORE


@dataclass(frozen=True)
class Score:
    """A person's bounce score after one more bounce.

    Attributes:
        value: the score, counting this bounce.
        counted: False when this bounce fell on a day that already had its point.
    """

    value: int
    counted: bool


def bounce_score(earlier: Sequence[datetime], now: datetime, quiet: timedelta) -> Score:
    """The score a bounce at ``now`` brings, given the times of earlier scored bounces.

    One point per UTC day with a scored bounce, counting back from ``now`` while no gap
    between two bounces is longer than ``quiet``: a quiet period resets the score.
    """
    days: set[object] = {now.date()}
    previous = now
    for moment in sorted(earlier, reverse=True):
        if previous - moment > quiet:
            break
        days.add(moment.date())
        previous = moment
    counted = now.date() not in {moment.date() for moment in earlier}
    return Score(len(days), counted)


__all__ = [
    "ABOUT_US",
    "ADDRESS_REASONS",
    "NOTHING",
    "BounceAction",
    "BounceReason",
    "Score",
    "bounce_action",
    "bounce_score",
]
