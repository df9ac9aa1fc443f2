"""The email: one MIME message per recipient, and a factory that makes many of them fast.

``compose()`` is the reference: multipart/alternative (text then HTML), UTF-8 quoted-printable,
a deterministic Message-ID, List-Id, List-Unsubscribe and RFC 8058 one-click headers.
``MessageFactory`` produces the same bytes by filling a serialised template per recipient, and
its ``prebuilt`` edition (``Prebuilt``) the same again with the bodies encoded once: per recipient
only the lines that name them are encoded.
"""

from __future__ import annotations

import binascii
import email.policy
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

import markupsafe

from ..models import Digest
from .hygiene import header_text

if TYPE_CHECKING:
    from .render import Personaliser


def address_domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.rpartition("@")[2].lower() or "localhost"


def message_id(issue: str, recipient: str, domain: str) -> str:
    """Deterministic: the same (issue, recipient) always gets the same Message-ID, so a resend
    after a crash is recognisable as the same message (and the outbox file has the same name)."""
    h = hashlib.sha256(f"{issue}\n{recipient.strip().lower()}".encode()).hexdigest()[:32]
    return f"<{issue}.{h}@{domain}>"


def list_id(sender: str, ident: str = "") -> str:
    """The List-Id header (RFC 2919): the sender's name as the label and ``ident`` (config
    ``digest.list_id``), else ``<local.domain>`` of the sender's address."""
    name, addr = parseaddr(sender)
    if ident:
        ident = ident.strip().removeprefix("<").removesuffix(">")
    else:
        local, _, domain = addr.partition("@")
        ident = f"{local or 'digest'}.{domain or 'localhost'}".lower()
        ident = re.sub(r"[^a-z0-9.-]", "-", ident)
    label = header_text(name).replace('"', "").replace("\\", "")
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
    list_ident: str = "",
    headers: Mapping[str, str] | None = None,
    mid: str | None = None,
) -> EmailMessage:
    """One message to one recipient: multipart/alternative, text/plain then text/html, UTF-8,
    with List-Id (``list_ident``: config ``digest.list_id``), List-Unsubscribe and RFC 8058
    one-click headers, then ``headers`` (``X-Aggregator-Test``). ``mid`` replaces the
    deterministic Message-ID (a test message must not share the real one's)."""
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
    msg["Message-ID"] = mid or message_id(digest.issue, recipient, address_domain(sender))
    msg["List-Id"] = list_id(sender, list_ident)
    msg["List-Unsubscribe"] = f"<{unsubscribe_mailto}>, <{unsubscribe_https}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (headers or {}).items():
        msg[name] = header_text(value)
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
    and quoted-printable bodies put in, an order of magnitude cheaper than ``compose()``. Values
    that are not plain ASCII (an internationalised address) fall back to ``compose()``."""

    def __init__(
        self, digest: Digest, *, sender: str, date: datetime, list_ident: str = "",
        headers: Mapping[str, str] | None = None,
    ):  # fmt: skip
        self.digest, self.sender, self.date = digest, sender, date
        self.list_ident, self.headers = list_ident, dict(headers or {})
        self.domain = address_domain(sender)
        self.template = compose(digest, _S_TEXT, _S_HTML, sender=sender, recipient=_S_TO,
                                unsubscribe_https=_S_HTTPS, unsubscribe_mailto=_S_MAILTO,
                                date=date, list_ident=list_ident,
                                headers=self.headers)  # fmt: skip
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
        unsubscribe_mailto: str, mid: str | None = None,
    ) -> bytes | EmailMessage:  # fmt: skip
        simple = (
            _SIMPLE_ADDR.match(recipient)
            and _SIMPLE_URI.match(unsubscribe_https)
            and _SIMPLE_URI.match(unsubscribe_mailto)
        )
        if not simple:
            return compose(self.digest, text, html, sender=self.sender, recipient=recipient,
                           unsubscribe_https=unsubscribe_https,
                           unsubscribe_mailto=unsubscribe_mailto, date=self.date,
                           list_ident=self.list_ident, headers=self.headers,
                           mid=mid)  # fmt: skip
        values = {
            "mid": mid or message_id(self.digest.issue, recipient, self.domain),
            "to": recipient,
            "mailto": unsubscribe_mailto,
            "https": unsubscribe_https,
            "text": self._qp(text),
            "html": self._qp(html),
        }
        return "".join(values[k] if k else p for k, p in self.pieces).encode("ascii")

    def prebuilt(self, personaliser: Personaliser) -> Prebuilt | None:
        """This message with ``personaliser``'s edition encoded once (None when its template
        does not simply substitute the recipient's values: then ``build`` per recipient)."""
        return Prebuilt(self, personaliser) if personaliser.substitutes else None


