"""config.load / config.problems: every problem kind names its file, line and key."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

from aggregator import config
from aggregator.config import loader, schema
from aggregator.errors import ConfigError
from aggregator.settings import (
    DigestSettings,
    FetchSettings,
    OutputSettings,
    SmtpSettings,
    TaggingSettings,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "config"

# A valid minimal config: two sources. Cases below append to it or replace it.
SOURCES = """\
sources:
  - name: Alpha
    url: https://alpha.example.org/feed
  - name: Beta
    url: https://beta.example.org/rss
"""


@pytest.fixture
def write(tmp_path, monkeypatch):
    """Write config.yaml in a temp dir that is also the CWD, so messages read `config.yaml:N:`."""
    monkeypatch.chdir(tmp_path)

    def _write(text: str, name: str = "config.yaml") -> str:
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return name

    return _write


# ------------------------------------------------------------------ the real configs


def test_real_config_loads_with_enough_sources():
    settings = config.load(ROOT / "config.yaml")
    assert len(settings.sources) >= 20
    assert all(s.language in {"fr", "en", "ar"} for s in settings.sources)
    assert all(s.url.startswith("https://") for s in settings.sources)
    by_name = {s.name: s for s in settings.sources}
    # tags: every item (Africa sections, pan-African outlets); prior: outlets that also publish
    # world news or global tech (labelled items of BBC Afrique: under half about Africa)
    for outlet in ("Jeune Afrique", "Le Monde Afrique", "BBC News Africa", "Disrupt Africa"):
        assert by_name[outlet].tags == ("africa",) and not by_name[outlet].prior, outlet
    for outlet in ("Maroc Diplomatique", "Hespress AR", "TechCabal", "BBC Afrique"):
        assert by_name[outlet].prior == ("africa",) and not by_name[outlet].tags, outlet
    for outlet in ("Foreign Policy", "Ars Technica", "The Verge"):
        assert not by_name[outlet].tags and not by_name[outlet].prior, outlet
    assert {"fr", "en", "ar"} <= {s.language for s in settings.sources}
    assert set(settings.topics["diplomacy"]) == {"en", "fr", "ar"}
    assert settings.digest.smtp.host == ""  # mail goes to the outbox
    assert settings.database == ROOT / "aggregator.db"
    assert settings.digest.timezone == "Africa/Casablanca"


def test_packaged_default_is_the_same_file_and_resolves_against_cwd(tmp_path, monkeypatch):
    assert config.PACKAGED_CONFIG.read_bytes() == (ROOT / "config.yaml").read_bytes()
    monkeypatch.chdir(tmp_path)
    settings = config.load(config.PACKAGED_CONFIG)
    assert settings.database == tmp_path / "aggregator.db"
    assert settings.output.dir == tmp_path / "public"
    assert settings.digest.outbox == tmp_path / "outbox"
    assert settings.digest.templates == config.PACKAGE_DIR / "templates"
    assert settings.output.templates == config.PACKAGE_DIR / "templates"


# ------------------------------------------------------------------ one problem of each kind

CASES = [
    pytest.param(
        "sources:\n  - name: A\n    url: [unclosed\nfetch:\n  timeout: 2s\n",
        "config.yaml:4: invalid YAML: expected ',' or ']', but got ':' (column 6);"
        " while parsing a flow sequence at line 3",
        id="invalid-yaml",
    ),
    pytest.param(
        "sources:\n  - name: A\n\turl: https://a.example.org/\n",
        "config.yaml:3: invalid YAML: found character '\\t' that cannot start any token (column 1)",
        id="tab-indent",
    ),
    pytest.param(
        SOURCES + "fetch:\n  timout: 20s\n",
        "config.yaml:7: fetch.timout: unknown key (did you mean 'timeout'?)",
        id="unknown-key-suggestion",
    ),
    pytest.param(
        "timeout: 20s\n" + SOURCES,
        "config.yaml:1: timeout: unknown key (did you mean 'fetch.timeout'?)",
        id="key-in-wrong-section",
    ),
    pytest.param(
        SOURCES + "digest:\n  sender: digest@example.org\n",
        "config.yaml:7: digest.sender: unknown key (did you mean 'from'?)",
        id="field-name-for-a-renamed-key",
    ),
    pytest.param(
        SOURCES + "path: /etc/config.yaml\n",
        "config.yaml:6: path: unknown key",
        id="field-that-is-no-key",
    ),
    pytest.param(
        SOURCES + "colour: blue\n",
        "config.yaml:6: colour: unknown key",
        id="unknown-key-no-suggestion",
    ),
    pytest.param(
        SOURCES + "fetch:\n  workers: many\n",
        "config.yaml:7: fetch.workers: expected a whole number, got text 'many'",
        id="wrong-type-int",
    ),
    pytest.param(
        SOURCES + "digest:\n  send_empty: 'yes please'\n",
        "config.yaml:7: digest.send_empty: expected true or false, got text 'yes please'",
        id="wrong-type-bool",
    ),
    pytest.param(
        SOURCES + "output: public\n",
        "config.yaml:6: output: expected a mapping, got text 'public'",
        id="wrong-type-section",
    ),
    pytest.param(
        "sources:\n  name: A\n  url: https://a.example.org/\n",
        "config.yaml:2: sources: expected a list of feeds, got a mapping",
        id="wrong-type-sources",
    ),
    pytest.param(
        SOURCES + "  - name: Gamma\n    url: ftp://gamma.example.org/feed\n",
        "config.yaml:7: sources[2].url: bad URL 'ftp://gamma.example.org/feed':"
        " must start with http:// or https://",
        id="bad-url-scheme",
    ),
    pytest.param(
        SOURCES + "  - name: Gamma\n    url: https:///feed\n",
        "config.yaml:7: sources[2].url: bad URL 'https:///feed': no host",
        id="bad-url-no-host",
    ),
    pytest.param(
        SOURCES + "output:\n  base_url: news.example.org\n",
        "config.yaml:7: output.base_url: bad URL 'news.example.org': must start with http:// or https://",
        id="bad-base-url",
    ),
    pytest.param(
        SOURCES + "  - name: alpha\n    url: https://gamma.example.org/\n",
        "config.yaml:6: sources[2].name: duplicate source name 'alpha' (first at line 2)",
        id="duplicate-name",
    ),
    pytest.param(
        SOURCES + "  - name: Gamma\n    url: HTTPS://Alpha.example.org/feed/\n",
        "config.yaml:7: sources[2].url: duplicate source URL 'HTTPS://Alpha.example.org/feed/'"
        " (first at line 3)",
        id="duplicate-url",
    ),
    pytest.param(
        SOURCES + "  - name: Gamma\n",
        "config.yaml:6: sources[2].url: missing (every source needs a name and a url)",
        id="source-missing-url",
    ),
    pytest.param(
        SOURCES + "    language: fra\n",
        "config.yaml:6: sources[1].language: bad language 'fra' (use a two-letter code such as fr, en, ar)",
        id="bad-language",
    ),
    pytest.param(
        SOURCES + "    tags: [Africa]\n",
        "config.yaml:6: sources[1].tags[0]: bad tag 'Africa' (use lower-case letters, digits and -)",
        id="bad-tag-slug",
    ),
    pytest.param(
        SOURCES + "    tags: africa\n",
        "config.yaml:6: sources[1].tags: expected a list of tag slugs such as [africa], got text 'africa'",
        id="tags-not-a-list",
    ),
    pytest.param(
        SOURCES + "    prior: [Africa]\n",
        "config.yaml:6: sources[1].prior[0]: bad tag 'Africa' (use lower-case letters, digits and -)",
        id="bad-prior-slug",
    ),
    pytest.param(
        SOURCES + "    prior: africa\n",
        "config.yaml:6: sources[1].prior: expected a list of tag slugs such as [africa], got text 'africa'",
        id="prior-not-a-list",
    ),
    pytest.param(
        SOURCES + "    prior: [ai, afirca]\n",
        "config.yaml:6: sources[1].prior[1]: unknown tag 'afirca' (did you mean 'africa'?)",
        id="unknown-prior-suggestion",
    ),
    pytest.param(
        SOURCES + "    tags:\n      - ai\n      - marocco\n",
        "config.yaml:8: sources[1].tags[1]: unknown tag 'marocco' (did you mean 'morocco'?)",
        id="unknown-tag-suggestion",
    ),
    pytest.param(
        SOURCES + "    tags: [tech]\n",
        "config.yaml:6: sources[1].tags[0]: unknown tag 'tech'"
        " (use ai, africa, an African country such as morocco, or a key of topics)",
        id="unknown-tag-no-suggestion",
    ),
    pytest.param(
        SOURCES + "    prior: [diplomacy]\ntopics:\n  diplomcy:\n    en: [embassy]\n",
        "config.yaml:6: sources[1].prior[0]: unknown tag 'diplomacy' (did you mean 'diplomcy'?)",
        id="unknown-tag-topic-misspelt",
    ),
    pytest.param(
        SOURCES + "fetch:\n  timeout: 20 seconds\n",
        "config.yaml:7: fetch.timeout: bad duration '20 seconds' (use 30s, 20m, 6h, 7d)",
        id="bad-duration",
    ),
    pytest.param(
        SOURCES + "fetch:\n  interval: 0\n",
        "config.yaml:7: fetch.interval: must be more than 0, got '0'",
        id="zero-duration",
    ),
    pytest.param(
        SOURCES + "fetch:\n  max_bytes: 15 megs\n",
        "config.yaml:7: fetch.max_bytes: bad size '15 megs' (use 512KiB, 15MiB, 1GB or a number of bytes)",
        id="bad-size",
    ),
    pytest.param(
        SOURCES + "digest:\n  timezone: Africa/Casablance\n",
        "config.yaml:7: digest.timezone: unknown time zone 'Africa/Casablance'"
        " (did you mean 'Africa/Casablanca'?)",
        id="unknown-timezone",
    ),
    pytest.param(
        SOURCES + "output:\n  locale: xx-nope\n",
        "config.yaml:7: output.locale: unknown locale 'xx-nope' (use a code such as en, fr, ar)",
        id="unknown-site-locale",
    ),
    pytest.param(
        SOURCES + "digest:\n  schedule: daily 07:00\n",
        "config.yaml:7: digest.schedule: bad schedule 'daily 07:00'"
        " (weekly: a weekday and a time, such as 'mon 07:00')",
        id="bad-schedule-day",
    ),
    pytest.param(
        SOURCES + "digest:\n  schedule: mon 24:00\n",
        "config.yaml:7: digest.schedule: bad schedule 'mon 24:00'"
        " (weekly: a weekday and a time, such as 'mon 07:00')",
        id="bad-schedule-time",
    ),
    pytest.param(
        SOURCES + "digest:\n  subject: 'week {weak}'\n",
        "config.yaml:7: digest.subject: unknown placeholder {weak} (allowed: {week}, {dates}, {count}, {top})",
        id="bad-subject-placeholder",
    ),
    pytest.param(
        SOURCES + "digest:\n  from: 'Digest <digest@>'\n",
        "config.yaml:7: digest.from: invalid email address 'Digest <digest@>'",
        id="bad-from",
    ),
    pytest.param(
        SOURCES + "digest:\n  recipients:\n    - ok@example.org\n    - reader.example.org\n",
        "config.yaml:9: digest.recipients[1]: invalid email address 'reader.example.org'",
        id="bad-recipient",
    ),
    pytest.param(
        SOURCES + "digest:\n  recipients_file: nowhere.csv\n",
        "config.yaml:7: digest.recipients_file: cannot read 'nowhere.csv': No such file or directory",
        id="missing-recipients-file",
    ),
    pytest.param(
        SOURCES + "fetch:\n  allow_private: [127.0.0.0/8, 10.0.0.300/8]\n",
        "config.yaml:7: fetch.allow_private[1]: invalid CIDR '10.0.0.300/8'"
        " (use e.g. 127.0.0.0/8 or ::1/128)",
        id="bad-cidr",
    ),
    pytest.param(
        SOURCES + "digest:\n  smtp:\n    security: tls\n",
        "config.yaml:8: digest.smtp.security: 'tls' is not one of none, starttls, ssl",
        id="bad-security",
    ),
    pytest.param(
        SOURCES + "digest:\n  smtp:\n    port: 99999\n",
        "config.yaml:8: digest.smtp.port: must be between 1 and 65535, got 99999",
        id="bad-port",
    ),
    pytest.param(
        SOURCES + "topics:\n  Diplomacy:\n    en: [embassy]\n",
        "config.yaml:7: topics.Diplomacy: bad topic key (use lower-case letters, digits and -,"
        " e.g. diplomacy)",
        id="topic-key-not-slug",
    ),
    pytest.param(
        SOURCES + "topics:\n  trade:\n    english: [tariff]\n",
        "config.yaml:8: topics.trade.english: bad language (use a two-letter code such as fr, en, ar)",
        id="topic-bad-language",
    ),
    pytest.param(
        SOURCES + "topics:\n  trade:\n    fr: tarif\n",
        "config.yaml:8: topics.trade.fr: expected a list of terms, got text 'tarif'",
        id="topic-terms-not-a-list",
    ),
    pytest.param(
        SOURCES + "topics:\n  trade: [tariff]\n",
        "config.yaml:7: topics.trade: expected a mapping, got a list",
        id="topic-not-a-mapping",
    ),
    pytest.param(
        "database: aggregator.db\n",
        "config.yaml:1: sources: missing: list at least one feed (name, url, language)",
        id="missing-sources",
    ),
    pytest.param(
        "database: aggregator.db\nsources: []\n",
        "config.yaml:2: sources: no sources: list at least one feed",
        id="empty-sources",
    ),
    pytest.param(
        "",
        "config.yaml:1: sources: missing: the file is empty; list at least one feed",
        id="empty-file",
    ),
    pytest.param(
        SOURCES + "fetch:\n  workers: 2\n  workers: 3\n",
        "config.yaml:8: fetch.workers: duplicate key (first at line 7)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        SOURCES + "tagging:\n  threshold: -1\n",
        "config.yaml:7: tagging.threshold: must be more than 0, got -1",
        id="bad-threshold",
    ),
    pytest.param(
        SOURCES + "log_level: LOUD\n",
        "config.yaml:6: log_level: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        id="bad-log-level",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_problem_kind_names_file_line_and_key(write, text, expected):
    path = write(text)
    assert config.problems(path) == [expected]
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.problems == [expected]
    assert info.value.exit_code == 2


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert config.problems(missing) == [f"{missing}: cannot read: No such file or directory"]


def test_not_utf8(write, tmp_path):
    (tmp_path / "config.yaml").write_bytes(b"sources:\n  - name: \xff\n")
    assert config.problems("config.yaml") == ["config.yaml:2: not UTF-8 text (byte 0xff)"]


def test_recipients_file_problems_point_into_that_file(write, tmp_path):
    shutil.copy(DATA / "recipients.csv", tmp_path)
    shutil.copy(DATA / "recipients.txt", tmp_path)
    for name, line, bad in (
        ("recipients.csv", 4, "not-an-address"),
        ("recipients.txt", 5, "karim@@example.ma"),
    ):
        path = write(SOURCES + f"digest:\n  recipients_file: {name}\n")
        assert config.problems(path) == [
            f"{name}:{line}: digest.recipients_file: invalid email address {bad!r}"
        ]


def test_recipients_are_merged_from_list_and_files(write, tmp_path):
    shutil.copy(DATA / "recipients.txt", tmp_path)
    (tmp_path / "recipients.txt").write_text(
        (DATA / "recipients.txt").read_text().replace("karim@@example.ma\n", "")
    )
    path = write(
        SOURCES + "digest:\n  recipients: [Layla@example.org, new@example.org]\n"
        "  recipients_file: recipients.txt\n"
    )
    digest = config.load(path).digest
    assert digest.recipients == ("Layla@example.org", "new@example.org", "Karim <karim@example.ma>")
    assert digest.recipients_file == tmp_path / "recipients.txt"


def test_csv_recipients_are_read_from_the_email_column(write, tmp_path):
    (tmp_path / "list.csv").write_text(
        (DATA / "recipients.csv").read_text().replace("Broken,not-an-address,ar\n", "")
    )
    digest = config.load(write(SOURCES + "digest:\n  recipients_file: list.csv\n")).digest
    assert digest.recipients == ("amina@example.org", "john.doe@example.org")  # AMINA deduplicated


# ------------------------------------------------------------------ several at once


def test_all_problems_are_reported_at_once_in_line_order(tmp_path, monkeypatch):
    shutil.copy(DATA / "broken.yaml", tmp_path)
    shutil.copy(DATA / "recipients.txt", tmp_path)
    monkeypatch.chdir(tmp_path)
    expected = [
        "broken.yaml:4: fetch.interval: bad duration '30 minutes' (use 30s, 20m, 6h, 7d)",
        "broken.yaml:6: fetch.per_host: must be between 1 and 1000, got 0",
        "broken.yaml:11: sources[1].name: duplicate source name 'Hespress FR' (first at line 8)",
        (
            "broken.yaml:12: sources[1].url: bad URL 'fr.hespress.com/feed':"
            " must start with http:// or https://"
        ),
        "broken.yaml:13: sources[1].langage: unknown key (did you mean 'language'?)",
        (
            "broken.yaml:15: digest.timezone: unknown time zone 'Morocco/Casablanca'"
            " (did you mean 'Africa/Casablanca'?)"
        ),
        "recipients.txt:5: digest.recipients_file: invalid email address 'karim@@example.ma'",
    ]
    assert config.problems("broken.yaml") == expected
    with pytest.raises(ConfigError) as info:
        config.load("broken.yaml")
    assert info.value.problems == expected
    assert str(info.value) == "\n".join(expected)


def test_site_locale_defaults_to_the_digests(write):
    """An operator who set the digest to French gets a French site, unless output.locale says."""
    assert config.load(write(SOURCES + "digest:\n  locale: fr\n")).site_locale == "fr"
    both = SOURCES + "output:\n  locale: ar\ndigest:\n  locale: fr\n"
    assert config.load(write(both)).site_locale == "ar"
    assert config.load(write(SOURCES)).site_locale == "en"


def test_path_prefix_is_the_path_as_given(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "conf.yaml"
    path.write_text(SOURCES + "log_level: LOUD\n")
    assert config.problems(path)[0].startswith(f"{path}:6: log_level: ")


# ------------------------------------------------------------------ defaults and values


def test_defaults_when_keys_are_absent(write, tmp_path):
    settings = config.load(write(SOURCES))
    assert settings.path == tmp_path / "config.yaml"
    assert settings.database == tmp_path / "aggregator.db"
    assert settings.output == OutputSettings(
        dir=tmp_path / "public", templates=tmp_path / "templates"
    )
    assert settings.fetch == FetchSettings()
    assert settings.digest == DigestSettings(
        templates=tmp_path / "templates", outbox=tmp_path / "outbox"
    )
    assert settings.digest.smtp == SmtpSettings()
    assert settings.tagging.threshold == 1.0
    assert settings.log_level == "INFO"
    assert settings.topics == {}
    assert [(s.name, s.language, s.tags, s.prior) for s in settings.sources] == [
        ("Alpha", None, (), ()),
        ("Beta", None, (), ()),
    ]


def test_relative_paths_resolve_against_the_config_directory(tmp_path, monkeypatch):
    conf = tmp_path / "etc" / "config.yaml"
    conf.parent.mkdir()
    conf.write_text(
        SOURCES + "database: data/agg.db\noutput:\n  dir: /srv/www\n  templates: site\n"
        "digest:\n  templates: tpl\n  outbox: ~/outbox\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = config.load("etc/config.yaml")
    assert settings.database == tmp_path / "etc" / "data" / "agg.db"
    assert settings.output.dir == Path("/srv/www")
    assert settings.output.templates == tmp_path / "etc" / "site"
    assert settings.digest.templates == tmp_path / "etc" / "tpl"
    assert settings.digest.outbox == Path.home() / "outbox"


def test_values_are_converted(write):
    text = (
        SOURCES
        + """\
    language: FR
    tags: [africa, ai, africa]
    prior: [morocco, diplomacy, morocco]
