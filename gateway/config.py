"""Loading and validating ``commgate.toml``: one file per installation, checked at start-up.

Every problem becomes a :class:`ConfigError` whose message is one line naming the key and what
is expected, so an operator can fix it without reading a traceback. Secrets are never required
inline: the database password comes from an environment variable or a file named here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import URL, make_url

from gateway.core import passwords
from gateway.core.errors import ConfigError, ShippedFileMissing
from gateway.core.shipped import EXAMPLE_CONFIG, shipped_file

CONFIG_NAME = "commgate.toml"
HOME_ENV = "COMMGATE_HOME"
DATABASE_URL_ENV = "COMMGATE_DATABASE_URL"
# The URL schemes commgate runs on, and the SQLAlchemy driver each one means.
DATABASE_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                    "postgresql+psycopg": "postgresql+psycopg", "sqlite": "sqlite+pysqlite",
                    "sqlite+pysqlite": "sqlite+pysqlite"}
DATABASE_URL_FORMS = "postgresql://USER@HOST/DATABASE or sqlite:///PATH"
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# The tag shapes of earlier systems that threading knows out of the box: "[ABC-12345]",
# "[Ticket#12345]", "(Case 12345)" / "[Fall 12345]" in the 11 languages, "[#12345]" and
# "[rt.example.com #123]" (Freshdesk- and RT-style helpdesks), Salesforce's "ref:_00D…:ref"
# (the same list is gateway.processing.threader's default).
DEFAULT_FOREIGN_TAGS = (
    r"\[\s*[A-Za-z][A-Za-z0-9]{1,15}\s*-\s*\d{1,12}\s*\]",
    r"\[\s*[A-Za-z][A-Za-z0-9]{1,15}\s*#\s*\d{1,20}\s*\]",
    r"[\[(]\s*(?:Case|Ticket|Fall|Vorgang|Dossier|Demande|Caso|Expediente|Pratica|Zaak|Melding"
    r"|Chamado|Sprawa|Zgłoszenie|Ärende|Sag|Případ|Požadavek)\s*[#:]?\s*\d{3,20}\s*[\])]",
    r"\[\s*#\s*\d{3,12}\s*\]",
    r"\[\s*[A-Za-z0-9][A-Za-z0-9.-]{1,63}\s+#\s*\d{1,12}\s*\]",
    r"ref:_[0-9A-Za-z]{5,}\.?_?[0-9A-Za-z]{5,}:ref",
)


def _one_line_text(value: str) -> str:
    """Text that goes into a mail header: one line of printable characters, 200 at most."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > 200:
        raise ValueError("must be one line of at most 200 printable characters")
    return value.strip()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AliasConfig(_Section):
    """A controlled shared address (sales@, support@ ...) that commgate files mail for."""

    address: str
    queue: str = ""
    owner_role: str = "staff"
    # The category a human message to this alias most likely is when no rule decides it
    # (sales@ -> enquiry, returns@ -> property); such a message still waits in the triage
    # queue. "" keeps the classifier's fallback ("other", or "enquiry" for a question).
    prior: Literal["", "enquiry", "order", "feedback", "property", "other"] = ""

    @field_validator("address")
    @classmethod
    def _is_address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"expected an e-mail address like sales@example.com, got {value!r}")
        return value.lower()

    @property
    def queue_name(self) -> str:
        return self.queue or self.address.split("@", 1)[0]


class DatabaseConfig(_Section):
    url: str = ""
    password_env: str = ""
    password_file: str = ""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value:
            database_url(value)
        return value


class ArchiveConfig(_Section):
    path: str = "archive"
    # Ed25519 private key that signs Merkle checkpoints; must live outside the archive folder.
    # Its public key is the same path + ".pub" (what an auditor gets).
    checkpoint_key: str = ""
    # The daemon signs a checkpoint this often when the ledger grew (0: never), and re-verifies
    # the whole archive this often (0: never); each run is logged.
    checkpoint_minutes: Annotated[float, Field(ge=0)] = 60.0
    verify_hours: Annotated[float, Field(ge=0)] = 24.0


class DropFolderConfig(_Section):
    """A Maildir or a plain folder of ``.eml`` files that the daemon empties into the archive."""

    path: str
    alias: str = ""
    settle_seconds: Annotated[float, Field(ge=0)] = 2.0
    rescan_seconds: Annotated[float, Field(gt=0)] = 30.0


