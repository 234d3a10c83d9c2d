"""The real bounce corpus in tests/data/bounces and the expectations judged for it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from prefcenter.inbound.message import InboundMessage, parse_message

ROOT = Path(__file__).resolve().parent.parent / "data" / "bounces"
#: crisp-js keeps bounce bodies only: they get the header an MTA would have sent.
BODY_ONLY = {"crisp-js"}
HEAD = (
    b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n"
    b"Content-Type: text/plain; charset=utf-8\n\n"
)


@dataclass(frozen=True)
class Case:
    """One corpus message and the verdict judged for it."""

    file: str
    verdict: str
    address: str
    reason: str
    note: str

    def raw(self) -> bytes:
        data = (ROOT / self.file).read_bytes()
        return HEAD + data if self.file.split("/", 1)[0] in BODY_ONLY else data

    def message(self) -> InboundMessage:
        return parse_message(self.raw())

    def mail_from(self, message: InboundMessage) -> str | None:
        """The envelope sender the final MTA recorded (Return-Path), "" for <>, else None."""
        if self.file.split("/", 1)[0] in BODY_ONLY:
            return ""
        path = message.header("Return-Path").strip()
        if not path:
            return None
        return path.strip("<> ")


def cases() -> list[Case]:
    with (ROOT / "expected.csv").open(encoding="utf-8", newline="") as handle:
        return [Case(**row) for row in csv.DictReader(handle)]
