"""Load and validate config.yaml into ``Settings``.

Why a hand-written walker over PyYAML's node tree (``yaml.compose``) rather than ``yaml.safe_load``:
every node keeps its line, so each problem can be reported as ``PATH:LINE: key: message``, and
all problems are collected in one pass so the operator fixes them all at once.

Secrets never pass through here: the config names environment variables (``password_env``,
``secret_env``) and ``smtp_password()`` / ``unsubscribe_secret()`` read them when needed.

Relative paths (database, output.dir, digest.templates, digest.outbox, digest.recipients_file)
resolve against the directory of the config file, except for the packaged default
(``aggregator/data/config.yaml``) whose paths resolve against the current working directory
(and whose ``digest.templates`` resolves against the package, where the default templates ship).
"""

from __future__ import annotations

import csv
import difflib
import ipaddress
import os
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from .errors import ConfigError
from .models import Source
from .settings import (
    DigestSettings,
    FetchSettings,
    OutputSettings,
    Settings,
    SmtpSettings,
    TaggingSettings,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_CONFIG = PACKAGE_DIR / "data" / "config.yaml"
CONFIG_ENV = "AGGREGATOR_CONFIG"

#: Placeholders ``digest.subject`` may use (filled by the digest with str.format).
SUBJECT_PLACEHOLDERS = ("week",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECURITY_MODES = ("none", "starttls", "ssl")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {
    **{d: d for d in WEEKDAYS},
    **{
        full: full[:3]
        for full in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    },
}

# fmt: off
_KEYS: dict[str, tuple[str, ...]] = {
    "": ("database", "output", "fetch", "sources", "topics", "digest", "tagging", "log_level",
         "secret_env"),
    "output": ("dir", "base_url", "title", "max_items"),
    "fetch": ("interval", "timeout", "max_bytes", "workers", "per_host", "user_agent",
              "allow_private"),
    "sources[]": ("name", "url", "language", "tags"),
    "digest": ("schedule", "timezone", "subject", "from", "recipients", "recipients_file",
               "unsubscribe_url", "templates", "outbox", "per_section", "include_other",
               "send_empty", "smtp"),
    "digest.smtp": ("host", "port", "security", "username", "password_env", "timeout"),
    "tagging": ("threshold",),
}
# fmt: on
_HINTS = {
    ("digest.smtp", "password"): "never put a password here: set password_env to the name of "
    "an environment variable that holds it",
    ("digest", "sender"): "did you mean 'from'?",
}

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LANG = re.compile(r"[a-z]{2}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ATOM = r"[^\s@<>()\[\],;:\"\\.]+"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1} | {
    f"{prefix}{kind}": base ** (n + 1)
    for n, prefix in enumerate("kmgt")
    for kind, base in (("b", 1000), ("ib", 1024))
}
_NULL = "tag:yaml.org,2002:null"
_BAD: Any = object()  # a value that could not be read; a problem has been recorded


# ---------------------------------------------------------------- public helpers


def parse_duration(text: str | float) -> float:
    """``30s``, ``20m``, ``6h``, ``7d``, ``1h30m`` or a plain number of seconds -> seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"bad duration {text!r}")
        return float(text)
    s = str(text).strip()
    pos, total, parts = 0, 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or (parts and not m.group(2)):
            raise ValueError(f"bad duration {text!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
        parts += 1
    if not parts:
        raise ValueError(f"bad duration {text!r}")
    return total


def parse_size(text: str | int) -> int:
    """``512KiB``, ``15MiB``, ``1GB``, ``100B`` or a plain number of bytes -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"bad size {text!r}")
        return text
    m = _SIZE.fullmatch(str(text).strip())
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])


def parse_schedule(text: str) -> tuple[str, int, int]:
    """``"mon 07:00"`` (a weekday, full or abbreviated, and HH:MM) -> ``("mon", 7, 0)``."""
    m = re.fullmatch(r"\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*", str(text))
    if not m or m.group(1).lower() not in _WEEKDAY_NAMES:
        raise ValueError(f"bad schedule {text!r}")
    hour, minute = int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"bad schedule {text!r}")
    return _WEEKDAY_NAMES[m.group(1).lower()], hour, minute


