"""The weekly digest: pick the week's stories, rank them, render them, build the email.

Pure functions over models: no store, no SMTP. ``digest_run`` wires this to the store and the
mailer. The issue window is the ISO week in the digest's time zone measured by first-seen time,
because publisher dates are often wrong or shifting while first-seen never changes.
"""

from __future__ import annotations

import binascii
import email.policy
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
import markupsafe

from .errors import ConfigError
from .models import Digest, DigestSection, Story
from .templating import environment
from .text import excerpt, is_rtl, one_line

AI, AFRICA = "ai", "africa"
BUILTIN_SECTIONS = {
    "ai-africa": "AI & Africa",
    "ai": "Artificial intelligence",
    "africa": "Africa",
    "other": "Other stories",
}
EXCERPT_CHARS = 280
HTML_TEMPLATE, TEXT_TEMPLATE = "digest.html.j2", "digest.txt.j2"

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_SUBJECT_FIELD = re.compile(r"\{(week|top|count)\}")


# ---- the issue window --------------------------------------------------------------------


def resolve_week(spec: str | None, tz: str, now: datetime) -> tuple[str, datetime, datetime]:
    """``(issue, start_utc, end_utc)`` of ISO week ``spec`` ("2026-W48") in time zone ``tz``;
    without ``spec``, the last complete week before ``now``. ``end`` is exclusive."""
    zone = ZoneInfo(tz)
    if spec is None:
        local = now.astimezone(zone).date() - timedelta(days=7)
        year, week, _ = local.isocalendar()
    else:
        m = _WEEK_RE.match(spec.strip())
        if not m:
            raise ConfigError(f"--week {spec!r}: expected an ISO week such as 2026-W48")
        year, week = int(m[1]), int(m[2])
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ConfigError(f"--week {spec!r}: {year} has no week {week}") from exc
    start = datetime.combine(monday, time(0), zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone).astimezone(UTC)
    return f"{year:04d}-W{week:02d}", start, end


# ---- selection -----------------------------------------------------------------------------


def section_keys(topics: Iterable[str], include_other: bool) -> list[str]:
    """Section order: AI and Africa together, AI, Africa, operator topics, then "other"."""
    keys = ["ai-africa", AI, AFRICA]
    keys += [t for t in topics if t not in BUILTIN_SECTIONS and t not in keys]
    return keys + (["other"] if include_other else [])


def section_of(story: Story, keys: Sequence[str]) -> str | None:
    """The first section of ``keys`` that ``story`` belongs to (a story appears once)."""
    tags = set(story.tags)
    for key in keys:
        if key == "ai-africa":
            hit = AI in tags and AFRICA in tags
        else:
            hit = key == "other" or key in tags
        if hit:
            return key
    return None


def rank_key(story: Story) -> tuple:
    """Most outlets first, then most recent, then a stable tie-break."""
    seen = story.first_seen or story.item.first_seen
    return (-len(story.sources), -seen.timestamp(), -story.cluster_id)


def select_sections(
    stories: Iterable[Story], *, topics: Iterable[str], per_section: int, include_other: bool
) -> tuple[DigestSection, ...]:
    keys = section_keys(topics, include_other)
    buckets: dict[str, list[Story]] = {k: [] for k in keys}
    for story in stories:
        key = section_of(story, keys)
        if key is not None:
            buckets[key].append(story)
    out = []
    for key in keys:
        picked = sorted(buckets[key], key=rank_key)[: max(per_section, 0)]
        if picked:
            out.append(DigestSection(key, section_title(key), tuple(picked)))
    return tuple(out)


def section_title(key: str) -> str:
    return BUILTIN_SECTIONS.get(key) or key.replace("-", " ").replace("_", " ").capitalize()


