"""The validated configuration: frozen dataclasses built once by ``config.load()``.

Kept apart from ``config/`` (which parses and validates YAML) so stages can take the part of the
settings they need without importing the loader. Paths are absolute (resolved against the
directory of config.yaml). Secrets are never stored here, only the name of their variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .models import Source


@dataclass(frozen=True)
class OutputSettings:
    dir: Path = Path("public")
    base_url: str = "https://news.example.org/"
    title: str = "AI & Africa: diplomacy and tech"
    max_items: int = 200
    templates: Path = Path("templates")  # index.html.j2, the front page
    locale: str = ""  # the site's language (pages, dates, /subscribe); "": digest.locale


@dataclass(frozen=True)
class FetchSettings:
    interval: float = 1800.0  # seconds
    timeout: float = 20.0  # seconds, per request and total deadline per download
    max_bytes: int = 15 * 1024 * 1024  # after decompression
    workers: int = 100  # downloads in flight (or fetched bodies not yet consumed), at most
    per_host: int = 2
    lease: float = 300.0  # seconds a PostgreSQL fleet worker's claim on a source lasts unrenewed
    user_agent: str = "aggregator/1.0 (+https://news.example.org/about)"
    allow_private: tuple[str, ...] = ()  # CIDRs


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: write to the outbox
    port: int = 587
    security: str = "starttls"  # none | starttls | ssl
    username: str = ""
    password_env: str = "AGGREGATOR_SMTP_PASSWORD"
    timeout: float = 30.0
    connections: int = 4  # SMTP connections at once (each reused for many messages)
    rate_per_second: float = 0.0  # messages per second at most, over all connections (0: none)
    rate_per_hour: int = 0  # messages per hour at most, counting earlier runs' (0: none)
    retries: int = 3  # a 4xx-refused message is tried again this many times later in the run
    retry_delay: float = 60.0  # seconds before the first of those; doubles each time


@dataclass(frozen=True)
class DkimSettings:
    """DKIM signing of the digest (all three set, or none: off), for relays that do not sign."""

    selector: str = ""  # the DNS record is <selector>._domainkey.<domain>
    domain: str = ""  # d=, normally the From address's domain
    key_file: Path | None = None  # PEM RSA private key, without a passphrase

    @property
    def enabled(self) -> bool:
        return bool(self.selector and self.domain and self.key_file)


@dataclass(frozen=True)
class DigestSettings:
    schedule: str = "mon 07:00"  # weekly, in timezone
    timezone: str = "Africa/Casablanca"
    subject: str = "AI & Africa — {dates}"
    sender: str = "AI & Africa digest <digest@news.example.org>"  # config key: from
    recipients: tuple[str, ...] = ()  # merged with recipients_file
    recipients_file: Path | None = None
    unsubscribe_url: str = "https://news.example.org/unsubscribe"
    templates: Path = Path("templates")
    outbox: Path = Path("outbox")
    per_section: int = 10  # stories per section
    per_outlet: int = 3  # stories of one outlet per section, at most (0: no limit)
    grace: float = 2 * 86400.0  # seconds: published longer before the week's start is backlog
    locale: str = "en"  # language of the dates ("7 au 13 décembre 2026" with fr)
    intro: str = ""  # the editor's note above the sections (digest --intro FILE wins)
    include_other: bool = False  # a final "Other stories" section
    send_empty: bool = False  # send an issue even when the week had nothing
    list_id: str = ""  # the List-Id header's identifier; empty: from the sender's address
    # bounces+<subscriber uid>@domain is each message's envelope sender (VERP); empty: From
    bounce_address: str = ""
    bounce_threshold: int = 3  # permanent refusals (5xx) in a row before an address is bounced
    bounce_threshold_unknown: int = 1  # ... when the refusal says "unknown user" (5.1.x)
    welcome: bool = True  # a welcome mail after a subscription made on the web is confirmed
    contact: str = ""  # postal address or contact line at the foot of the joining mails
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)


@dataclass(frozen=True)
class TaggingSettings:
    threshold: float = 1.0  # score needed for a tag; see tagging/scorer.py


class DatabaseURL(str):
    """A PostgreSQL ``database:`` (``postgresql://user@host/db``). The password is never in it:
    ``password_env`` names the environment variable the store reads when it connects."""

    password_env: str

    def __new__(cls, url: str, password_env: str = "") -> DatabaseURL:
        self = super().__new__(cls, url)
        self.password_env = password_env
        return self


@dataclass(frozen=True)
class Settings:
    path: Path  # config.yaml
    database: Path | DatabaseURL  # a SQLite file, or a PostgreSQL URL
    sources: tuple[Source, ...]
    output: OutputSettings = field(default_factory=OutputSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    # topic key -> language -> terms
    topics: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    digest: DigestSettings = field(default_factory=DigestSettings)
    tagging: TaggingSettings = field(default_factory=TaggingSettings)
    log_level: str = "INFO"
    secret_env: str = "AGGREGATOR_SECRET"  # HMAC key for unsubscribe tokens
    database_password_env: str = "AGGREGATOR_DATABASE_PASSWORD"  # for a PostgreSQL database
    # Where each key was written in config.yaml, from the one parse of load(): "digest.from" ->
    # 12, "sources[2].url" -> 31 (check's warnings name the line; no key of its own).
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def site_locale(self) -> str:
        """The published site's language: ``output.locale``, else the digest's."""
        return self.output.locale or self.digest.locale
