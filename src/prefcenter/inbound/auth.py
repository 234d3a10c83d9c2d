"""Sender authentication for plain (untokened) unsubscribe requests.

A request without our token is honoured only when the From address is proven: a DKIM
signature that verifies (dkimpy) and whose ``d=`` is aligned with the From domain, or
an ``Authentication-Results`` header from an upstream MTA we trust showing
``dmarc=pass`` for the From domain or an aligned ``dkim=pass``.

Alignment is DMARC's relaxed mode (RFC 7489 §3.1.1): the domains are aligned when they
are equal or have the same organisational domain, read from the Public Suffix List
(the ``publicsuffixlist`` package bundles it, so no network is needed). Its private
section counts too: ``d=attacker.github.io`` does not prove ``…@github.io`` or
``…@victim.github.io``, as each name under a shared host belongs to someone else.

A proof of the author is not yet a request: :attr:`AuthResult.signed` names the header
fields the proving signature covers, so the caller can tell a message written to us
(``To`` signed and naming our address) from someone's signed mail re-sent to us.

Only the topmost ``Authentication-Results`` header carrying a trusted authserv-id is
read: the trusted MTA adds its own on top and must remove any copy claiming its id
that arrived from outside (RFC 8601 §5), as Postfix with OpenDKIM/OpenDMARC does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from publicsuffixlist import PublicSuffixList

from prefcenter.dkim import SilentLog
from prefcenter.inbound.message import InboundMessage, clean

#: A DNS TXT lookup as dkimpy calls it: ``dnsfunc(name: bytes, timeout=5) -> bytes | None``.
DnsFunc = Callable[..., Any]

#: The Public Suffix List, loaded once by its owner (loading takes about 0.1 s).
Suffixes = PublicSuffixList
_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"([a-z0-9_-]+)\.([a-z0-9_-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)", re.IGNORECASE)
_MAX_SIGNATURES = 5


@dataclass(frozen=True)
class AuthResult:
    """Whether the From address of a message is proven.

    Attributes:
        authenticated: True when the From domain is proven by an aligned signature or a
            trusted verdict.
        method: ``dkim`` (verified here), ``authentication-results``, or ``""``.
        domain: the domain that proved it (``d=`` or ``header.from``), if any.
        reason: one sentence for the exceptions queue when not authenticated.
        signed: lower-case names of the header fields the proving DKIM signature covers
            (its ``h=``); empty when no signature proved it.
        whole_body: the proving signature covers the whole body (it has no ``l=``).
    """

    authenticated: bool
    method: str
    domain: str | None
    reason: str
    signed: frozenset[str] = frozenset()
    whole_body: bool = False


def aligned(signing_domain: str, from_domain: str, suffixes: Suffixes | None = None) -> bool:
    """Relaxed alignment of two domains (see the module docstring for the rule).

    Args:
        suffixes: the loaded Public Suffix List; None loads one (slow: pass it when
            calling often).
    """
    a = signing_domain.lower().strip().rstrip(".")
    b = from_domain.lower().strip().rstrip(".")
    if not a or not b:
        return False
    if a == b:
        return True
    psl = suffixes if suffixes is not None else PublicSuffixList()
    organisation = psl.privatesuffix(a)
    return organisation is not None and organisation == psl.privatesuffix(b)


@dataclass(frozen=True)
class _Signature:
    domain: str
    signed: frozenset[str]
    whole_body: bool


def _signatures(message: InboundMessage) -> list[_Signature]:
    found: list[_Signature] = []
    for value in message.headers("DKIM-Signature")[:_MAX_SIGNATURES]:
        tags = {
            name.strip().lower(): re.sub(r"\s+", "", val)
            for name, _, val in (item.partition("=") for item in value.split(";"))
        }
        signed = frozenset(name.lower() for name in tags.get("h", "").split(":") if name)
        found.append(_Signature(tags.get("d", "").lower(), signed, "l" not in tags))
    return found


def verify_dkim(
    message: InboundMessage, dnsfunc: DnsFunc | None = None, suffixes: Suffixes | None = None
) -> AuthResult:
    """Verify DKIM signatures with dkimpy and report the first aligned one that passes.

    Args:
        message: the message as received.
        dnsfunc: the TXT lookup dkimpy uses; None means real DNS (dnspython).
        suffixes: the loaded Public Suffix List (None loads one).
    """
    import dkim  # deferred: dkimpy pulls in DNS and crypto modules

    from_domain = message.from_domain
    if from_domain is None:
        return AuthResult(False, "", None, "From is missing or names more than one address.")
    signatures = _signatures(message)
    if not signatures:
        return AuthResult(False, "", None, "The message has no DKIM signature.")
    psl = suffixes if suffixes is not None else PublicSuffixList()
    for index, signature in enumerate(signatures):
        domain = signature.domain
        if not aligned(domain, from_domain, psl):
            continue
        try:
            verifier = dkim.DKIM(message.raw, minkey=1024, logger=SilentLog())
            ok = (
                verifier.verify(idx=index)
                if dnsfunc is None
                else verifier.verify(idx=index, dnsfunc=dnsfunc)
            )
        except Exception:  # dkimpy raises many types on malformed signatures and keys
            ok = False
        if ok:
            return AuthResult(True, "dkim", domain, "", signature.signed, signature.whole_body)
    if not any(aligned(each.domain, from_domain, psl) for each in signatures):
        return AuthResult(False, "", None, "No DKIM signature is aligned with the From domain.")
    return AuthResult(False, "", None, "The aligned DKIM signature does not verify.")


def parse_authentication_results(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """Split an RFC 8601 header into its authserv-id and (method, result, properties)."""
    text = clean(value)
    for _ in range(5):  # nested comments: strip innermost first
        text = _COMMENT.sub(" ", text)
    head, *rest = text.split(";")
    authserv_id = head.strip().split()[0].lower() if head.strip() else ""
    results: list[tuple[str, str, dict[str, str]]] = []
    for item in rest:
        match = _RESULT.match(item)
        if not match:
            continue
        props = {
            f"{ptype.lower()}.{prop.lower()}": val.strip('"').lower()
            for ptype, prop, val in _PROPERTY.findall(match[3])
        }
        results.append((match[1].lower(), match[2].lower(), props))
    return authserv_id, results


def _covered(message: InboundMessage, domain: str) -> tuple[frozenset[str], bool]:
    """What the message's signature by ``domain`` covers (nothing when it has none).

    The trusted MTA verified it; its ``h=`` is read here without DNS.
    """
    for signature in _signatures(message):
        if signature.domain == domain:
            return signature.signed, signature.whole_body
    return frozenset(), False


def trusted_verdict(
    message: InboundMessage, trusted_ids: Iterable[str], suffixes: Suffixes | None = None
) -> AuthResult:
    """Read the topmost trusted ``Authentication-Results`` header."""
    trusted = {item.lower().strip() for item in trusted_ids if item.strip()}
    from_domain = message.from_domain
    if not trusted or from_domain is None:
        return AuthResult(False, "", None, "No trusted Authentication-Results apply.")
    psl = suffixes if suffixes is not None else PublicSuffixList()
    for value in message.headers("Authentication-Results")[:20]:
        authserv_id, results = parse_authentication_results(value)
        if authserv_id not in trusted:
            continue
        passed_elsewhere = False
        for method, result, props in results:
            if result != "pass":
                continue
            if method == "dmarc":
                domain = props.get("header.from", from_domain)
                if domain == from_domain:
                    # Which signature made DMARC pass is not said: the aligned one found.
                    signer = next(
                        (
                            each.domain
                            for each in _signatures(message)
                            if aligned(each.domain, from_domain, psl)
                        ),
                        "",
                    )
                    signed, whole = _covered(message, signer)
                    return AuthResult(True, "authentication-results", domain, "", signed, whole)
                passed_elsewhere = True
            if method == "dkim":
                domain = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
                if domain and aligned(domain, from_domain, psl):
                    signed, whole = _covered(message, domain)
                    return AuthResult(True, "authentication-results", domain, "", signed, whole)
                passed_elsewhere = True
        why = (
            f"show a pass for another domain, not aligned with the From domain {from_domain}"
            if passed_elsewhere
            else "show no pass"
        )
        return AuthResult(
            False, "", None, f"Trusted Authentication-Results from {authserv_id} {why}."
        )
    return AuthResult(False, "", None, "No Authentication-Results from a trusted authserv-id.")


def authenticate(
    message: InboundMessage,
    *,
    trusted_authserv_ids: Iterable[str] = (),
    dnsfunc: DnsFunc | None = None,
    suffixes: Suffixes | None = None,
) -> AuthResult:
    """Decide whether the From address of ``message`` is proven; never raises.

    A trusted upstream verdict is read first (no DNS needed); then DKIM is verified here.
    ``suffixes`` is the loaded Public Suffix List (None loads one: slow).
    """
    psl = suffixes if suffixes is not None else PublicSuffixList()
    verdict = trusted_verdict(message, trusted_authserv_ids, psl)
    if verdict.authenticated:
        return verdict
    checked = verify_dkim(message, dnsfunc, psl)
    if checked.authenticated or not trusted_authserv_ids:
        return checked
    return AuthResult(False, "", None, f"{checked.reason} {verdict.reason}")