def build_digest(
    issue: str,
    start: datetime,
    end: datetime,
    stories: Iterable[Story],
    *,
    subject: str,
    topics: Iterable[str] = (),
    per_section: int = 10,
    include_other: bool = False,
) -> Digest:
    """A digest of ``stories`` (those first seen in [start, end)); ``subject`` is the template
    from config with ``{week}``, ``{count}`` and ``{top}`` (the first story's title)."""
    sections = select_sections(
        stories, topics=topics, per_section=per_section, include_other=include_other
    )
    first = next((s.stories[0] for s in sections if s.stories), None)
    values = {
        "week": issue,
        "count": str(sum(len(s.stories) for s in sections)),
        "top": first.item.title if first else "",
    }
    text = _SUBJECT_FIELD.sub(lambda m: values[m[1]], subject)
    return Digest(issue, start, end, header_text(text) or issue, sections)


# ---- text hygiene ------------------------------------------------------------------------


def header_text(value: str, limit: int = 200) -> str:
    """One line of text safe for a header (see ``text.one_line``), at most ``limit`` characters."""
    return one_line(value, limit)


def safe_link(url: str | None) -> str | None:
    """Only http(s) links reach the email."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") and not any(c.isspace() for c in url) else None


# ---- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One story as the templates see it: plain text, already cleaned."""

    title: str
    link: str | None
    source: str
    excerpt: str
    date: str  # first seen, local date, YYYY-MM-DD
    dir: str  # "rtl" | "ltr"
    lang: str
    coverage: int  # number of outlets
    also_in: tuple[tuple[str, str | None], ...]  # (source, link)
    countries: tuple[str, ...]


def entries(section: DigestSection, zone: ZoneInfo) -> list[Entry]:
    out = []
    for story in section.stories:
        it = story.item
        title = header_text(it.title, limit=300) or "(untitled)"
        seen = (story.first_seen or it.first_seen).astimezone(zone)
        rtl = is_rtl(title, it.language)
        out.append(
            Entry(
                title=title,
                link=safe_link(it.link),
                source=header_text(it.source, limit=100),
                excerpt=excerpt(it.summary or it.content, EXCERPT_CHARS),
                date=seen.date().isoformat(),
                dir="rtl" if rtl else "ltr",
                lang=(it.language or ("ar" if rtl else "")).split("-")[0],
                coverage=len(story.sources),
                also_in=tuple(
                    (header_text(o.source, limit=100), safe_link(o.link)) for o in story.also_in
                ),
                countries=story.countries,
            )
        )
    return out


_R_MARK = "rcpt0q7x3k9mark"
_U_MARK = "https://unsub0q7x3k9mark.invalid/"


class Renderer:
    """Jinja2 templates: the operator's folder first, then the packaged defaults. Autoescape for
    HTML and StrictUndefined everywhere, so a typo in a template fails loudly, not silently."""

    def __init__(self, override_dir: Path | None, timezone: str, *, title: str = ""):
        self.env = environment(override_dir)
        self.zone = ZoneInfo(timezone)
        self.title = title
        try:
            self.html = self.env.get_template(HTML_TEMPLATE)
            self.text = self.env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def context(self, digest: Digest) -> dict:
        """The recipient-independent part of the template context."""
        last_day = (digest.end - timedelta(seconds=1)).astimezone(self.zone).date()
        sections = [
            {"key": s.key, "title": s.title, "entries": entries(s, self.zone)}
            for s in digest.sections
            if s.stories
        ]
        return {
            "issue": digest.issue,
            "week": digest.issue,
            "subject": digest.subject,
            "title": self.title or digest.subject,
            "start": digest.start.astimezone(self.zone).date().isoformat(),
            "end": last_day.isoformat(),
            "sections": sections,
            "story_count": sum(len(s["entries"]) for s in sections),
            "empty": digest.empty,
        }

    def render(
        self, context: Mapping, *, recipient: str, unsubscribe_url: str
    ) -> tuple[str, str]:
        """(text, html) for one recipient."""
        ctx = {**context, "recipient": recipient, "unsubscribe_url": unsubscribe_url}
        try:
            return self.text.render(ctx), self.html.render(ctx)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"digest template: {exc}") from exc

    def personaliser(self, context: Mapping) -> Callable[[str, str], tuple[str, str]]:
        """``f(recipient, unsubscribe_url) -> (text, html)`` for many recipients. Renders once
        with placeholders and substitutes (escaped for HTML) when a probe shows that gives
        exactly what rendering would; a template that transforms those values (a filter, say)
        is rendered for every recipient instead."""
        text, html = self.render(context, recipient=_R_MARK, unsubscribe_url=_U_MARK)

        def fast(recipient: str, url: str) -> tuple[str, str]:
            return (
                text.replace(_R_MARK, recipient).replace(_U_MARK, url),
                html.replace(_R_MARK, str(markupsafe.escape(recipient))).replace(
                    _U_MARK, str(markupsafe.escape(url))
                ),
            )

        def slow(recipient: str, url: str) -> tuple[str, str]:
            return self.render(context, recipient=recipient, unsubscribe_url=url)

        probe = ("o'k+<x>@example.org", "https://example.org/u?a=1&token=x.y")
        return fast if fast(*probe) == slow(*probe) else slow


