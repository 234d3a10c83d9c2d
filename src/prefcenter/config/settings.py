"""The settings table: every setting once, with its type, default and help.

:class:`Settings` is the table; :func:`settings_table` reads it for ``--help`` and
``docs/config.md``, and :mod:`prefcenter.config.loading` for validation, so the three
cannot drift.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefcenter.config.types import (
    MIN_KEY_BYTES,
    FrequencyCap,
    Secret,
    show,
)
from prefcenter.errors import ConfigError

__all__ = ["ENV_PREFIX", "SettingSpec", "Settings", "settings_table"]

ENV_PREFIX = "PREFCENTER_"


def _setting(default: Any, help: str, *, kind: str = "str", shown: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "kind": kind, "shown": shown})


def _factory(factory: Any, help: str, *, kind: str, shown: str | None = None) -> Any:
    return field(default_factory=factory, metadata={"help": help, "kind": kind, "shown": shown})


@dataclass(frozen=True)
class Settings:
    """Every setting prefcenter reads. Build with :func:`load_settings`."""

    database: str = _setting(
        "sqlite:///var/prefcenter.db",
        "Store URL: sqlite:///path.db (one host) or postgresql://user@host/db (many hosts). "
        "Percent-encode @ : / ? # in a user name or password (@ is %40); messages show "
        "the user-info as ***.",
    )
    secret: tuple[Secret, ...] = _factory(
        tuple,
        "Token signing keys, comma-separated, oldest first: the newest signs (at least "
        f"{MIN_KEY_BYTES} bytes), all verify. Unset: a key is generated once into "
        "VAR_DIR/secret (development only).",
        kind="secrets",
        shown="(generated in development)",
    )
    pepper: Secret | None = _setting(
        None,
        f"Key for hashing identities in the store, at least {MIN_KEY_BYTES} bytes; never "
        "change it. Unset: generated once into VAR_DIR/pepper (development only).",
        kind="secret",
        shown="(generated in development)",
    )
    base_url: str = _setting(
        "http://127.0.0.1:8080",
        "Public URL of the HTTP sidecar, used in links; https in production (RFC 8058: "
        "providers offer one-click only for https links).",
    )
    mail_domain: str = _setting(
        "localhost", "Domain of the sidecar's mailboxes: unsubscribe@, bounces@, fbl@."
    )
    http: str = _setting("127.0.0.1:8080", "HOST:PORT the HTTP sidecar listens on.")
    http_fast_path: bool = _setting(
        True,
        "Answer one-click POSTs on the connection, before uvicorn builds a request (only "
        "with a tested uvicorn release; otherwise, or when false, the portable ASGI fast "
        "path answers them the same way).",
        kind="bool",
    )
    smtp: str = _setting("127.0.0.1:2525", "HOST:PORT the SMTP sidecar listens on.")
    var_dir: str = _setting(
        "",
        "Directory for the development keys (secret, pepper). Empty: beside a SQLite store "
        "(the directory of its file), so every command run from anywhere finds the keys "
        "that store was made with; var for PostgreSQL. The default DATABASE does not "
        "follow it: that is var/prefcenter.db relative to the working directory.",
        shown="(the SQLite store's directory, else var)",
    )
    company_name: str = _setting("Example", "Name shown on pages and in List-Id phrases.")
    brand_color: str = _setting(
        "#1d4ed8",
        "Accent colour of the pages (CSS hex colour); the text on it is white or black, "
        "whichever contrasts more.",
    )
    language: str = _setting(
        "en",
        "Language of the pages when neither the link (lang=, set by stamp/link) nor the "
        "browser's Accept-Language names a shipped one: en, de, fr, es, pt or ja.",
    )
    logo: str = _setting(
        "",
        "Logo on every page: an https URL, or a PNG, JPEG, SVG or WebP file the sidecar "
        "serves at /logo. Empty: the company name only.",
    )
    contact: str = _setting(
        "",
        "How people reach you, shown on every page and where a link cannot help (a "
        "hard-bounced address, a broken link): an email address or an https URL.",
    )
    privacy_url: str = _setting(
        "", "Link to your privacy policy, shown on every page (http(s) URL); empty: none."
    )
    manage_page: bool = _setting(
        False,
        "Offer /manage, where a person types an address and gets a fresh preference link "
        "by mail (through NOTIFY_RELAY, from no-reply@MAIL_DOMAIN): the same answer for "
        "every address, mail only to addresses the store knows, rate-limited per address "
        "and per client.",
        kind="bool",
    )
    topics: dict[str, str] = _factory(
        dict,
        "Known topics as id=Label pairs separated by ';' (TOML: a [topics] table). "
        "Unknown topics still work; these get names and descriptions on pages.",
        kind="topics",
    )
    topic_descriptions: dict[str, str] = _factory(
        dict, "Topic descriptions as id=Text pairs separated by ';'.", kind="topics"
    )
    list_id_domain: str = _setting("", "Domain for List-Id (RFC 2919); empty: MAIL_DOMAIN.")
    fold_subaddress: bool = _setting(
        True, "Treat user+tag@domain as user@domain (one person).", kind="bool"
    )
    fold_gmail: bool = _setting(
        True,
        "Ignore dots in gmail.com local parts and treat googlemail.com as gmail.com.",
        kind="bool",
    )
    frequency_cap: FrequencyCap | None = _setting(
        FrequencyCap(3, timedelta(days=7)),
        "Marketing contacts allowed per identity per channel per rolling window, "
        "as COUNT/DURATION (e.g. 3/7d); 'off' disables.",
        kind="cap",
    )
    phone_opt_out: str = _setting(
        "texts_and_calls",
        "What a marketing opt-out on a phone number stops: texts_and_calls (an opt-out "
        "made on sms also stops marketing calls to the number, and one made on voice "
        "marketing texts; the decision's message says so) or channel (only the channel it "
        "was made on). Hard suppressions and transactional contact stay per channel.",
    )
    soft_bounce_limit: int = _setting(
        3, "Soft bounces within SOFT_BOUNCE_WINDOW that make a hard suppression.", kind="int"
    )
    soft_bounce_window: timedelta = _setting(
        timedelta(days=14), "Window for counting soft bounces (e.g. 14d).", kind="duration"
    )
    # -- bounce policy (issue 21) ---------------------------------------------------
    bounce_score_limit: int = _setting(
        5,
        "Bounce score that stops all mail to a person as a hard suppression; a proven "
        "soft bounce (mailbox full, expired, suspended...) adds at most one point a day.",
        kind="int",
    )
    bounce_quiet_period: timedelta = _setting(
        timedelta(days=14),
        "A person's bounce score starts again from zero after this long without a bounce "
        "(e.g. 14d).",
        kind="duration",
    )
    machine_mail_retention: timedelta = _setting(
        timedelta(days=30),
        "How long machine-made mail nobody can act on (an undecidable bounce, a report "
        "about a message we cannot identify) is kept for audit before it is purged.",
        kind="duration",
    )
    exception_due: timedelta = _setting(
        timedelta(days=2),
        "Time a person has to decide an exception (e.g. 48h).",
        kind="duration",
    )
    violation_grace: timedelta = _setting(
        timedelta(days=2),
        "Sends this long after an opt-out are not yet violations (in-flight campaigns).",
        kind="duration",
    )
    exception_retention: timedelta = _setting(
        timedelta(days=90),
        "How long a closed exception keeps the mail it holds; purge (daily in serve) "
        "then erases the mail and keeps the item's record.",
        kind="duration",
    )
    contact_retention: timedelta = _setting(
        timedelta(days=400),
        "How long the contact ledger keeps a send; purge (daily in serve) deletes older "
        "ones. Bounces without a VERP token are matched against its last 365 days.",
        kind="duration",
    )
    store_timeout: timedelta = _setting(
        timedelta(seconds=25),
        "Longest wait for the store before HTTP answers 503 and SMTP 451; the change may "
        "still commit, and the sender's retry is then a no-op.",
        kind="duration",
    )
    max_message_size: int = _setting(
        1024 * 1024, "Largest inbound message in bytes (answered 552).", kind="int"
    )
    max_recipients: int = _setting(
        50, "Recipients accepted per inbound message (answered 452).", kind="int"
    )
    max_connections: int = _setting(200, "Concurrent SMTP connections overall.", kind="int")
    max_connections_per_ip: int = _setting(
        20, "Concurrent SMTP connections per client address.", kind="int"
    )
    smtp_timeout: timedelta = _setting(
        timedelta(seconds=60), "Idle timeout of an SMTP session.", kind="duration"
    )
    api_keys: tuple[Secret, ...] = _factory(
        tuple,
        "Bearer keys for /v1 (at least 16 bytes each), comma-separated; write each as "
        "sha256:HEX to keep only the hash.",
        kind="secrets",
        shown="(none: /v1 refuses every call)",
    )
    dkim_domain: str = _setting("", "DKIM d= domain for stamp(); empty disables signing.")
    dkim_selector: str = _setting("", "DKIM s= selector.")
    dkim_key_file: str = _setting("", "PEM (RSA) or raw/base64 (Ed25519) private key file.")
    cfbl: bool = _setting(
        False,
        "Add CFBL-Address (RFC 9477) pointing at fbl@MAIL_DOMAIN; needs DKIM.",
        kind="bool",
    )
    trusted_authserv_ids: tuple[str, ...] = _factory(
        tuple,
        "authserv-ids of upstream MTAs whose Authentication-Results are trusted, comma-separated.",
        kind="list",
    )
    notify_webhook: str = _setting("", "URL that gets a JSON POST for each exception.")
    notify_email: str = _setting("", "Operations address mailed for each exception.")
    notify_relay: str = _setting("127.0.0.1:25", "HOST:PORT of the relay for NOTIFY_EMAIL.")
    # -- the operator console (issue 24) ---------------------------------------------
    console: str = _setting(
        "127.0.0.1:8081",
        "HOST:PORT the operator console listens on (never the HTTP port); empty turns it off.",
    )
    console_idle_timeout: timedelta = _setting(
        timedelta(minutes=30),
        "A console session ends after this long without a request.",
        kind="duration",
    )
    console_session_max: timedelta = _setting(
        timedelta(hours=12),
        "A console session ends this long after its login, however busy.",
        kind="duration",
    )
    console_user_header: str = _setting(
        "",
        "Request header naming the operator, set by an authenticating proxy (single sign-on); "
        "honoured only from TRUSTED_PROXIES. Empty: operators log in with a password.",
    )
    console_header_role: str = _setting(
        "viewer",
        "Role of a CONSOLE_USER_HEADER name that is not an operator (viewer, agent or admin); "
        "empty refuses such names. A named operator keeps their own role.",
    )
    console_nice: int = _setting(
        5,
        "Niceness (0-19) of the console's own process beside HTTP or SMTP in `serve`: the "
        "higher, the more CPU it leaves to one-click on a busy machine, and the slower its "
        "pages there; 0: equal shares.",
        kind="int",
    )
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    # -- provider webhooks and SMS keywords (issue 22); an empty key turns its route off
    ses_topic_arns: tuple[str, ...] = _factory(
        tuple, "SNS topic ARNs POST /hooks/ses accepts and confirms, comma-separated.", kind="list"
    )
    ses_trust_bundle: str = _setting(
        "",
        "PEM file of the authorities an SNS signing certificate must chain to (Amazon's "
        "roots and the intermediates that issue them: SNS serves the certificate alone); "
        "empty: the pinned sns.<region>.amazonaws.com host and its TLS are the trust.",
    )
    sendgrid_webhook_public_key: str = _setting(
        "", "SendGrid's Signed Event Webhook verification key (base64), for /hooks/sendgrid."
    )
    sendgrid_timestamp_tolerance: timedelta = _setting(
        timedelta(hours=72),
        "Refuse a SendGrid request whose signed timestamp is further than this from the "
        "host's clock (SendGrid retries for up to 24 hours and may not re-sign); 0s: no check.",
        kind="duration",
    )
    sendgrid_asm_groups: dict[str, str] = _factory(
        dict,
        "SendGrid unsubscribe groups as id=topic pairs separated by ';' (12345=news); "
        "leaving an unmapped group stops all marketing.",
        kind="topics",
    )
    postmark_webhook_user: str = _setting("", "User of the Postmark webhook URL's credentials.")
    postmark_webhook_password: Secret | None = _setting(
        None, "Password of the Postmark webhook URL's credentials.", kind="secret"
    )
    postmark_stream_topics: dict[str, str] = _factory(
        dict, "Postmark message streams as stream=topic pairs separated by ';'.", kind="topics"
    )
    mailgun_webhook_signing_key: Secret | None = _setting(
        None, "Mailgun's HTTP webhook signing key, for /hooks/mailgun.", kind="secret"
    )
    twilio_auth_token: Secret | None = _setting(
        None,
        "Twilio auth token; /hooks/twilio checks signatures of BASE_URL + path.",
        kind="secret",
    )
    generic_webhook_secret: tuple[Secret, ...] = _factory(
        tuple,
        "Standard Webhooks secrets (whsec_...) for /hooks/generic, oldest first.",
        kind="secrets",
    )
    sms_stop_words: tuple[str, ...] = _factory(
        tuple,
        "Opt-out keywords beyond STOP, STOPALL, UNSUBSCRIBE... (e.g. ARRET,ALTO).",
        kind="list",
    )
    sms_start_words: tuple[str, ...] = _factory(
        tuple, "Opt-in keywords beyond START, UNSTOP, YES.", kind="list"
    )
    sms_help_words: tuple[str, ...] = _factory(
        tuple, "Help keywords beyond HELP, INFO.", kind="list"
    )
    sms_stop_reply: str = _setting("", "TwiML reply to an opt-out keyword; empty: none.")
    sms_start_reply: str = _setting("", "TwiML reply to an opt-in keyword; empty: none.")
    sms_help_reply: str = _setting("", "TwiML reply to a help keyword; empty: none.")
    # -- hardening against outsiders (issue 20): rates, proxies, sessions, queue, TLS --
    trusted_proxies: tuple[str, ...] = _factory(
        tuple,
        "Reverse proxies (IP addresses or CIDR networks, comma-separated) whose "
        "X-Forwarded-For names the client for rate limits (and whose CONSOLE_USER_HEADER "
        "and X-Forwarded-Proto the console believes); empty: the peer is the client.",
        kind="list",
    )
    page_rate: FrequencyCap | None = _setting(
        FrequencyCap(120, timedelta(minutes=1)),
        "Page requests (/u, /p, anything but a genuine one-click POST) per client address, "
        "as COUNT/DURATION: a burst of COUNT, refilled over DURATION; past it 429; off "
        "disables.",
        kind="cap",
    )
    api_rate: FrequencyCap | None = _setting(
        FrequencyCap(1200, timedelta(minutes=1)),
        "/v1 requests per API key but the feed's (FEED_RATE), as COUNT/DURATION (429 past "
        "it); off disables.",
        kind="cap",
    )
    feed_rate: FrequencyCap | None = _setting(
        FrequencyCap(12000, timedelta(minutes=1)),
        "GET /v1/events (change feed) pages per API key, as COUNT/DURATION, instead of "
        "API_RATE (429 past it): 200 pages of 1,000 a second, so a consumer catching up "
        "reads 200,000 events/s before it waits; off disables.",
        kind="cap",
    )
    api_failure_rate: FrequencyCap | None = _setting(
        FrequencyCap(10, timedelta(minutes=1)),
        "/v1 requests without a valid API key per client address, as COUNT/DURATION; past "
        "it every /v1 request from that address gets 429 (key guessing slows down).",
        kind="cap",
    )
    hook_rate: FrequencyCap | None = _setting(
        None,
        "/hooks requests per client address, as COUNT/DURATION (429 past it); off (the "
        "default): providers send bursts from a few addresses and some never retry.",
        kind="cap",
    )
    hook_failure_rate: FrequencyCap | None = _setting(
        FrequencyCap(60, timedelta(minutes=1)),
        "/hooks requests refused (bad signature or credentials, unknown topic, malformed) "
        "per client address, as COUNT/DURATION; past it every /hooks request from that "
        "address gets 429 until the bucket refills; off disables.",
        kind="cap",
    )
    smtp_connection_rate: FrequencyCap | None = _setting(
        FrequencyCap(60, timedelta(minutes=1)),
        "SMTP connections per client address, as COUNT/DURATION (421 past it); off disables.",
        kind="cap",
    )
    smtp_message_rate: FrequencyCap | None = _setting(
        FrequencyCap(300, timedelta(minutes=1)),
        "SMTP messages (MAIL commands) per client address, as COUNT/DURATION (452 past it, "
        "so the sender retries later); off disables.",
        kind="cap",
    )
    smtp_session_limit: timedelta = _setting(
        timedelta(minutes=10),
        "Longest SMTP session, however busy (421 and close after it; a transaction under "
        "way is answered first).",
        kind="duration",
    )
    exception_budget: int = _setting(
        256 * 1024 * 1024,
        "Bytes of mail all open exception items may hold together; past it a message that "
        "would open another is answered 452 (retried later) and an error is logged.",
        kind="int",
    )
    exception_open_retention: timedelta = _setting(
        timedelta(days=30),
        "How long an open (undecided) exception keeps its mail; purge then erases the mail, "
        "keeps the item open with its summary.",
        kind="duration",
    )
    smtp_tls_cert: str = _setting(
        "", "PEM certificate chain for STARTTLS on the SMTP sidecar; empty: no STARTTLS."
    )
    smtp_tls_key: str = _setting("", "PEM private key for SMTP_TLS_CERT (reread on SIGHUP).")
    # -- scale (issue 26) ------------------------------------------------------------
    pool_size: int = _setting(
        8,
        "Most PostgreSQL connections one process (a sidecar, a CLI run) holds; several "
        "sidecars on one database need PROCESSES x POOL_SIZE below its max_connections.",
        kind="int",
    )
    reuse_port: bool = _setting(
        False,
        "Let several serve processes on one host listen on the same HTTP and SMTP ports "
        "(SO_REUSEPORT, Linux: the kernel spreads connections across them).",
        kind="bool",
    )
    filter_memory: int = _setting(
        200,
        "MiB that filter may hold of the store's rules (or, against a larger store, of the "
        "list rows it asks about together) and of the people already seen; past it, it "
        "asks the store per window and keeps who was seen on disk.",
        kind="int",
    )
    # -- issue 23: outgoing webhooks of the change feed (Standard Webhooks) ---------------
    events_webhook_url: tuple[str, ...] = _factory(
        tuple,
        "URLs (http or https, comma-separated) that `serve` POSTs every change to, signed "
        "as Standard Webhooks specifies; empty: no webhooks.",
        kind="list",
    )
    events_webhook_secret: Secret | None = _setting(
        None,
        "Signing secret of the change webhooks: whsec_ and the base64 of 24 to 64 random "
        "bytes (the form Standard Webhooks libraries take); needed with EVENTS_WEBHOOK_URL.",
        kind="secret",
        shown="(none)",
    )
    events_webhook_timeout: timedelta = _setting(
        timedelta(seconds=10),
        "How long one webhook delivery may take before it counts as failed.",
        kind="duration",
    )
    events_webhook_max_backoff: timedelta = _setting(
        timedelta(minutes=5),
        "Longest wait between retries of a failed webhook delivery (the wait doubles from "
        "1 s up to this).",
        kind="duration",
    )
    events_webhook_batch: int = _setting(
        100,
        "Most changes one webhook delivery carries. 1: each change alone, as "
        '{"type": "prefcenter.KIND", "data": CHANGE}; more: {"type": "prefcenter.changes", '
        '"data": {"events": [CHANGE, ...]}}, up to this many in commit order (1 to 1000).',
        kind="int",
    )
    events_webhook_give_up: timedelta = _setting(
        timedelta(days=3),
        "A delivery still failing this long after its change is dead-lettered (shown by "
        "`report` and /metrics; `webhooks retry` queues it again).",
        kind="duration",
    )

    @property
    def var_path(self) -> Path:
        """Where the development keys are: ``var_dir``, else beside a SQLite store.

        An existing store made before keys lived beside it (keys in ``var`` of the
        working directory, none beside the file) keeps using ``var``.
        """
        if self.var_dir:
            return Path(self.var_dir)
        if not self.database.startswith("sqlite:///"):
            return Path("var")
        store = Path(self.database[len("sqlite:///") :])
        beside = store.parent
        legacy = Path("var")
        if (beside / "pepper").exists() or not store.exists():
            return beside
        return legacy if (legacy / "pepper").exists() else beside

    def dev_key_file(self, name: str) -> Path | None:
        """The development key file ``secret`` or ``pepper`` was read from, if it was."""
        path = self.var_path / name
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        value = self.pepper if name == "pepper" else (self.secret[-1] if self.secret else None)
        return path if value is not None and value.reveal() == text else None

    def signing_keys(self) -> list[bytes]:
        """The token keys as bytes, oldest first (the last one signs)."""
        return [s.reveal().encode() for s in self.secret]

    def pepper_bytes(self) -> bytes:
        """The identity-hash pepper as bytes."""
        if self.pepper is None:
            raise ConfigError(
                "Setting PEPPER is not set; set PREFCENTER_PEPPER or let "
                "load_settings generate one for development.",
                name="pepper",
            )
        return self.pepper.reveal().encode()


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One row of the settings table: what docs and ``--help`` show."""

    name: str
    env: str
    kind: str
    default: str
    help: str


def settings_table() -> list[SettingSpec]:
    """Every setting with its environment variable, type, default and help."""
    rows = []
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        rows.append(
            SettingSpec(
                name=f.name,
                env=ENV_PREFIX + f.name.upper(),
                kind=f.metadata["kind"],
                default=f.metadata["shown"] or show(getattr(defaults, f.name), f.metadata["kind"]),
                help=f.metadata["help"],
            )
        )
    return rows
