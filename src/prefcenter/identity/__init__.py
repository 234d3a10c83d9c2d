"""Identity keys: one canonical string per person-on-a-channel, and its keyed hash.

``alice+news@Example.COM`` and ``Alice@example.com`` are one person, so both become
``email:alice@example.com``; phone numbers become E.164 (``sms:+14155550100``). The store
never sees the key itself, only its keyed hash, so a person can be erased while their
opt-out keeps matching. One module per kind: :mod:`~prefcenter.identity.email`,
:mod:`~prefcenter.identity.phone`, :mod:`~prefcenter.identity.bulk` (a chunk of plain
addresses at once) and :mod:`~prefcenter.identity.identities` (hashing).
"""

from prefcenter.identity.email import Folding, canonical_email, fast_email, fold_email, slow_email
from prefcenter.identity.identities import HASH_SIZE, Identities
from prefcenter.identity.phone import canonical_phone

__all__ = [
    "HASH_SIZE",
    "Folding",
    "Identities",
    "canonical_email",
    "canonical_phone",
    "fast_email",
    "fold_email",
    "slow_email",
]
