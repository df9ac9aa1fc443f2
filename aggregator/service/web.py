"""``serve``: the published folder over HTTP, plus a route table for dynamic endpoints.

Feed readers poll often, so each file carries an ETag and Last-Modified and a matching
conditional GET gets a 304 with no body. Because ``publish`` never rewrites an unchanged file,
these validators stay put between runs. Text is gzipped when the client asks.

Dynamic endpoints (the digest's one-click ``/unsubscribe``, ``/subscribe`` and its confirmation,
``/preferences``) plug in through ``routes``: a mapping from a path prefix to a callable taking
the request handler; the first matching prefix (longest first) handles every method for its
paths, static files get GET and HEAD only. The access log never shows a link's token.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import mimetypes
import os
import posixpath
import sys
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store import Store
    from .subscribe import SubscribePages

log = logging.getLogger("aggregator.web")

#: A dynamic endpoint. It reads ``handler.command``, ``handler.path``, ``handler.headers`` and
#: ``handler.rfile``, and answers with ``handler.send_bytes(status, body, content_type)``.
RouteHandler = Callable[["RequestHandler"], None]

CONTENT_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: ``atom.xml`` is Atom although it ends in .xml.
NAMED_TYPES = {"atom.xml": "application/atom+xml; charset=utf-8"}
COMPRESSIBLE = (
    "text/",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "image/svg+xml",
)
GZIP_MIN_BYTES = 256
CACHE_CONTROL = "public, max-age=300"


def content_type(path: Path) -> str:
    if path.name in NAMED_TYPES:
        return NAMED_TYPES[path.name]
    if path.suffix.lower() in CONTENT_TYPES:
        return CONTENT_TYPES[path.suffix.lower()]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2), as If-None-Match requires."""
    if header.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in header.split(","))


