"""HttpSidecar: start on a free port, refuse a busy one cleanly, finish in-flight work on stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import ConfigError
from prefcenter.sidecar.http.server import HttpSidecar, parse_listen
from tests.faults import FaultyStore
from tests.sidecar.conftest import sidecar_settings
from tests.sidecar.helpers import FORM, ONE_CLICK, unsubscribe_path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:0", ("::1", 0)),
        ("0.0.0.0:25", ("0.0.0.0", 25)),
    ],
)
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["8080", "localhost", ":80", "host:99999", "host:x"])
def test_parse_listen_refuses(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_listen(value)
    assert str(caught.value) == (
        f"Setting HTTP has value {value!r}; write HOST:PORT such as 127.0.0.1:8080."
    )


def test_busy_port_raises_oserror_and_start_twice_is_refused(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path)
    with PreferenceCenter(settings) as center, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]

        async def scenario() -> None:
            with pytest.raises(OSError, match="in use"):
                await HttpSidecar(center, settings, host="127.0.0.1", port=busy).start()
            sidecar = HttpSidecar(center, settings, host="127.0.0.1", port=0)
            await sidecar.start()
            try:
                assert sidecar.port not in (0, busy)
                with pytest.raises(RuntimeError, match="called twice"):
                    await sidecar.start()
            finally:
                await sidecar.stop()
            await sidecar.stop()  # a second stop does nothing

        asyncio.run(scenario())


def test_stop_lets_an_in_flight_one_click_commit_and_answer(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path)
    with PreferenceCenter(settings) as real:
        faults = FaultyStore(real.store)
        faults.commit_delay = 0.5
        center = PreferenceCenter(settings, store=faults)
        path = unsubscribe_path(real, "late@example.org")

        async def scenario() -> int:
            sidecar = HttpSidecar(center, settings, host="127.0.0.1", port=0)
            await sidecar.start()
            async with httpx.AsyncClient(base_url=sidecar.url, timeout=10) as client:
                request = asyncio.create_task(
                    client.post(path, content=ONE_CLICK, headers={"content-type": FORM})
                )
                assert await asyncio.to_thread(faults.entered.wait, 10)  # inside its commit
                await sidecar.stop()
                response = await request
            return response.status_code

        assert asyncio.run(scenario()) == 200
        assert not real.check("late@example.org").allowed
