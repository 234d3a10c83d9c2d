"""Phone identities (SMS and voice): E.164 numbers written in international form."""

from __future__ import annotations

import re

from prefcenter.identity.text import PHONE_SEPARATORS, invalid, refuse_controls

__all__ = ["canonical_phone"]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def canonical_phone(value: str) -> str:
    """The E.164 form of a phone number written in international format.

    Accepts spaces, dots, dashes, slashes and brackets, and ``00`` for ``+``.

    Raises:
        InvalidRecipient: not an international number; the message says what to add.
    """
    refuse_controls(value)
    compact = PHONE_SEPARATORS.sub("", value.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        raise invalid(
            value, "it has no country code", "write it in international form, e.g. +14155550100"
        )
    if not _E164.fullmatch(compact):
        raise invalid(
            value,
            "it is not an E.164 number (+, country code, 7 to 15 digits)",
            "write it like +14155550100",
        )
    import phonenumbers  # deferred: a large module, needed only for phone identities

    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as error:
        raise invalid(value, str(error), "write it like +14155550100") from None
    if not phonenumbers.is_possible_number(parsed):
        raise invalid(
            value, "no such number length exists for its country code", "check the digits"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
