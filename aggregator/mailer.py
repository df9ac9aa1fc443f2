"""Deliver built messages: SMTP (connections reused for many messages) or an outbox folder.

Render, then send: ``digest`` builds an ``EmailMessage``; this module only turns it into bytes
(checking the serialised headers) and hands it over. Both transports call ``on_commit`` just
before the point of no return (writing the message and the final dot of DATA, in one write; the
rename of the .eml file) so the caller's ledger can tell "certainly not delivered" from "outcome
unknown" after a crash.
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from .errors import DeliveryError
from .files import write_atomic
from .settings import SmtpSettings

log = logging.getLogger(__name__)

# CRLF line ends, RFC 2047 for non-ASCII text. Lines may reach RFC 5322's hard limit of 998 so
# that a long List-Unsubscribe URL is never folded into encoded words (which breaks it). The same
# as digest.WIRE_POLICY (stages do not import each other).
_POLICY = email.policy.SMTP.clone(max_line_length=998)
_SINGLE = ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "mime-version")


class ConnectionFailed(DeliveryError):
    """The server cannot be reached or refuses us (connect, TLS, login): nobody can be sent to
    now, so the run stops instead of failing every recipient in turn."""


class Refused(DeliveryError):
    """The server refused this recipient's message (a 4xx or 5xx reply to MAIL, RCPT or DATA):
    ``code``, ``enhanced`` (RFC 3463 ``5.1.1``, None when the reply has none) and ``reply``."""

    def __init__(self, recipient: str, code: int, reply: str, *, permanent: bool):
        self.enhanced = enhanced_code(reply)
        self.reply = reply
        super().__init__(recipient, f"{code} {reply}", permanent=permanent, code=code)


class Deferred(Refused):
    """A 4xx refusal passed up at once by a mailer made with ``defer_temporary``: the caller
    tries this message again later (other recipients need not wait)."""


_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def enhanced_code(reply: str) -> str | None:
    """The first RFC 3463 enhanced status code (``5.1.1``) in a server's reply or a DSN's
    Status field, or None; not a piece of an address such as 10.5.1.1."""
    m = _ENHANCED.search(reply or "")
    return ".".join(m.groups()) if m else None


class Pacer:
    """The rate limit shared by every connection of a run: at most ``per_second`` messages a
    second (evenly spaced) and ``per_hour`` in any hour (a sliding window, primed with the
    times of messages sent by earlier runs); 0 means no limit. ``wait()`` blocks the calling
    thread until its message may go. ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self, per_second: float = 0.0, per_hour: int = 0, *, sent: Sequence[float] = (),
        clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
    ):  # fmt: skip
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self.per_hour = per_hour
        self.clock, self.sleep = clock or time.time, sleep or time.sleep
        self.lock = threading.Lock()
        self.next = 0.0  # the earliest time of the next message (per second)
        self.window: deque[float] = deque(sorted(sent)[-per_hour:] if per_hour else ())
        self.waited = 0.0  # seconds slept, over all threads

    @property
    def limited(self) -> bool:
        return bool(self.gap or self.per_hour)

    def wait(self) -> None:
        if not self.limited:
            return
        with self.lock:  # reserve a slot, then sleep outside the lock until it comes
            now = self.clock()
            at = max(now, self.next)
            if self.per_hour:
                while self.window and self.window[0] <= at - 3600:
                    self.window.popleft()
                if len(self.window) >= self.per_hour:
                    at = max(at, self.window[0] + 3600)
                self.window.append(at)
            self.next = at + self.gap
            delay = at - now
            self.waited += max(delay, 0.0)
        if delay > 0:
            self.sleep(delay)


class Transport(Protocol):
    def send(self, msg: EmailMessage | bytes | Wire, *, on_commit: Callable[[], None] | None = None,
             sender: str | None = None) -> None: ...  # fmt: skip

    def close(self) -> None: ...


