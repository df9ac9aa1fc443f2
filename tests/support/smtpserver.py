"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

``Sink`` runs in a thread of the test process. ``script(stage, rcpt, n)`` lets a test answer a
command differently: return an SMTP reply ("451 4.3.0 later"), ``DROP`` to close the connection
without answering, or None for the normal reply. ``stage`` is "MAIL", "RCPT" or "DATA"; ``n``
counts calls of that stage for that recipient (1 on the first). Run as a script
(``python tests/support/smtpserver.py``) it serves until killed and prints its port, for
benchmarks and subprocess tests; messages are then only counted.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

DROP = "DROP"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class Handler:
    script: Callable[[str, str, int], str | None] | None = None
    delay_rcpt: float = 0.0
    delay_data: float = 0.0
    keep: bool = True
    messages: list[Received] = field(default_factory=list)
    count: int = 0
    calls: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _scripted(self, server, stage: str, rcpt: str) -> str | None:
        if self.script is None:
            return None
        with self.lock:
            self.calls[(stage, rcpt)] += 1
            n = self.calls[(stage, rcpt)]
        reply = self.script(stage, rcpt, n)
        if reply == DROP:
            server.transport.close()
            return "421 4.4.2 dropped"
        return reply

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self._scripted(server, "MAIL", address)
        if reply:
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.delay_rcpt:
            await asyncio.sleep(self.delay_rcpt)
        reply = self._scripted(server, "RCPT", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_data:
            await asyncio.sleep(self.delay_data)
        reply = self._scripted(server, "DATA", envelope.rcpt_tos[0])
        if reply:
            return reply
        with self.lock:
            self.count += 1
            if self.keep:
                self.messages.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                )
        return "250 2.0.0 queued"


class _Controller(Controller):
    def __init__(self, handler, **kw):
        self.connections = 0
        super().__init__(handler, **kw)

    def factory(self):  # called once per accepted connection
        self.connections += 1
        return SMTP(self.handler, **self.SMTP_kwargs)


class Sink:
    """Start with ``with Sink() as sink:``; ``sink.port``, ``sink.messages``, ``sink.connections``."""

    def __init__(self, *, port: int = 0, users: dict[str, str] | None = None, **handler_kw):
        self.handler = Handler(**handler_kw)
        self._base = 0
        kw: dict = {"command_call_limit": None, "server_hostname": "sink.test", "timeout": 30}
        if users is not None:

            def auth(server, session, envelope, mechanism, data):
                ok = (
                    isinstance(data, LoginPassword)
                    and users.get(data.login.decode()) == data.password.decode()
                )
                return AuthResult(success=ok, handled=False)

            kw.update(authenticator=auth, auth_require_tls=False, auth_required=True)
        self.controller = _Controller(self.handler, hostname="127.0.0.1", port=port or _free_port(),
                                      **kw)  # fmt: skip

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def connections(self) -> int:
        """Client connections, not counting the one ``Controller.start`` makes to check itself."""
        return self.controller.connections - self._base

    def by_recipient(self) -> Counter:
        return Counter(r for m in self.messages for r in m.rcpt_tos)

    def start(self) -> Sink:
        self.controller.start()
        self._base = self.controller.connections
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RefusingSink(Sink):
    """A ``Sink`` that refuses chosen recipients, as real servers do, for bounce tests.

    ``permanent``: address -> the reply at RCPT (``"550 5.1.1 <a@x>: user unknown"``; default
    that one), every time. ``at_data``: address -> a reply to DATA instead (``"552 5.2.2 mailbox
    full"``). ``temporary``: address -> how many times RCPT answers ``451 4.7.1 try again
    later`` before it accepts (greylisting). Addresses are compared in lower case; the others
    are accepted. ``sink.refused`` lists (stage, address, reply) in order."""

    UNKNOWN = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
    LATER = "451 4.7.1 <{rcpt}>: try again later"

    def __init__(self, *, permanent: dict[str, str] | None = None,
                 at_data: dict[str, str] | None = None,
                 temporary: dict[str, int] | None = None, **kw):  # fmt: skip
        self.permanent = {k.lower(): v for k, v in (permanent or {}).items()}
        self.at_data = {k.lower(): v for k, v in (at_data or {}).items()}
        self.temporary = {k.lower(): n for k, n in (temporary or {}).items()}
        self.refused: list[tuple[str, str, str]] = []
        super().__init__(script=self._answer, **kw)

    def _answer(self, stage: str, rcpt: str, n: int) -> str | None:
        key = rcpt.lower()
        reply = None
        if stage == "RCPT" and key in self.permanent:
            reply = self.permanent[key] or self.UNKNOWN
        elif stage == "RCPT" and n <= self.temporary.get(key, 0):
            reply = self.LATER
        elif stage == "DATA" and key in self.at_data:
            reply = self.at_data[key]
        if reply is not None:
            reply = reply.format(rcpt=rcpt)
            self.refused.append((stage, rcpt, reply))
        return reply


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _FastSink(asyncio.Protocol):
    """A minimal counting SMTP server (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for benchmarks:
    aiosmtpd reads DATA line by line (about 2 ms of CPU for a 30 KB message), which would measure
    the sink rather than the sender. Like a real MTA it answers DATA once it has the whole
    message."""

    count = 0

    def connection_made(self, transport):
        self.t, self.buf, self.data = transport, b"", False
        transport.write(b"220 fastsink ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        self.buf += chunk
        while True:
            if self.data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buf, self.data = self.buf[end + 5 :], False
                _FastSink.count += 1
                self.t.write(b"250 2.0.0 queued\r\n")
                continue
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            self.buf = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(b"250-fastsink\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n")
            elif verb == b"DATA":
                self.data = True
                self.buf = b"\r\n" + self.buf  # so a message of one line still ends in CRLF.CRLF
                self.t.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 OK\r\n")


def _serve_fast() -> None:
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FastSink, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        while True:
            await asyncio.sleep(1)
            print(_FastSink.count, flush=True)

    asyncio.run(main())


if __name__ == "__main__":  # a counting sink for benchmarks: prints its port, then counts
    if "--fast" in sys.argv:
        try:
            _serve_fast()
        except KeyboardInterrupt:
            sys.exit(0)
    sink = Sink(keep=False).start()
    print(sink.port, flush=True)
    try:
        while True:
            time.sleep(1)
            print(sink.handler.count, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
        sys.exit(0)
