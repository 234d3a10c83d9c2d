"""Coverage-guided fuzzing of the inbound mail parsers with atheris (``make fuzz``).

Every parser under ``prefcenter.inbound`` promises never to raise on any bytes: the SMTP
sidecar hands them whatever a stranger sends. :func:`test_one_input` feeds one input
through all of them the way :class:`prefcenter.inbound.inbox.Inbox` does, and anything
that escapes is a bug (atheris stops and writes the crashing input).

atheris is imported only when this file runs as a program, so the test suite
(``tests/test_fuzz_harness.py``) can run :func:`test_one_input` over :func:`seeds`
without it. Run by hand::

    python bench/fuzz_inbound.py -max_total_time=120 [corpus_dir]

Without a corpus directory, the seeds and the real bounce corpus (tests/data/bounces,
issue 21) start the run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from prefcenter.inbound.arf import parse_complaint, unsubscribe_uris
from prefcenter.inbound.auth import authenticate, parse_authentication_results
from prefcenter.inbound.dsn import looks_like_bounce, parse_bounce
from prefcenter.inbound.inbox import token_in_uri
from prefcenter.inbound.mailbox import parse_recipient
from prefcenter.inbound.message import field_blocks, parse_message
from prefcenter.inbound.proof import returned
from prefcenter.inbound.replies import classify_reply

MAIL_DOMAIN = "unsub.example.com"
BASE_URL = "https://prefs.example.com"


def _no_dns(name: bytes, timeout: int = 5) -> bytes | None:
    # The fuzzer must never touch the network: every DKIM key lookup finds nothing.
    return None


def test_one_input(data: bytes) -> None:
    """Run one input through every inbound parser; raises only on a parser bug."""
    message = parse_message(data)
    # Touch every derived property the inbox reads.
    _ = (message.message_id, message.subject, message.from_address, message.from_domain)
    _ = (message.content_type, message.text(), message.summary(), list(message.parts()))
    for mail_from in (None, "", "mailer-daemon@example.net"):
        looks_like_bounce(message, mail_from)
        parse_bounce(message, mail_from=mail_from, mail_domain=MAIL_DOMAIN)
    returned(message)
    complaint = parse_complaint(message)
    if complaint is not None:
        for uri in complaint.list_unsubscribe:
            token_in_uri(uri, MAIL_DOMAIN, BASE_URL)
    classify_reply(message)
    authenticate(message, trusted_authserv_ids=("mx.example.com",), dnsfunc=_no_dns)
    text = data.decode("utf-8", "replace")
    parse_recipient(text[:512], MAIL_DOMAIN)
    field_blocks(text[:20000])
    unsubscribe_uris(text[:4000])
    parse_authentication_results(text[:4000])
    token_in_uri(text[:2000], MAIL_DOMAIN, BASE_URL)


def seeds() -> list[bytes]:
    """Small, real-shaped messages of every kind the sidecar receives: the fuzz corpus start."""
    reply = (
        b"From: Alice <alice@example.org>\r\nTo: unsubscribe@unsub.example.com\r\n"
        b"Subject: unsubscribe\r\nMessage-ID: <r1@example.org>\r\n\r\nPlease stop.\r\n"
    )
    dsn = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@unsub.example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.net\r\n"
        b"\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n--B--\r\n"
    )
    arf = (
        b"From: fbl@isp.example\r\nTo: fbl@unsub.example.com\r\nSubject: FW: report\r\n"
        b"Message-ID: <a1@isp.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        b"--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        b"--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        b"Version: 1\r\nOriginal-Rcpt-To: carol@example.com\r\n"
        b"--F\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@example.com\r\n"
        b"List-Unsubscribe: <mailto:unsubscribe+abc@unsub.example.com>, "
        b"<https://prefs.example.com/u/XYZ>\r\n--F--\r\n"
    )
    auto = (
        b"From: dave@example.org\r\nTo: unsubscribe@unsub.example.com\r\n"
        b"Auto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nI am away.\r\n"
    )
    nested = b"Content-Type: multipart/mixed; boundary=X\r\n\r\n" + b"--X\r\n" * 50
    return [
        reply,
        dsn,
        arf,
        auto,
        nested,
        b"",
        b"\x00\xff\xfe\r\n\r\n\x80",
        b"Subject: =?utf-8?b?////?=\n\nbare LF\n",
        b"From: " + b"a" * 5000 + b"@example.com\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUFB" * 1000,
    ]


#: The real bounce corpus (issue 21): every message a seed, as received.
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "bounces"


def bounce_corpus() -> list[bytes]:
    """The messages of tests/data/bounces (PROVENANCE.md says where they come from)."""
    return [path.read_bytes() for path in sorted(CORPUS.glob("*/*")) if path.suffix != ".md"
            and path.name != "expected.csv"]  # fmt: skip


def main(argv: list[str]) -> None:
    """Fuzz until atheris' limits (``-max_total_time=SECONDS``) or the first crash."""
    import atheris  # type: ignore[import-untyped]  # only here: tests run without it

    if not any(not arg.startswith("-") for arg in argv[1:]):
        # No corpus directory given: start from the seeds instead of from nothing.
        corpus = Path(tempfile.mkdtemp(prefix="prefcenter-fuzz-"))
        for number, seed in enumerate([*seeds(), *bounce_corpus()]):
            (corpus / f"seed-{number:02d}.eml").write_bytes(seed)
        argv = [*argv, str(corpus)]
    atheris.instrument_all()
    atheris.Setup(argv, _fuzz_entry)
    atheris.Fuzz()


def _fuzz_entry(data: Any) -> None:
    test_one_input(bytes(data))


if __name__ == "__main__":
    main(sys.argv)
