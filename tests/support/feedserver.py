"""A real HTTP server on 127.0.0.1 for tests and demos: files with ETag/Last-Modified/304 and
gzip, plus endpoints that misbehave the way feed servers do (redirects, 410, 429, slow drips,
hangs, huge bodies, gzip bombs). Every request is logged so tests can assert what was sent.

Usable outside pytest::

    with FeedServer(root="tests/data/fetch") as srv:
        print(srv.url("feed.xml"))

Endpoints (besides files under ``root`` and documents added with ``put``):

=============================================  ===============================================
``/_status/<code>?retry_after=V``               that status, a short body, optional Retry-After
``/_redirect/<code>?to=PATH_OR_URL``            one redirect
``/_chain/<code>/<n>/<path>``                   n redirects, then ``/<path>``
``/_loop/a`` ↔ ``/_loop/b``                     a redirect loop (302)
``/_drip?bytes=N&every=S``                      headers at once, then one body byte every S s
``/_drip_headers?every=S``                      the status line and headers one byte every S s
``/_hang``                                      accepts, never answers (until the server stops)
``/_big?bytes=N&length=0``                      N bytes of text (``length=0``: no Content-Length)
``/_bomb?bytes=N``                              gzip expanding to N zero bytes, sent gzip-encoded
``/_slow?delay=S&doc=PATH``                     waits S s, then serves ``PATH`` (or a tiny body)
=============================================  ===============================================

``FeedServer(ssl_context=ctx)`` serves HTTPS instead (bring your own certificate).

Streaming endpoints stop when the client goes away or the server stops, and are bounded anyway
(``MAX_STALL`` seconds).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import mimetypes
import ssl
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

MAX_STALL = 30.0  # no endpoint keeps a connection longer than this


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # with query string
    headers: dict[str, str]  # lower-case names
    client: tuple = ()  # (address, port): same port = same (reused) connection
    at: float = field(default_factory=time.monotonic)


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    mtime: float = field(default_factory=time.time)
    etag: str | None = None  # computed from the body when None
    headers: dict[str, str] = field(default_factory=dict)  # extra, e.g. Cache-Control


Handler = Callable[["_RequestHandler"], None]


class FeedServer:
    """Threaded loopback HTTP server; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        gzip: bool = True,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.root = Path(root).resolve() if root is not None else None
        self.gzip = gzip
        self.log: list[LoggedRequest] = []
        self.docs: dict[str, Document] = {}
        self.routes: dict[str, Handler] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[str, int] = defaultdict(int)
        self._peak: dict[str, int] = defaultdict(int)
        self._bombs: dict[int, bytes] = {}
        self._httpd = _Server((host, 0), _RequestHandler)
        self.scheme = "https" if ssl_context is not None else "http"
        if ssl_context is not None:  # handshake in the handler thread, not in the accept loop
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._httpd.feed_server = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str = "") -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming it

    def put(self, path: str, body: bytes | str, content_type: str | None = None, **kw) -> str:
        """Serve ``body`` at ``path`` (with validators); return its URL. Replacing a document
        changes its ETag and Last-Modified, like editing a file."""
        data = body.encode() if isinstance(body, str) else body
        doc = Document(data, **kw)
        if content_type:
            doc.content_type = content_type
        self.docs["/" + path.lstrip("/")] = doc
        return self.url(path)

    def route(self, path: str, handler: Handler) -> str:
        """Answer ``path`` (exact, without query) with ``handler(request_handler)``."""
        self.routes["/" + path.lstrip("/")] = handler
        return self.url(path)

    # -- what happened

    def requests_for(self, path: str) -> list[LoggedRequest]:
        path = "/" + path.lstrip("/")
        with self._lock:
            return [r for r in self.log if urlsplit(r.path).path == path]

    def max_concurrent(self, prefix: str = "/") -> int:
        """Peak number of requests in flight at once whose path starts with ``prefix``."""
        with self._lock:
            return self._peak.get(prefix, 0)

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self._peak.clear()

    # -- internals

    def _enter(self, req: LoggedRequest) -> list[str]:
        path = urlsplit(req.path).path
        prefixes = ["/"] + [
            "/" + "/".join(path.strip("/").split("/")[: i + 1]) + "/"
            for i in range(path.count("/") - 1)
        ]
        with self._lock:
            self.log.append(req)
            for p in prefixes:
                self._active[p] += 1
                self._peak[p] = max(self._peak[p], self._active[p])
        return prefixes

    def _leave(self, prefixes: list[str]) -> None:
        with self._lock:
            for p in prefixes:
                self._active[p] -= 1

    def bomb(self, size: int) -> bytes:
        """gzip bytes that expand to ``size`` zero bytes (cached; ~1 KB per MB)."""
        with self._lock:
            if size not in self._bombs:
                comp = zlib.compressobj(9, zlib.DEFLATED, 31)
                block = bytes(1 << 20)
                parts = [comp.compress(block) for _ in range(size >> 20)]
                parts.append(comp.compress(bytes(size & ((1 << 20) - 1))))
                parts.append(comp.flush())
                self._bombs[size] = b"".join(parts)
            return self._bombs[size]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up (the fetcher giving up on purpose) are not errors here."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # resets, timeouts, TLS EOFs
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms stalls
    server_version = "feedserver/1.0"

    @property
    def fs(self) -> FeedServer:
        return self.server.feed_server  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = LoggedRequest(self.command, self.path, headers, tuple(self.client_address))
        prefixes = self.fs._enter(req)
        try:
            self._dispatch()
        except OSError:  # the client went away (often on purpose: deadline, size cap)
            self.close_connection = True
        finally:
            self.fs._leave(prefixes)

    # -- helpers for handlers (public: custom routes use them)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def redirect(self, code: int, to: str) -> None:
        self.send_body(code, b"moved", {"Location": to, "Content-Type": "text/plain"})

    def serve_document(self, doc: Document) -> None:
        etag = doc.etag or '"' + hashlib.sha1(doc.body).hexdigest()[:16] + '"'
        last_modified = email.utils.formatdate(doc.mtime, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": last_modified, **doc.headers}
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            if "*" in tags or etag.removeprefix("W/") in tags:
                return self.send_body(304, b"", validators)
        elif ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and int(doc.mtime) <= since:
                return self.send_body(304, b"", validators)
        body, headers = doc.body, {"Content-Type": doc.content_type, **validators}
        if self.fs.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, mtime=0)
            headers |= {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        self.send_body(200, body, headers)

    def stall(self, seconds: float) -> bool:
        """Sleep, but give up when the server stops. True if the full time passed."""
        return not self.fs.stopping.wait(min(seconds, MAX_STALL))

    # -- dispatch

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        fs = self.fs
        if path in fs.routes:
            return fs.routes[path](self)
        if path in fs.docs:
            return self.serve_document(fs.docs[path])
        parts = path.strip("/").split("/")
        name = parts[0]
        q = self.query
        if name == "_status" and len(parts) == 2:
            headers = {"Content-Type": "text/plain"}
            if "retry_after" in q:
                headers["Retry-After"] = q["retry_after"]
            return self.send_body(int(parts[1]), f"status {parts[1]}\n".encode(), headers)
        if name == "_redirect" and len(parts) == 2:
            return self.redirect(int(parts[1]), q.get("to", "/"))
        if name == "_chain" and len(parts) >= 4:
            code, n, rest = int(parts[1]), int(parts[2]), "/".join(parts[3:])
            return self.redirect(code, f"/_chain/{code}/{n - 1}/{rest}" if n > 1 else f"/{rest}")
        if name == "_loop" and len(parts) == 2:
            return self.redirect(302, "/_loop/b" if parts[1] == "a" else "/_loop/a")
        if name == "_drip":
            return self._drip(int(q.get("bytes", "60")), float(q.get("every", "1")))
        if name == "_drip_headers":
            return self._drip_headers(float(q.get("every", "1")))
        if name == "_hang":
            self.stall(MAX_STALL)
            self.close_connection = True
            return None
        if name == "_big":
            return self._big(int(q.get("bytes", str(20 << 20))), q.get("length") != "0")
        if name == "_bomb":
            body = fs.bomb(int(q.get("bytes", str(200 << 20))))
            headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
            return self.send_body(200, body, headers)
        if name == "_slow":
            self.stall(float(q.get("delay", "0.2")))
            doc = fs.docs.get("/" + q.get("doc", "").lstrip("/"))
            return self.serve_document(doc or Document(b"<rss version='2.0'><channel/></rss>"))
        if fs.root is not None:
            file = (fs.root / path.lstrip("/")).resolve()
            if file.is_file() and file.is_relative_to(fs.root):
                ctype = mimetypes.guess_type(file.name)[0] or "application/xml"
                data = file.read_bytes()
                return self.serve_document(Document(data, ctype, file.stat().st_mtime))
        return self.send_body(404, b"not found\n", {"Content-Type": "text/plain"})

    def _drip(self, nbytes: int, every: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(nbytes))
        self.end_headers()
        self.wfile.flush()
        deadline = time.monotonic() + MAX_STALL
        for _ in range(nbytes):
            if not self.stall(every) or time.monotonic() > deadline:
                break
            self.wfile.write(b" ")
            self.wfile.flush()
        self.close_connection = True

    def _drip_headers(self, every: float) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"
        )
        deadline = time.monotonic() + MAX_STALL
        for i in range(len(head)):
            if not self.stall(every) or time.monotonic() > deadline:
                break
            self.wfile.write(head[i : i + 1])
            self.wfile.flush()
        self.close_connection = True

    def _big(self, nbytes: int, with_length: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if with_length:
            self.send_header("Content-Length", str(nbytes))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        line = b"<!-- padding padding padding padding padding padding padding -->\n" * 1024
        sent = 0
        while sent < nbytes and not self.fs.stopping.is_set():
            chunk = line[: nbytes - sent]
            self.wfile.write(chunk)
            sent += len(chunk)
        self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    """``python tests/support/feedserver.py [DIR]``: serve DIR on loopback until Ctrl-C."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    with FeedServer(args[0] if args else ".") as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