@dataclass(frozen=True)
class Wire:
    """A message ready for the wire: checked CRLF bytes and its envelope."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def prepare(msg: EmailMessage | bytes | Wire, *, body_checked: bool = False) -> Wire:
    """Serialise (an ``EmailMessage``) and check the bytes; refuse what could be read as other
    headers than the ones written. Python 3.11.7's email package can emit a line break inside a
    folded header (CVE-2024-6923), so for an ``EmailMessage`` the serialised header block is
    parsed again and compared with what was set (the full round trip: run once per edition on
    its template, ``digest.MessageFactory``). Bytes (the factory's, filled per recipient) get
    the structural checks, on the header block by a plain scan; ``body_checked``: the body is
    the factory's (its template checked whole, the rest quoted-printable: ASCII, CRLF, short
    lines), so only the header block is scanned line by line. A ``Wire`` was checked already."""
    if isinstance(msg, Wire):
        return msg
    if isinstance(msg, EmailMessage):
        return _prepare_message(msg)
    raw = bytes(msg)
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    problem = None
    fields: list[tuple[str, str]] = []
    if not sep:
        problem = "no header/body separator"
    elif not raw.isascii() or _bare_line_ends(head, len(lines) - 1, body, body_checked):
        problem = "8-bit byte, bare CR or bare LF"
    elif max(map(len, lines)) > 998 or (
        not body_checked and max(map(len, body.split(b"\r\n"))) > 998
    ):
        problem = "line longer than 998 octets"
    else:
        for line in lines:
            if line[:1] in (b" ", b"\t") and fields:
                name, value = fields[-1]
                fields[-1] = (name, value + "\r\n" + line.decode("ascii"))
            elif _HEADER_START.match(line):
                name, _, value = line.decode("ascii").partition(":")
                fields.append((name.lower(), value))
            else:
                problem = "a header line that is not a header"
                break
    got = dict(reversed(fields))  # the first of each name, as the email parser's get()
    sender = _address(got.get("from", ""))
    recipient = _address(got.get("to", ""))
    if problem is None:
        names = [n for n, _ in fields]
        if any(names.count(n) > 1 for n in _SINGLE):
            problem = "a single-use header appears twice"
        elif not sender or not recipient:
            problem = "no From or To address"
    if problem:
        raise DeliveryError(recipient or "?", f"refusing to send: {problem}", permanent=True)
    return Wire(sender, recipient, got.get("message-id", "").strip(), raw)


_HEADER_START = re.compile(rb"[!-9;-~]+:")


def _bare_line_ends(head: bytes, crlfs: int, body: bytes, body_checked: bool) -> bool:
    if not head.count(b"\r") == head.count(b"\n") == crlfs:
        return True
    return not body_checked and not body.count(b"\r") == body.count(b"\n") == body.count(b"\r\n")


_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                       r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")  # fmt: skip


def _address(value: str) -> str:
    """``parseaddr(value)[1]``, without the parser for a bare address (a message's To)."""
    bare = value.strip()
    if _DOT_ATOM.fullmatch(bare):
        return bare
    return _parseaddr(value)


@functools.lru_cache(maxsize=256)
def _parseaddr(value: str) -> str:  # the same From on every message of a run
    return parseaddr(value)[1]


def _prepare_message(msg: EmailMessage) -> Wire:
    """``prepare`` of an ``EmailMessage``: serialise, check, and compare the header block the
    email package reads back with the headers that were set."""
    who = parseaddr(str(msg.get("To", "")))[1] or "?"
    try:
        raw = msg.as_bytes(policy=_POLICY)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise DeliveryError(who, f"cannot serialise message: {exc}", permanent=True) from exc
    head, sep, _ = raw.partition(b"\r\n\r\n")
    parsed = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\r\n\r\n")
    sender = parseaddr(parsed.get("From", ""))[1]
    recipient = parseaddr(parsed.get("To", ""))[1]
    names = [k.lower() for k in parsed]
    problem = None
    if not sep:
        problem = "no header/body separator"
    elif not raw.isascii() or not raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n"):
        problem = "8-bit byte, bare CR or bare LF"
    elif max(map(len, raw.split(b"\r\n"))) > 998:
        problem = "line longer than 998 octets"
    elif any(not line[:1].isspace() and not _HEADER_START.match(line)
             for line in head.split(b"\r\n")):  # fmt: skip
        problem = "a header line that is not a header"
    elif any(names.count(n) > 1 for n in _SINGLE):
        problem = "a single-use header appears twice"
    elif not sender or not recipient:
        problem = "no From or To address"
    else:
        want = [k.lower() for k in msg]
        if sorted(names) != sorted(want):
            problem = f"headers changed on the wire: {sorted(set(names) ^ set(want))}"
        else:
            decoded = BytesHeaderParser(policy=email.policy.default).parsebytes(head + b"\r\n\r\n")
            bad = [n for n, v in decoded.items() if "\r" in str(v) or "\n" in str(v)]
            problem = f"line break inside {bad[0]}" if bad else None
    if problem:
        who = recipient or who
        raise DeliveryError(who, f"refusing to send: {problem}", permanent=True)
    return Wire(sender, recipient, str(parsed.get("Message-ID", "")).strip(), raw)


def serialise(msg: EmailMessage | bytes | Wire) -> bytes:
    """``prepare(msg).data``: the checked bytes."""
    return prepare(msg).data


def _dot_stuff(raw: bytes) -> bytes:
    """RFC 5321 transparency (a message starts with a header, never with a dot)."""
    body = raw.replace(b"\r\n.", b"\r\n..") if b"\r\n." in raw else raw
    return body if body.endswith(b"\r\n") else body + b"\r\n"


class _Retry(Exception):
    """A temporary failure: try the same message again (after ``reconnect`` if set)."""

    def __init__(self, code: int | None, text: str, reconnect: bool = False, connect: bool = False):
        self.code, self.text, self.reconnect, self.connect = code, text, reconnect, connect
        super().__init__(text)


class SmtpMailer:
    """SMTP delivery over one connection reused for many messages (a fresh one after
    ``max_per_connection``, as servers cap messages per connection, and after a drop).

    4xx replies and dropped connections are retried ``retries`` times with exponential backoff
    (``sleep`` is injectable for tests); 5xx replies raise ``Refused(permanent=True)``.
    With ``defer_temporary`` a 4xx refusal of the recipient (not 421, which closes the
    connection) raises ``Deferred`` at once, for the caller to retry it later while the
    connection carries other messages. Connect/TLS/login failures raise ``ConnectionFailed``
    after the retries. A ``pacer`` is waited for before each transaction.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        password: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 3,
        backoff: float = 2.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        max_per_connection: int = 100,
        defer_temporary: bool = False,
        pacer: Pacer | None = None,
    ):
        if settings.security not in ("none", "starttls", "ssl"):
            raise ValueError(f"smtp.security: {settings.security!r}")
        self.settings = settings
        self.password = password
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.max_per_connection = max_per_connection  # servers cap messages per connection
        self.defer_temporary = defer_temporary  # a 4xx refusal raises Deferred, no sleeping here
        self.pacer = pacer
        self.conn: smtplib.SMTP | None = None
        self.on_conn = 0  # messages sent on the current connection
        self.connections = 0  # opened so far (connection reuse is observable)

    # ---- connection ------------------------------------------------------------------------

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        ctx = None if s.security == "none" else self.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=self.local_hostname, timeout=s.timeout, context=ctx
            )
        else:
            conn = smtplib.SMTP(
                s.host, s.port, local_hostname=self.local_hostname, timeout=s.timeout
            )
        try:
            # The end of DATA is a small write after a large one: without NODELAY, Nagle's
            # algorithm and delayed ACKs add ~40 ms to every message.
            assert conn.sock is not None  # the constructor connected (or raised)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise ConnectionFailed(s.host, "server does not offer STARTTLS", permanent=True)
                conn.starttls(context=ctx)
                conn.ehlo()
            if s.username:
                conn.login(s.username, self.password or "")
        except BaseException:
            _quietly(conn.close)
            raise
        self.connections += 1
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self.conn is not None and self.on_conn >= self.max_per_connection > 0:
            self.close()
        if self.conn is not None:
            return self.conn
        self.on_conn = 0
        try:
            self.conn = self._open()
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectionFailed(self.settings.host, f"login refused: {exc.smtp_code}",
                                   permanent=True, code=exc.smtp_code) from exc  # fmt: skip
        except smtplib.SMTPNotSupportedError as exc:
            raise ConnectionFailed(self.settings.host, f"{exc}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise _Retry(exc.smtp_code, _reply(exc.smtp_error), True, True) from exc
            raise ConnectionFailed(self.settings.host, f"{exc.smtp_code} {_reply(exc.smtp_error)}",
                                   permanent=True, code=exc.smtp_code) from exc  # fmt: skip
        except (OSError, smtplib.SMTPException) as exc:
            raise _Retry(None, f"cannot connect to {self.settings.host}:{self.settings.port}: "
                         f"{exc}", reconnect=True, connect=True) from exc  # fmt: skip
        return self.conn

    def _drop(self) -> None:
        if self.conn is not None:
            _quietly(self.conn.close)
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            _quietly(self.conn.quit)
        self._drop()

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- delivery --------------------------------------------------------------------------

    def send(
        self,
        msg: EmailMessage | bytes | Wire,
        *,
        on_commit: Callable[[], None] | None = None,
        sender: str | None = None,
    ) -> None:
        """Deliver ``msg``; ``sender`` is the envelope's MAIL FROM (a VERP return path) when it
        is not the From address."""
        wire = prepare(msg)
        recipient, raw = wire.recipient, _dot_stuff(wire.data)
        sender = sender or wire.sender
        attempt = 0
        while True:
            try:
                conn = self._connection()
                if self.pacer is not None:
                    self.pacer.wait()
                self._transaction(conn, sender, recipient, raw, on_commit)
                self.on_conn += 1
                return
            except _Retry as exc:
                if exc.reconnect:
                    self._drop()
                attempt += 1
                if attempt > self.retries:
                    if exc.connect:
                        raise ConnectionFailed(recipient, f"gave up after {attempt} attempts: "
                                               f"{exc.code or ''} {exc.text}".strip(),
                                               code=exc.code) from exc  # fmt: skip
                    if exc.code is not None and exc.code > 0:
                        raise Refused(recipient, exc.code, exc.text, permanent=False) from exc
                    raise DeliveryError(recipient, f"gave up after {attempt} attempts: "
                                        f"{exc.text}", code=exc.code) from exc  # fmt: skip
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("%s: temporary failure (%s), retry %d in %.0f s",
                            recipient, exc.text, attempt, delay)  # fmt: skip
                self.sleep(delay)

    def _transaction(
        self,
        conn: smtplib.SMTP,
        sender: str,
        recipient: str,
        raw: bytes,
        on_commit: Callable[[], None] | None,
    ) -> None:
        try:
            code, text = conn.mail(sender)
            self._check(conn, recipient, code, text, (250,))
            code, text = conn.rcpt(recipient)
            self._check(conn, recipient, code, text, (250, 251))
            conn.putcmd("data")
            code, text = conn.getreply()
            self._check(conn, recipient, code, text, (354,))
            if on_commit is not None:  # from here on the server may accept the message
                on_commit()
            conn.send(raw + b".\r\n")
            code, text = conn.getreply()
            self._check(conn, recipient, code, text, (250,), rset=False)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Retry(None, f"connection lost: {exc}", reconnect=True) from exc

    def _check(self, conn: smtplib.SMTP, recipient: str, code: int, text: bytes,
               ok: tuple[int, ...], rset: bool = True) -> None:  # fmt: skip
        if code in ok:
            return
        if rset and code != 421:
            _quietly(conn.rset)
        reply = _reply(text)
        if 400 <= code < 500 and code != 421 and self.defer_temporary:
            raise Deferred(recipient, code, reply, permanent=False)
        if 400 <= code < 500 or code == -1:
            raise _Retry(code, reply, reconnect=code in (421, -1))
        raise Refused(recipient, code, reply, permanent=True)


class Outbox:
    """Writes each message to ``directory/<Message-ID>.eml``, atomically (temp file, fsync,
    rename). The file's existence is the proof of delivery: a message already there is not
    written again, so a rerun after a crash never duplicates."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.written = 0

    def path_for(self, message_id: str) -> Path:
        mid = message_id.strip("<> ")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", mid.split("@")[0]) or "message"
        return self.directory / f"{name}.eml"

    def send(
        self,
        msg: EmailMessage | bytes | Wire,
        *,
        on_commit: Callable[[], None] | None = None,
        sender: str | None = None,  # no envelope in a file
    ) -> None:
        wire = prepare(msg)
        recipient, raw = wire.recipient, wire.data
        path = self.path_for(wire.message_id)
        if path.exists():
            return
        try:
            write_atomic(path, raw, mode=None, before_replace=on_commit)
        except OSError as exc:
            raise DeliveryError(recipient, f"cannot write {path}: {exc}") from exc
        self.written += 1

    def close(self) -> None:
        pass


def _reply(text: bytes | str) -> str:
    s = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(s.split())[:300]


def _quietly(fn: Callable[[], object]) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        fn()


__all__ = [
    "ConnectionFailed",
    "Deferred",
    "Outbox",
    "Pacer",
    "Refused",
    "SmtpMailer",
    "Transport",
    "Wire",
    "enhanced_code",
    "prepare",
    "serialise",
]
