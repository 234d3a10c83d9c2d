"""The plain SMTP path reader gives what aiosmtpd's RFC 5322 parser gives, or stands aside."""

from __future__ import annotations

from types import SimpleNamespace

from aiosmtpd.smtp import SMTP
from hypothesis import example, given
from hypothesis import strategies as st

from prefcenter.sidecar.smtp.path import plain_path

ATEXT = "abcXYZ0189!#$%&'*+/=?^_`{|}~-"
atoms = st.text(ATEXT, min_size=1, max_size=8)
labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)  # host names
blanks = st.sampled_from(["", " ", "  ", "\t"])
tails = st.sampled_from(["", "SIZE=1000", "BODY=8BITMIME SMTPUTF8", "(comment) SIZE=1", "x"])


def aiosmtpd_reads(arg: str, limit: int = 0) -> tuple[str | None, str | None]:
    session = SimpleNamespace(local_part_limit=limit)
    result: tuple[str | None, str | None] = SMTP._getaddr(session, arg)  # type: ignore[arg-type]
    return result


@st.composite
def paths(draw: st.DrawFn) -> str:
    local = ".".join(draw(st.lists(atoms, min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(labels, min_size=1, max_size=3)))
    return f"{draw(blanks)}<{local}@{domain}>{draw(blanks)}{draw(tails)}"


@given(paths() | st.text(max_size=40))
@example("<>")
@example("<a@b.c>(comment)")
@example('<"quoted local"@example.org>')
@example("<a@[127.0.0.1]>")
@example("<a..b@c.d>")
@example("<a@b.c.>")
@example("<a@-b.c>")
@example("a@b.c")
def test_plain_paths_read_as_aiosmtpd_reads_them(arg: str) -> None:
    fast = plain_path(arg)
    if fast is not None:
        assert fast == aiosmtpd_reads(arg)


@given(paths())
def test_every_plain_path_is_taken(arg: str) -> None:
    # The fast reader must take the common form, or the sidecar pays the parser again.
    if "(" not in arg and aiosmtpd_reads(arg)[0] is not None:
        assert plain_path(arg) is not None


def test_a_local_part_over_the_limit_is_left_to_aiosmtpd() -> None:
    arg = "<" + "a" * 65 + "@example.org>"
    assert plain_path(arg, local_part_limit=64) is None
    assert aiosmtpd_reads(arg, limit=64) == (None, None)
    assert plain_path(arg, local_part_limit=65) == ("a" * 65 + "@example.org", "")
