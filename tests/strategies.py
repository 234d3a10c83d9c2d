"""Hypothesis strategies shared by the test suite."""

from __future__ import annotations

from hypothesis import strategies as st

from prefcenter.identity import Identities
from prefcenter.model import Channel, Identity

IDENTITIES = Identities(b"strategy-pepper-0123456789abcdef")

_local_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-'="
_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)

#: Strings that look like addresses, many valid, some not (dots, dashes, case).
address_like = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.text(_local_chars, min_size=1, max_size=20),
    st.lists(_label, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "DE", "test", "Local", "io", "c0m", "x"]),
)

#: Anything at all, to make sure nothing but InvalidRecipient comes out.
any_text = st.text(max_size=80)

#: Identities on any channel, hashed with the strategy pepper.
identities = st.builds(
    lambda digest, channel: Identity(channel, "", "", digest),
    st.binary(min_size=16, max_size=16),
    st.sampled_from(list(Channel)),
)

#: Topic ids as senders write them, or None for all marketing.
topics = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=64
    ).filter(str.strip),
)