class Prebuilt:
    """One edition's whole message encoded once, filled per recipient in its encoded form.

    ``build(...)`` returns exactly the bytes of ``factory.build(recipient, *personalise(...))``
    (a test holds them equal) at a fraction of the cost: the headers are the factory's
    template; quoted-printable is line-local, so the body lines without a recipient mark are
    encoded here once and only the few lines that name the recipient or carry their links are
    filled and encoded per message. Values the fast paths cannot take verbatim (``build``
    returns None) go the long way."""

    def __init__(self, factory: MessageFactory, personaliser: Personaliser):
        self.factory = factory
        self.marks = personaliser.MARKS
        text, html = personaliser.marked
        segments: list[str | tuple[str, str]] = []  # fixed text, or (slot, its template line)
        for kind, piece in factory.pieces:
            if kind is None:
                segments.append(piece)
            elif kind in ("text", "html"):
                segments.extend(self._body(text if kind == "text" else html, kind))
            else:
                segments.append((kind, ""))
        self.segments: list[str | tuple[str, str]] = []
        for seg in segments:  # join neighbouring fixed text
            if isinstance(seg, str) and self.segments and isinstance(self.segments[-1], str):
                self.segments[-1] += seg
            else:
                self.segments.append(seg)

    def _body(self, body: str, kind: str) -> list[str | tuple[str, str]]:
        """As ``MessageFactory._qp(body)`` (the same line split), but lines holding a mark are
        left as slots to encode per recipient."""
        lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        return [(kind, line) if any(m in line for m in self.marks) else _qp(line)
                for line in lines]  # fmt: skip

    def build(
        self, recipient: str, *, unsubscribe_https: str, unsubscribe_mailto: str,
        preferences: str, mid: str | None = None,
    ) -> bytes | None:  # fmt: skip
        """The message's bytes for one recipient, or None when a value is not plain (an
        internationalised address, no preferences link): use ``MessageFactory.build``."""
        if not (
            preferences
            and _SIMPLE_ADDR.match(recipient)
            and _SIMPLE_URI.match(unsubscribe_https)
            and _SIMPLE_URI.match(unsubscribe_mailto)
            and _SIMPLE_URI.match(preferences)
        ):
            return None
        f = self.factory
        r, u, p = self.marks
        esc = markupsafe.escape
        e_rcpt, e_url, e_prefs = (
            str(esc(recipient)),
            str(esc(unsubscribe_https)),
            str(esc(preferences)),
        )
        values = {
            "mid": mid or message_id(f.digest.issue, recipient, f.domain),
            "to": recipient,
            "mailto": unsubscribe_mailto,
            "https": unsubscribe_https,
        }
        out = []
        for seg in self.segments:
            if isinstance(seg, str):
                out.append(seg)
                continue
            kind, line = seg
            if kind == "text":
                line = line.replace(r, recipient).replace(u, unsubscribe_https)
                out.append(_qp(line.replace(p, preferences)))
            elif kind == "html":
                out.append(_qp(line.replace(r, e_rcpt).replace(u, e_url).replace(p, e_prefs)))
            else:
                out.append(values[kind])
        return "".join(out).encode("ascii")


def _qp(body: str) -> str:
    """Quoted-printable with CRLF line ends, as ``set_content(cte="quoted-printable")`` does."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    enc = binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")
    return enc.replace("\n", "\r\n")
