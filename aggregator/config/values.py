"""Pure parsers for the values config.yaml holds: durations, sizes, schedules, addresses, URLs.

No YAML and no line numbers here (see ``reader.py``): plain functions that raise ``ValueError`` or
return None, so the scheduler and the CLI can use them on their own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from .. import addresses

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {
    **{d: d for d in WEEKDAYS},
    **{
        full: full[:3]
        for full in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    },
}

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
LANG = re.compile(r"[a-z]{2}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1} | {
    f"{prefix}{kind}": base ** (n + 1)
    for n, prefix in enumerate("kmgt")
    for kind, base in (("b", 1000), ("ib", 1024))
}


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
    """The bare address of ``a@b.org`` or ``Name <a@b.org>``, or None when it is not one (the
    rule is ``aggregator.addresses``', the same the sender applies)."""
    box = addresses.valid(text)
    return box.address if box else None


def unique_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` without a second entry for the same address (case-insensitive), in order."""
    return addresses.unique(values)


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL, or None when it is one."""
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


def url_key(url: str) -> str:
    """Compare URLs the way a duplicate would slip in: case of scheme/host, trailing slash."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    match = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
