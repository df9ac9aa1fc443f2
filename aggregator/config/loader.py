"""Build ``Settings`` from config.yaml section by section, reporting every problem at once.

The keys of each section come from ``schema`` (the settings dataclasses); each key present is read
by its field's reader (``_READERS``, else the reader of the field's plain type), and the
section is the dataclass defaults with those values replaced.

Relative paths resolve against the directory of the config file, except for the packaged default
(``aggregator/data/config.yaml``) whose paths resolve against the current working directory and
whose ``templates`` (output and digest) resolve against the package, where the defaults ship.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import typing
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from urllib.parse import urlsplit

import yaml

from ..errors import ConfigError
from ..models import Source
from ..settings import DatabaseURL, Settings
from . import schema
from .environment import PACKAGE_DIR, PACKAGED_CONFIG
from .kinds import KindReader
from .reader import BAD, Bad, Field, Reader, Unreadable, compose, line_of
from .recipients import read_recipients
from .values import SLUG, did_you_mean, unique_addresses, url_key

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_DATABASE = "aggregator.db"
#: Path fields that the packaged default config resolves against the package, not the CWD.
_SHIPPED = frozenset({"templates"})
#: Keys of a source that name tags, checked against the tags the tagger can give.
_TAG_KEYS = ("tags", "prior")
#: Tags that exist whatever the topics (the African countries' slugs come from the lexicon).
_BUILTIN_TAGS = ("ai", "africa")
_D = TypeVar("_D", bound="DataclassInstance")


def load(path: str | os.PathLike[str]) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem."""
    problems, settings = _check(path)
    if problems or settings is None:
        raise ConfigError(problems or [f"{os.fspath(path)}: unreadable configuration"])
    return settings


def problems(path: str | os.PathLike[str]) -> list[str]:
    """Every problem of a config file as ``PATH:LINE: key: message`` (empty when valid)."""
    return _check(path)[0]