# ---- the message ---------------------------------------------------------------------------


def address_domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.rpartition("@")[2].lower() or "localhost"


def message_id(issue: str, recipient: str, domain: str) -> str:
    """Deterministic: the same (issue, recipient) always gets the same Message-ID, so a resend
    after a crash is recognisable as the same message (and the outbox file has the same name)."""
    h = hashlib.sha256(f"{issue}\n{recipient.strip().lower()}".encode()).hexdigest()[:32]
    return f"<{issue}.{h}@{domain}>"


def list_id(sender: str) -> str:
    name, addr = parseaddr(sender)
    local, _, domain = addr.partition("@")
    ident = f"{local or 'digest'}.{domain or 'localhost'}".lower()
    ident = re.sub(r"[^a-z0-9.-]", "-", ident)
    label = header_text(name).replace('"', "")
    return f'"{label}" <{ident}>' if label else f"<{ident}>"


def compose(
    digest: Digest,
    text: str,
    html: str,
    *,
    sender: str,
    recipient: str,
    unsubscribe_https: str,
    unsubscribe_mailto: str,
    date: datetime,
) -> EmailMessage:
    """One message to one recipient: multipart/alternative, text/plain then text/html, UTF-8,
    with List-Id, List-Unsubscribe and RFC 8058 one-click headers."""
    name, addr = parseaddr(sender)
    msg = EmailMessage()
    msg["From"] = Address(display_name=header_text(name), addr_spec=addr)
    msg["To"] = Address(addr_spec=recipient)
    subject = header_text(digest.subject)
    msg["Subject"] = subject
    if str(msg["Subject"]) != subject:  # the parser decoded an "=?...?=" word from a title
        del msg["Subject"]
        msg["Subject"] = subject.replace("=?", "= ?")
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = message_id(digest.issue, recipient, address_domain(sender))
    msg["List-Id"] = list_id(sender)
    msg["List-Unsubscribe"] = f"<{unsubscribe_mailto}>, <{unsubscribe_https}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


# ---- many recipients, fast ----------------------------------------------------------------

#: How messages go on the wire: CRLF, RFC 2047 for non-ASCII text, and lines up to RFC 5322's
#: hard limit of 998 so a long List-Unsubscribe URL is never folded into encoded words.
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)
_MARK = "q7x3k9"
_S_TO = f"rcpt.{_MARK}@sentinel.invalid"
_S_MAILTO = f"mailto:unsub.{_MARK}@sentinel.invalid"
_S_HTTPS = f"https://sentinel.invalid/{_MARK}"
_S_TEXT, _S_HTML = f"BODYTEXT{_MARK}", f"BODYHTML{_MARK}"
_SIMPLE_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,190}$")
_SIMPLE_URI = re.compile(r"^[!#-;=?-~]{1,900}$")  # printable ASCII without space, < or >