class SmtpConfig(_Section):
    """The SMTP/LMTP intake the company's mail server delivers the aliases to."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 2525
    protocol: Literal["smtp", "lmtp"] = "smtp"
    hostname: str = ""
    max_message_bytes: Annotated[int, Field(ge=1024)] = 50 * 1024 * 1024
    tls_cert_file: str = ""
    tls_key_file: str = ""
    require_starttls: bool = False
    # Limits that keep a flood of connections or of large messages from starving real mail:
    # a connection beyond either session limit gets 421 4.3.2 and is closed at once.
    max_sessions: Annotated[int, Field(ge=1)] = 100
    max_sessions_per_peer: Annotated[int, Field(ge=1)] = 20  # per client IP address
    # Message bytes all sessions together may hold in memory (a SIZE= in MAIL FROM is reserved
    # up front); beyond it the sender gets 452 4.3.1 and retries.
    max_bytes_in_flight: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    # Before DATA: how long a client may take to send each command. During DATA: how long the
    # data may stall (RFC 5321 4.5.3.2.6); a steady slow transfer is never cut off.
    command_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    data_timeout_seconds: Annotated[float, Field(gt=0)] = 180.0


class ImapMailboxConfig(_Section):
    """One IMAP folder to empty into the archive (Exchange, Dovecot, Gmail ...)."""

    name: str
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    user: str
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    alias: str = ""
    after_archive: Literal["move", "flag"] = "move"
    move_to: str = "commgate-archived"
    flag: str = "$CommgateArchived"
    idle: bool = True
    poll_seconds: Annotated[float, Field(gt=0)] = 60.0
    ca_file: str = ""


class WorkerConfig(_Section):
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    poll_seconds: Annotated[float, Field(gt=0)] = 1.0
    # Worker processes that parse, classify and file (gateway/daemon/workers.py); None: one
    # per core; 0: a thread of the daemon itself (one core; embedded use and small tests).
    processes: Annotated[int | None, Field(ge=0, le=256)] = None
    # How long a worker holds a claimed batch on SQLite before another may take it (the daemon
    # frees a dead worker's batch at once; this covers a hung worker or a killed daemon).
    lease_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    # The niceness of the daemon's worker processes (and Linux's SCHED_BATCH policy when above
    # 0): on a busy host the intakes' event loop, which a sending server waits on for its 250,
    # gets a core before filing does (gateway/daemon/workers.py). 0: the daemon's own priority.
    nice: Annotated[int, Field(ge=0, le=19)] = 10
    # Keep the fork server the workers are forked from running under `commgate run` (true),
    # or stop it once every worker runs (false): about 40 MB less, and a worker restarted
    # after a crash waits for a new fork server (about 4 s of CPU; gateway/daemon/workers.py).
    keep_fork_server: bool = False

    @property
    def process_count(self) -> int:
        """The worker processes to run: ``processes``, or the number of cores."""
        return (os.cpu_count() or 1) if self.processes is None else self.processes


class IdentifierPattern(_Section):
    kind: Literal["po", "rma", "quote", "serial", "drawing"]
    pattern: str


class ClassifierConfig(_Section):
    rules_path: str = ""
    # An installation's own rules folder (<lang>/<category>.toml, <lang>/concepts.toml), added
    # to the rules of rules_path; checked (structure and examples) when the rules are loaded.
    extra_rules: str = ""
    identifier_patterns: list[IdentifierPattern] = []
    # A customer's message classified with a confidence below this waits for a person in
    # 'commgate cases list --triage', as does every message no rule decided (0: only those).
    triage_below: Annotated[float, Field(ge=0, le=1)] = 0.35


class ThreadingConfig(_Section):
    free_mail_domains: list[str] = [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "icloud.com", "gmx.de", "gmx.net", "web.de", "t-online.de", "aol.com", "proton.me",
    ]
    # Platforms that send for many unrelated organisations from addresses under one
    # organisational domain (helpdesks, procurement networks, mail groups, Microsoft 365
    # tenants' default domains): like free mail, they name no organisation, so two of their
    # tenants are never taken for colleagues of one customer (only the same address is).
    shared_domains: list[str] = [
        "zendesk.com", "freshdesk.com", "freshservice.com", "atlassian.net", "service-now.com",
        "servicenowservices.com", "zohodesk.com", "zohodesk.eu", "helpscout.net",
        "helpscoutapp.com", "kayako.com", "intercom-mail.com", "ariba.com", "coupahost.com",
        "jaggaer.com", "tradeshift.com", "salesforce.com", "force.com", "googlegroups.com",
        "groups.io", "onmicrosoft.com", "typeform.com", "jotform.com", "wufoo.com",
    ]
    # The HMAC key that signs the case token in our outbound Message-IDs (never in this file).
    signing_key_env: str = ""
    signing_key_file: str = ""
    # Last-resort threading by normalised subject from the same correspondent, within this
    # many days (0: off); never for subjects that say nothing on their own.
    subject_window_days: Annotated[float, Field(ge=0)] = 14.0
    generic_subjects: list[str] = [
        "question", "questions", "order", "enquiry", "inquiry", "request", "hello", "hi",
        "info", "information", "help", "quote", "quotation", "urgent", "complaint", "feedback",
        "thanks", "thank you", "invoice", "(no subject)", "no subject", "",
    ]
    # Case tags of earlier systems (an old helpdesk, the staff's own numbering), as regular
    # expressions over the subject. A tag seen on a message threaded by its headers (or that
    # opened a case) becomes an alias of that case; a participant's later mail carrying it
    # joins the case, a stranger's gets a new case linked as a possible follow-up.
    foreign_tags: list[str] = list(DEFAULT_FOREIGN_TAGS)

    @field_validator("foreign_tags")
    @classmethod
    def _are_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
            if compiled.match(""):
                raise ValueError(f"{pattern!r} matches an empty subject; a tag needs text")
        return value


class TargetConfig(_Section):
    """Response targets for cases of one alias and/or category ("" matches any)."""

    alias: str = ""
    category: str = ""
    owner_role: str = ""
    first_response_hours: Annotated[float, Field(gt=0)] | None = None
    resolution_hours: Annotated[float, Field(gt=0)] | None = None


class LifecycleConfig(_Section):
    """Who owns which cases, how fast they must be answered, and where overdue cases go."""

    targets: list[TargetConfig] = []
    # Role name -> address that receives escalations for that role.
    role_addresses: dict[str, str] = {}
    escalate_every_minutes: Annotated[float, Field(gt=0)] = 5.0


# The roles of web and command-line accounts (gateway.db.users); an approver holds one.
USER_ROLES = ("staff", "reviewer", "compliance", "admin")
# What a staff reply can be besides an answer (issue 15, non-happy-path mail): the kinds the
# [approval] matrix may hold for a second person. ``reply --kind`` or the template names one.
REPLY_KINDS = ("delay", "defect", "incident", "complaint-response", "scope-change-confirmation")
# The case states that make any reply on the case need approval when the matrix names them:
# a complaint (feedback classified as one), a scope change awaiting review, a property
# incident (a pending incident review, or an item lost or damaged).
APPROVAL_STATES = ("complaint", "scope-change-pending", "property-incident")


class ApprovalConfig(_Section):
    """Four-eyes on non-happy-path mail (docs/approval.md): which replies are held until a
    second person of which role approves them, and when a waiting one is escalated."""

    # Reply kind -> the role that must approve it, e.g. { delay = "reviewer" }.
    kinds: dict[str, str] = {}
    # Case state -> the role that must approve any reply on a case in that state.
    states: dict[str, str] = {}
    # A reply waiting this long is mailed to lifecycle.role_addresses[role], again after each
    # further interval while it waits (the daemon looks every lifecycle.escalate_every_minutes).
    escalate_after_minutes: Annotated[float, Field(gt=0)] = 240.0

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        return _role_matrix(value, REPLY_KINDS, "reply kind")

    @field_validator("states")
    @classmethod
    def _known_states(cls, value: dict[str, str]) -> dict[str, str]:
        return _role_matrix(value, APPROVAL_STATES, "case state")

    def role_for(self, reply_kind: str, states: list[str]) -> tuple[str, list[str]] | None:
        """The role that must approve a reply of ``reply_kind`` on a case in ``states`` and the
        matrix entries that say so; None when it goes out at once. The kind's role wins over
        a state's, and states count in the order configured."""
        reasons = ([f"kind:{reply_kind}"] if reply_kind in self.kinds else [])
        reasons += [f"state:{s}" for s in self.states if s in states]
        if not reasons:
            return None
        first = reasons[0].split(":", 1)
        role = self.kinds[first[1]] if first[0] == "kind" else self.states[first[1]]
        return role, reasons


