"""The console's operators: who may log in, with which role, and how a login is checked.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended setting); an optional TOTP second factor (RFC 6238, pyotp) is checked after
the password. After :data:`MAX_FAILURES` wrong logins in a row an operator is locked
for :data:`LOCKOUT`, whatever the password tried next; a reset or a successful login
clears the count. Every answer to a refused login is the same sentence, so the page
never tells a guesser whether the name exists.

Roles are ordered: a ``viewer`` reads, an ``agent`` also changes a person's state and
works the queue, an ``admin`` also lifts hard suppressions and forgets people.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefcenter.errors import InvalidInput, NotAllowed, NotFound
from prefcenter.model import Action, Source
from prefcenter.store.console import Operator
from prefcenter.store.protocol import NewEvent

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.store.protocol import Session

#: Roles, lowest first; each may do everything the ones before it may.
ROLES = ("viewer", "agent", "admin")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
#: What every refused login says (no hint whether the name, the password or the code failed).
REFUSED = "The name, password or code is wrong, or the operator is locked or disabled."


def check_role(role: str) -> str:
    """The role, or InvalidInput naming the choices."""
    if role not in ROLES:
        raise InvalidInput(
            f"Role {role!r} does not exist; use one of {', '.join(ROLES)}.", value=role
        )
    return role


def allows(role: str, needed: str) -> bool:
    """True when ``role`` includes what ``needed`` may do."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_name(name: str) -> str:
    """A login name: lower-case letters, digits and ``._@-``, at most 64 characters."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"Operator name {name[:70]!r} cannot be used; write 1-64 lower-case letters, "
            "digits, '.', '_', '@' or '-', starting with a letter or digit.",
            value=name,
        )
    return name


def check_password(password: str) -> str:
    """A new password: at least :data:`MIN_PASSWORD` characters, one line."""
    if len(password) < MIN_PASSWORD or "\n" in password or "\r" in password:
        raise InvalidInput(
            f"The password has {len(password)} characters; give one line of at least "
            f"{MIN_PASSWORD} characters.",
            reason="short",
        )
    return password


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: who, with which role and session generation."""

    name: str
    role: str
    generation: int


