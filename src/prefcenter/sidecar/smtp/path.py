"""The common SMTP path, ``<local@domain>``, read without the RFC 5322 parser.

aiosmtpd reads the path of every MAIL FROM and RCPT TO with the standard library's
header parser (``email._header_value_parser``) and defines a ``typing.Protocol`` class
on each call; together that was about half of the SMTP sidecar's event-loop time per
message (py-spy, ``bench_smtp``). Relays send the plain form: an angle-bracketed
dot-atom address, then parameters. :func:`plain_path` reads exactly that form and gives
what aiosmtpd's parser gives for it (a hypothesis test compares the two); anything else
(quoted local parts, comments, domain literals, the null path ``<>``, non-ASCII) is
left to aiosmtpd.
"""

from __future__ import annotations

import re

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
#: Optional blanks, ``<dot-atom@domain>`` with a host name, and blanks not followed by
#: a comment (the parser would read a comment as part of the path).
_PLAIN = re.compile(
    rf"[ \t]*<((?:{_ATEXT})(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*)>(?![ \t]*\()[ \t]*"
)


def plain_path(arg: str, local_part_limit: int = 0) -> tuple[str, str] | None:
    """``(address, parameters)`` of a plain ``<local@domain> PARAMS`` argument, else None.

    Args:
        arg: what follows ``FROM:`` or ``TO:`` in the command.
        local_part_limit: aiosmtpd's limit on the local part (0: none). A longer one
            gives None, so the caller's own parser refuses it as it always has.
    """
    match = _PLAIN.match(arg)
    if match is None:
        return None
    address = match.group(1)
    if local_part_limit and address.index("@") > local_part_limit:
        return None
    return address, arg[match.end() :]