fetch:
  interval: 1h30m
  timeout: 45
  max_bytes: 512KiB
  allow_private: [127.0.0.1/8, "::1"]
topics:
  diplomacy:
    en: [embassy, "foreign minister"]
    ar: [سفارة]
digest:
  schedule: Monday 7:05
  from: "Digest <digest@example.org>"
  include_other: true
  per_section: 5
  smtp:
    host: smtp.example.org
    port: 465
    security: SSL
    timeout: 1m
tagging:
  threshold: 2
log_level: debug
"""
    )
    s = config.load(write(text))
    assert s.sources[1].language == "fr" and s.sources[1].tags == ("africa", "ai")
    assert s.sources[1].prior == ("morocco", "diplomacy") and s.sources[0].prior == ()
    assert (s.fetch.interval, s.fetch.timeout, s.fetch.max_bytes) == (5400.0, 45.0, 524288)
    assert s.fetch.allow_private == ("127.0.0.0/8", "::1/128")
    assert s.topics == {"diplomacy": {"en": ("embassy", "foreign minister"), "ar": ("سفارة",)}}
    assert s.digest.schedule == "mon 07:05"
    assert s.digest.include_other is True and s.digest.per_section == 5
    assert (
        s.digest.smtp.security == "ssl"
        and s.digest.smtp.port == 465
        and s.digest.smtp.timeout == 60.0
    )
    assert s.tagging.threshold == 2.0 and s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("20m", 1200),
        ("6h", 21600),
        ("7d", 604800),
        ("90", 90),
        (45, 45),
        ("1h30m", 5400),
        ("1.5h", 5400),
    ],
)
def test_parse_duration(text, seconds):
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512KiB", 524288),
        ("15MiB", 15 * 1024**2),
        ("1GB", 10**9),
        ("2kb", 2000),
        ("100", 100),
        (7, 7),
    ],
)
def test_parse_size(text, size):
    assert config.parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "20 seconds", "5w", "-1s", "s", "3m2", True])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        config.parse_duration(bad)


@pytest.mark.parametrize("bad", ["", "15 megs", "1.5.2MB", "-3", "MiB", False])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        config.parse_size(bad)


# ------------------------------------------------------------------ secrets


def test_smtp_password_comes_only_from_the_named_environment_variable(write, monkeypatch):
    path = write(SOURCES + "digest:\n  smtp:\n    password_env: MY_SMTP_PASS\n")
    monkeypatch.delenv("MY_SMTP_PASS", raising=False)
    settings = config.load(path)
    assert config.smtp_password(settings) is None
    monkeypatch.setenv("MY_SMTP_PASS", "s3cret-value")
    assert config.smtp_password(settings) == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_unsubscribe_secret_from_environment(write, monkeypatch):
    settings = config.load(write(SOURCES + "secret_env: UNSUB_KEY\n"))
    monkeypatch.setenv("UNSUB_KEY", "k" * 32)
    assert config.unsubscribe_secret(settings) == "k" * 32


def test_a_password_in_the_file_is_refused_and_never_echoed(write):
    path = write(
        SOURCES + "digest:\n  smtp:\n    password: hunter2\n    password_env: 'hunter2!'\n"
    )
    found = config.problems(path)
    assert found == [
        (
            "config.yaml:8: digest.smtp.password: unknown key (never put a password here: set "
            "password_env to the name of an environment variable that holds it)"
        ),
        (
            "config.yaml:9: digest.smtp.password_env: expected the NAME of an environment variable "
            "(letters, digits and _), not its value"
        ),
    ]
    assert not any("hunter2" in p for p in found)


# ------------------------------------------------------------------ which file


def test_default_config_path_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    assert config.default_config_path(None) == config.PACKAGED_CONFIG
    (tmp_path / "config.yaml").write_text(SOURCES)
    assert config.default_config_path(None) == Path("config.yaml")
    monkeypatch.setenv(config.CONFIG_ENV, "/etc/aggregator.yaml")
    assert config.default_config_path(None) == Path("/etc/aggregator.yaml")
    assert config.default_config_path("given.yaml") == Path("given.yaml")


# ------------------------------------------------------------------ keys come from the dataclasses


def test_the_keys_of_each_section_are_its_dataclass_fields():
    renamed = {("digest", "sender"): "from"}
    not_keys = {("", "path"), ("", "lines")}  # filled by the loader
    for section, cls in schema.SECTIONS.items():
        expected = {
            renamed.get((section, f.name), f.name)
            for f in dataclasses.fields(cls)
            if (section, f.name) not in not_keys
        }
        assert set(schema.keys(section)) == expected, section
    assert schema.keys("digest")["from"] == "sender"


def test_a_field_added_to_a_settings_class_is_a_key_read_by_its_type(write, monkeypatch):
    path = write(SOURCES + "tagging:\n  threshold: 2\n  bonus: true\n  label: ' hi '\n")
    assert config.problems(path) == [
        "config.yaml:8: tagging.bonus: unknown key",
        "config.yaml:9: tagging.label: unknown key",
    ]
    wider = dataclasses.make_dataclass(
        "WiderTagging",
        [("bonus", bool, False), ("label", str, "x"), ("limit", int, 3)],
        bases=(TaggingSettings,),
        frozen=True,
    )
    monkeypatch.setitem(schema.SECTIONS, "tagging", wider)
    tagging = config.load(path).tagging
    assert tagging == wider(threshold=2.0, bonus=True, label="hi", limit=3)
    path = write(SOURCES + "tagging:\n  bonus: maybe\n  limit: -1\n  lable: x\n")
    assert config.problems(path) == [
        "config.yaml:7: tagging.bonus: expected true or false, got text 'maybe'",
        "config.yaml:8: tagging.limit: must be at least 0, got -1",
        "config.yaml:9: tagging.lable: unknown key (did you mean 'label'?)",
    ]


def test_every_key_has_a_reader_and_a_field_of_another_type_is_refused():
    for section, cls in schema.SECTIONS.items():
        assert len(loader._plan(section, cls)) == len(schema.keys(section)), section
    odd = dataclasses.make_dataclass("Odd", [("ratio", complex, 1j)])
    with pytest.raises(TypeError, match=r"tagging\.ratio"):
        loader._plan("tagging", odd)


def test_output_templates_is_its_own_key(write, tmp_path):
    settings = config.load(write(SOURCES + "output:\n  templates: site\n"))
    assert settings.output.templates == tmp_path / "site"
    assert settings.digest.templates == tmp_path / "templates"
    assert config.problems(write(SOURCES + "templates: site\n")) == [
        "config.yaml:6: templates: unknown key (did you mean 'output.templates'?)"
    ]


def test_tags_and_prior_accept_every_tag_the_tagger_gives(write):
    text = (
        SOURCES
        + "    tags: [ai, africa, morocco, cote-d-ivoire, diplomacy]\n"
        + "    prior: [south-africa, diplomacy]\n"
        + "topics:\n  diplomacy:\n    en: [embassy]\n"
    )
    path = write(text)
    assert config.problems(path) == []
    beta = config.load(path).sources[1]
    assert beta.tags == ("ai", "africa", "morocco", "cote-d-ivoire", "diplomacy")
    assert beta.prior == ("south-africa", "diplomacy")


def test_unknown_tags_of_every_source_are_reported_at_their_lines(write):
    text = """\