def _role_matrix(value: dict[str, str], known: tuple[str, ...], what: str) -> dict[str, str]:
    for key, role in value.items():
        if key not in known:
            raise ValueError(f"unknown {what} {key!r}; expected one of {', '.join(known)}")
        if role not in USER_ROLES:
            raise ValueError(f"{key} = {role!r} is not an account role; expected one of "
                             f"{', '.join(USER_ROLES)}")
    return value


class RelayConfig(_Section):
    """The smarthost that outbound mail is handed to (STARTTLS and AUTH when configured)."""

    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    password_env: str = ""
    password_file: str = ""
    ca_file: str = ""
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0


class OutboundConfig(_Section):
    """Acknowledgements and staff replies: composed here, archived, then relayed."""

    enabled: bool = False
    relay: RelayConfig = RelayConfig()
    # Domain used in our Message-IDs (default: the first alias's domain).
    message_id_domain: str = ""
    # The ${company} of reply templates (default: the Message-ID domain, else the alias's).
    company_name: str = ""
    # Display name on the From line of every mail we send ("Acme Fluidics"), and per alias
    # address ({"sales@acme.example" = "Acme Fluidics Sales"}); none: the bare address.
    from_name: str = ""
    from_names: dict[str, str] = {}
    # Aliases (addresses) that acknowledge new cases, with the template name to use.
    acknowledge: dict[str, str] = {}
    ack_per_sender_per_day: Annotated[int, Field(ge=0)] = 3
    # authserv-ids (RFC 8601) of our own MX hosts whose Authentication-Results we believe; only
    # those headers say whether a sender was authenticated (gateway/workflows/outbound/loops.py,
    # backscatter).
    trusted_authserv_ids: list[str] = []
    max_attempts: Annotated[int, Field(ge=1)] = 10
    retry_base_seconds: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _authserv_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[!-~]+", item) or ";" in item or '"' in item:
                raise ValueError(f"expected host names such as \"mx.example.com\" (the "
                                 f"authserv-id your MX writes in Authentication-Results), "
                                 f"got {item!r}")
        return [item.lower() for item in value]

    @field_validator("company_name", "from_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return _one_line_text(value)

    @field_validator("from_names")
    @classmethod
    def _names_per_alias(cls, value: dict[str, str]) -> dict[str, str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"expected alias addresses as keys, got {address!r}")
        return {address.lower(): _one_line_text(name) for address, name in value.items()}

    def display_name(self, alias: str) -> str:
        """The From display name for mail sent from ``alias``."""
        return self.from_names.get(alias.lower(), self.from_name)


class RetentionRule(_Section):
    """How long mail of one alias and/or category ("" matches any) is kept after receipt."""

    alias: str = ""
    category: str = ""
    days: Annotated[int, Field(ge=1)]


class RetentionConfig(_Section):
    """Retention is fixed per message when it is filed (the most specific rule wins) and can
    only ever be extended; expired content is removed unless a legal hold covers it."""

    default_days: Annotated[int, Field(ge=1)] = 3650
    rules: list[RetentionRule] = []
    # How often the daemon runs the expiry job (0: never; 'commgate retention expire' runs it).
    expire_every_hours: Annotated[float, Field(ge=0)] = 0.0


# Which published template confirms a review decision to the customer, unless the reviewer
# names another: "<review kind>/<decision>" -> template name.
REVIEW_TEMPLATE_DEFAULTS = {
    "scope-change/approved": "scope-change-approved",
    "scope-change/rejected": "scope-change-rejected",
    "property-incident/approved": "property-incident-report",
    "property-incident/rejected": "property-incident-report",
}
# What a template may be called (gateway.workflows.templates enforces the same rule).
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ReviewsConfig(_Section):
    """Review decisions: the templates that confirm them (an installation's own names, its own
    language), over the defaults in REVIEW_TEMPLATE_DEFAULTS."""

    templates: dict[str, str] = {}

    @field_validator("templates")
    @classmethod
    def _known_decisions(cls, value: dict[str, str]) -> dict[str, str]:
        for decision, name in value.items():
            if decision not in REVIEW_TEMPLATE_DEFAULTS:
                raise ValueError(f"unknown decision {decision!r}; expected one of "
                                 f"{', '.join(REVIEW_TEMPLATE_DEFAULTS)}")
            if not TEMPLATE_NAME.match(name):
                raise ValueError(f"{name!r} is not a template name (lower-case letters, "
                                 "digits, '.', '_' and '-', at most 64)")
        return value

    def template_for(self, kind: str, decision: str) -> str:
        key = f"{kind}/{decision}"
        return self.templates.get(key) or REVIEW_TEMPLATE_DEFAULTS[key]


class FeedbackConfig(_Section):
    """Customer feedback (ISO 9001 9.1.2): how often it is reviewed in a recorded meeting
    ('commgate feedback review'); a longer gap shows in the review cadence."""

    review_every_days: Annotated[int, Field(ge=1, le=366)] = 90


_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as host and port; ValueError says the form."""
    host, sep, port = value.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(
            ch.isspace() or ch in "/[]" for ch in host):
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {value!r}")
    return host, int(port)


class WebConfig(_Section):
    """The staff web application (docs/web.md): served by 'commgate web', and by 'commgate
    run' when ``listen`` is set. Its session key is made at first start in the home folder."""

    listen: str = ""
    session_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 480.0
    # Send the session cookie only over HTTPS (always on when the request came over HTTPS).
    secure_cookies: bool = False
    # Reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto are believed and,
    # when trusted_proxy_header is set, whose header names the signed-in person (single sign-on).
    trusted_proxies: list[str] = []
    trusted_proxy_header: str = ""
    # Failed sign-ins allowed per user name and per client address within the window.
    login_failures_per_user: Annotated[int, Field(ge=1)] = 5
    login_failures_per_address: Annotated[int, Field(ge=1)] = 20
    login_window_minutes: Annotated[float, Field(gt=0)] = 15.0
    # The argon2 parameters of new hashes, by argon2-cffi profile (gateway/core/passwords.py);
    # stored hashes of other parameters are rehashed at the next sign-in.
    password_hashing: str = passwords.DEFAULT

    @field_validator("password_hashing")
    @classmethod
    def _is_profile(cls, value: str) -> str:
        return passwords.check_profile(value)

    @field_validator("listen")
    @classmethod
    def _is_listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _are_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("trusted_proxy_header")
    @classmethod
    def _is_header(cls, value: str) -> str:
        if value and not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value


class MetricsConfig(_Section):
    """The Prometheus endpoint of 'commgate run' (docs/operations.md, "Metrics and logs"):
    /metrics, /healthz and /readyz on ``listen``; empty: not served."""

    listen: str = ""

    @field_validator("listen")
    @classmethod
    def _is_listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value


class CliConfig(_Section):
    """Who the command line acts as (docs/ledger-events.md, "Who acted"). An OS user linked to
    a staff user (``commgate users link``) always acts as that user; ``require_linked_os_user``
    refuses the staff actions of an OS user linked to nobody (its ``--as`` would otherwise be
    taken as the staff identity, recorded as a claim beside the OS user)."""

    require_linked_os_user: bool = False


class Config(_Section):
    """The whole installation. Paths are relative to the home folder unless absolute."""

    case_prefix: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$")] = "CASE"
    # The daemon's log level (commands log warnings only, unless -v or --log-level).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # This node's name in every receipt it writes (which node took a message); empty: the
    # machine's host name. Two nodes on one host need names of their own (docs/two-nodes.md).
    node_name: Annotated[str, Field(max_length=64)] = ""
    # How log lines look on stderr: text, json (one object per line) or journal (systemd
    # priority prefixes, for a unit whose stderr is the journal): gateway/core/logs.py.
    log_format: Literal["text", "json", "journal"] = "text"
    aliases: list[AliasConfig] = []
    database: DatabaseConfig = DatabaseConfig()
    archive: ArchiveConfig = ArchiveConfig()
    dropfolders: list[DropFolderConfig] = []
    smtp: SmtpConfig = SmtpConfig()
    imap: list[ImapMailboxConfig] = []
    worker: WorkerConfig = WorkerConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    threading: ThreadingConfig = ThreadingConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    approval: ApprovalConfig = ApprovalConfig()
    outbound: OutboundConfig = OutboundConfig()
    reviews: ReviewsConfig = ReviewsConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    retention: RetentionConfig = RetentionConfig()
    web: WebConfig = WebConfig()
    metrics: MetricsConfig = MetricsConfig()
    cli: CliConfig = CliConfig()


class Settings:
    """A validated :class:`Config` bound to its home folder, with every path resolved."""

    def __init__(self, home: Path, config: Config) -> None:
        self.home = home
        self.config = config

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def archive_path(self) -> Path:
        return self.resolve(self.config.archive.path)

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.home / candidate

    @property
    def node_name(self) -> str:
        """Which node this is, as receipts record it (``node_name``, else the host name)."""
        return self.config.node_name or socket.gethostname()

    @property
    def alias_addresses(self) -> list[str]:
        return [alias.address for alias in self.config.aliases]

    def prior_for(self, alias: str) -> str:
        """The queue prior of an alias ("" when it has none or is not configured)."""
        wanted = alias.lower()
        return next((a.prior for a in self.config.aliases if a.address == wanted), "")

    @property
    def default_alias(self) -> str:
        return self.alias_addresses[0] if self.config.aliases else ""

    def database_url(self) -> URL:
        """The URL to connect to: environment override, config, or SQLite in the home."""
        raw = os.environ.get(DATABASE_URL_ENV) or self.config.database.url
        if not raw:
            return URL.create("sqlite+pysqlite", database=str(self.home / "commgate.db"))
        where = DATABASE_URL_ENV if os.environ.get(DATABASE_URL_ENV) else "database.url"
        try:
            url = database_url(raw)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        password = self._database_password()
        if password is not None:
            url = url.set(password=password)
        return url

    def secret(self, key: str, env: str, file: str, field: str = "password") -> str:
        """A secret named by environment variable or file; ``key`` and ``field`` name it in
        errors (``database.password_env``, ``threading.signing_key_file`` ...)."""
        if env:
            value = os.environ.get(env)
            if value is None:
                raise ConfigError(f"{key}.{field}_env: environment variable {env} is not set")
            return value
        if file:
            path = self.resolve(file)
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{key}.{field}_file: cannot read {path} ({exc.strerror})"
                                  ) from exc
        raise ConfigError(f"{key}: no {field}_env or {field}_file is set")

    def checkpoint_key_path(self) -> Path | None:
        """The key that signs checkpoints, loaded once to prove it is usable (None when unset).

        The daemon checks it at start and on SIGHUP instead of failing at its first scheduled
        checkpoint; loading the configuration does not, so 'archive keygen' can create it.
        """
        from archive import CheckpointError
        from archive.checkpoints import load_private_key

        key = self.config.archive.checkpoint_key
        if not key:
            return None
        path = self.resolve(key)
        if not path.is_file():
            raise ConfigError(f"archive.checkpoint_key: {path} does not exist; create it with "
                              f"'commgate archive keygen {path}' or remove the setting")
        try:
            load_private_key(path, self.archive_path)
        except CheckpointError as exc:
            raise ConfigError(f"archive.checkpoint_key: {exc}") from None
        return path

    def _database_password(self) -> str | None:
        db = self.config.database
        if db.password_env or db.password_file:
            return self.secret("database", db.password_env, db.password_file)
        return None