class Operators:
    """Add, list, disable and reset operators, and check logins, in the center's store.

    Args:
        center: an open ``PreferenceCenter`` (its store and clock are used).
    """

    def __init__(self, center: PreferenceCenter) -> None:
        self._center = center
        from argon2 import PasswordHasher  # only the console and `operators` need it

        self._hasher = PasswordHasher()
        #: Verified against when the name is unknown, so that a miss costs what a hit does.
        self._decoy = self._hasher.hash("prefcenter-no-such-operator")

    def add(
        self, name: str, role: str, password: str, *, totp_secret: str | None = None
    ) -> Operator:
        """Add an operator. Raises InvalidInput: a bad name, role or password, or a taken name."""
        check_name(name)
        check_role(role)
        hashed = self._hasher.hash(check_password(password))
        now = self._center.now()

        def work(session: Session) -> bool:
            added: bool = session.add_operator(name, role, hashed, now)
            if added and totp_secret:
                session.update_operator(name, totp_secret=totp_secret)
            return added

        if not self._center.store.run(work):
            raise InvalidInput(
                f"Operator {name!r} exists already; reset their password with "
                f"`prefcenter operators reset {name} --password-stdin`.",
                value=name,
            )
        return self.get(name)

    def get(self, name: str) -> Operator:
        """One operator. Raises NotFound."""
        found: Operator | None = self._center.store.read(lambda session: session.operator(name))
        if found is None:
            raise NotFound(f"Operator {name!r} does not exist; see `prefcenter operators list`.")
        return found

    def list(self) -> list[Operator]:
        """Every operator, by name."""
        found: list[Operator] = self._center.store.read(lambda session: session.operators())
        return found

    def disable(self, name: str) -> Operator:
        """Stop an operator from logging in; their open sessions end. Raises NotFound."""
        self._update(name, disabled=True, new_generation=True)
        return self.get(name)

    def reset(self, name: str, password: str, *, totp_secret: str | None = None) -> Operator:
        """Set a new password (and enable the operator again); open sessions end.

        ``totp_secret`` sets a new second factor; "" removes it; None keeps it.
        """
        hashed = self._hasher.hash(check_password(password))
        self._update(
            name,
            password_hash=hashed,
            disabled=False,
            new_generation=True,
            totp_secret=totp_secret,
        )
        return self.get(name)

    def _update(self, name: str, **changes: Any) -> None:
        def work(session: Session) -> bool:
            done: bool = session.update_operator(name, **changes)
            return done

        if not self._center.store.run(work):
            raise NotFound(f"Operator {name!r} does not exist; see `prefcenter operators list`.")

    def authenticate(
        self, name: str, password: str, code: str = "", *, evidence: str | None = None
    ) -> Login:
        """Check a login; count a failure or clear the count.

        A login, and a failure that locks the operator, are audit events (source
        ``console``, ``detail`` the operator's name, ``evidence`` as given).

        Raises:
            NotAllowed: the name is unknown, the password or TOTP code is wrong, or the
                operator is disabled or locked (one message for all, :data:`REFUSED`).
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        now = self._center.now()
        operator: Operator | None = self._center.store.read(lambda session: session.operator(name))
        if operator is None:
            # The same work as a real check: timing does not tell which names exist.
            with contextlib.suppress(VerificationError):
                self._hasher.verify(self._decoy, password + "x")
            raise NotAllowed(REFUSED, reason="unknown")
        if operator.locked_until is not None and operator.locked_until > now:
            raise NotAllowed(REFUSED, reason="locked")
        try:
            self._hasher.verify(operator.password_hash, password)
            good = not operator.disabled and _code_ok(operator.totp_secret, code)
        except (VerificationError, InvalidHashError):
            good = False
        if not good:
            failures = operator.failures + 1
            locked = now + LOCKOUT if failures >= MAX_FAILURES else None

            def failed(session: Session) -> None:
                session.login_failed(name, locked)
                if locked is not None:
                    session.append_event(_event(now, Action.OPERATOR_LOCKED, name, evidence))

            self._center.store.run(failed)
            raise NotAllowed(REFUSED, reason="disabled" if operator.disabled else "wrong")

        def succeeded(session: Session) -> None:
            session.login_succeeded(name, now)
            session.append_event(_event(now, Action.OPERATOR_LOGIN, name, evidence))

        self._center.store.run(succeeded)
        return Login(operator.name, operator.role, operator.generation)

    def logout(self, name: str, *, evidence: str | None = None) -> None:
        """Record that the operator ended their session (an audit event)."""
        at = self._center.now()
        self._center.store.run(
            lambda session: session.append_event(_event(at, Action.OPERATOR_LOGOUT, name, evidence))
        )

    def current(self, name: str, generation: int) -> Login | None:
        """The operator's login if it is still good for a session of ``generation``."""
        operator: Operator | None = self._center.store.read(lambda session: session.operator(name))
        if operator is None or operator.disabled or operator.generation != generation:
            return None
        return Login(operator.name, operator.role, operator.generation)


def _event(at: datetime, action: Action, name: str, evidence: str | None) -> NewEvent:
    # About no recipient (the empty hash, as the queue's events): the operator is the detail.
    return NewEvent(at, b"", action, Source.CONSOLE, evidence=evidence, detail=name)


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret for an authenticator app."""
    import pyotp

    return str(pyotp.random_base32())


def totp_uri(name: str, secret: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed in)."""
    import pyotp

    return str(pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer))


def _code_ok(secret: str | None, code: str) -> bool:
    if not secret:
        return True
    import pyotp

    # One 30-second step either side: a phone's clock is rarely exact.
    return bool(pyotp.TOTP(secret).verify(code.strip(), valid_window=1))


__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "REFUSED",
    "ROLES",
    "Login",
    "Operator",
    "Operators",
    "allows",
    "check_role",
    "new_totp_secret",
    "totp_uri",
]
