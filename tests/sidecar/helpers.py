"""Small helpers the sidecar tests share: links for an address, concurrent requests."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def path_of(url: str) -> str:
    """The path of a link the center made (``/u/TOKEN``), for a client with a base URL."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def unsubscribe_path(center: Any, address: str, topic: str | None = None) -> str:
    """The one-click path the center puts into mail for ``address``."""
    return path_of(center.unsubscribe_url(address, topic))


def preferences_path(center: Any, address: str, topic: str | None = None) -> str:
    """The preference-page path the center puts into mail for ``address``."""
    return path_of(center.preferences_url(address, topic))


def post_many(
    base_url: str,
    paths: list[str],
    body: bytes = ONE_CLICK,
    after: Callable[[int, httpx.Response], None] | None = None,
) -> list[httpx.Response]:
    """POST one-click bodies to every path at once, each on its own connection.

    ``after(index, response)`` runs in the requesting thread the moment its answer arrives.
    """

    def post(index: int) -> httpx.Response:
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        transport = httpx.HTTPTransport(socket_options=nodelay)
        with httpx.Client(base_url=base_url, timeout=20, transport=transport) as client:
            response = client.post(paths[index], content=body, headers={"content-type": FORM})
        if after is not None:
            after(index, response)
        return response

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        return list(pool.map(post, range(len(paths))))
