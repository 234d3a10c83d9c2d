"""The one-click body recogniser: every real-world encoding in, everything else out."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.sidecar.http.oneclick import EXACT, MAX_BODY, _form_part, is_one_click, via_page

FIELD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=12).filter(
    lambda name: name.lower() != "list-unsubscribe"
)
VALUE = st.text(max_size=20)


def _case_variant(text: str, flags: list[bool]) -> str:
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flags, strict=False))


@given(
    others=st.lists(st.tuples(FIELD, VALUE), max_size=4),
    position=st.integers(min_value=0, max_value=4),
    name_case=st.lists(st.booleans(), min_size=16, max_size=16),
    value_case=st.lists(st.booleans(), min_size=9, max_size=9),
    tail=st.sampled_from(["", "\r\n", "\n", "  "]),
)
def test_urlencoded_with_other_fields_in_any_case(
    others: list[tuple[str, str]],
    position: int,
    name_case: list[bool],
    value_case: list[bool],
    tail: str,
) -> None:
    pair = (_case_variant("List-Unsubscribe", name_case), _case_variant("One-Click", value_case))
    fields = [*others]
    fields.insert(min(position, len(fields)), pair)
    assert is_one_click((urlencode(fields) + tail).encode())


@given(others=st.dictionaries(FIELD, st.text(alphabet="abc xyz", max_size=10), max_size=3))
def test_multipart_as_client_libraries_build_it(others: dict[str, str]) -> None:
    data = {**others, "List-Unsubscribe": "One-Click"}
    request = httpx.Request(
        "POST",
        "https://example.com/u/x",
        data=data,
        files={"x": ("a.txt", b"y")},
        headers={},
    )
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert is_one_click(request.read())


@given(body=st.binary(max_size=200))
def test_bodies_without_the_value_are_refused(body: bytes) -> None:
    if b"one-click" not in body.lower():
        assert not is_one_click(body)


@given(value=VALUE.filter(lambda v: v.strip().lower() != "one-click"))
def test_other_values_are_refused(value: str) -> None:
    assert not is_one_click(urlencode({"List-Unsubscribe": value}).encode())
    multipart = (
        '--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"{value}\r\n--b--\r\n"
    ).encode()
    if b"one-click" not in multipart.lower():
        assert not is_one_click(multipart)


def test_oversized_body_is_refused_even_with_the_value() -> None:
    assert not is_one_click(b"List-Unsubscribe=One-Click&pad=" + b"x" * MAX_BODY)


@pytest.mark.timeout(20)  # a guard against catastrophic backtracking, not a benchmark
@pytest.mark.parametrize(
    "unit",
    [
        b"content-disposition:;name=list-unsubscribe;",
        b'Content-Disposition: form-data; name="list-unsubscribe"\r\n',
        b"content-disposition:" + b";" * 40 + b"\r\n\r\n",
    ],
)
def test_hostile_bodies_take_time_linear_in_their_length(unit: bytes) -> None:
    # One request runs this on the event loop: a matcher slower than linear in the body
    # (the old regular expression needed 7 s for 16 KiB) stalls every other request.
    body = (unit * (MAX_BODY // len(unit) + 1))[:MAX_BODY]
    assert not is_one_click(body)
    assert not _form_part(body * 64)  # 1 MiB: instant when linear, hours when cubic


def test_only_the_pages_own_field_marks_a_person() -> None:
    assert via_page(b"List-Unsubscribe=One-Click&via=page")
    for body in (
        EXACT,
        b"List-Unsubscribe=One-Click&note=via=page",
        b"List-Unsubscribe=One-Click&via=pager",
        b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--b\r\nContent-Disposition: form-data; name=x\r\n\r\nvia=page\r\n--b--",
    ):
        assert not via_page(body), body
