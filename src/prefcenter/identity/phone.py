"""Phone identities (SMS and voice): E.164 numbers written in international form.

:func:`canonical_phone` takes most numbers on a short path: a number already written
as ``+`` and digits whose national part has nothing ``phonenumbers.parse`` would strip
(no national prefix such as the ``0`` of ``+44 0 20...``, no leading zero) is its own
E.164 form once its length is possible for its country code. That is what every SMS
gateway sends (Twilio's ``From``), and it skips the full parse, which costs about a
third of an inbound text's handling. Everything else takes the full parse;
``tests/identity/test_identities.py`` checks that both paths agree on any input.
"""

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
    if _already_canonical(compact):
        return compact
    return parsed_phone(compact, value)


def parsed_phone(compact: str, value: str) -> str:
    """The E.164 form of ``compact`` (``+`` and digits) by the full ``phonenumbers`` parse.

    ``value`` is the number as written, for the error message.

    Raises:
        InvalidRecipient: no such country code, or no such length for it.
    """
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


def _already_canonical(compact: str) -> bool:
    """True when the full parse would give ``compact`` back unchanged (and accept it).

    ``phonenumbers.parse`` reads a ``+`` number as the first 1-3 digits that are a
    country calling code, then strips a national prefix (the country's
    ``national_prefix_for_parsing``) from the rest when one matches there. When none can
    match, and the rest has no leading zero (kept aside as Italian-style zeros), the
    E.164 form is the input itself, and only its length remains to check. False sends
    the number to the full parse (which also gives every error message).
    """
    import phonenumbers  # deferred, as in parsed_phone

    digits = compact[1:]
    for width in (1, 2, 3):
        code = int(digits[:width])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False  # no such country code: the full parse says so
    national = digits[width:]
    if len(national) < 2 or national.startswith("0"):
        return False
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return False
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return False  # a national prefix may be stripped: the full parse decides
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return bool(phonenumbers.is_possible_number(number))
