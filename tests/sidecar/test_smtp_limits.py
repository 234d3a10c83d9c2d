"""The SMTP sidecar's limits and failure behaviour: sizes, counts, raw bytes, faults."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefcenter.sidecar.smtp.server as smtp_module
from prefcenter.errors import StoreUnavailable
from prefcenter.inbound.inbox import Outcome, Plan
from prefcenter.model import Scope, Source
from prefcenter.sidecar.groupcommit import Prepared
from prefcenter.sidecar.smtp.limits import RCPT_OVERRUN, TOO_BIG
from tests.inbound.strategies_mail import messages
from tests.sidecar.smtp_fixtures import (
    ALICE,
    DOMAIN,
    RunningSidecar,
    mailto,
    raw_session,
    running,
)

BOB = "bob@example.org"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RunningSidecar]:
    with running(tmp_path, max_message_size="20000", max_recipients="5") as server:
        yield server


def _wait(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


# -- size and recipients ---------------------------------------------------------------
def test_oversize_message_gets_552(smtp: RunningSidecar) -> None:
    body = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 400
    assert smtp.send(body, [mailto(smtp.center)]) == (552, TOO_BIG.encode()[4:])
    assert smtp.center.check(ALICE).allowed


def test_declared_oversize_gets_552_at_mail(smtp: RunningSidecar) -> None:
    with smtp.client() as client:
        assert client.mail("a@example.org", ["SIZE=50000"])[0] == 552


def test_long_lines_within_the_cap_are_accepted(smtp: RunningSidecar) -> None:
    body = b"Subject: unsubscribe\r\nX-Long: " + b"y" * 5000 + b"\r\n\r\n" + b"z" * 9000 + b"\r\n"
    assert smtp.send(body, [mailto(smtp.center)])[0] == 250
    assert not smtp.center.check(ALICE).allowed


def test_a_line_longer_than_the_cap_gets_552_not_500(smtp: RunningSidecar) -> None:
    body = b"Subject: x\r\n\r\n" + b"z" * 30000 + b"\r\n"
    assert smtp.send(body, [mailto(smtp.center)]) == (552, TOO_BIG.encode()[4:])


def test_recipients_beyond_the_limit_get_452_and_the_rest_is_delivered(
    smtp: RunningSidecar,
) -> None:
    people = [f"p{n}@example.org" for n in range(7)]
    with smtp.client() as client:
        client.mail("a@example.org")
        codes = [client.rcpt(mailto(smtp.center, person))[0] for person in people]
        assert client.data(b"Message-ID: <many@x>\r\n\r\n")[0] == 250
    assert codes == [250] * 5 + [452] * 2
    assert [smtp.center.check(p).allowed for p in people] == [False] * 5 + [True] * 2


def test_ten_thousand_rcpts_end_in_a_clean_421(smtp: RunningSidecar) -> None:
    address = f"unsubscribe@{DOMAIN}"
    codes: list[int] = []
    with pytest.raises(smtplib.SMTPServerDisconnected), smtp.client() as client:  # noqa: PT012
        client.mail("a@example.org")
        for _ in range(10_000):
            codes.append(client.rcpt(address)[0])
    assert codes == [250] * 5 + [452] * RCPT_OVERRUN + [421]
    assert smtp.send(b"Subject: still alive\r\n\r\n", [address])[0] == 250


# -- connections and timeouts --------------------------------------------------------------
def test_connections_per_ip_are_capped_with_421(tmp_path: Path) -> None:
    with running(tmp_path, max_connections_per_ip="2") as server:
        first, second = server.client(), server.client()
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            server.client()
        assert refused.value.smtp_code == 421
        first.quit()
        assert _wait(lambda: server.sidecar.gate.open < 2)
        server.client().quit()
        second.quit()


def test_connections_overall_are_capped_with_421(tmp_path: Path) -> None:
    with running(tmp_path, max_connections="1") as server:
        first = server.client()
        with pytest.raises(smtplib.SMTPConnectError):
            server.client()
        first.quit()


def test_idle_sessions_time_out(tmp_path: Path) -> None:
    with running(tmp_path, smtp_timeout="1s") as server:
        client = server.client()
        assert _wait(lambda: server.sidecar.gate.open == 0)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


# -- raw bytes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"Subject: unsubscribe\nMessage-ID: <lf@x>\n\nbare LF only\n\r\n.\r\n",
        b"Subject: a\x00b\r\nMessage-ID: <nul@x>\r\n\r\nbo\x00dy\r\n.\r\n",
        b"Subject: \xff\xfe\r\nFrom: \xc3\x28@x\r\n\r\n\xc3\x28\xa0\xa1\r\n.\r\n",
        b"Subject: " + b"w" * 1200 + b"\r\n\r\n" + b"v" * 3000 + b"\r\n.\r\n",
        b"\r\n.\r\n",
    ],
    ids=["bare-lf", "nul", "invalid-utf8", "998-plus", "empty"],
)
def test_hostile_bytes_are_taken_and_acted_on(smtp: RunningSidecar, data: bytes) -> None:
    replies = raw_session(
        smtp.port,
        [
            b"EHLO x",
            b"MAIL FROM:<a@example.org>",
            f"RCPT TO:<{mailto(smtp.center)}>".encode(),
            b"DATA",
        ],
        data,
    )
    assert replies[-1].startswith(b"250 "), replies
    assert not smtp.center.check(ALICE).allowed


def test_every_generated_message_is_accepted_and_decided_or_queued(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        rcpts = [f"unsubscribe@{DOMAIN}", f"bounces@{DOMAIN}", f"fbl@{DOMAIN}"]

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=messages() | st.binary(max_size=3000), rcpt=st.sampled_from(rcpts))
        def check(body: bytes, rcpt: str) -> None:
            code, text = server.send(body, [rcpt], mail_from="")
            assert (code, text) == (250, b"2.0.0 Message accepted")  # one reply for all

        check()


# -- failures: 451, never 5xx, nothing partial ------------------------------------------------
@contextmanager
def _store_fails_on_second_suppress(server: RunningSidecar) -> Iterator[None]:
    store = server.center.store
    original = store.transaction
    calls = {"n": 0}

    class Failing:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def suppress_batch(self, items: Any) -> None:
            return None  # one by one, so the failure falls between two written suppressions

        def suppress(self, *args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise StoreUnavailable("injected: the disk went away mid-delivery")
            return self._inner.suppress(*args, **kwargs)

    @contextmanager
    def transaction() -> Iterator[Any]:
        with original() as session:
            yield Failing(session)

    store.transaction = transaction  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.transaction = original  # type: ignore[method-assign]
    assert calls["n"] >= 2


def test_store_failure_mid_delivery_answers_451_and_stores_nothing(smtp: RunningSidecar) -> None:
    rcpts = [mailto(smtp.center), mailto(smtp.center, BOB)]
    raw = b"Message-ID: <fault@x>\r\nSubject: unsubscribe\r\n\r\n"
    with _store_fails_on_second_suppress(smtp):
        code, text = smtp.send(raw, rcpts)
    assert (code, text[:5]) == (451, b"4.3.0")
    assert smtp.center.history(ALICE) == [] and smtp.center.history(BOB) == []
    assert smtp.center.check(ALICE).allowed
    assert smtp.send(raw, rcpts)[0] == 250
    assert {s.scope for s in smtp.center.suppressions(ALICE)} == {Scope.GLOBAL}
    assert not smtp.center.check(BOB).allowed


def test_a_bug_while_deciding_answers_451(smtp: RunningSidecar, monkeypatch: Any) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(smtp.sidecar.inbox, "prepare", broken)
    assert smtp.send(b"Subject: x\r\n\r\n", [mailto(smtp.center)])[0] == 451


def test_a_bug_in_a_command_hook_answers_451_not_500(
    smtp: RunningSidecar, monkeypatch: Any
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(smtp_module, "parse_recipient", broken)
    with smtp.client() as client:
        client.mail("a@example.org")
        assert client.rcpt(f"unsubscribe@{DOMAIN}")[0] == 451


def test_stop_lets_an_in_flight_message_commit(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        real = server.sidecar.inbox.prepare
        started = threading.Event()

        def slow(*args: Any) -> Any:
            started.set()
            time.sleep(0.5)
            return real(*args)

        server.sidecar.inbox.prepare = slow  # type: ignore[method-assign,assignment]
        result: list[int] = []
        sender = threading.Thread(
            target=lambda: result.append(
                server.send(b"Subject: x\r\n\r\n", [mailto(server.center)])[0]
            )
        )
        sender.start()
        assert started.wait(10)
        server.call(server.sidecar.stop(grace=10))
        sender.join(10)
        assert result == [250]
        assert not server.center.check(ALICE).allowed


def test_one_bad_message_in_a_batch_does_not_fail_the_others(smtp: RunningSidecar) -> None:
    committer = smtp.sidecar.committer
    assert committer is not None

    def good(tx: Any) -> Outcome:
        tx.suppress(ALICE, source=Source.MAILTO, evidence="<good@x>")
        return Outcome("unsubscribe", "suppressed", "test")

    def bad(tx: Any) -> Outcome:
        raise ValueError("a change the store refuses")

    async def both() -> list[Any]:
        return await asyncio.gather(  # type: ignore[return-value]
            committer.submit(Prepared(lambda: Plan([good]))),
            committer.submit(Prepared(lambda: Plan([bad]))),
            return_exceptions=True,
        )

    first, second = smtp.call(both())
    assert [outcome.action for outcome in first] == ["suppressed"]
    assert isinstance(second, ValueError)
    assert not smtp.center.check(ALICE).allowed


# -- a store that hangs: 451 within the reply deadline, the session stays up ----------------
def _hanging_prepare(server: RunningSidecar, release: threading.Event) -> threading.Event:
    real = server.sidecar.inbox.prepare
    entered = threading.Event()

    def hanging(*args: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args)

    server.sidecar.inbox.prepare = hanging  # type: ignore[method-assign,assignment]
    return entered


def test_a_store_that_hangs_is_answered_451_and_the_session_survives(tmp_path: Path) -> None:
    # The idle timeout (1 s) is shorter than the hang: it must not cut a session whose
    # command waits on us, and the reply deadline (2 s) turns the wait into 451.
    with running(tmp_path, smtp_timeout="1s", reply_timeout=2.0) as server:
        release = threading.Event()
        entered = _hanging_prepare(server, release)
        raw = b"Message-ID: <hang@x>\r\nSubject: unsubscribe\r\n\r\n"
        with server.client() as client:
            client.mail("sender@example.org")
            client.rcpt(mailto(server.center))
            code, text = client.data(raw)
            assert (code, text[:5]) == (451, b"4.3.0")
            assert entered.is_set()
            assert client.noop()[0] == 250  # the same connection still answers
            release.set()
            # The late commit may land; a re-delivery then changes nothing twice.
            assert _wait(lambda: server.sidecar.handler.in_flight == 0)
            client.mail("sender@example.org")
            client.rcpt(mailto(server.center))
            assert client.data(raw)[0] == 250
        events = [e for e in server.center.history(ALICE) if e.evidence == "<hang@x>"]
        assert len(events) == 1
        assert not server.center.check(ALICE).allowed


def test_a_slow_commit_within_the_deadline_outlasts_the_idle_timeout(tmp_path: Path) -> None:
    with running(tmp_path, smtp_timeout="1s", reply_timeout=10.0) as server:
        release = threading.Event()
        entered = _hanging_prepare(server, release)

        def release_later() -> None:
            entered.wait(10)
            time.sleep(2.5)  # the store answers after 2.5 idle-timeouts
            release.set()

        threading.Thread(target=release_later).start()
        assert server.send(b"Subject: x\r\n\r\n", [mailto(server.center)])[0] == 250
        assert not server.center.check(ALICE).allowed


def test_an_unreachable_store_fails_the_rest_of_the_batch_at_once(smtp: RunningSidecar) -> None:
    committer = smtp.sidecar.committer
    assert committer is not None
    ran: list[str] = []

    def unreachable() -> Plan:
        ran.append("first")
        raise StoreUnavailable("injected: the pool timed out")

    def later() -> Plan:
        ran.append("later")
        return Plan([])

    async def batch() -> list[Any]:
        return await asyncio.gather(  # type: ignore[return-value]
            committer.submit(Prepared(unreachable)),
            committer.submit(Prepared(later)),
            committer.submit(Prepared(later)),
            return_exceptions=True,
        )

    results = smtp.call(batch())
    assert ran == ["first"]
    assert [type(result) for result in results] == [StoreUnavailable] * 3


def test_a_message_given_up_before_its_batch_is_never_decided(smtp: RunningSidecar) -> None:
    committer = smtp.sidecar.committer
    assert committer is not None
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def slow() -> Plan:
        started.set()
        release.wait(10)
        ran.append("slow")
        return Plan([])

    def waiting() -> Plan:
        ran.append("waiting")
        return Plan([])

    async def scenario() -> Any:
        first = asyncio.ensure_future(committer.submit(Prepared(slow)))
        assert await asyncio.to_thread(started.wait, 10)  # the slow job's batch is running
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(committer.submit(Prepared(waiting)), 0.2)
        release.set()
        await first
        await committer.close()

    smtp.call(scenario())
    assert ran == ["slow"]
