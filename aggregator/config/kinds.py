"""Readers of the kinds of values config.yaml holds beyond plain types.

Language codes, tag slugs, topic lexicons, CIDRs, the weekly schedule, time zones, the subject
template and email addresses: each checks its value and records the problem with its line, as
the generic readers of ``reader.py`` do for numbers, durations, paths and URLs.
"""

from __future__ import annotations

import ipaddress
import re
import string
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .reader import BAD, Bad, Field, Reader
from .values import LANG, SLUG, did_you_mean, email_address, parse_schedule

#: Placeholders ``digest.subject`` may use (filled by the digest with str.format).
SUBJECT_PLACEHOLDERS = ("week", "dates", "count", "top")


class KindReader(Reader):
    """The generic readers plus one per kind of value of config.yaml."""

    def language(self, f: Field) -> str | Bad | None:
        value = self.text(f, empty=True, what="a two-letter language code")
        if value is BAD:
            return BAD
        if not value:
            return None
        if not LANG.fullmatch(value.lower()):
            self.add(
                f.vnode, f.key, f"bad language {value!r} (use a two-letter code such as fr, en, ar)"
            )
            return BAD
        return value.lower()

    def slugs(self, f: Field) -> tuple[str, ...] | Bad:
        nodes = self.sequence(f, "tag slugs such as [africa]")
        if nodes is None:
            return BAD
        out: list[str] = []
        bad = False
        for i, node in enumerate(nodes):
            item = f.item(i, node)
            value = self.text(item, what="a tag slug")
            if value is BAD:
                bad = True
            elif not SLUG.fullmatch(value):
                self.add(
                    node, item.key, f"bad tag {value!r} (use lower-case letters, digits and -)"
                )
                bad = True
            elif value not in out:
                out.append(value)
        return BAD if bad else tuple(out)

    def patterns(self, f: Field) -> tuple[str, ...] | Bad:
        """Regular expressions (Python syntax, matched case-insensitively), each compiled here
        so that a bad one is reported with its line instead of failing a fetch."""
        nodes = self.sequence(f, "regular expressions such as ['(?:sponsored|partner content)']")
        if nodes is None:
            return BAD
        out: list[str] = []
        for i, node in enumerate(nodes):
            item = f.item(i, node)
            value = self.text(item, what="a regular expression")
            if value is BAD:
                continue
            try:
                re.compile(value, re.IGNORECASE)
            except re.error as exc:
                self.add(node, item.key, f"bad regular expression {value!r}: {exc}")
                continue
            if any(ord(c) < 32 for c in value):
                self.add(
                    node,
                    item.key,
                    f"control character in {value!r} (in double quotes \\b is a backspace: "
                    "write the expression in single quotes)",
                )
                continue
            out.append(value)
        return tuple(out) if len(out) == len(nodes) else BAD

    def topics(self, f: Field) -> dict[str, dict[str, tuple[str, ...]]] | Bad:
        m = self.mapping(f.vnode, "topics")
        if m is None:
            return BAD
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        bad = False
        for name, tf in m.items():
            if not SLUG.fullmatch(name):
                self.add(
                    tf.knode,
                    tf.key,
                    "bad topic key (use lower-case letters, digits and -, e.g. diplomacy)",
                )
                bad = True
                continue
            langs = self.mapping(tf.vnode, tf.key)
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
                if not LANG.fullmatch(lang):
                    self.add(
                        lf.knode, lf.key, "bad language (use a two-letter code such as fr, en, ar)"
                    )
                    bad = True
                    continue
                nodes = self.sequence(lf, "terms")
                if nodes is None:
                    bad = True
                    continue
                terms: list[str] = []
                for i, n in enumerate(nodes):
                    term = self.text(lf.item(i, n), what="a term")
                    if term is BAD:
                        bad = True
                    else:
                        terms.append(term)
                if len(terms) == len(nodes):
                    out[name][lang] = tuple(terms)
        return BAD if bad else out

    def cidrs(self, f: Field) -> tuple[str, ...] | Bad:
        nodes = self.sequence(f, "CIDRs such as 127.0.0.0/8")
        if nodes is None:
            return BAD
        out: list[str] = []
        for i, node in enumerate(nodes):
            item = f.item(i, node)
            value = self.text(item, what="a CIDR such as 127.0.0.0/8")
            if value is BAD:
                continue
            try:
                out.append(str(ipaddress.ip_network(value, strict=False)))
            except ValueError:
                self.add(
                    node, item.key, f"invalid CIDR {value!r} (use e.g. 127.0.0.0/8 or ::1/128)"
                )
        return tuple(out) if len(out) == len(nodes) else BAD

    def schedule(self, f: Field) -> str | Bad:
        value = self.text(f, what="a weekday and a time")
        if value is BAD:
            return BAD
        try:
            day, hour, minute = parse_schedule(value)
        except ValueError:
            self.add(
                f.vnode,
                f.key,
                f"bad schedule {value!r} (weekly: a weekday and a time, such as 'mon 07:00')",
            )
            return BAD
        return f"{day} {hour:02d}:{minute:02d}"

    def timezone(self, f: Field) -> str | Bad:
        value = self.text(f, what="a time zone such as Africa/Casablanca")
        if value is BAD:
            return BAD
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.add(
                f.vnode,
                f.key,
                f"unknown time zone {value!r}" + did_you_mean(value, sorted(available_timezones())),
            )
            return BAD
        return value

    def locale(self, f: Field) -> str | Bad:
        """A locale Babel knows (``en``, ``fr``, ``ar``, ``fr-MA``): the digest's dates use it."""
        from babel import Locale, UnknownLocaleError

        value = self.text(f, what="a language code such as en, fr or ar")
        if value is BAD:
            return BAD
        try:
            Locale.parse(value.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            self.add(f.vnode, f.key, f"unknown locale {value!r} (use a code such as en, fr, ar)")
            return BAD
        return value

    def subject(self, f: Field) -> str | Bad:
        value = self.text(f, what="a subject line")
        if value is BAD:
            return BAD
        allowed = ", ".join("{" + p + "}" for p in SUBJECT_PLACEHOLDERS)
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            self.add(f.vnode, f.key, f"bad subject {value!r}: {exc} (use {{{{ and }}}} for braces)")
            return BAD
        unknown = [n for n in names if n not in SUBJECT_PLACEHOLDERS]
        if unknown:
            self.add(f.vnode, f.key, f"unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
            return BAD
        return value

    def address(self, f: Field) -> str | Bad:
        value = self.text(f, what="an email address")
        if value is BAD:
            return BAD
        if not email_address(value):
            self.add(f.vnode, f.key, f"invalid email address {value!r}")
            return BAD
        return value

    def addresses(self, f: Field) -> list[str]:
        """The good addresses of a list (the bad ones are problems)."""
        nodes = self.sequence(f, "email addresses")
        out: list[str] = []
        for i, node in enumerate(nodes or ()):
            value = self.address(f.item(i, node))
            if value is not BAD:
                out.append(value)
        return out
