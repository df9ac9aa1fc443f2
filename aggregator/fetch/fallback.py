"""The second try with http.client, for a response aiohttp's parser refuses.

llhttp (lenient mode) refuses a few malformed responses that http.client reads: a space before a
header's colon, a header line without one, a repeated Content-Length, and bytes after a complete
response in the same read (a body longer than its Content-Length, a 304 or 204 with a body).
Such a hop is asked for once more here, under the same guard, deadline and size cap.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any
from urllib.parse import SplitResult

from .decode import CHUNK_SIZE
from .guard import _allowed, _Network
from .loop import CONNECT_TIMEOUT


class _Plain:
    """A response read whole by ``_lenient_get``, with the parts of aiohttp's ClientResponse
    that ``_hops``, ``_finish`` and ``_read_body`` use."""

    def __init__(self, status: int, reason: str, headers: Any, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self._body = body
        self.content = self  # .content.iter_any(), as aiohttp's

    async def iter_any(self) -> Any:
        if self._body:
            yield self._body

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _lenient_get(
    url: str,
    parts: SplitResult,
    headers: dict[str, str],
    allow: tuple[_Network, ...],
    deadline: float,
    tls: ssl.SSLContext | None,
    cap: int,
    socks: list[socket.socket],
) -> _Plain:
    """GET with http.client, which reads what aiohttp's parser refuses (a space before a colon,
    a repeated Content-Length, bytes after the body). Runs in a thread; the same guard (resolved
    addresses checked, the checked one connected to), the same deadline (socket timeouts, and
    the caller shuts the socket at the deadline) and at most ``cap`` + 1 raw body bytes."""
    import http.client

    from multidict import CIMultiDict

    def left() -> float:
        t = deadline - time.monotonic()
        if t <= 0:
            raise TimeoutError("deadline")
        return t

    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answers = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    first = _allowed(answers, lambda a: str(a[4][0]), allow, host)[0]
    address = (str(first[4][0]), int(first[4][1]))
    sock = socket.create_connection(address, timeout=min(CONNECT_TIMEOUT, left()))
    socks.append(sock)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname=host)
        socks.append(sock)
    conn = http.client.HTTPConnection(host, port)
    conn.sock = sock
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers=headers)
        sock.settimeout(left())
        resp = conn.getresponse()
        body = bytearray()
        while len(body) <= cap:
            sock.settimeout(left())
            chunk = resp.read1(CHUNK_SIZE)
            if not chunk:
                break
            body += chunk
        fields = CIMultiDict((k.strip(), v) for k, v in resp.msg.items())  # Latin-1 already
        return _Plain(resp.status, resp.reason or "", fields, bytes(body))
    finally:
        conn.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
