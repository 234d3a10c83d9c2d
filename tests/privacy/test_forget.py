"""Forget reaches the whole person: every spelling, every linked identity, every note.

An erasure request names one address. The store keeps the person under a folded,
hashed identity, perhaps linked to a phone number, with notes people typed and mail
they sent in other spellings. After ``forget`` none of that may remain readable, while
the opt-out keeps working.
"""

from __future__ import annotations

from pathlib import Path

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Channel, Identity, Source
from tests.conftest import make_settings

ALICE = "alice.smith@gmail.com"
PHONE = "+14155550100"


def _database_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def _center(tmp_path: Path) -> PreferenceCenter:
    return PreferenceCenter(make_settings(tmp_path, fold_subaddress=True, fold_gmail=True))


def test_queued_mail_in_another_spelling_is_erased(tmp_path: Path) -> None:
    with _center(tmp_path) as center:
        center.record_sent("Alice.Smith+news@gmail.com", sender="news@example.com")
        hers = []
        for number, sender in enumerate(
            ["Alice Smith <Alice.Smith+news@gmail.com>", "alicesmith@googlemail.com"]
        ):
            raw = (
                f"From: {sender}\r\nSubject: GDPR request from Alice Smith\r\n\r\n"
                "Call me on +1 415 555 0100.\r\n"
            ).encode()
            item = center.open_exception(
                mailbox="unsubscribe",
                why="unproven",
                raw=raw,
                summary="Subject: 'GDPR request from Alice Smith' from gmail.com",
                evidence=f"<m{number}@x>",
            )
            hers.append(item.id)
        stranger = b"From: bob@example.org\r\nSubject: hello\r\n\r\nfrom bob\r\n"
        other = center.open_exception(mailbox="unsubscribe", why="unproven", raw=stranger).id
        assert center.forget(ALICE, source=Source.CLI, evidence="gdpr-1")
        for item_id in hers:
            item = center.exception(item_id)
            assert b"555 0100" not in item.raw
            assert item.summary == "[erased]"  # the subject named her
        assert center.exception(other).raw == stranger  # someone else's mail is left alone
    stored = _database_bytes(tmp_path / "prefcenter.db").lower()
    for spelling in (b"alice.smith+news", b"alicesmith@", b"555 0100"):
        assert spelling not in stored


def test_linked_identities_are_erased_with_the_person(tmp_path: Path) -> None:
    with _center(tmp_path) as center:
        center.suppress(ALICE, source=Source.API, reason="asked by phone", all_channels=True)
        center.link(ALICE, PHONE, second_channel="sms", source=Source.CLI)
        center.record_sent(PHONE, channel="sms", sender="shop")
        assert center.forget(ALICE, source=Source.CLI, evidence="gdpr-2")
        assert not center.check(PHONE, channel="sms").allowed  # still one person, opted out
        forget = [e for e in center.history(ALICE) if e.action is Action.FORGET]
        assert forget[0].detail == center.identity(PHONE, "sms").hash_hex
    stored = _database_bytes(tmp_path / "prefcenter.db")
    assert PHONE.encode() not in stored and ALICE.encode() not in stored


def test_typed_reasons_are_erased_and_exports_keep_the_rule(tmp_path: Path) -> None:
    note = "Alice Smith (alice.smith@gmail.com) phoned; lives at 12 Rose Lane"
    with _center(tmp_path) as center:
        center.suppress(ALICE, source=Source.CLI, reason=note, evidence="c-1")
        assert center.forget(ALICE, source=Source.CLI, evidence="gdpr-3")
        rows = [s for s in center.export() if s.address is None]
        assert [row.reason for row in rows] == ["[erased]"]
        assert {e.reason for e in center.history(ALICE) if e.reason} == {"[erased]"}
        assert not center.check(ALICE).allowed
    assert b"Rose Lane" not in _database_bytes(tmp_path / "prefcenter.db")


def test_a_person_known_only_by_hash_is_never_stored_after_forget(tmp_path: Path) -> None:
    # A one-click opt-out stores the hash and a reason, no identity row; forget must
    # still mark the identity, or the next send stores the address again.
    with _center(tmp_path) as center:
        hashed_only = Identity(Channel.EMAIL, "", "", center.identity(ALICE).hash)
        center.suppress(hashed_only, source=Source.ONE_CLICK, reason="unsubscribe link")
        assert center.forget(ALICE, source=Source.CLI, evidence="gdpr-4")
        center.record_sent(ALICE, sender="news@example.com")
        center.suppress(ALICE, source=Source.API, topic="news")
    stored = _database_bytes(tmp_path / "prefcenter.db")
    assert b"alicesmith@gmail.com" not in stored and ALICE.encode() not in stored