class RequestHandler(BaseHTTPRequestHandler):
    """Static files from ``directory``; anything under a route prefix goes to its handler."""

    server_version = "aggregator"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    directory: Path = Path(".")
    routes: tuple[tuple[str, RouteHandler], ...] = ()

    # ---- dispatch -------------------------------------------------------------------------

    def _route(self) -> RouteHandler | None:
        path = urlsplit(self.path).path
        for prefix, handler in self.routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return handler
        return None

    def _dispatch(self) -> None:
        route = self._route()
        if route is not None:
            route(self)
        elif self.command in ("GET", "HEAD"):
            self._static()
        else:
            self.close_connection = True  # an unread body must not be read as the next request
            self.send_bytes(
                HTTPStatus.METHOD_NOT_ALLOWED,
                b"method not allowed\n",
                "text/plain; charset=utf-8",
                extra={"Allow": "GET, HEAD"},
            )

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    # ---- answers --------------------------------------------------------------------------

    def send_bytes(
        self,
        status: int,
        body: bytes,
        ctype: str,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """A complete response (body left out for HEAD); for route handlers too."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self.send_bytes(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _resolve(self) -> Path | None:
        """The file a URL path names inside ``directory``, or None (missing, hidden, outside)."""
        raw = unquote(urlsplit(self.path).path)
        if "\x00" in raw or "\\" in raw:
            return None
        parts = [p for p in posixpath.normpath("/" + raw).split("/") if p]
        if any(p.startswith(".") for p in parts):  # dotfiles, and publish's temp files
            return None
        root = self.directory.resolve()
        target = root.joinpath(*parts)
        if target.is_dir():
            target = target / "index.html"
        try:
            real = target.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(root) or not real.is_file():
            return None
        return real

    def _static(self) -> None:
        path = self._resolve()
        if path is None:
            self._not_found()
            return
        try:
            st = path.stat()
            body = path.read_bytes()
        except OSError:
            self._not_found()
            return
        ctype = content_type(path)
        compress = ctype.startswith(COMPRESSIBLE)
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        gz = (
            compress
            and len(body) >= GZIP_MIN_BYTES
            and _accepts_gzip(self.headers.get("Accept-Encoding"))
        )
        if gz:
            etag = etag[:-1] + '-gz"'
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Cache-Control": CACHE_CONTROL,
        }
        if compress:
            headers["Vary"] = "Accept-Encoding"
        if self._not_modified(etag, st.st_mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            return
        if gz:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        self.send_bytes(HTTPStatus.OK, body, ctype, headers)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # If-Modified-Since is ignored when If-None-Match is present
            return _etag_matches(inm, etag)
        ims = self.headers.get("If-Modified-Since")
        if not ims:
            return False
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(mtime) <= since

    def log_message(self, format: str, *args: object) -> None:
        """The access log, without the tokens of links (they act as passwords)."""
        from ..unsubscribe import redact

        log.info("%s %s", self.address_string(), redact(format % args))


#: A framework-free endpoint: ``(method, query, body) -> (status, headers, body)``; adapt it with
#: ``simple_route`` (``unsubscribe.handle`` has this shape once its store and secret are bound).
SimpleEndpoint = Callable[[str, str, bytes], tuple[int, list[tuple[str, str]], bytes]]
MAX_BODY = 64 * 1024


def read_body(req: RequestHandler) -> bytes | None:
    """The request body (at most ``MAX_BODY``), or None after answering 413."""
    try:
        length = int(req.headers.get("Content-Length") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > MAX_BODY:
        req.close_connection = True
        req.send_bytes(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"request too large\n", "text/plain; charset=utf-8"
        )
        return None
    return req.rfile.read(length) if length else b""


def send_response(
    req: RequestHandler, status: int, headers: list[tuple[str, str]], payload: bytes
) -> None:
    req.send_response(status)
    names = {k.lower() for k, _ in headers}
    for k, v in headers:
        req.send_header(k, v)
    if "content-length" not in names:
        req.send_header("Content-Length", str(len(payload)))
    req.end_headers()
    if req.command != "HEAD":
        req.wfile.write(payload)


def pages_route(pages: SubscribePages) -> RouteHandler:
    """A RouteHandler for the subscribe, confirmation and preferences pages."""
    from .subscribe import Request

    def handle(req: RequestHandler) -> None:
        body = read_body(req)
        if body is None:
            return
        parts = urlsplit(req.path)
        request = Request(
            req.command,
            parts.path,
            parts.query,
            body,
            client=req.client_address[0],
            headers=dict(req.headers.items()),
        )
        send_response(req, *pages.handle(request))

    return handle


def simple_route(endpoint: SimpleEndpoint) -> RouteHandler:
    """A RouteHandler that reads the request body (at most ``MAX_BODY``) and sends what
    ``endpoint`` returns."""

    def handle(req: RequestHandler) -> None:
        body = read_body(req)
        if body is None:
            return
        send_response(req, *endpoint(req.command, urlsplit(req.path).query, body))

    return handle


def make_server(
    directory: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    routes: Mapping[str, RouteHandler] | None = None,
) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0 picks a free one); call ``serve_forever()``."""
    table = tuple(sorted((routes or {}).items(), key=lambda kv: len(kv[0]), reverse=True))
    handler = type(
        "BoundRequestHandler",
        (RequestHandler,),
        {"directory": Path(directory), "routes": table},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(
    directory: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    routes: Mapping[str, RouteHandler] | None = None,
    announce: bool = False,
) -> None:
    """Serve until interrupted; ``announce`` prints the address on stderr (for the CLI)."""
    os.makedirs(directory, exist_ok=True)
    server = make_server(directory, host, port, routes)
    shown_host, shown_port = server.server_address[:2]
    assert isinstance(shown_host, str)  # an AF_INET server: the host is a str, never bytes
    log.info("serving %s on http://%s:%s/", directory, shown_host, shown_port)
    if announce:
        print(
            f"serving {directory} on http://{shown_host}:{shown_port}/ (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def dynamic_routes(settings: Settings, store: Store) -> dict[str, RouteHandler]:
    """The routes of ``serve`` over ``store``: one-click unsubscribe at the path of
    ``digest.unsubscribe_url``, and beside it ``subscribe`` (and ``subscribe/confirm``) and
    ``preferences``. One lock serialises them (one SQLite connection for the server's threads)."""
    from .. import unsubscribe
    from .subscribe import SubscribePages

    secret = unsubscribe.secret_for(settings.secret_env, store)
    pages = SubscribePages(settings, store, secret)

    def endpoint(method: str, query: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        with pages.lock:
            return unsubscribe.handle(method, query, body[: unsubscribe.MAX_BODY], store, secret)

    path = urlsplit(settings.digest.unsubscribe_url).path.rstrip("/") or "/unsubscribe"
    route = pages_route(pages)
    return {path: simple_route(endpoint), **{p: route for p in pages.paths.values()}}


def serve_forever(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    routes: Mapping[str, RouteHandler] | None = None,
) -> int:
    """``aggregator serve``: the output folder, the one-click unsubscribe, the subscribe and
    preferences pages, plus ``routes``. Returns an exit code."""
    from ..store import Store

    store = Store(settings.database)
    all_routes = {**dynamic_routes(settings, store), **(routes or {})}
    try:
        serve(settings.output.dir, host, port, all_routes, announce=True)
    finally:
        store.close()
    return 0
