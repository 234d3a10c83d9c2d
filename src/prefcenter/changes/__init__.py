"""Every change of mind, written one way: the audit event first, then the state.

:mod:`~prefcenter.changes.writer` holds :class:`Changes` (suppress, resubscribe, topics,
frequency, pause, link, forget), :mod:`~prefcenter.changes.ledger` the contact ledger and
:mod:`~prefcenter.changes.review` the exceptions queue; all three write through one
:class:`~prefcenter.changes.binding.Binding`.
"""

from prefcenter.changes.binding import require_reason
from prefcenter.changes.writer import Changes, SuppressRequest
from prefcenter.core import Recipient

__all__ = ["Changes", "Recipient", "SuppressRequest", "require_reason"]
