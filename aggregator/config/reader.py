"""Typed readers over PyYAML's node tree, recording every problem with its line.

Why nodes (``yaml.compose``) rather than ``yaml.safe_load``: every node keeps its line, so each
problem reads ``PATH:LINE: key: message``, and all problems are collected in one pass so the
operator fixes them all at once. A reader returns its value, or ``BAD`` once it has recorded why
the value cannot be used; nothing here knows which keys config.yaml has (see ``schema.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .values import ENV_NAME, did_you_mean, parse_duration, parse_size, url_problem

_NULL = "tag:yaml.org,2002:null"
#: libyaml's loader when present: same nodes and marks, ten times faster on a 1,000-source file.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Bad(enum.Enum):
    """The type of ``BAD``: a value that could not be read (its problem is recorded)."""

    BAD = "BAD"


BAD = Bad.BAD


class Unreadable(Exception):
    """The file is no YAML at all; the message is the one problem to report."""


@dataclass
class Field:
    """A key and its value in the file; ``key`` is the dotted path used in messages."""

    knode: yaml.Node
    vnode: yaml.Node
    key: str

    def item(self, index: int, node: yaml.Node) -> Field:
        """The ``index``-th element of this list value."""
        return Field(self.knode, node, f"{self.key}[{index}]")


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def compose(text: str, display: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    """The loader (it constructs scalars later) and the root node; raise Unreadable."""
    try:
        loader = _FastLoader(text)
        return loader, loader.get_single_node()
    except yaml.YAMLError:
        pass
    try:  # read again with the pure-Python loader: its messages name the problem
        loader = yaml.SafeLoader(text)
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = exc.problem or exc.context or "unreadable"
        if mark:
            message += f" (column {mark.column + 1})"
        if exc.context and exc.problem and exc.context_mark:
            message += f"; {exc.context} at line {exc.context_mark.line + 1}"
        raise Unreadable(f"{display}:{line}: invalid YAML: {message}") from exc
    except yaml.YAMLError as exc:
        raise Unreadable(f"{display}: invalid YAML: {exc}") from exc


def _describe(node: yaml.Node, value: object) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{node.value!r}"


class Reader:
    """Converts nodes of one file to typed values and collects the problems, sorted by line."""

    def __init__(self, display: str, loader: yaml.SafeLoader, base: Path):
        self.display = display  # the config path as given, the prefix of every message
        self.loader = loader
        self.base = base  # relative paths resolve against it
        self._problems: list[tuple[int, int, str]] = []

    def add(
        self,
        node: yaml.Node | None,
        key: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        order: int | None = None,
    ) -> None:
        """Record ``FILE:LINE: key: message``, sorted by ``order`` (default: the line)."""
        if line is None:
            line = line_of(node) if node is not None else 1
        order = line if order is None else order
        prefix = f"{key}: " if key else ""
        self._problems.append(
            (order, len(self._problems), f"{file or self.display}:{line}: {prefix}{message}")
        )

    @property
    def failed(self) -> bool:
        return bool(self._problems)

    def problems(self) -> list[str]:
        return [text for _, _, text in sorted(self._problems)]

    # ---- structure

    def mapping(
        self,
        node: yaml.Node,
        key: str,
        allowed: Collection[str] | None = None,
        unknown: Callable[[str], str] = lambda name: "",
    ) -> dict[str, Field] | None:
        """The keys of a mapping node (null: none). Keys not ``allowed`` and duplicates are
        problems, ``unknown(name)`` adding a hint. None (a problem) when it is no mapping."""
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
        out: dict[str, Field] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.add(knode, key, "a key must be plain text")
                continue
            name = str(knode.value)
            full = f"{key}.{name}" if key else name
            if name in out:
                self.add(knode, full, f"duplicate key (first at line {line_of(out[name].knode)})")
                continue
            if allowed is not None and name not in allowed:
                self.add(knode, full, "unknown key" + unknown(name))
                continue
            out[name] = Field(knode, vnode, full)
        return out

    def sequence(self, f: Field, what: str) -> list[yaml.Node] | None:
        """The items of a list (null: none); None (a problem) when it is no list."""
        node = f.vnode
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, yaml.SequenceNode):
            got = _describe(node, self._value(node))
            self.add(node, f.key, f"expected a list of {what}, got {got}")
            return None
        return list(node.value)

    def _value(self, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node)
            except yaml.YAMLError:
                return node.value
        return None

    # ---- scalars

    def scalar(self, node: yaml.Node, key: str, what: str) -> object:
        """The YAML value of a scalar node (str, int, float, bool, None, date...) or BAD."""
        if not isinstance(node, yaml.ScalarNode):
            self.add(node, key, f"expected {what}, got {_describe(node, None)}")
            return BAD
        return self._value(node)

    def text(self, f: Field, *, empty: bool = False, what: str = "text") -> str | Bad:
        """Stripped text; numbers and dates are kept as written. Empty only if ``empty``."""
        value = self.scalar(f.vnode, f.key, what)
        if value is BAD:
            return BAD
        if value is None:
            value = ""
        elif not isinstance(value, str):
            value = str(f.vnode.value)  # numbers, dates...: keep what the operator wrote
        value = value.strip()
        if not value and not empty:
            self.add(f.vnode, f.key, f"expected {what}, got nothing")
            return BAD
        return value

    def integer(self, f: Field, lo: int, hi: int | None = None) -> int | Bad:
        value = self.scalar(f.vnode, f.key, "a whole number")
        if value is BAD:
            return BAD
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f.vnode, f.key, f"expected a whole number, got {_describe(f.vnode, value)}")
            return BAD
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.add(f.vnode, f.key, f"must be {bound}, got {value}")
            return BAD
        return value

    def number(self, f: Field) -> float | Bad:
        """A number more than 0."""
        value = self.scalar(f.vnode, f.key, "a number")
        if value is BAD:
            return BAD
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(f.vnode, f.key, f"expected a number, got {_describe(f.vnode, value)}")
            return BAD
        if value <= 0:
            self.add(f.vnode, f.key, f"must be more than 0, got {value}")
            return BAD
        return float(value)

    def boolean(self, f: Field) -> bool | Bad:
        value = self.scalar(f.vnode, f.key, "true or false")
        if value is BAD:
            return BAD
        if not isinstance(value, bool):
            self.add(f.vnode, f.key, f"expected true or false, got {_describe(f.vnode, value)}")
            return BAD
        return value

    def duration(self, f: Field, *, zero: bool = False) -> float | Bad:
        """Seconds, more than 0 (or 0 with ``zero``), from ``30s``, ``1h30m``... or a number."""
        value = self.scalar(f.vnode, f.key, "a duration")
        if value is BAD:
            return BAD
        written = str(f.vnode.value)
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                seconds = parse_duration(value)
            else:
                seconds = parse_duration(written)
        except ValueError:
            self.add(f.vnode, f.key, f"bad duration {written!r} (use 30s, 20m, 6h, 7d)")
            return BAD
        if seconds < 0 or (seconds == 0 and not zero):
            self.add(f.vnode, f.key, f"must be more than 0, got {written!r}")
            return BAD
        return seconds

    def size(self, f: Field) -> int | Bad:
        """Bytes, more than 0, from ``512KiB``, ``15MiB``... or a number."""
        value = self.scalar(f.vnode, f.key, "a size")
        if value is BAD:
            return BAD
        written = str(f.vnode.value)
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                size = parse_size(value)
            else:
                size = parse_size(written)
        except ValueError:
            self.add(
                f.vnode,
                f.key,
                f"bad size {written!r} (use 512KiB, 15MiB, 1GB or a number of bytes)",
            )
            return BAD
        if size <= 0:
            self.add(f.vnode, f.key, f"must be more than 0, got {written!r}")
            return BAD
        return size

    def url(self, f: Field) -> str | Bad:
        value = self.text(f, what="a URL")
        if value is BAD:
            return BAD
        problem = url_problem(value)
        if problem:
            self.add(f.vnode, f.key, f"bad URL {value!r}: {problem}")
            return BAD
        return value

    def path(self, f: Field, *, base: Path | None = None) -> Path | Bad:
        """A path; relative ones resolve against ``base`` (default: the reader's)."""
        value = self.text(f, what="a path")
        if value is BAD:
            return BAD
        return self.resolve(value, base)

    def resolve(self, value: str | Path, base: Path | None = None) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base or self.base) / p

    def choice(self, f: Field, choices: Sequence[str], *, upper: bool = False) -> str | Bad:
        """One of ``choices``, compared in lower (or ``upper``) case."""
        value = self.text(f, what="one of " + ", ".join(choices))
        if value is BAD:
            return BAD
        norm = value.upper() if upper else value.lower()
        if norm not in choices:
            self.add(
                f.vnode,
                f.key,
                f"{value!r} is not one of {', '.join(choices)}" + did_you_mean(value, choices),
            )
            return BAD
        return norm

    def env_name(self, f: Field) -> str | Bad:
        """The name of an environment variable (may be empty); never echoes a wrong value."""
        value = self.text(f, empty=True, what="the name of an environment variable")
        if value is BAD:
            return BAD
        if value and not ENV_NAME.fullmatch(value):
            # Never echo the value: it may be the secret itself, pasted in by mistake.
            self.add(
                f.vnode,
                f.key,
                "expected the NAME of an environment variable (letters, "
                "digits and _), not its value",
            )
            return BAD
        return value
