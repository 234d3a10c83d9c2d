"""``prefcenter operators``: add, list, disable and reset console operators, on both stores."""

from __future__ import annotations

import json

import pyotp
import pytest

from prefcenter.errors import NotAllowed
from prefcenter.operators import Operators
from tests.cli.conftest import Prefcenter, one_error_line

PASSWORD = "a long enough password"


def test_add_list_disable_and_reset(prefcenter: Prefcenter) -> None:
    added = prefcenter("operators", "add", "maria", "--role", "agent", "--password-stdin",
                       input=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added maria  agent  active  password  last login -\n"
    listed = prefcenter("operators", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["disabled"], r["totp"]) for r in rows] == [
        ("maria", "agent", False, False)
    ]
    assert PASSWORD not in listed.stdout and "argon2" not in listed.stdout
    with prefcenter.center() as center:
        assert Operators(center).authenticate("maria", PASSWORD).role == "agent"
    assert prefcenter("operators", "disable", "maria").returncode == 0
    with prefcenter.center() as center, pytest.raises(NotAllowed) as refused:
        Operators(center).authenticate("maria", PASSWORD)
    assert refused.value.reason == "disabled"
    reset = prefcenter("operators", "reset", "maria", "--password-stdin",
                       input="another long password\n")  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    with prefcenter.center() as center:
        assert Operators(center).authenticate("maria", "another long password").name == "maria"


def test_add_with_totp_prints_the_secret_and_requires_the_code(
    prefcenter_sqlite: Prefcenter,
) -> None:
    added = prefcenter_sqlite("operators", "add", "ada", "--role", "admin", "--password-stdin",
                              "--totp", input=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = added.stderr.split("TOTP secret for ada: ", 1)[1].split()[0]
    assert "otpauth://totp/" in added.stderr
    with prefcenter_sqlite.center() as center:
        operators = Operators(center)
        with pytest.raises(NotAllowed):
            operators.authenticate("ada", PASSWORD, "000000")
        assert operators.authenticate("ada", PASSWORD, pyotp.TOTP(secret).now()).role == "admin"


def test_a_short_password_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("operators", "add", "bo", "--role", "viewer", "--password-stdin",
                               input="short\n")  # fmt: skip
    assert result.returncode == 2
    assert one_error_line(result) == (
        "Error: The password has 5 characters; give one line of at least 12 characters."
    )


def test_a_taken_name_and_an_unknown_one_are_one_line(prefcenter_sqlite: Prefcenter) -> None:
    args = ("operators", "add", "bo", "--role", "viewer", "--password-stdin")
    assert prefcenter_sqlite(*args, input=PASSWORD + "\n").returncode == 0
    again = prefcenter_sqlite(*args, input=PASSWORD + "\n")
    assert one_error_line(again) == (
        "Error: Operator 'bo' exists already; reset their password with "
        "`prefcenter operators reset bo --password-stdin`."
    )
    unknown = prefcenter_sqlite("operators", "disable", "nobody")
    assert unknown.returncode == 2
    assert one_error_line(unknown) == (
        "Error: Operator 'nobody' does not exist; see `prefcenter operators list`."
    )


def test_a_bad_name_or_role_is_refused(prefcenter_sqlite: Prefcenter) -> None:
    bad = prefcenter_sqlite("operators", "add", "Bad Name", "--role", "viewer",
                            "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    assert one_error_line(bad).startswith("Error: Operator name 'Bad Name' cannot be used;")
    role = prefcenter_sqlite("operators", "add", "bo", "--role", "boss", "--password-stdin",
                             input=PASSWORD + "\n")  # fmt: skip
    assert role.returncode == 2 and "'boss' is not one of 'viewer', 'agent', 'admin'" in role.stderr