def email_address(text: str) -> str | None:
    """The bare address of ``a@b.org`` or ``Name <a@b.org>``, or None when it is not one."""
    text = text.strip()
    addr = parseaddr(text)[1] if "<" in text else text
    return addr if addr and _EMAIL.fullmatch(addr) else None


def default_config_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: ``--config``, else ``$AGGREGATOR_CONFIG``, else ``./config.yaml``,
    else the packaged default (so ``pip install .`` alone gives a working tool)."""
    if cli_value:
        return Path(cli_value)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config.yaml")
    return local if local.is_file() else PACKAGED_CONFIG


def smtp_password(settings: Settings) -> str | None:
    """The SMTP password from the environment variable named by ``digest.smtp.password_env``."""
    return _env_secret(settings.digest.smtp.password_env)


def unsubscribe_secret(settings: Settings) -> str | None:
    """The HMAC key for unsubscribe tokens, from the variable named by ``secret_env``."""
    return _env_secret(settings.secret_env)


def _env_secret(name: str) -> str | None:
    return (os.environ.get(name) or None) if name else None


def load(path: str | os.PathLike[str]) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem."""
    problems, settings = _check(path)
    if problems or settings is None:
        raise ConfigError(problems or [f"{os.fspath(path)}: unreadable configuration"])
    return settings


def problems(path: str | os.PathLike[str]) -> list[str]:
    """Every problem of a config file as ``PATH:LINE: key: message`` (empty when valid)."""
    return _check(path)[0]


# ---------------------------------------------------------------- reading the file


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
        loader = _Loader(text)
        root = loader.get_single_node()
    except yaml.YAMLError:
        loader = None
    try:
        if loader is None:  # re-read with the pure-Python loader: its messages name the problem
            loader = yaml.SafeLoader(text)
            root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = exc.problem or exc.context or "unreadable"
        if mark:
            message += f" (column {mark.column + 1})"
        if exc.context and exc.problem and exc.context_mark:
            message += f"; {exc.context} at line {exc.context_mark.line + 1}"
        return [f"{display}:{line}: invalid YAML: {message}"], None
    except yaml.YAMLError as exc:
        return [f"{display}: invalid YAML: {exc}"], None
    packaged = _same_file(p, PACKAGED_CONFIG)
    base = Path.cwd() if packaged else p.resolve().parent
    walker = _Walker(display, loader, base, packaged)
    settings = walker.settings(root, p.resolve())
    return walker.sorted_problems(), settings


#: libyaml's loader when present: same nodes and marks, ten times faster on a 1,000-source file.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(node: yaml.Node, value: Any) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{node.value!r}"


@dataclass
class _Field:
    knode: yaml.Node
    vnode: yaml.Node
    key: str  # dotted path, for messages