def _check(path: str | os.PathLike[str]) -> tuple[list[str], Settings | None]:
    display = os.fspath(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        return [f"{display}: cannot read: {exc.strerror or exc}"], None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return [f"{display}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x})"], None
    try:
        yaml_loader, root = compose(text, display)
    except Unreadable as exc:
        return [str(exc)], None
    packaged = _same_file(p, PACKAGED_CONFIG)
    base = Path.cwd() if packaged else p.resolve().parent
    loader = _Loader(display, yaml_loader, base, packaged)
    settings = loader.settings(root, p.resolve())
    return loader.problems(), settings


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _build(cls: type[_D], values: Mapping[str, object]) -> _D:
    """A settings object from the values read (each of its field's type: the readers are typed)."""
    return cls(**values)


class _Loader(KindReader):
    """The readers of each field of config.yaml, and the assembly of sections."""

    def __init__(self, display: str, loader: yaml.SafeLoader, base: Path, packaged: bool):
        super().__init__(display, loader, base)
        self.packaged = packaged
        self._tag_fields: list[Field] = []  # every ``tags``/``prior`` of a source, checked last

    # ---- assembly

    def settings(self, root: yaml.Node | None, path: Path) -> Settings | None:
        if root is None:
            self.add(None, "sources", "missing: the file is empty; list at least one feed")
            return None
        top = self.keys_of(root, "", "")
        if top is None:
            return None
        kw = self.fields(top, "")
        self.known_tags(kw.get("topics", {}))
        if "sources" not in top:
            message = "missing: list at least one feed (name, url, language)"
            self.add(root, "sources", message, line=1, order=0)
            return None
        if self.failed or BAD in kw.values():
            return None
        if isinstance(kw.get("database"), DatabaseURL):
            env = kw.get("database_password_env", Settings.database_password_env)
            kw["database"] = DatabaseURL(str(kw["database"]), str(env))
        kw |= {"path": path, "lines": key_lines(root)}
        return _build(Settings, {"database": self.resolve(DEFAULT_DATABASE), **kw})

    def database(self, f: Field) -> Path | DatabaseURL | Bad:
        """A SQLite file (relative: to config.yaml), or a ``postgresql://user@host/db`` URL
        whose password, if any, comes from ``database_password_env``."""
        value = self.text(f, what="a SQLite file or a postgresql:// URL")
        if value is BAD:
            return BAD
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if not scheme:
            return self.resolve(value, self.path_base("database"))
        if scheme not in ("postgresql", "postgres"):
            self.add(f.vnode, f.key, f"{scheme}:// is not a database this aggregator uses "
                     "(a SQLite file path, or postgresql://user@host/db)")  # fmt: skip
            return BAD
        parts = urlsplit(value)
        if parts.password:
            self.add(f.vnode, f.key, "never put a password in the URL: set "
                     "database_password_env to the name of an environment variable")  # fmt: skip
            return BAD
        if not parts.path.strip("/"):
            self.add(f.vnode, f.key, "name the database: postgresql://user@host/DATABASE")
            return BAD
        return DatabaseURL(value)

    def keys_of(self, node: yaml.Node, key: str, section: str) -> dict[str, Field] | None:
        """The keys of a mapping node that ``section`` accepts (the others are problems)."""
        return self.mapping(
            node, key, schema.keys(section), lambda name: schema.suggestion(name, section)
        )

    def fields(self, m: dict[str, Field], section: str) -> dict[str, object]:
        """Field name -> value for each key of ``section`` in ``m``, plus the defaults that need
        the config: subsections (their own defaults) and relative paths (resolved)."""
        kw: dict[str, object] = {}
        for step in _plan(section, schema.SECTIONS[section]):
            f = m.get(step.key)
            if f is not None:
                kw[step.name] = step.read(self, f)
            elif step.subsection is not None:
                kw[step.name] = self.section(None, step.subsection)
            elif step.default is not None:
                kw[step.name] = self.resolve(step.default, self.path_base(step.name))
        return kw

    def section(self, f: Field | None, section: str) -> object:
        """The settings of a section (its defaults when ``f`` is None), or BAD."""
        m = self.keys_of(f.vnode, f.key, section) if f is not None else {}
        if m is None:
            return BAD
        kw = self.fields(m, section)
        if section == "digest":  # the list and the file are one field
            kw["recipients"] = self.all_recipients(m, kw)
        if BAD in kw.values():
            return BAD
        return _build(schema.SECTIONS[section], kw)

    def path_base(self, name: str) -> Path | None:
        """Where a relative path of field ``name`` resolves (None: the config's base)."""
        return PACKAGE_DIR if self.packaged and name in _SHIPPED else None

    # ---- sources and recipients

    def sources(self, f: Field) -> tuple[Source, ...] | Bad:
        nodes = self.sequence(f, "feeds")
        if nodes is None:
            return BAD
        if not nodes:
            self.add(f.vnode, "sources", "no sources: list at least one feed")
            return BAD
        out: list[Source] = []
        firsts: dict[tuple[str, str], tuple[int, yaml.Node]] = {}  # (field, folded) -> first
        ok = True
        for i, node in enumerate(nodes):
            key = f"sources[{i}]"
            m = self.keys_of(node, key, "sources[]")
            if m is None:
                ok = False
                continue
            for required in ("name", "url"):
                if required not in m:
                    self.add(
                        node, f"{key}.{required}", "missing (every source needs a name and a url)"
                    )
                    ok = False
            kw = self.fields(m, "sources[]")
            self._tag_fields += [m[k] for k in _TAG_KEYS if k in m and kw.get(k) is not BAD]
            for field, label in (("name", "name"), ("url", "URL")):
                value = kw.get(field)
                if not isinstance(value, str):
                    continue
                vnode = m[field].vnode
                ident = value.casefold() if field == "name" else url_key(value)
                first_index, first = firsts.setdefault((field, ident), (i, vnode))
                if first_index != i:
                    self.add(
                        vnode,
                        f"{key}.{field}",
                        f"duplicate source {label} {value!r} (first at line {line_of(first)})",
                    )
                    ok = False
            if BAD in kw.values():
                ok = False
            if ok:
                out.append(_build(Source, kw))
        return tuple(out) if ok else BAD

    def known_tags(self, topics: object) -> None:
        """Every tag of a source's ``tags`` and ``prior`` must be one the tagger gives: ``ai``,
        ``africa``, a key of ``topics`` or an African country's slug (``morocco``)."""
        if not isinstance(topics, dict):  # unreadable topics: their problem is reported
            return
        known = {*_BUILTIN_TAGS, *topics}
        for f in self._tag_fields:
            for i, node in enumerate(
                f.vnode.value if isinstance(f.vnode, yaml.SequenceNode) else ()
            ):
                value = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
                if not SLUG.fullmatch(value) or value in known:
                    continue
                countries = _country_slugs()
                if value in countries:
                    continue
                hint = did_you_mean(value, sorted(known | countries)) or (
                    " (use ai, africa, an African country such as morocco, or a key of topics)"
                )
                self.add(node, f"{f.key}[{i}]", f"unknown tag {value!r}{hint}")

    def all_recipients(self, m: dict[str, Field], kw: dict[str, object]) -> tuple[str, ...]:
        """``recipients`` then the addresses of ``recipients_file``, without duplicates."""
        listed = kw.get("recipients")
        out = list(listed) if isinstance(listed, list) else []
        path = kw.get("recipients_file")
        if isinstance(path, Path):
            out += self.recipients_file(m["recipients_file"], path)
        return unique_addresses(out)

    def recipients_file(self, f: Field, path: Path) -> list[str]:
        """The addresses in the file; its problems point into it (sorted at the key's line)."""
        written = str(f.vnode.value).strip()
        display = (
            written
            if Path(written).expanduser().is_absolute() or self.packaged
            else os.path.join(os.path.dirname(self.display), written)
        )
        try:
            good, bad = read_recipients(path)
        except OSError as exc:
            self.add(f.vnode, f.key, f"cannot read {written!r}: {exc.strerror or exc}")
            return []
        except UnicodeDecodeError:
            self.add(f.vnode, f.key, f"{written!r} is not UTF-8 text")
            return []
        for n, value in bad:
            message = f"invalid email address {value!r}"
            self.add(f.vnode, f.key, message, file=display, line=n, order=line_of(f.vnode))
        return good


def _unsubscribe_url(self: _Loader, f: Field) -> str | Bad:
    """https only: mail receivers ignore an http List-Unsubscribe (RFC 8058); a loopback host
    (a local test of ``serve``) is let through, and ``warnings()`` mentions it."""
    value = self.url(f)
    if value is BAD:
        return BAD
    parts = urlsplit(value)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        self.add(f.vnode, f.key, f"{value!r} must be https:// (receivers ignore an http "
                 "one-click unsubscribe link)")  # fmt: skip
        return BAD
    return value


_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_LIST_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+$")


def _rate(self: _Loader, f: Field) -> float | Bad:
    """Messages per second: 0 (no limit) or more."""
    value = self.scalar(f.vnode, f.key, "a number")
    if value is BAD:
        return BAD
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        self.add(f.vnode, f.key, f"expected a number of messages per second (0: no limit), "
                 f"got {value!r}")  # fmt: skip
        return BAD
    return float(value)


def _list_id(self: _Loader, f: Field) -> str | Bad:
    """RFC 2919: a dot-atom with at least one dot (``digest.news.example.org``), with or
    without its angle brackets; empty: derived from the sender's address."""
    value = self.text(f, empty=True)
    if value is BAD or not value:
        return value
    ident = str(value).strip().removeprefix("<").removesuffix(">")
    if not _LIST_ID.match(ident) or len(ident) > 255:
        self.add(f.vnode, f.key, f"{value!r} is not a list identifier such as "
                 "digest.news.example.org (RFC 2919)")  # fmt: skip
        return BAD
    return ident


def _bounce_address(self: _Loader, f: Field) -> str | Bad:
    """A bare address whose local part has no ``+`` (it gets ``+<subscriber uid>``), or empty."""
    value = self.text(f, empty=True, what="an email address")
    if value is BAD or not value:
        return value
    from ..addresses import valid

    box = valid(value)
    if box is None or box.address != value:
        self.add(f.vnode, f.key, f"{value!r}: write a bare address (bounces@your.domain)")
        return BAD
    if "+" in box.address.partition("@")[0]:
        self.add(f.vnode, f.key, f"{value!r}: no '+' in the local part: each message's return "
                 "path adds +<subscriber id> to it")  # fmt: skip
        return BAD
    return value


def _dkim(self: _Loader, f: Field) -> object:
    """``digest.dkim``: selector, domain and key_file all set (or none); the key must be a
    readable private key, the selector and domain DNS names."""
    from ..digest.dkim import domain_problem, key_problem, selector_problem
    from ..settings import DkimSettings

    m = self.keys_of(f.vnode, f.key, "digest.dkim")
    if m is None:
        return BAD
    kw = self.fields(m, "digest.dkim")
    if BAD in kw.values():
        return BAD
    ok = True
    for name, problem in (("selector", selector_problem), ("domain", domain_problem)):
        value = kw.get(name)
        why = problem(value) if isinstance(value, str) and value else None
        if why:
            self.add(m[name].vnode, m[name].key, why)
            ok = False
    missing = [k for k in ("selector", "domain", "key_file") if not kw.get(k)]
    if missing and len(missing) < 3:
        self.add(f.vnode, f.key, f"missing {', '.join(missing)}: DKIM signing needs selector, "
                 "domain and key_file (leave all three out to send unsigned)")  # fmt: skip
        ok = False
    key = kw.get("key_file")
    if isinstance(key, Path):
        why = key_problem(key)
        if why:
            self.add(m["key_file"].vnode, m["key_file"].key, why)
            ok = False
    return _build(DkimSettings, kw) if ok else BAD


def key_lines(root: yaml.Node | None) -> dict[str, int]:
    """Every key of the tree with the line it is written on, named as problems name keys:
    ``digest.smtp.host``, ``sources[2].url`` (an item of a list: the line of its first key).
    The first of duplicate keys wins; a node reached again through an alias is not walked
    again (an alias bomb stays one walk of the text)."""
    out: dict[str, int] = {}
    seen: set[int] = set()
    todo: list[tuple[yaml.Node | None, str]] = [(root, "")]
    while todo:
        node, prefix = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    dotted = f"{prefix}.{k.value}" if prefix else str(k.value)
                    if dotted not in out:
                        out[dotted] = line_of(k)
                        todo.append((v, dotted))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault(f"{prefix}[{i}]", line_of(item))
                todo.append((item, f"{prefix}[{i}]"))
    return out


def key_at(settings: Settings, dotted: str) -> str:
    """``key_at(s, "digest.from")`` -> "config.yaml:42: digest.from": the line of the key, else
    of the nearest section that is written (a default setting of a missing section: no line).
    The lines come from ``load()``'s one parse (``Settings.lines``)."""
    display, key = os.fspath(settings.path), dotted
    while key:
        line = settings.lines.get(key)
        if line:
            return f"{display}:{line}: {dotted}"
        key = key[: key.rindex("[")] if key.endswith("]") else key.rpartition(".")[0]
    return f"{display}: {dotted}"


def warnings(settings: Settings) -> list[str]:
    """What ``check`` mentions without failing: settings that work but reach nobody (the
    documentation's example.org placeholders, a local host), that receivers ignore, or a
    source at a private address the fetcher refuses. Each names its key's line, from
    ``settings.lines`` (config.yaml is not read again)."""
    from ..addresses import placeholder_domain, valid

    d, out = settings.digest, []
    where = partial(key_at, settings)
    sender = valid(d.sender)
    if sender and placeholder_domain(sender.address):
        why = "replies and bounces reach nobody, receivers may reject it; use your own domain"
        out.append(f"{where('digest.from')}: {sender.address} is a placeholder domain: {why}")
    host = urlsplit(d.unsubscribe_url).hostname or ""
    if placeholder_domain(host) or host in _LOOPBACK:
        out.append(f"{where('digest.unsubscribe_url')}: {d.unsubscribe_url} is not reachable by "
                   "readers: point it at the public address of `aggregator serve`")  # fmt: skip
    elif not d.unsubscribe_url.startswith("https://"):
        out.append(f"{where('digest.unsubscribe_url')}: http is ignored by receivers")
    if d.smtp.host and not d.bounce_address:
        out.append(f"{where('digest.bounce_address')}: not set, so bounces go to "
                   f"{sender.address if sender else 'the From address'} and nobody applies "
                   "them; set it (bounces@your.domain) and run `aggregator bounces read` on "
                   "its mailbox")  # fmt: skip
    elif d.bounce_address and placeholder_domain(d.bounce_address):
        out.append(f"{where('digest.bounce_address')}: {d.bounce_address} is a placeholder "
                   "domain: bounces reach nobody")  # fmt: skip
    if d.dkim.enabled and sender:
        domain = sender.address.rpartition("@")[2].lower()
        signing = d.dkim.domain.lower()
        if domain != signing and not domain.endswith("." + signing):
            out.append(f"{where('digest.dkim.domain')}: {d.dkim.domain} does not match the From "
                       f"domain {domain}: receivers (DMARC) want d= to be the From domain or "
                       "a parent of it")  # fmt: skip
    return out + _private_sources(settings)


def _private_sources(settings: Settings) -> list[str]:
    """Sources at a private or loopback address (an IP literal, or localhost) that
    ``fetch.allow_private`` does not list: every fetch of them is refused."""
    from ..fetch.guard import address_allowed, parse_networks

    allow = parse_networks(settings.fetch.allow_private)
    out = []
    for i, source in enumerate(settings.sources):
        host = (urlsplit(source.url).hostname or "").lower()
        addresses = ("127.0.0.1", "::1") if host == "localhost" else (host,)
        try:
            refused = not any(address_allowed(a, allow) for a in addresses)
        except ValueError:  # a name: only the resolver knows its address
            continue
        if refused:
            out.append(f"{key_at(settings, f'sources[{i}].url')}: {host} is a private address: "
                       "every fetch is refused unless fetch.allow_private lists it")  # fmt: skip
    return out


def _country_slugs() -> set[str]:
    """The African countries' tag slugs, from the tagger's lexicon (imported only when a source
    names a tag that is no built-in tag and no topic: the lexicon loads the tagging package)."""
    from ..tagging.lexicon import COUNTRY_CODES

    return set(COUNTRY_CODES)


_Read = Callable[["_Loader", Field], object]
#: ``section.field`` -> how to read it, where the field's type alone does not say
#: (bounds, formats, lists). Sections and paths need no entry: see ``_reader()``.
_READERS: dict[str, _Read] = {
    "sources": _Loader.sources,
    "topics": _Loader.topics,
    "log_level": partial(Reader.choice, choices=LOG_LEVELS, upper=True),
    "secret_env": Reader.env_name,
    "database": _Loader.database,
    "database_password_env": Reader.env_name,
    "output.base_url": Reader.url,
    "output.max_items": partial(Reader.integer, lo=1),
    "output.locale": _Loader.locale,
    "fetch.interval": Reader.duration,
    "fetch.timeout": Reader.duration,
    "fetch.max_bytes": Reader.size,
    "fetch.workers": partial(Reader.integer, lo=1, hi=1000),
    "fetch.per_host": partial(Reader.integer, lo=1, hi=1000),
    "fetch.lease": Reader.duration,
    "fetch.allow_private": _Loader.cidrs,
    "sources[].name": partial(Reader.text, what="a name"),
    "sources[].url": Reader.url,
    "sources[].language": _Loader.language,
    "sources[].tags": _Loader.slugs,
    "sources[].prior": _Loader.slugs,
    "sources[].interval": Reader.duration,
    "sources[].per_host": partial(Reader.integer, lo=1, hi=1000),
    "sources[].include": _Loader.patterns,
    "sources[].exclude": _Loader.patterns,
    "digest.schedule": _Loader.schedule,
    "digest.timezone": _Loader.timezone,
    "digest.subject": _Loader.subject,
    "digest.sender": _Loader.address,
    "digest.recipients": _Loader.addresses,
    "digest.unsubscribe_url": _unsubscribe_url,
    "digest.per_section": partial(Reader.integer, lo=1),
    "digest.grace": partial(Reader.duration, zero=True),
    "digest.locale": _Loader.locale,
    "digest.intro": partial(Reader.text, empty=True),
    "digest.bounce_address": _bounce_address,
    "digest.bounce_threshold": partial(Reader.integer, lo=1, hi=100),
    "digest.bounce_threshold_unknown": partial(Reader.integer, lo=1, hi=100),
    "digest.dkim": _dkim,
    "digest.dkim.selector": partial(Reader.text, empty=True),
    "digest.dkim.domain": partial(Reader.text, empty=True),
    "digest.smtp.host": partial(Reader.text, empty=True),
    "digest.smtp.port": partial(Reader.integer, lo=1, hi=65535),
    "digest.smtp.security": partial(Reader.choice, choices=SECURITY_MODES),
    "digest.smtp.username": partial(Reader.text, empty=True),
    "digest.smtp.password_env": Reader.env_name,
    "digest.smtp.timeout": Reader.duration,
    "digest.smtp.connections": partial(Reader.integer, lo=1, hi=100),
    "digest.smtp.rate_per_hour": partial(Reader.integer, lo=0),
    "digest.smtp.retries": partial(Reader.integer, lo=0, hi=20),
    "digest.smtp.retry_delay": partial(Reader.duration, zero=True),
    "digest.smtp.rate_per_second": _rate,
    "digest.list_id": _list_id,
    "digest.contact": partial(Reader.text, empty=True),
    "tagging.threshold": Reader.number,
}


class _Step(NamedTuple):
    """How ``fields()`` fills one field of a section."""

    key: str  # in the file
    name: str  # of the field
    read: _Read
    subsection: str | None  # the field is this section: its defaults when the key is absent
    default: Path | None  # a relative default path, resolved when the key is absent


@functools.cache
def _plan(section: str, cls: type) -> tuple[_Step, ...]:
    """The steps to read ``section`` (of class ``cls``), worked out once per section."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if isinstance(f.default, Path)}
    steps = []
    for key, name in schema.class_keys(section, cls).items():
        dotted = f"{section}.{name}" if section else name
        subsection = dotted if dotted in schema.SECTIONS else None
        steps.append(_Step(key, name, _reader(dotted, cls, name), subsection, defaults.get(name)))
    return tuple(steps)


def _reader(dotted: str, cls: type, name: str) -> _Read:
    """How to read field ``name`` of ``cls``: its entry in _READERS, else by its type."""
    read = _READERS.get(dotted)
    if read is not None:
        return read
    if dotted in schema.SECTIONS:
        return lambda s, f: s.section(f, dotted)
    kind = typing.get_type_hints(cls)[name]
    if kind in (Path, Path | None):
        return lambda s, f: s.path(f, base=s.path_base(name))
    if kind not in _BY_TYPE:
        raise TypeError(f"no reader for {dotted} ({kind}): add one to _READERS in {__name__}")
    return _BY_TYPE[kind]


_BY_TYPE: dict[object, _Read] = {
    str: Reader.text,
    bool: Reader.boolean,
    int: partial(Reader.integer, lo=0),
    float: Reader.number,
}