class MessageFactory:
    """The bytes of one issue's message for many recipients, fast.

    ``compose()`` builds the message once with placeholders; the email package serialises it
    (that is where encoding and folding happen, and where the caller checks the headers). Each
    recipient's bytes are then the template with their address, Message-ID, unsubscribe links
    and quoted-printable bodies put in: about 0.3 ms instead of 6 ms per message. Values that
    are not plain ASCII (an internationalised address) fall back to ``compose()``."""

    def __init__(self, digest: Digest, *, sender: str, date: datetime):
        self.digest, self.sender, self.date = digest, sender, date
        self.domain = address_domain(sender)
        self.template = compose(digest, _S_TEXT, _S_HTML, sender=sender, recipient=_S_TO,
                                unsubscribe_https=_S_HTTPS, unsubscribe_mailto=_S_MAILTO,
                                date=date)  # fmt: skip
        raw = self.template.as_bytes(policy=WIRE_POLICY).decode("ascii")
        mid = message_id(digest.issue, _S_TO, self.domain)
        marks = {mid: "mid", _S_TO: "to", _S_MAILTO: "mailto", _S_HTTPS: "https",
                 _S_TEXT + "\r\n": "text", _S_HTML + "\r\n": "html"}  # fmt: skip
        pattern = "|".join(re.escape(m) for m in marks)
        pieces = re.split(f"({pattern})", raw)
        found = [marks[p] for p in pieces[1::2]]
        if sorted(found) != sorted(marks.values()):
            raise ValueError(f"message template: placeholders not intact: {found}")
        self.pieces = [(marks[p] if i % 2 else None, p) for i, p in enumerate(pieces)]
        self._lines: dict[str, str] | None = None  # QP of the lines every recipient shares

    def _qp(self, body: str) -> str:
        """``_qp(body)``, line by line (QP is line-local), reusing the encoding of lines seen in
        the first message: only the few lines that name the recipient are encoded each time."""
        lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        if self._lines is None or len(self._lines) > 50_000:
            self._lines = {}
        cache, out = self._lines, []
        for line in lines:
            enc = cache.get(line)
            if enc is None:
                enc = _qp(line)
                if len(cache) < 20_000:
                    cache[line] = enc
            out.append(enc)
        return "".join(out)

    def build(
        self, recipient: str, text: str, html: str, *, unsubscribe_https: str,
        unsubscribe_mailto: str,
    ) -> bytes | EmailMessage:  # fmt: skip
        simple = (
            _SIMPLE_ADDR.match(recipient)
            and _SIMPLE_URI.match(unsubscribe_https)
            and _SIMPLE_URI.match(unsubscribe_mailto)
        )
        if not simple:
            return compose(self.digest, text, html, sender=self.sender, recipient=recipient,
                           unsubscribe_https=unsubscribe_https,
                           unsubscribe_mailto=unsubscribe_mailto, date=self.date)  # fmt: skip
        values = {
            "mid": message_id(self.digest.issue, recipient, self.domain),
            "to": recipient,
            "mailto": unsubscribe_mailto,
            "https": unsubscribe_https,
            "text": self._qp(text),
            "html": self._qp(html),
        }
        return "".join(values[k] if k else p for k, p in self.pieces).encode("ascii")


def _qp(body: str) -> str:
    """Quoted-printable with CRLF line ends, as ``set_content(cte="quoted-printable")`` does."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    enc = binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")
    return enc.replace("\n", "\r\n")


__all__ = [
    "WIRE_POLICY",
    "Entry",
    "MessageFactory",
    "Renderer",
    "build_digest",
    "compose",
    "excerpt",
    "header_text",
    "list_id",
    "message_id",
    "resolve_week",
    "section_keys",
    "select_sections",
]
