"""DKIM signing that covers the unsubscribe headers, as RFC 8058 §4 requires.

dkimpy's default header list leaves out ``List-Unsubscribe-Post``, so the list is
passed explicitly. Every header we add is over-signed (named once more than it is
present), so no later hop can add a second ``List-Unsubscribe`` that still verifies.
Canonicalisation is relaxed/relaxed and no ``l=`` body length is used: a body limit
would let anyone append content under our signature.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from prefcenter.errors import DkimError

#: Headers signed when present, each over-signed once.
SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "CFBL-Address",
    "Feedback-ID",
)
#: Always named in h= even when absent, so they cannot be added after signing.
ALWAYS_SIGNED = frozenset({"from", "list-unsubscribe", "list-unsubscribe-post"})


class SilentLog:
    """The logger handed to dkimpy, which drops everything it says.

    dkimpy's debug lines quote the signed headers (``To:`` addresses included) and its
    error lines can quote a signature's ``i=`` address or a malformed header. Logs
    outlive erasure requests, so none of that may reach them. The outcome is not lost:
    signing raises :class:`DkimError` and verification returns a result with a reason.
    """

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging.Logger's name
        return False

    def debug(self, *args: object, **kwargs: object) -> None:
        """Dropped (see the class)."""

    def error(self, *args: object, **kwargs: object) -> None:
        """Dropped (see the class)."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM private key with its domain and selector.

    Attributes:
        domain: the ``d=`` domain.
        selector: the ``s=`` selector.
        private_key: PEM bytes for RSA, or the base64 32-byte seed for Ed25519.
        algorithm: ``rsa-sha256`` or ``ed25519-sha256``.
    """

    domain: str
    selector: str
    private_key: bytes
    algorithm: str

    @classmethod
    def load(cls, domain: str, selector: str, path: str | Path) -> DkimKey:
        """Read a key file: PEM means RSA, anything else an Ed25519 seed (raw or base64).

        Raises:
            DkimError: the file is missing or holds no usable key.
        """
        try:
            data = Path(path).read_bytes().strip()
        except OSError as error:
            raise DkimError(
                f"DKIM key file {str(path)!r} cannot be read ({error.strerror}); "
                "fix PREFCENTER_DKIM_KEY_FILE."
            ) from None
        if b"-----BEGIN" in data:
            return cls(domain, selector, data, "rsa-sha256")
        seed = data if len(data) == 32 else _b64(data, path)
        return cls(domain, selector, base64.b64encode(seed), "ed25519-sha256")


def _b64(data: bytes, path: str | Path) -> bytes:
    try:
        seed = base64.b64decode(data, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise DkimError(
            f"DKIM key file {str(path)!r} is neither a PEM RSA key nor an Ed25519 seed; "
            "write a PEM key or 32 bytes of base64."
        )
    return seed


def header_list(message: Message) -> list[bytes]:
    """The ``h=`` list: every signed header present once per instance, plus one more."""
    names: list[bytes] = []
    for name in SIGNED_HEADERS:
        count = len(message.get_all(name) or [])
        if count or name.lower() in ALWAYS_SIGNED:
            names.extend([name.lower().encode()] * (count + 1))
    return names


def signature_header(message: Message, key: DkimKey) -> bytes:
    """The ``DKIM-Signature: ...`` header line (folded, CRLF-terminated) for ``message``.

    The message is serialised as ``smtplib.send_message`` sends it: with the message's
    own policy (``compat32`` for ``MIMEText`` and parsed messages, ``default`` for
    ``EmailMessage``) and CRLF line ends. Another policy would fold or encode some
    headers differently, and the signature would fail on the bytes actually sent.

    Raises:
        DkimError: the message cannot be serialised, or dkimpy refused the key or it.
    """
    import dkim as dkimpy  # deferred: dkimpy loads dnspython, costly for every CLI call

    try:
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    except (AttributeError, TypeError, ValueError) as error:  # a header the policy cannot fold
        raise DkimError(
            f"The message cannot be serialised for signing ({type(error).__name__}: {error}); "
            "use header values the message's policy accepts (an EmailMessage takes str)."
        ) from None
    try:
        signature: bytes = dkimpy.sign(
            data,
            key.selector.encode(),
            key.domain.encode(),
            key.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=header_list(message),
            length=False,
            signature_algorithm=key.algorithm.encode(),
            logger=SilentLog(),
        )
    except dkimpy.DKIMException as error:
        raise DkimError(
            f"DKIM signing for d={key.domain} s={key.selector} failed ({error}); "
            "check the key file and that the message has a From header."
        ) from None
    return signature
