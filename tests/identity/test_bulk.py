"""Bulk canonicalisation answers exactly what the per-address fast path answers.

``fast_emails`` checks a whole chunk at once and halves it around odd lines; any
disagreement with ``fast_email`` would hash a person differently in ``filter`` than in
``check``, so these properties run it on chunks long enough to take every branch.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from prefcenter.identity import Folding, fast_email
from prefcenter.identity.bulk import fast_emails
from tests.strategies import IDENTITIES, address_like, any_text

_tricky = st.sampled_from([
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com",
    "a@example-.com", "a@ex--ample.com", "a@example..com", "a@example.com.", "@example.com",
    "a@", "a@com", "a@example.c0m", "a@example.test", "a@sub.localhost", "a+b@gmail.com",
    "A.B.C@GoogleMail.com", "a.+x@example.com", "x" * 64 + "@example.com",
    "a@" + "b" * 64 + ".com", " a@example.com", "a@example.com ", "a@exa_mple.com",
    "a@exa+mple.com", "a@exa'mple.com", "a=b_c'd@example.com", "a@b.com\nc@d.com", "",
    "Jörg@example.com", "a@b@c.com", "a-.b@example.com", "a@b.cd-e.com", "a@1.2.3.com",
])  # fmt: skip
_values = st.one_of(address_like, _tricky, any_text)
#: Addresses that pass the whole-chunk check, so long runs of them take the bulk path.
_plain = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-zA-Z0-9_'+=-]{1,8}(\.[a-z0-9+-]{1,5}){0,2}", fullmatch=True),
    st.sampled_from(["example", "Gmail", "googlemail", "a-b.c", "x1.y2", "mail.co"]),
    st.sampled_from(["com", "ORG", "de", "io", "museum"]),
)


def _spliced(plain: list[str], odd: list[tuple[int, str]]) -> list[str]:
    values = list(plain)
    for position, value in odd:
        values.insert(position % (len(values) + 1), value)
    return values


#: Long runs of plain addresses with a few odd values spliced in, or anything at all.
_chunks = st.one_of(
    st.builds(
        _spliced,
        st.lists(_plain, min_size=30, max_size=300),
        st.lists(st.tuples(st.integers(0, 300), _values), max_size=4),
    ),
    st.lists(_values, max_size=100),
)


def reference(values: list[str], folding: Folding) -> list[str | None]:
    return [fast_email(value.strip(), folding) for value in values]


@settings(max_examples=100, deadline=None)
@given(_chunks, st.booleans(), st.booleans())
@example(["user@example.com"] * 40 + ["a@b@c.com"] + ["x+y@gmail.com"] * 40, True, True)
def test_bulk_agrees_with_fast_email(values: list[str], subaddress: bool, gmail: bool) -> None:
    folding = Folding(subaddress=subaddress, gmail=gmail)
    assert fast_emails(values, folding) == reference(values, folding)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(address_like, _tricky), min_size=40, max_size=200))
def test_bulk_hashes_agree_with_locate(values: list[str]) -> None:
    expected: list[bytes | None] = []
    for value in values:
        try:
            expected.append(IDENTITIES.locate(value)[1])
        except ValueError:
            expected.append(None)
    assert IDENTITIES.locate_many(values) == expected


def test_a_clean_chunk_is_lowered_and_folded() -> None:
    values = [f"User{i}@Example.COM" for i in range(100)] + ["A.B+news@gmail.com"]
    assert fast_emails(values, Folding()) == [
        *(f"user{i}@example.com" for i in range(100)),
        "ab@gmail.com",
    ]
