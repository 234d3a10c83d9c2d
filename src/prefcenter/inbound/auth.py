"""Sender authentication for plain (untokened) unsubscribe requests.

A request without our token is honoured only when the From address is proven: a DKIM
signature that verifies (dkimpy) and whose ``d=`` is aligned with the From domain, or
an ``Authentication-Results`` header from an upstream MTA we trust showing
``dmarc=pass`` for the From domain or an aligned ``dkim=pass``.

Alignment is DMARC's relaxed mode (RFC 7489 §3.1.1) approximated without the Public
Suffix List: the domains are aligned when one equals the other or is a subdomain of
it, and the shorter one is not a public suffix. A small table of common multi-label
suffixes (``co.uk``, ``com.au``...) and every single label are treated as suffixes,
so ``d=co.uk`` never aligns with ``example.co.uk``. This can refuse an exotic
registry's subdomain alignment (the request then goes to a person), never accept a
signature from an unrelated organisation.

Only the topmost ``Authentication-Results`` header carrying a trusted authserv-id is
read: the trusted MTA adds its own on top and must remove any copy claiming its id
that arrived from outside (RFC 8601 §5), as Postfix with OpenDKIM/OpenDMARC does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prefcenter.dkim import SilentLog
from prefcenter.inbound.message import InboundMessage, clean

#: A DNS TXT lookup as dkimpy calls it: ``dnsfunc(name: bytes, timeout=5) -> bytes | None``.
DnsFunc = Callable[..., Any]

#: Second-level labels under which registries sell names (a short, common subset).
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au",
        "net.au", "org.au", "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "com.br",
        "com.cn", "com.mx", "co.in", "co.za", "com.tr", "com.sg", "com.hk", "co.kr",
        "com.ar", "gov.au", "edu.au",
    }
)  # fmt: skip
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
    """

    authenticated: bool
    method: str
    domain: str | None
    reason: str


def _is_suffix(domain: str) -> bool:
    return "." not in domain or domain in _MULTI_LABEL_SUFFIXES


def aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed alignment of two domains (see the module docstring for the rule)."""
    a = signing_domain.lower().strip().rstrip(".")
    b = from_domain.lower().strip().rstrip(".")
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return longer.endswith("." + shorter) and not _is_suffix(shorter)


def _signature_domains(message: InboundMessage) -> list[str]:
    domains: list[str] = []
    for value in message.headers("DKIM-Signature")[:_MAX_SIGNATURES]:
        tags = {
            name.strip().lower(): val.strip()
            for name, _, val in (item.partition("=") for item in value.split(";"))
        }
        domains.append(re.sub(r"\s+", "", tags.get("d", "")).lower())
    return domains


def verify_dkim(message: InboundMessage, dnsfunc: DnsFunc | None = None) -> AuthResult:
    """Verify DKIM signatures with dkimpy and report the first aligned one that passes.

    Args:
        message: the message as received.
        dnsfunc: the TXT lookup dkimpy uses; None means real DNS (dnspython).
    """
    import dkim  # deferred: dkimpy pulls in DNS and crypto modules

    from_domain = message.from_domain
    if from_domain is None:
        return AuthResult(False, "", None, "From is missing or names more than one address.")
    domains = _signature_domains(message)
    if not domains:
        return AuthResult(False, "", None, "The message has no DKIM signature.")
    for index, domain in enumerate(domains):
        if not aligned(domain, from_domain):
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
            return AuthResult(True, "dkim", domain, "")
    if not any(aligned(domain, from_domain) for domain in domains):
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


def trusted_verdict(message: InboundMessage, trusted_ids: Iterable[str]) -> AuthResult:
    """Read the topmost trusted ``Authentication-Results`` header."""
    trusted = {item.lower().strip() for item in trusted_ids if item.strip()}
    from_domain = message.from_domain
    if not trusted or from_domain is None:
        return AuthResult(False, "", None, "No trusted Authentication-Results apply.")
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
                if aligned(domain, from_domain) and domain == from_domain:
                    return AuthResult(True, "authentication-results", domain, "")
                passed_elsewhere = True
            if method == "dkim":
                domain = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
                if domain and aligned(domain, from_domain):
                    return AuthResult(True, "authentication-results", domain, "")
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
) -> AuthResult:
    """Decide whether the From address of ``message`` is proven; never raises.

    A trusted upstream verdict is read first (no DNS needed); then DKIM is verified here.
    """
    verdict = trusted_verdict(message, trusted_authserv_ids)
    if verdict.authenticated:
        return verdict
    checked = verify_dkim(message, dnsfunc)
    if checked.authenticated or not trusted_authserv_ids:
        return checked
    return AuthResult(False, "", None, f"{checked.reason} {verdict.reason}")
