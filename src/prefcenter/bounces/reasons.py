"""Why a message bounced: one reason from a shared vocabulary, read from code and prose.

The vocabulary is the one the established bounce libraries share (user unknown, host
unknown, mailbox full, message too big, filtered, policy, expired, network, system, on
hold, undecided...). A reason is read, in order of trust, from the remote server's words
when they are unambiguous ("no such user", in several languages), then the enhanced
status code (RFC 3463), then the SMTP reply code. A generic code (``X.0.0``, ``5.3.0``)
never beats clear words: ``553 5.3.0 No such user here`` is a dead address.

Whether the failure is permanent is a separate question (the status class, the reply
code, or the report's ``Action``): a reason alone never makes a hard bounce.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from ahocorasick_rs import AhoCorasick

from prefcenter.bounces.policy import ABOUT_US, ADDRESS_REASONS, BounceReason

#: The vocabulary lives with the bounce policy; ``Reason`` is its name here.
Reason = BounceReason

STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY_CODE = re.compile(r"(?<![\w.:#-])([245])[0-5]\d(?![\w.:])")

#: The regular-expression parser, to read what literal text a pattern needs (see _needed).
_PARSE: Any = importlib.import_module("re._parser").parse
_C: Any = importlib.import_module("re._constants")

#: The words are matched on lower-cased text (faster than IGNORECASE on every pattern).
_I = 0
#: Characters of a diagnostic read for words: servers say why in the first lines.
TEXT_LIMIT = 1000
_EMPTY_BRACKETS = re.compile(r"\[\s*\]|<\s*>|\(\s*\)|''|\"\"")
_NAMES = re.compile(r"[^\s<>()\[\]\"',;:]{1,200}@[^\s<>()\[\]\"',;:]{1,200}|https?://\S{1,500}")

_USER_UNKNOWN = re.compile(
    r"user(name)? (is )?unknown|unknown (user|recipient|local[- ]part|address|mailbox|alias)|"
    r"no such (user|mailbox|recipient|address|account|person|local user)|"
    r"(user|mailbox|recipient|address|account|addressee|e-?mail( address)?) "
    r"(does not|doesn'?t|did not|no longer) exists?|"
    r"(does not|doesn'?t) have an? .{0,30}account|"
    r"(couldn'?t|could not|can'?t|cannot) be found|"
    r"(recipient|user|mailbox|address|account) (was )?not found|"
    r"not found by smtp address lookup|invalid (recipient|mailbox|address|user)|"
    r"recipient address rejected: (user unknown|address does not exist|"
    r"undeliverable address|unknown|access denied|invalid)|"
    r"mailbox (unavailable|not found|does not exist|is unavailable)|"
    r"unrouteable address|no mailbox here|addressee unknown|unknown or illegal alias|"
    r"user (not found|doesn'?t have|not listed|is not known)|"
    r"not (a )?(valid|known) (user|recipient|mailbox|address)|"
    r"(isn'?t|is not) a (valid|known) (user|recipient|mailbox)|"
    r"no (valid )?recipients?\b|recipient (is )?(unknown|invalid|rejected)|"
    r"address (is )?(unknown|invalid|not valid)|bad (destination )?(mailbox|recipient)|"
    r"the email account that you tried to reach does not exist|"
    r"not our customer|may not exist|non-?existent (user|address|account|mailbox)|"
    r"unknown or invalid|undeliverable address|mailbox name not allowed|"
    r"no longer (active|valid|in use)|this user doesn'?t have|has been deleted|"
    r"dosn'?t exist|no mailbox by that name|not an active (address|user|mailbox)|"
    r"bad_recipient|mail-box not found|no mail ?box (found|available)|rcpt does not exist|"
    r"not listed in|recipient name is not recognized|"
    r"mailbox \S{1,80} unavailable|unknown or illegal|no such local user|"
    # French, German, Spanish, Italian, Portuguese, Dutch, Polish, Japanese, Chinese
    r"utilisateur inconnu|destinataire inconnu|adresse (e-?mail )?inconnue|"
    r"n'existe pas|introuvable|"
    r"unbekannt(er)? (benutzer|empfänger|empfaenger)|(benutzer|empfänger|empfaenger|adresse|"
    r"postfach) (ist )?unbekannt|existiert nicht|gibt es nicht|"
    r"usuario desconocido|destinatario desconocido|no existe|"
    r"utente sconosciuto|destinatario sconosciuto|non esiste|"
    r"usuário desconhecido|utilizador desconhecido|não existe|"
    r"onbekende (gebruiker|ontvanger)|bestaat niet|"
    r"nie istnieje|nieznany (użytkownik|adresat|odbiorca)|"
    r"no such user",  # words in CJK scripts: _CJK_USER_UNKNOWN
    _I,
)
#: Words in scripts without spaces: matched anywhere, not only at a word start.
_CJK_USER_UNKNOWN = (
    r"存在しません|存在しない|宛先不明|ユーザ(ー)?不明|不明なユーザ|用户不存在|收件人不存在|"
    r"无此用户|帳號不存在"
)
_CJK_MAILBOX_FULL = r"容量|メールボックスがいっぱい|信箱已满|邮箱已满"

_HOST_UNKNOWN = re.compile(
    r"host (or domain name )?not found|unknown host|host unknown|no such (host|domain)|"
    r"domain (name )?(not found|does not exist|unknown|is not valid)|does not accept mail|"
    r"unknown domain|name service error|nxdomain|no mx|null mx|"
    r"unrouteable (mail )?domain|"
    r"(unable|could not|couldn'?t) (to )?(resolve|find) (the )?(host|domain)|"
    r"dns (error|failure|lookup failed)|name or service not known|"
    r"domain (has been )?(disabled|expired)|"
    r"domaine inconnu|domaine introuvable|unbekannte domain|dominio desconocido",
    _I,
)
_MAILBOX_FULL = re.compile(
    r"mail ?box( is)?( currently)? full|(is|was) full|mailbox (has )?exceeded|"
    r"over\s+(disk\s+|the\s+|its\s+|their\s+|storage\s+)?(quota|limit)|"
    r"quota\s+(usage\s+)?(has been\s+)?(exceeded|full)|full mailbox|(does not|doesn'?t) have "
    r"enough (disk |storage )?space|(disk ?space|mailbox) quota|"
    r"exceed(ed|s|ing)\s+(the\s+|its\s+|their\s+|his\s+|"
    r"her\s+|your\s+|storage\s+|mailbox\s+|disk\s+)?(storage|quota|size limit|allocation)|"
    r"reached (the |its |their |his |her )?(disk |storage |mailbox )?(quota|limit)|"
    r"insufficient (system )?storage|out of storage|not enough (disk |storage )?space|"
    r"disk quota|storage (limit|quota)|disk space limit|too many (messages|mails) (on|in)|"
    r"mailbox size limit|too many messages in (the )?mailbox|"
    r"boîte (aux lettres )?pleine|bo[iî]te (de r[ée]ception )?pleine|"
    r"postfach (ist )?voll|speicherplatz|buzón (está )?lleno|casella (di posta )?piena|"
    r"caixa (postal )?(está )?cheia|mailbox vol|skrzynka (jest )?pełna|"
    r"mailbox full",  # words in CJK scripts: _CJK_MAILBOX_FULL
    _I,
)
_TOO_BIG = re.compile(
    r"message (is )?too (big|large)|message size exceeds|exceeds (the )?(maximum|max|fixed) "
    r"(message )?size|message length exceeds|(?<!mailbox )size limit exceeded|too large for|"
    r"message (exceeds|larger than)|message size .{0,20}(exceeds|limit)|"
    r"max(imum)? message size|message size exceeded",
    _I,
)
_FILTERED = re.compile(
    r"\bspam\b|junk mail|unsolicited|content (rejected|filter)|looks like spam|"
    r"message (was )?(rejected|blocked) (as|because|due)|virus|malware|phish|"
    r"suspicious|bulk mail|uribl|surbl|dbl\.spamhaus|message content|"
    r"rejected by (the )?(content|spam)|dmarc|spf|dkim|not authenticated|"
    r"unauthenticated|authentication (failed|required)",
    _I,
)
_POLICY = re.compile(
    r"\bblock(ed|list)?\b|blacklist|black list|denylist|\brbl\b|dnsbl|spamhaus|spamcop|"
    r"barracuda|reputation|policy|not permitted|not allowed|prohibited|refused|"
    r"access denied|relay(ing)? (access )?(denied|not permitted)|not a relay|"
    r"we do not relay|relay not permitted|sender (address )?(rejected|denied|blocked)|"
    r"rate limit|too many (messages|connections|recipients)|try again later|"
    r"greylist|graylist|not accepting|administrative prohibition|rejected for policy|"
    r"rcpthosts|as a relay|polic(y|ies)|"
    r"service (unavailable|refused)|poor reputation|banned|sending (ip|address)|"
    r"not accepted|too quickly|at a rate|block-send",
    _I,
)
_SUSPENDED = re.compile(
    r"(account|mailbox|user) (has been |is |was )?(currently |temporarily )?"
    r"(disabled|suspended|inactive|deactivated|"
    r"locked|blocked|closed|expired)|inactive (account|user|mailbox)|"
    r"deactivated (account|mailbox)|account (is )?(not active|unavailable)|"
    r"(is a )?deactivated mailbox|ha expirado|disabled or discontinued",
    _I,
)
_EXPIRED = re.compile(
    r"retry time(out)? (not reached|exceeded)|(message|delivery) (has been |was )?"
    r"(expired|timed out)|too long in (the )?queue|(could not|couldn'?t|was not) be "
    r"delivered (with|within) .{0,40}(days|hours)|giving up|gave up|"
    r"has been delayed for|for more than \d+ (days|hours)|delivery time expired",
    _I,
)
_DELAYED = re.compile(
    r"has not (yet )?been delivered|will (continue to )?(retry|try)|delivery (is )?delayed|"
    r"still trying|delayed mail|warning: message .{0,40} delayed|not been delivered yet",
    _I,
)
_NETWORK = re.compile(
    r"connection (timed out|refused|reset|lost|closed)|timed out|network (is )?unreachable|"
    r"no route to host|lost connection|could not connect|couldn'?t connect|"
    r"conversation with .{1,100} timed out|too many hops|mail loop|loop detected|"
    r"loops back to myself|"
    r"could not initiate smtp|connection (was )?dropped|connect to \S{1,200}: ",
    _I,
)
_SYSTEM = re.compile(
    r"local error|internal (server )?error|system (error|failure)|temporar(il)?y "
    r"(failure|problem|error|unavailable)|server (is )?busy|resources|try later|"
    r"server (error|failure)|unavailable|i/o error|configuration error|not unique",
    _I,
)
_ON_HOLD = re.compile(
    r"challenge|verify (your|that you)|awaiting (approval|verification|confirmation)|"
    r"held for (review|approval|moderation)|quarantin|pending (approval|review)|"
    r"sender verification|whitelist|boxbe|pre-?approved|protected by|click on the following|"
    r"requires confirmation",
    _I,
)
#: Words that blame our sending IP or domain, whatever else the text says.
_LISTED = re.compile(
    r"blacklist|blocklist|black list|block list|spamhaus|spamcop|\brbl\b|dnsbl", _I
)


def _at_word_start(pattern: re.Pattern[str], anywhere: str = "") -> re.Pattern[str]:
    """The same words, tried only where a word starts (several times faster on long text)."""
    extra = f"|(?:{anywhere})" if anywhere else ""
    return re.compile(rf"\b(?:{pattern.pattern}){extra}", pattern.flags)


_USER_UNKNOWN = _at_word_start(_USER_UNKNOWN, _CJK_USER_UNKNOWN)
_MAILBOX_FULL = _at_word_start(_MAILBOX_FULL, _CJK_MAILBOX_FULL)
_HOST_UNKNOWN = _at_word_start(_HOST_UNKNOWN)
_TOO_BIG = _at_word_start(_TOO_BIG)
_FILTERED = _at_word_start(_FILTERED)
_POLICY = _at_word_start(_POLICY)
_SUSPENDED = _at_word_start(_SUSPENDED)
_EXPIRED = _at_word_start(_EXPIRED)
_DELAYED = _at_word_start(_DELAYED)
_NETWORK = _at_word_start(_NETWORK)
_SYSTEM = _at_word_start(_SYSTEM)
_ON_HOLD = _at_word_start(_ON_HOLD)

#: A sender-side failure (X.1.7, X.1.8, "sender address rejected"): about us.
_SENDER = re.compile(r"sender address|sender domain|mail from|envelope sender|from address", _I)

# Status subject.detail to reason (RFC 3463 §3 and the IANA registry).
_BY_CODE: dict[tuple[str, str], Reason] = {
    ("1", "1"): Reason.USER_UNKNOWN,
    ("1", "0"): Reason.USER_UNKNOWN,
    ("1", "3"): Reason.USER_UNKNOWN,
    ("1", "4"): Reason.USER_UNKNOWN,
    ("1", "6"): Reason.USER_UNKNOWN,
    ("1", "2"): Reason.HOST_UNKNOWN,
    ("1", "10"): Reason.HOST_UNKNOWN,
    ("1", "5"): Reason.DELIVERED,
    ("1", "7"): Reason.POLICY,
    ("1", "8"): Reason.POLICY,
    ("2", "1"): Reason.SUSPENDED,
    ("2", "2"): Reason.MAILBOX_FULL,
    ("2", "3"): Reason.TOO_BIG,
    ("2", "4"): Reason.SYSTEM,
    ("3", "4"): Reason.TOO_BIG,
    ("4", "4"): Reason.HOST_UNKNOWN,
    ("4", "7"): Reason.EXPIRED,
    ("7", "1"): Reason.POLICY,
}


#: The resolver failed (not "no such domain"): a network problem, retried.
_DNS_TROUBLE = re.compile(
    r"malformed (or unexpected )?name server reply|servfail|name server (failure|timeout)|"
    r"dns (timeout|temporary)|temporary (dns|lookup) (failure|error)",
    _I,
)


def _needed(ops: Any) -> tuple[str, ...] | None:
    """Literal strings one of which every match of ``ops`` must contain; None if unknown.

    Read from the parsed pattern (``re._parser``): every run of mandatory literal
    characters, and every mandatory group or alternation (the union of what each branch
    needs), is a candidate; the one whose shortest string is longest is kept. ``str in``
    on these is far cheaper than running a large alternation, and it can never skip a
    text the pattern would match.
    """
    candidates: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, value in ops:
        if op is _C.LITERAL:
            run.append(chr(value))
            continue
        if run:
            candidates.append(("".join(run),))
            run = []
        found: tuple[str, ...] | None = None
        if op is _C.SUBPATTERN:
            found = _needed(value[-1])
        elif op is _C.BRANCH:
            found = _branches(value[1])
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and value[0] >= 1:
            found = _needed(value[2])
        if found is not None:
            candidates.append(found)
    if run:
        candidates.append(("".join(run),))
    if not candidates:
        return None
    return max(candidates, key=lambda needs: min(len(need) for need in needs))


def _branches(branches: Any) -> tuple[str, ...] | None:
    needs: list[str] = []
    for branch in branches:
        found = _needed(branch)
        if found is None:
            return None
        needs.extend(found)
    return tuple(dict.fromkeys(needs))


_NEEDS: dict[int, tuple[str, ...] | None] = {}


class _Words:
    """Each pattern searched at most once per text (a diagnostic is read many ways).

    Which of every pattern's needed literals (:func:`_needed`) the text holds is found
    in one pass (:data:`_FINDER`, an Aho-Corasick automaton over all of them); a pattern
    none of whose literals is there cannot match and is never run.
    """

    __slots__ = ("_found", "_present", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._found: dict[int, bool] = {}
        try:
            found = _FINDER.find_matches_as_indexes(text, True)
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\\ud800"): one by one
            self._present = {i for i, literal in enumerate(_LITERALS) if literal in text}
        else:
            self._present = {index for index, _, _ in found}

    def __call__(self, pattern: re.Pattern[str]) -> bool:
        key = id(pattern)
        found = self._found.get(key)
        if found is None:
            needs = _NEED_IDS.get(key)
            if needs is not None and needs.isdisjoint(self._present):
                found = False
            else:
                found = pattern.search(self.text) is not None
            self._found[key] = found
        return found


def _words(has: _Words) -> Reason | None:
    """A reason the words alone make certain, most specific first."""
    if has(_DNS_TROUBLE):
        return Reason.NETWORK
    if has(_SENDER) and has(_POLICY):
        return Reason.POLICY
    if has(_USER_UNKNOWN) and not has(_FILTERED) and not has(_LISTED):
        return Reason.USER_UNKNOWN
    if has(_HOST_UNKNOWN):
        return Reason.HOST_UNKNOWN
    if has(_SUSPENDED):
        return Reason.SUSPENDED
    return None


for _pattern in (
    _USER_UNKNOWN, _HOST_UNKNOWN, _MAILBOX_FULL, _TOO_BIG, _FILTERED, _POLICY, _SUSPENDED,
    _EXPIRED, _DELAYED, _NETWORK, _SYSTEM, _ON_HOLD, _LISTED, _SENDER, _DNS_TROUBLE,
):  # fmt: skip
    _NEEDS[id(_pattern)] = _needed(_PARSE(_pattern.pattern, _pattern.flags))

#: Every literal some pattern needs, found all at once (overlapping) in a text.
_LITERALS = sorted({need for needs in _NEEDS.values() if needs for need in needs})
_FINDER = AhoCorasick(_LITERALS)
#: Per pattern (by id), the indexes in _LITERALS of what it needs; absent: run it always.
_NEED_IDS: dict[int, frozenset[int]] = {
    key: frozenset(_LITERALS.index(need) for need in needs)
    for key, needs in _NEEDS.items()
    if needs is not None
}

_WEAK = (
    (_ON_HOLD, Reason.ON_HOLD),
    (_FILTERED, Reason.FILTERED),
    (_POLICY, Reason.POLICY),
    (_EXPIRED, Reason.EXPIRED),
    (_DELAYED, Reason.DELAYED),
    (_NETWORK, Reason.NETWORK),
    (_SYSTEM, Reason.SYSTEM),
)


def reason_of(status: str, diagnostic: str) -> Reason:
    """The reason for one failed recipient.

    Args:
        status: the enhanced status code (``5.1.1``) or ``""``.
        diagnostic: the remote server's words and any prose about this recipient.
    """
    code = STATUS.search(status) or STATUS.search(diagnostic)
    if code is not None and code[1] == "2":
        return Reason.DELIVERED
    # Addresses and host names are not words: "dmarc@..." or "spam.example" say nothing.
    text = diagnostic[:TEXT_LIMIT]
    if "@" in text or "://" in text:
        text = _EMPTY_BRACKETS.sub(" ", _NAMES.sub("", text))
    has = _Words(" ".join(text.split()).lower())
    subject, detail = (code[2], code[3]) if code else ("", "")
    if has(_TOO_BIG):
        return Reason.TOO_BIG
    if has(_MAILBOX_FULL):
        return Reason.MAILBOX_FULL
    if has(_ON_HOLD) and not has(_USER_UNKNOWN):
        return Reason.ON_HOLD
    if subject == "7" and has(_USER_UNKNOWN) and not has(_FILTERED):
        return Reason.USER_UNKNOWN  # 5.7.1 "no such recipient": some servers say so
    if subject == "7":
        return Reason.FILTERED if has(_FILTERED) else Reason.POLICY
    if subject == "6":
        return Reason.FILTERED
    strong = _words(has)
    if strong is not None:
        return strong
    if has(_FILTERED):
        return Reason.FILTERED  # "5.1.1 ... SPF fail": the words say it is about us
    if has(_LISTED):
        return Reason.POLICY
    if code is not None and (detail != "0" or subject == "1"):
        by_code = _BY_CODE.get((subject, detail)) or _BY_CODE.get((subject, "0"))
        if by_code is not None:
            return by_code
    weak = next((reason for pattern, reason in _WEAK if has(pattern)), None)
    if weak is not None:
        return weak
    if subject == "4":
        return Reason.NETWORK
    if subject in ("3", "5"):
        return Reason.SYSTEM
    return Reason.UNDECIDED


def is_permanent(action: str, status: str, diagnostic: str) -> bool | None:
    """True for a permanent failure, False for a temporary one, None when nothing says."""
    code = STATUS.search(status) or STATUS.search(diagnostic)
    if code is not None and code[1] in ("4", "5"):
        reply = REPLY_CODE.search(diagnostic)
        # "450 5.1.1" happens; trust the temporary reading when either says temporary.
        if reply is not None and reply[1] == "4":
            return False
        return code[1] == "5"
    reply = REPLY_CODE.search(diagnostic)
    if reply is not None and reply[1] in ("4", "5"):
        return reply[1] == "5"
    if action.strip().lower() == "failed":
        return True
    return None


__all__ = [
    "ABOUT_US",
    "ADDRESS_REASONS",
    "REPLY_CODE",
    "STATUS",
    "Reason",
    "is_permanent",
    "reason_of",
]
