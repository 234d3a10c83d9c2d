"""What every identity parser shares: the error it raises and the checks of raw text."""

from __future__ import annotations

import re
import unicodedata

from prefcenter.errors import InvalidRecipient

__all__ = ["LOOKS_LIKE_PHONE", "PHONE_SEPARATORS", "invalid", "refuse_controls"]

PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
LOOKS_LIKE_PHONE = re.compile(r"\+?[0-9]+", re.ASCII)


def invalid(value: str, reason: str, fix: str) -> InvalidRecipient:
    """The error for an unusable recipient, naming the value, the reason and the fix."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return InvalidRecipient(
        f"Recipient {shown!r} is not usable: {reason}; {fix}.", value=value, reason=reason
    )


def refuse_controls(value: str) -> None:
    """Raise InvalidRecipient when ``value`` holds a control character or line break."""
    if value.isprintable():  # no Cc, Zl or Zp anywhere (nor other unprintables): the usual case
        return
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value.strip()):
        raise invalid(
            value,
            "it contains a control character or line break",
            "remove it; addresses are one line of printable text",
        )