sources:
  - name: Alpha
    url: https://alpha.example.org/feed
    prior: [africa, afrique]
  - name: Beta
    url: https://beta.example.org/rss
    tags: [ai]
    prior:
      - diplomacy
      - moroco
topics:
  diplomacy:
    fr: [ambassade]
"""
    assert config.problems(write(text)) == [
        "config.yaml:4: sources[0].prior[1]: unknown tag 'afrique' (did you mean 'africa'?)",
        "config.yaml:10: sources[1].prior[1]: unknown tag 'moroco' (did you mean 'morocco'?)",
    ]


# ------------------------------------------------------------------ check's warnings


def test_warnings_name_the_line_of_nested_keys_and_list_items_from_the_one_parse(write, tmp_path):
    """The lines come from load()'s parse (Settings.lines): config.yaml is not read again, so
    the warnings stay right even when the file is gone by then."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    (tmp_path / "dkim.pem").write_bytes(pem)
    path = write(
        SOURCES
        + textwrap.dedent("""\
          - name: Local
            language: en
            url: http://127.0.0.1:8080/feed.xml
          - {name: Home, url: 'http://localhost/rss'}
        fetch:
          allow_private: ['10.0.0.0/8']
        digest:
          from: Digest <digest@lettre.ma>
          unsubscribe_url: https://lettre.ma/unsubscribe
          dkim:
            selector: news2026
            domain: other.org
            key_file: dkim.pem
        """)
    )
    settings = config.load(path)
    (tmp_path / path).unlink()
    f = settings.path  # absolute: check names the file it read
    assert config.warnings(settings) == [
        f"{f}:17: digest.dkim.domain: other.org does not match the From domain lettre.ma:"
        " receivers (DMARC) want d= to be the From domain or a parent of it",
        f"{f}:8: sources[2].url: 127.0.0.1 is a private address: every fetch is refused "
        "unless fetch.allow_private lists it",
        f"{f}:9: sources[3].url: localhost is a private address: every fetch is refused "
        "unless fetch.allow_private lists it",
    ]
    lines = settings.lines
    assert (lines["sources[2]"], lines["sources[2].name"], lines["digest.dkim"]) == (6, 6, 15)
    at = loader.key_at
    assert at(settings, "digest.bounce_address") == f"{f}:12: digest.bounce_address"
    assert at(settings, "sources[9].url") == f"{f}:1: sources[9].url"  # the list's line
    assert at(settings, "tagging.threshold") == f"{f}: tagging.threshold"  # a default


def test_check_parses_config_yaml_once(write, monkeypatch, capsys):
    """`check` = one load(); the warnings reuse its lines (no second compose of the file)."""
    from aggregator.cli.main import main

    path = write(SOURCES + "digest:\n  from: digest@news.example.org\n")
    calls = []
    compose = loader.compose
    monkeypatch.setattr(loader, "compose", lambda *a: calls.append(a) or compose(*a))
    assert main(["--config", path, "check"]) == 0
    assert len(calls) == 1
    assert "config.yaml:7: digest.from: digest@news.example.org is a placeholder domain" in (
        capsys.readouterr().err
    )