def database_url(raw: str | URL) -> URL:
    """``raw`` as the URL of a database commgate runs on, with its driver made explicit.

    A ValueError names the accepted forms; its text never repeats ``raw``, which may hold a
    password.
    """
    try:
        url = make_url(raw)
    except Exception:
        raise ValueError(f"not a database URL (expected {DATABASE_URL_FORMS})") from None
    driver = DATABASE_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(f"unknown scheme '{url.drivername}://' (expected {DATABASE_URL_FORMS}; "
                         f"schemes: {', '.join(DATABASE_DRIVERS)})")
    return url.set(drivername=driver)


def find_home(cli_home: str | None) -> Path:
    home = cli_home or os.environ.get(HOME_ENV)
    if not home:
        raise ConfigError(f"no home folder: pass --home DIR or set {HOME_ENV}")
    return Path(home).expanduser().resolve()


def load_settings(home: Path) -> Settings:
    path = home / CONFIG_NAME
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found: create the home with 'commgate --home {home} init'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc})") from exc
    return Settings(home, parse_config(text, str(path)))


def parse_config(text: str, source: str = CONFIG_NAME) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None
    _check_cross_references(config, source)
    return config


def _check_cross_references(config: Config, source: str) -> None:
    addresses = [alias.address for alias in config.aliases]
    if len(set(addresses)) != len(addresses):
        raise ConfigError(f"{source}: aliases: an address is listed twice")
    for number, folder in enumerate(config.dropfolders):
        if folder.alias and folder.alias.lower() not in addresses:
            raise ConfigError(f"{source}: dropfolders[{number}].alias: {folder.alias!r} is not "
                              f"one of the configured aliases ({', '.join(addresses) or 'none'})")
    for number, box in enumerate(config.imap):
        if box.alias and box.alias.lower() not in addresses:
            raise ConfigError(f"{source}: imap[{number}].alias: {box.alias!r} is not one of "
                              f"the configured aliases ({', '.join(addresses) or 'none'})")
        if not (box.password_env or box.password_file):
            raise ConfigError(f"{source}: imap[{number}]: set password_env or password_file "
                              f"(passwords are never kept in this file)")
    names = [box.name for box in config.imap]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: imap: two mailboxes share a name")
    smtp = config.smtp
    if bool(smtp.tls_cert_file) != bool(smtp.tls_key_file):
        raise ConfigError(f"{source}: smtp: tls_cert_file and tls_key_file go together")
    if smtp.require_starttls and not smtp.tls_cert_file:
        raise ConfigError(f"{source}: smtp.require_starttls needs tls_cert_file and tls_key_file")
    if smtp.max_bytes_in_flight < smtp.max_message_bytes:
        raise ConfigError(f"{source}: smtp.max_bytes_in_flight must be at least "
                          f"max_message_bytes ({smtp.max_message_bytes}), or a message of the "
                          f"largest size allowed could never be taken")
    if config.web.trusted_proxy_header and not config.web.trusted_proxies:
        raise ConfigError(f"{source}: web.trusted_proxy_header needs web.trusted_proxies (the "
                          f"proxy addresses whose header is believed)")
    for number, ident in enumerate(config.classifier.identifier_patterns):
        try:
            re.compile(ident.pattern)
        except re.error as exc:
            raise ConfigError(f"{source}: classifier.identifier_patterns[{number}].pattern: "
                              f"not a valid regular expression ({exc})") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem, as 'key: what is wrong (expected ...)' on one line."""
    error = exc.errors()[0]
    location = _dotted(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _dotted(error["loc"][:-1]) or "the top level"
        model = _model_at(error["loc"][:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        return f"unknown key '{error['loc'][-1]}' in {parent} (expected one of: {allowed})"
    if kind == "missing":
        return f"{location}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if kind == "value_error":
        return f"{location}: {message}"
    return f"{location}: {message} (got {_type_name(error.get('input'))})"


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner else annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}".lower()
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _shipped_at(name: str) -> list[str]:
    try:
        return [f"# this installation has it at {shipped_file(name)}"]
    except ShippedFileMissing:  # an incomplete installation: the command says so when run
        return []


def render_config(case_prefix: str, aliases: list[str]) -> str:
    """The commgate.toml that ``init`` writes: the essentials, pointing to the example file
    (by the command that prints it wherever commgate is installed, and by its path here)."""
    lines = [
        "# commgate configuration. Every option, with its default, is documented in the example",
        "# configuration that 'commgate config example' prints;",
        *_shipped_at(EXAMPLE_CONFIG),
        f'case_prefix = "{case_prefix}"',
        "",
        "[database]",
        '# url = "postgresql://commgate@db.example/commgate"  (default: SQLite in this folder)',
        "",
        "[archive]",
        'path = "archive"',
    ]
    for address in aliases:
        lines += ["", "[[aliases]]", f'address = "{address}"']
    return "\n".join(lines) + "\n"