class _Walker:
    """Walks the node tree, converting values and recording problems with their lines."""

    def __init__(self, display: str, loader: yaml.SafeLoader, base: Path, packaged: bool):
        self.display = display
        self.loader = loader
        self.base = base
        self.packaged = packaged
        self.problems: list[tuple[int, int, str]] = []

    def add(
        self,
        node: yaml.Node,
        key: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        order: int | None = None,
    ) -> None:
        line = _line(node) if line is None else line
        order = line if order is None else order
        prefix = f"{key}: " if key else ""
        self.problems.append(
            (order, len(self.problems), f"{file or self.display}:{line}: {prefix}{message}")
        )

    def sorted_problems(self) -> list[str]:
        return [text for _, _, text in sorted(self.problems)]

    # ---- structure

    def mapping(self, node: yaml.Node, key: str, section: str | None) -> dict[str, _Field] | None:
        """Keys of a mapping node; unknown and duplicate keys are problems. None if not a mapping."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.add(node, key, f"expected a mapping, got {_describe(node, self._value(node))}")
            return None
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.add(node, key, f"bad merge: {getattr(exc, 'problem', exc)}")
            return None
        allowed = _KEYS.get(section) if section is not None else None
        out: dict[str, _Field] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.add(knode, key, "a key must be plain text")
                continue
            name = str(knode.value)
            full = f"{key}.{name}" if key else name
            if name in out:
                self.add(knode, full, f"duplicate key (first at line {_line(out[name].knode)})")
                continue
            if allowed is not None and name not in allowed:
                self.add(knode, full, "unknown key" + _suggestion(name, section or ""))
                continue
            out[name] = _Field(knode, vnode, full)
        return out

    def sequence(self, f: _Field, what: str) -> list[yaml.Node] | None:
        node = f.vnode
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.add(
                node, f.key, f"expected a list of {what}, got {_describe(node, self._value(node))}"
            )
            return None
        return list(node.value)

    def _value(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node)
            except yaml.YAMLError:
                return node.value
        return None

    # ---- scalars

    def scalar(self, node: yaml.Node, key: str, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.add(node, key, f"expected {what}, got {_describe(node, None)}")
            return _BAD
        return self._value(node)

    def text(self, f: _Field, *, empty: bool = False, what: str = "text") -> Any:
        value = self.scalar(f.vnode, f.key, what)
        if value is _BAD:
            return _BAD
        if value is None:
            value = ""
        elif not isinstance(value, str):
            value = str(f.vnode.value)  # numbers, dates...: keep what the operator wrote
        value = value.strip()
        if not value and not empty:
            self.add(f.vnode, f.key, f"expected {what}, got nothing")
            return _BAD
        return value

    def integer(self, f: _Field, lo: int, hi: int | None = None) -> Any:
        value = self.scalar(f.vnode, f.key, "a whole number")
        if value is _BAD:
            return _BAD
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f.vnode, f.key, f"expected a whole number, got {_describe(f.vnode, value)}")
            return _BAD
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.add(f.vnode, f.key, f"must be {bound}, got {value}")
            return _BAD
        return value

    def number(self, f: _Field) -> Any:
        value = self.scalar(f.vnode, f.key, "a number")
        if value is _BAD:
            return _BAD
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(f.vnode, f.key, f"expected a number, got {_describe(f.vnode, value)}")
            return _BAD
        if value <= 0:
            self.add(f.vnode, f.key, f"must be more than 0, got {value}")
            return _BAD
        return float(value)

    def boolean(self, f: _Field) -> Any:
        value = self.scalar(f.vnode, f.key, "true or false")
        if value is _BAD:
            return _BAD
        if not isinstance(value, bool):
            self.add(f.vnode, f.key, f"expected true or false, got {_describe(f.vnode, value)}")
            return _BAD
        return value

    def duration(self, f: _Field) -> Any:
        value = self.scalar(f.vnode, f.key, "a duration")
        if value is _BAD:
            return _BAD
        raw = (
            value
            if isinstance(value, int | float) and not isinstance(value, bool)
            else f.vnode.value
        )
        try:
            seconds = parse_duration(raw)
        except ValueError:
            self.add(f.vnode, f.key, f"bad duration {str(f.vnode.value)!r} (use 30s, 20m, 6h, 7d)")
            return _BAD
        if seconds <= 0:
            self.add(f.vnode, f.key, f"must be more than 0, got {f.vnode.value!r}")
            return _BAD
        return seconds

    def size(self, f: _Field) -> Any:
        value = self.scalar(f.vnode, f.key, "a size")
        if value is _BAD:
            return _BAD
        raw = value if isinstance(value, int) and not isinstance(value, bool) else f.vnode.value
        try:
            size = parse_size(raw)
        except ValueError:
            self.add(
                f.vnode,
                f.key,
                f"bad size {str(f.vnode.value)!r} (use 512KiB, 15MiB, 1GB or a number of bytes)",
            )
            return _BAD
        if size <= 0:
            self.add(f.vnode, f.key, f"must be more than 0, got {f.vnode.value!r}")
            return _BAD
        return size

    def url(self, f: _Field) -> Any:
        value = self.text(f, what="a URL")
        if value is _BAD:
            return _BAD
        problem = _url_problem(value)
        if problem:
            self.add(f.vnode, f.key, f"bad URL {value!r}: {problem}")
            return _BAD
        return value

    def path(self, f: _Field, *, base: Path | None = None) -> Any:
        value = self.text(f, what="a path")
        if value is _BAD:
            return _BAD
        return self.resolve(value, base)

    def resolve(self, value: str | Path, base: Path | None = None) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base or self.base) / p

    def choice(self, f: _Field, choices: Iterable[str], *, upper: bool = False) -> Any:
        value = self.text(f, what="one of " + ", ".join(choices))
        if value is _BAD:
            return _BAD
        norm = value.upper() if upper else value.lower()
        if norm not in choices:
            self.add(
                f.vnode,
                f.key,
                f"{value!r} is not one of {', '.join(choices)}" + _close(value, choices),
            )
            return _BAD
        return norm

    def env_name(self, f: _Field) -> Any:
        value = self.text(f, empty=True, what="the name of an environment variable")
        if value is _BAD:
            return _BAD
        if value and not _ENV_NAME.fullmatch(value):
            # Never echo the value: it may be the secret itself, pasted in by mistake.
            self.add(
                f.vnode,
                f.key,
                "expected the NAME of an environment variable (letters, "
                "digits and _), not its value",
            )
            return _BAD
        return value

    # ---- sections

    def settings(self, root: yaml.Node | None, path: Path) -> Settings | None:
        if root is None:
            self.add_line(1, "sources", "missing: the file is empty; list at least one feed")
            return None
        top = self.mapping(root, "", "")
        if top is None:
            return None
        kw: dict[str, Any] = {}
        database = (
            self.path(top["database"]) if "database" in top else self.resolve("aggregator.db")
        )
        sources = self.sources(top.get("sources"), root)
        output = self.section(top, "output", self.output)
        fetch = self.section(top, "fetch", self.fetch)
        topics = self.topics(top["topics"]) if "topics" in top else {}
        digest = self.section(top, "digest", self.digest)
        tagging = self.section(top, "tagging", self.tagging)
        if "log_level" in top:
            kw["log_level"] = self.choice(top["log_level"], LOG_LEVELS, upper=True)
        if "secret_env" in top:
            kw["secret_env"] = self.env_name(top["secret_env"])
        parts = [database, sources, output, fetch, topics, digest, tagging, *kw.values()]
        if self.problems or any(v is _BAD for v in parts):
            return None
        return Settings(
            path=path,
            database=database,
            sources=sources,
            output=output,
            fetch=fetch,
            topics=topics,
            digest=digest,
            tagging=tagging,
            **kw,
        )

    def add_line(self, line: int, key: str, message: str) -> None:
        self.problems.append((line, len(self.problems), f"{self.display}:{line}: {key}: {message}"))

    def section(
        self, top: dict[str, _Field], name: str, build: Callable[[dict[str, _Field]], Any]
    ) -> Any:
        fields = self.mapping(top[name].vnode, name, name) if name in top else {}
        return _BAD if fields is None else build(fields)

    def output(self, m: dict[str, _Field]) -> Any:
        kw: dict[str, Any] = {"dir": self.path(m["dir"]) if "dir" in m else self.resolve("public")}
        if "base_url" in m:
            kw["base_url"] = self.url(m["base_url"])
        if "title" in m:
            kw["title"] = self.text(m["title"])
        if "max_items" in m:
            kw["max_items"] = self.integer(m["max_items"], 1)
        return _build(OutputSettings, kw)

    def fetch(self, m: dict[str, _Field]) -> Any:
        kw: dict[str, Any] = {}
        for key in ("interval", "timeout"):
            if key in m:
                kw[key] = self.duration(m[key])
        if "max_bytes" in m:
            kw["max_bytes"] = self.size(m["max_bytes"])
        for key in ("workers", "per_host"):
            if key in m:
                kw[key] = self.integer(m[key], 1, 1000)
        if "user_agent" in m:
            kw["user_agent"] = self.text(m["user_agent"])
        if "allow_private" in m:
            kw["allow_private"] = self.cidrs(m["allow_private"])
        return _build(FetchSettings, kw)

    def cidrs(self, f: _Field) -> Any:
        nodes = self.sequence(f, "CIDRs such as 127.0.0.0/8")
        if nodes is None:
            return _BAD
        out: list[str] = []
        for i, node in enumerate(nodes):
            item = _Field(f.knode, node, f"{f.key}[{i}]")
            value = self.text(item, what="a CIDR such as 127.0.0.0/8")
            if value is _BAD:
                continue
            try:
                out.append(str(ipaddress.ip_network(value, strict=False)))
            except ValueError:
                self.add(
                    node, item.key, f"invalid CIDR {value!r} (use e.g. 127.0.0.0/8 or ::1/128)"
                )
        return tuple(out) if len(out) == len(nodes) else _BAD

    def sources(self, f: _Field | None, root: yaml.Node) -> Any:
        if f is None:
            self.add(
                root,
                "sources",
                "missing: list at least one feed (name, url, language)",
                line=1,
                order=0,
            )
            return _BAD
        nodes = self.sequence(f, "feeds")
        if nodes is None:
            return _BAD
        if not nodes:
            self.add(f.vnode, "sources", "no sources: list at least one feed")
            return _BAD
        out: list[Source] = []
        names: dict[str, tuple[int, yaml.Node]] = {}  # folded name -> first (index, node)
        urls: dict[str, tuple[int, yaml.Node]] = {}
        ok = True
        for i, node in enumerate(nodes):
            key = f"sources[{i}]"
            m = self.mapping(node, key, "sources[]")
            if m is None:
                ok = False
                continue
            for required in ("name", "url"):
                if required not in m:
                    self.add(
                        node, f"{key}.{required}", "missing (every source needs a name and a url)"
                    )
                    ok = False
            name = self.text(m["name"], what="a name") if "name" in m else _BAD
            url = self.url(m["url"]) if "url" in m else _BAD
            language = self.language(m["language"]) if "language" in m else None
            tags = self.slugs(m["tags"], "tags") if "tags" in m else ()
            for field, value, seen, label in (
                ("name", name, names, "name"),
                ("url", url, urls, "URL"),
            ):
                if value is _BAD:
                    continue
                vnode = m[field].vnode
                ident = value.casefold() if field == "name" else _url_key(value)
                first_index, first = seen.setdefault(ident, (i, vnode))
                if first_index != i:
                    self.add(
                        vnode,
                        f"{key}.{field}",
                        f"duplicate source {label} {value!r} (first at line {_line(first)})",
                    )
                    ok = False
            if _BAD in (name, url, language, tags):
                ok = False
                continue
            out.append(Source(name=name, url=url, language=language, tags=tags))
        return tuple(out) if ok else _BAD

    def language(self, f: _Field) -> Any:
        value = self.text(f, empty=True, what="a two-letter language code")
        if value is _BAD:
            return _BAD
        if not value:
            return None
        if not _LANG.fullmatch(value.lower()):
            self.add(
                f.vnode, f.key, f"bad language {value!r} (use a two-letter code such as fr, en, ar)"
            )
            return _BAD
        return value.lower()

    def slugs(self, f: _Field, what: str) -> Any:
        nodes = self.sequence(f, "tag slugs such as [africa]")
        if nodes is None:
            return _BAD
        out: list[str] = []
        bad = False
        for i, node in enumerate(nodes):
            item = _Field(f.knode, node, f"{f.key}[{i}]")
            value = self.text(item, what="a tag slug")
            if value is _BAD:
                bad = True
            elif not _SLUG.fullmatch(value):
                self.add(
                    node, item.key, f"bad tag {value!r} (use lower-case letters, digits and -)"
                )
                bad = True
            elif value not in out:
                out.append(value)
        return _BAD if bad else tuple(out)

    def topics(self, f: _Field) -> Any:
        m = self.mapping(f.vnode, "topics", None)
        if m is None:
            return _BAD
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        bad = False
        for name, tf in m.items():
            if not _SLUG.fullmatch(name):
                self.add(
                    tf.knode,
                    tf.key,
                    "bad topic key (use lower-case letters, digits and -, e.g. diplomacy)",
                )
                bad = True
                continue
            langs = self.mapping(tf.vnode, tf.key, None)
            if langs is None:
                bad = True
                continue
            if not langs:
                self.add(
                    tf.vnode, tf.key, "no terms (expected {lang: [terms]}, e.g. en: [embassy])"
                )
                bad = True
                continue
            out[name] = {}
            for lang, lf in langs.items():
                if not _LANG.fullmatch(lang):
                    self.add(
                        lf.knode, lf.key, "bad language (use a two-letter code such as fr, en, ar)"
                    )
                    bad = True
                    continue
                nodes = self.sequence(lf, "terms")
                if nodes is None:
                    bad = True
                    continue
                terms = [
                    self.text(_Field(lf.knode, n, f"{lf.key}[{i}]"), what="a term")
                    for i, n in enumerate(nodes)
                ]
                if _BAD in terms:
                    bad = True
                    continue
                out[name][lang] = tuple(terms)
        return _BAD if bad else out

    def digest(self, m: dict[str, _Field]) -> Any:
        kw: dict[str, Any] = {}
        if "schedule" in m:
            kw["schedule"] = self.schedule(m["schedule"])
        if "timezone" in m:
            kw["timezone"] = self.timezone(m["timezone"])
        if "subject" in m:
            kw["subject"] = self.subject(m["subject"])
        if "from" in m:
            kw["sender"] = self.sender(m["from"])
        recipients: list[str] = []
        if "recipients" in m:
            recipients = self.recipients(m["recipients"])
        if "recipients_file" in m:
            kw["recipients_file"] = self.path(m["recipients_file"])
            if kw["recipients_file"] is not _BAD:
                recipients += self.recipients_file(m["recipients_file"], kw["recipients_file"])
        kw["recipients"] = _unique_addresses(recipients)
        if "unsubscribe_url" in m:
            kw["unsubscribe_url"] = self.url(m["unsubscribe_url"])
        templates_base = PACKAGE_DIR if self.packaged else None
        kw["templates"] = (
            self.path(m["templates"], base=templates_base)
            if "templates" in m
            else self.resolve("templates", templates_base)
        )
        kw["outbox"] = self.path(m["outbox"]) if "outbox" in m else self.resolve("outbox")
        if "per_section" in m:
            kw["per_section"] = self.integer(m["per_section"], 1)
        for key in ("include_other", "send_empty"):
            if key in m:
                kw[key] = self.boolean(m[key])
        smtp = self.mapping(m["smtp"].vnode, "digest.smtp", "digest.smtp") if "smtp" in m else {}
        kw["smtp"] = _BAD if smtp is None else self.smtp(smtp)
        return _build(DigestSettings, kw)

    def schedule(self, f: _Field) -> Any:
        value = self.text(f, what="a weekday and a time")
        if value is _BAD:
            return _BAD
        try:
            day, hour, minute = parse_schedule(value)
        except ValueError:
            self.add(
                f.vnode,
                f.key,
                f"bad schedule {value!r} (weekly: a weekday and a time, such as 'mon 07:00')",
            )
            return _BAD
        return f"{day} {hour:02d}:{minute:02d}"

    def timezone(self, f: _Field) -> Any:
        value = self.text(f, what="a time zone such as Africa/Casablanca")
        if value is _BAD:
            return _BAD
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.add(
                f.vnode,
                f.key,
                f"unknown time zone {value!r}" + _close(value, sorted(available_timezones())),
            )
            return _BAD
        return value

    def subject(self, f: _Field) -> Any:
        value = self.text(f, what="a subject line")
        if value is _BAD:
            return _BAD
        allowed = ", ".join("{" + p + "}" for p in SUBJECT_PLACEHOLDERS)
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            self.add(f.vnode, f.key, f"bad subject {value!r}: {exc} (use {{{{ and }}}} for braces)")
            return _BAD
        unknown = [n for n in names if n not in SUBJECT_PLACEHOLDERS]
        if unknown:
            self.add(f.vnode, f.key, f"unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
            return _BAD
        return value

    def sender(self, f: _Field) -> Any:
        value = self.text(f, what="an email address")
        if value is _BAD:
            return _BAD
        if not email_address(value):
            self.add(f.vnode, f.key, f"invalid email address {value!r}")
            return _BAD
        return value

    def recipients(self, f: _Field) -> list[str]:
        nodes = self.sequence(f, "email addresses")
        out: list[str] = []
        for i, node in enumerate(nodes or ()):
            item = _Field(f.knode, node, f"{f.key}[{i}]")
            value = self.text(item, what="an email address")
            if value is _BAD:
                continue
            if email_address(value):
                out.append(value)
            else:
                self.add(node, item.key, f"invalid email address {value!r}")
        return out

    def recipients_file(self, f: _Field, path: Path) -> list[str]:
        """Addresses from a CSV with an ``email`` column, or one address per line."""
        written = str(f.vnode.value).strip()
        display = (
            written
            if Path(written).expanduser().is_absolute() or self.packaged
            else os.path.join(os.path.dirname(self.display), written)
        )
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except OSError as exc:
            self.add(f.vnode, f.key, f"cannot read {written!r}: {exc.strerror or exc}")
            return []
        except UnicodeDecodeError:
            self.add(f.vnode, f.key, f"{written!r} is not UTF-8 text")
            return []
        order = _line(f.vnode)
        out: list[str] = []
        rows = [
            (n, line)
            for n, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        header = next(csv.reader([rows[0][1]])) if rows else []
        column = next((i for i, cell in enumerate(header) if cell.strip().lower() == "email"), None)
        for n, line in rows[1:] if column is not None else rows:
            if column is not None:
                cells = next(csv.reader([line]))
                value = cells[column].strip() if column < len(cells) else ""
            else:
                value = line.strip()
            if email_address(value):
                out.append(value)
            else:
                self.add(
                    f.vnode,
                    f.key,
                    f"invalid email address {value!r}",
                    file=display,
                    line=n,
                    order=order,
                )
        return out

    def smtp(self, m: dict[str, _Field]) -> Any:
        kw: dict[str, Any] = {}
        for key in ("host", "username"):
            if key in m:
                kw[key] = self.text(m[key], empty=True)
        if "port" in m:
            kw["port"] = self.integer(m["port"], 1, 65535)
        if "security" in m:
            kw["security"] = self.choice(m["security"], SECURITY_MODES)
        if "password_env" in m:
            kw["password_env"] = self.env_name(m["password_env"])
        if "timeout" in m:
            kw["timeout"] = self.duration(m["timeout"])
        return _build(SmtpSettings, kw)

    def tagging(self, m: dict[str, _Field]) -> Any:
        kw = {"threshold": self.number(m["threshold"])} if "threshold" in m else {}
        return _build(TaggingSettings, kw)


# ---------------------------------------------------------------- small helpers


def _build(cls: type, kw: dict[str, Any]) -> Any:
    return _BAD if any(v is _BAD for v in kw.values()) else cls(**kw)


def _close(value: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _suggestion(name: str, section: str) -> str:
    hint = _HINTS.get((section, name))
    if hint:
        return f" ({hint})"
    close = _close(name, _KEYS.get(section, ()))
    if close:
        return close
    for other, keys in _KEYS.items():
        if other != section and name in keys:
            if other == "sources[]":
                return " (it belongs in each source)"
            return (
                f" (did you mean '{other}.{name}'?)" if other else " (it belongs at the top level)"
            )
    return ""


def _url_problem(value: str) -> str | None:
    if any(c.isspace() for c in value):
        return "contains spaces"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "no host"
    return None


def _url_key(url: str) -> str:
    """Compare URLs the way a duplicate would slip in: case of scheme/host, trailing slash."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def _unique_addresses(values: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        addr = (email_address(value) or value).lower()
        if addr not in seen:
            seen.add(addr)
            out.append(value)
    return tuple(out)
