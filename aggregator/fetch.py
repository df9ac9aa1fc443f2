"""HTTP for feeds: polite, bounded, and unable to reach private networks.

``Fetcher.fetch`` does one conditional GET of a source and returns a ``FetchResult`` or raises
``FetchError``; ``Fetcher.fetch_many`` runs many of them on a thread pool with a per-host limit.
``after_success`` / ``after_failure`` / ``is_due`` are pure: they turn an outcome and a clock
value into the source's next ``SourceState`` (backoff, Retry-After, redirects, 410).

Why the machinery below, rather than plain ``requests.get``:

* Cost: urllib3 is used directly (one pool per host, kept alive across fetches). requests' layer
  (per-request settings merging, cookie jars, hooks) was half of the CPU of a GET, and GETs are
  most of a refresh where everything is 304.
* urllib3 applies ``timeout`` per socket read, so a server dripping one byte a second never
  trips it. A watchdog thread shuts the socket down at the download's total deadline, whatever
  phase (headers, body) the worker is blocked in.
* The private-address check happens inside the connection, on the address actually connected
  to after DNS, for every hop: a DNS answer that changes between a check and the connect
  (rebinding) cannot slip past it.
* Redirects are followed by hand so that every hop is counted, loops are caught and the first
  hop's permanence is known. Cookies set along a redirect chain are sent on its next hops (some
  sites redirect to themselves with a cookie) and forgotten after the fetch.
* The body is read in small decoded chunks (urllib3 >= 2.6 bounds each decompression step), so a
  gzip bomb stops at ``max_bytes`` instead of being inflated first.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import queue
import random
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import TYPE_CHECKING, Self
from urllib.parse import urljoin, urlsplit

import urllib3.exceptions as u3err
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Timeout, parse_url
from urllib3.util import connection as u3connection
from urllib3.util.request import ACCEPT_ENCODING

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

from .errors import FetchError
from .models import FetchResult, SourceState
from .settings import FetchSettings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_CODES = frozenset({301, 308})
CONNECT_TIMEOUT = 10.0  # seconds; never more than what is left of the total deadline
CHUNK_SIZE = 64 * 1024  # decoded bytes per read: bounds memory per step of a decompression bomb
DRAIN_LIMIT = 64 * 1024  # bytes of a redirect/error body read so the connection can be reused

MOVE_CONFIRMATIONS = 3  # consecutive fetches seeing the same permanent redirect
MAX_LENGTHEN = timedelta(hours=24)  # TTL / max-age may lengthen the interval up to this
MAX_BACKOFF = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=7)
JITTER = 0.2  # backoff delay is drawn from [(1 - JITTER) * d, d]

_DECODABLE = frozenset({"", "identity", "gzip", "x-gzip", "deflate"}) | frozenset(
    e.strip() for e in ACCEPT_ENCODING.split(",")
)


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- address guard

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(cidrs: Iterable[str]) -> tuple[_Network, ...]:
    """``["127.0.0.0/8", "::1"]`` → networks (host bits tolerated; config validates strictly)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def is_public_address(address: str | _Address) -> bool:
    """False for loopback, private, link-local, multicast, unspecified, reserved and any other
    non-global address, looking through IPv4-mapped, NAT64 and 6to4 IPv6 addresses to the IPv4
    address inside."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d reaches a.b.c.d
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:  # DNS64 on an IPv6-only network: the IPv4 address inside decides
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def address_allowed(address: str, allow: Iterable[_Network] = ()) -> bool:
    """May we connect to ``address``? Public addresses yes; others only inside ``allow``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if is_public_address(ip):
        return True
    candidates: list[_Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in allow)


class _Refused(Exception):
    """Raised inside urllib3 (deliberately not an OSError, so nothing there retries or wraps it)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(address)


# --------------------------------------------------------------------------- deadline watchdog


class _Watch:
    """One download's deadline and the connections it uses; the watchdog shuts them at expiry."""

    def __init__(self, deadline: float, allow: tuple[_Network, ...]):
        self.deadline = deadline
        self.allow = allow
        self.expired = False
        self._done = False
        # Sockets, not connections: http.client drops ``conn.sock`` for a ``Connection: close``
        # response while the response still reads from the socket.
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self._done:
                return
            self._socks.append(sock)
            if self.expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """A single thread that expires ``_Watch``es at their deadline (one heap, one condition)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, deadline: float, allow: tuple[_Network, ...]) -> _Watch:
        w = _Watch(deadline, allow)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), w))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return w

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    heapq.heappop(self._heap)[2].expire()
                self._cond.wait(self._heap[0][0] - now if self._heap else None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)


_current = threading.local()  # .watch: the _Watch of the download running in this thread


# --------------------------------------------------------------------------- guarded connections


class _GuardMixin:
    """Resolve, drop disallowed addresses, connect, check the peer; register with the watchdog."""

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        watch: _Watch | None = getattr(_current, "watch", None)
        allow = watch.allow if watch is not None else ()
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as e:
            host_name = self.host  # type: ignore[attr-defined]
            raise NameResolutionError(host_name, self, e) from e  # type: ignore[arg-type]
        refused: str | None = None
        last_error: OSError | None = None
        for _family, _type, _proto, _name, sockaddr in infos:
            ip = str(sockaddr[0])
            if not address_allowed(ip, allow):
                refused = refused or ip
                continue
            timeout = self.timeout  # type: ignore[attr-defined]
            if watch is not None:
                left = watch.deadline - time.monotonic()
                if left <= 0:
                    raise ConnectTimeoutError(self, f"Connection to {host} timed out")
                timeout = left if timeout is None else min(timeout, left)
            try:
                sock = u3connection.create_connection(
                    (ip, port),
                    timeout,
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except OSError as e:  # includes TimeoutError: try the next address
                last_error = e
                continue
            peer = str(sock.getpeername()[0])
            if not address_allowed(peer, allow):  # belt and braces: what we really reached
                sock.close()
                raise _Refused(peer)
            if watch is not None:
                watch.attach(sock)
            return sock
        if last_error is None:
            raise _Refused(refused or host)
        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {host} timed out") from last_error
        message = f"Failed to establish a new connection: {last_error}"
        raise NewConnectionError(self, message) from last_error  # type: ignore[arg-type]

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self.sock)  # type: ignore[attr-defined]  # a reused keep-alive connection
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


# --------------------------------------------------------------------------- header parsing


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After: 120`` or an HTTP date → an absolute UTC time; garbage → None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), 10 * 365 * 86400))
    return _http_date(value)


def parse_max_age(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Freshness the server grants: Cache-Control max-age, else Expires - Date. None if none."""
    cache_control = headers.get("cache-control") or ""
    if re.search(r"\b(no-cache|no-store)\b", cache_control, re.IGNORECASE):
        return None
    m = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control, re.IGNORECASE)
    if m:
        seconds = int(m.group(1))
        return timedelta(seconds=min(seconds, 10 * 365 * 86400)) if seconds > 0 else None
    expires = _http_date(headers.get("expires"))
    if expires is None:
        return None
    age = expires - (_http_date(headers.get("date")) or now)
    return age if age > timedelta(0) else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def human_size(n: int) -> str:
    """15728640 → "15 MiB"; 1536 → "1.5 KiB"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"


def _seconds(t: float) -> str:
    return f"{t:g} s"


def host_key(url: str) -> tuple[str, int]:
    """What ``per_host`` counts: host name and port of a URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ("", 0)
    return ((parts.hostname or "").lower(), port)


# --------------------------------------------------------------------------- the fetcher


class Fetcher:
    """Guarded urllib3 connection pools (one per host, keep-alive) shared by all workers."""

    def __init__(self, settings: FetchSettings, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock
        self.allow = parse_networks(settings.allow_private)
        self._watchdog = _Watchdog()
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept-Encoding": ", ".join(e.strip() for e in ACCEPT_ENCODING.split(",")),
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
            "Connection": "keep-alive",
        }
        self._pools: dict[tuple[str, str, int], HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()
        self._maxsize = max(1, settings.per_host)  # fetch_many never opens more per host

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self._watchdog.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pool(self, scheme: str, host: str, port: int) -> HTTPConnectionPool:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(key)
                if pool is None:
                    kw: dict = {"maxsize": self._maxsize, "block": False, "retries": False}
                    if scheme == "https":
                        pool = _GuardedHTTPSPool(host, port, **kw, **_tls_options())
                    else:
                        pool = _GuardedHTTPPool(host, port, **kw)
                    self._pools[key] = pool
        return pool

    # -- one download

    def fetch(self, state: SourceState) -> FetchResult:
        """Conditional GET of ``state.fetch_url``; 2xx and 304 return, anything else raises."""
        start = time.monotonic()
        timeout = self.settings.timeout
        watch = self._watchdog.watch(start + timeout, self.allow)
        _current.watch = watch
        url = state.fetch_url
        try:
            result = self._fetch(state, watch, start)
            if watch.expired:  # a deadline hit mid-read can look like a short, complete body
                raise FetchError(url, f"timed out after {_seconds(timeout)}")
            return result
        except FetchError:
            raise
        except _BodyBroken as e:  # the watchdog shutting the socket also breaks the body
            if watch.expired or time.monotonic() >= watch.deadline:
                raise FetchError(url, f"timed out after {_seconds(timeout)}") from e
            raise FetchError(url, e.message) from e.__cause__
        except _Refused as e:
            raise FetchError(
                url, f"refused private address {e.address} (allow with fetch.allow_private)"
            ) from None
        except (u3err.HTTPError, HTTPException, OSError, ValueError) as e:
            if watch.expired or time.monotonic() >= watch.deadline:
                raise FetchError(url, f"timed out after {_seconds(timeout)}") from e
            raise FetchError(url, _describe(e)) from e
        finally:
            watch.finish()
            _current.watch = None

    def _fetch(self, state: SourceState, watch: _Watch, start: float) -> FetchResult:
        headers = dict(self._headers)
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        jar: CookieJar | None = None  # cookies live for one fetch only (made on the first one)
        url = state.fetch_url
        seen: set[tuple[str, tuple]] = set()
        permanent: str | None = None
        permanent_chain = True
        hops = 0
        while True:
            parts = parse_url(url)
            if parts.scheme not in ("http", "https") or not parts.host:
                raise FetchError(state.fetch_url, f"unsupported URL scheme: {url}")
            seen.add((url, _cookie_items(jar)))
            left = watch.deadline - time.monotonic()
            if left <= 0:
                raise FetchError(
                    state.fetch_url, f"timed out after {_seconds(self.settings.timeout)}"
                )
            if jar is not None:
                _cookie_header(jar, url, headers)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            resp = self._pool(parts.scheme, parts.host, port).urlopen(
                "GET",
                parts.request_uri,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=True,
                timeout=Timeout(connect=min(CONNECT_TIMEOUT, left), read=left),
            )
            done = [False]  # the body was read to its end: the connection can be reused
            try:
                if "set-cookie" in resp.headers:
                    jar = _store_cookies(jar, url, resp)
                status = resp.status
                if status in REDIRECT_CODES:
                    target = _redirect_target(resp)
                    if not target:
                        raise FetchError(state.fetch_url, f"HTTP {status} without Location")
                    target = urljoin(url, target)
                    self._drain(resp, watch, done)
                    if permanent_chain and status in PERMANENT_CODES:
                        permanent = target
                    else:
                        permanent_chain = False
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise FetchError(
                            state.fetch_url, f"too many redirects (more than {MAX_REDIRECTS})"
                        )
                    if (target, _cookie_items(jar)) in seen:
                        raise FetchError(state.fetch_url, f"redirect loop at {target}")
                    url = target
                    continue
                return self._finish(state, resp, url, permanent, watch, start, done)
            finally:
                if not done[0]:
                    resp.close()  # a body left unread: the connection is dropped, not reused
                resp.release_conn()

    def _finish(
        self,
        state: SourceState,
        resp: BaseHTTPResponse,
        url: str,
        permanent: str | None,
        watch: _Watch,
        start: float,
        done: list[bool],
    ) -> FetchResult:
        now = self.clock()
        status = resp.status
        h = resp.headers
        retry_after = parse_retry_after(h.get("retry-after"), now)
        if status != 304 and not 200 <= status < 300:
            self._drain(resp, watch, done)
            where = "" if url == state.fetch_url else f" (at {url})"
            raise FetchError(
                state.fetch_url,
                f"HTTP {status} {resp.reason or ''}".rstrip() + where,
                status=status,
                retry_after=retry_after,
            )
        if status == 304:
            self._drain(resp, watch, done)  # the (empty) body consumed: the connection is reused
            content = None
        else:
            content = self._read_body(state.fetch_url, resp, watch, done)
        return FetchResult(
            source=state.name,
            url=state.fetch_url,
            final_url=url,
            status=status,
            headers=h,  # urllib3's HTTPHeaderDict: case-insensitive
            content=content,
            etag=h.get("etag") or state.etag,
            last_modified=h.get("last-modified") or state.last_modified,
            permanent_redirect=permanent,
            retry_after=retry_after,
            max_age=parse_max_age(h, now),
            elapsed=time.monotonic() - start,
        )

    def _read_body(
        self, source_url: str, resp: BaseHTTPResponse, watch: _Watch, done: list[bool]
    ) -> bytes:
        cap = self.settings.max_bytes
        encoding = (resp.headers.get("content-encoding") or "").strip().lower()
        if any(e.strip() not in _DECODABLE for e in encoding.split(",")):
            raise FetchError(source_url, f"unsupported Content-Encoding: {encoding}")
        length = resp.headers.get("content-length", "")
        if not encoding and length.isdigit() and int(length) > cap:
            raise FetchError(source_url, f"body larger than {human_size(cap)}")
        body = bytearray()
        for chunk in _chunks(resp):
            body += chunk
            if len(body) > cap:
                raise FetchError(source_url, f"body larger than {human_size(cap)}")
            if time.monotonic() >= watch.deadline:
                raise FetchError(source_url, f"timed out after {_seconds(self.settings.timeout)}")
        done[0] = True
        return bytes(body)

    @staticmethod
    def _drain(resp: BaseHTTPResponse, watch: _Watch, done: list[bool]) -> None:
        """Read a small redirect/error body so the connection goes back to the pool."""
        read = 0
        for chunk in _chunks(resp):
            read += len(chunk)
            if read > DRAIN_LIMIT or time.monotonic() >= watch.deadline:
                return  # the connection is dropped instead
        done[0] = True

    # -- many downloads

    def fetch_many(
        self, states: Iterable[SourceState]
    ) -> Iterator[tuple[SourceState, FetchResult | FetchError]]:
        """Fetch concurrently (``workers`` threads, at most ``per_host`` per host); yield each
        outcome as it completes. Only ready work is handed out, so no worker waits on a host.

        The threads are started before the first request, while nothing else runs: a thread
        started in the middle of busy fetch threads waits for the GIL (up to the 5 ms switch
        interval each), which delayed the start of the 100th request by ~0.4 s."""
        per_host = max(1, self.settings.per_host)
        queues: dict[tuple[str, int], deque[SourceState]] = {}
        for s in states:
            queues.setdefault(host_key(s.fetch_url), deque()).append(s)
        usable = sum(min(per_host, len(q)) for q in queues.values())
        workers = max(1, min(self.settings.workers, usable))
        active = dict.fromkeys(queues, 0)
        ready = deque(queues)  # hosts with queued work and a free slot
        in_ready = set(queues)
        todo: queue.SimpleQueue[SourceState | None] = queue.SimpleQueue()
        done: queue.SimpleQueue[tuple[SourceState, FetchResult | FetchError]] = (
            queue.SimpleQueue()
        )
        running = 0

        def work() -> None:
            while (state := todo.get()) is not None:
                done.put((state, self._outcome(state)))

        def fill() -> None:
            nonlocal running
            while running < workers and ready:
                key = ready.popleft()
                in_ready.discard(key)
                todo.put(queues[key].popleft())
                active[key] += 1
                running += 1
                if queues[key] and active[key] < per_host:
                    ready.append(key)
                    in_ready.add(key)

        threads = [
            threading.Thread(target=work, name=f"fetch_{n}", daemon=True)
            for n in range(workers if queues else 0)
        ]
        for t in threads:
            t.start()
        try:
            fill()
            while running:
                finished = [done.get()]
                while True:  # whatever else is ready: one refill for all of them
                    try:
                        finished.append(done.get_nowait())
                    except queue.Empty:
                        break
                for state, _outcome in finished:
                    key = host_key(state.fetch_url)
                    active[key] -= 1
                    running -= 1
                    if queues[key] and key not in in_ready:
                        ready.append(key)
                        in_ready.add(key)
                fill()
                yield from finished
        finally:
            for _ in threads:
                todo.put(None)  # after the work already handed out: running fetches finish
            for t in threads:
                t.join()

    def _outcome(self, state: SourceState) -> FetchResult | FetchError:
        try:
            return self.fetch(state)
        except FetchError as e:
            return e
        except Exception as e:  # a bug must not stop the other sources; keep its traceback
            log.exception("%s: unexpected error while fetching", state.name)
            err = FetchError(state.fetch_url, f"unexpected error: {type(e).__name__}: {e}")
            err.__cause__ = e
            return err




class _BodyBroken(Exception):
    """Reading a body failed; ``fetch`` tells a deadline from a real failure."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _chunks(resp: BaseHTTPResponse) -> Iterator[bytes]:
    """Decoded chunks of at most ``CHUNK_SIZE`` bytes (urllib3 >= 2.6 bounds each decompression
    step, so a gzip bomb is never inflated whole)."""
    try:
        yield from resp.stream(CHUNK_SIZE, decode_content=True)
    except u3err.DecodeError as e:
        raise _BodyBroken("could not decode compressed body") from e
    except u3err.ProtocolError as e:
        raise _BodyBroken("connection broken while reading the body") from e


def _redirect_target(resp: BaseHTTPResponse) -> str | None:
    """The Location header (http.client decodes headers as Latin-1; servers send UTF-8)."""
    location = resp.headers.get("location")
    if not location:
        return None
    try:
        return location.encode("latin1").decode("utf8")
    except UnicodeError:
        return location


def _tls_options() -> dict:
    """Verify certificates against certifi's bundle when it is installed (what requests did),
    else the system's."""
    try:
        import certifi
    except ImportError:  # pragma: no cover
        return {"cert_reqs": "CERT_REQUIRED"}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}


# Cookies along a redirect chain (rare: the standard library's cookie machinery loads on demand).


class _CookieResponse:
    """What ``CookieJar.extract_cookies`` needs of a response."""

    def __init__(self, resp: BaseHTTPResponse):
        self._headers = resp.headers

    def info(self) -> _CookieResponse:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._headers.getlist(name) or default


def _store_cookies(jar: CookieJar | None, url: str, resp: BaseHTTPResponse) -> CookieJar:
    from http.cookiejar import CookieJar
    from urllib.request import Request

    if jar is None:
        jar = CookieJar()
    jar.extract_cookies(_CookieResponse(resp), Request(url))  # type: ignore[arg-type]
    return jar


def _cookie_header(jar: CookieJar, url: str, headers: dict[str, str]) -> None:
    from urllib.request import Request

    req = Request(url)
    jar.add_cookie_header(req)
    cookie = req.get_header("Cookie")
    if cookie:
        headers["Cookie"] = cookie
    else:
        headers.pop("Cookie", None)


def _cookie_items(jar: CookieJar | None) -> tuple:
    return () if jar is None else tuple(sorted((c.name, c.value or "") for c in jar))


def _describe(e: BaseException) -> str:
    """A short, readable reason from urllib3's nested exceptions."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[-1], BaseException):
            nxt = cur.args[-1]  # ProtocolError("Connection aborted.", err)
        if nxt is None and isinstance(getattr(cur, "reason", None), BaseException):
            nxt = cur.reason  # type: ignore[attr-defined]
        cur = nxt

    def has(*types: type) -> bool:
        return any(isinstance(c, types) for c in chain)

    if has(NameResolutionError, socket.gaierror):
        return "could not resolve host"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(u3err.SSLError, _ssl_errors()):
        return f"TLS error: {e}"
    if has(ConnectTimeoutError) and not has(NewConnectionError):
        return "connect timed out"
    if has(u3err.DecodeError):
        return "could not decode compressed body"
    if has(NewConnectionError, u3err.ProtocolError, ConnectionError, HTTPException):
        return "connection failed"
    return f"{type(e).__name__}: {e}"


def _ssl_errors() -> tuple[type, ...]:
    """ssl's exception types, when ssl was loaded (an https pool does); else none."""
    mod = sys.modules.get("ssl")
    return (mod.SSLError, mod.CertificateError) if mod is not None else ()


# --------------------------------------------------------------------------- state policy (pure)


def after_success(
    state: SourceState,
    result: FetchResult,
    now: datetime,
    interval: float,
    ttl: timedelta | None = None,
    body_hash: str | None = None,
    warning: str | None = None,
) -> SourceState:
    """The state after a 2xx or 304: validators stored, errors cleared, next attempt scheduled
    (the server's max-age or the feed's TTL may lengthen the interval, up to ``MAX_LENGTHEN``),
    and a permanent redirect counted towards a move."""
    lengthen = max((d for d in (ttl, result.max_age) if d is not None), default=timedelta(0))
    delay = max(timedelta(seconds=interval), min(lengthen, MAX_LENGTHEN))
    fetch_url, moved_to, moved_count = state.fetch_url, state.moved_to, state.moved_count
    target = result.permanent_redirect
    if target and target != state.fetch_url:
        moved_count = moved_count + 1 if target == moved_to else 1
        moved_to = target
        if moved_count >= MOVE_CONFIRMATIONS or _is_https_upgrade(state.fetch_url, target):
            fetch_url = target
    else:
        moved_count = 0
        if moved_to != fetch_url:  # an unconfirmed candidate is forgotten; a confirmed move kept
            moved_to = None
    if fetch_url != state.url:
        new_state = "moved"  # fetched from a new address: the operator should update config.yaml
    else:
        new_state = "not-modified" if result.status == 304 else "ok"
    return replace(
        state,
        fetch_url=fetch_url,
        state=new_state,
        etag=result.etag,
        last_modified=result.last_modified,
        http_status=result.status,
        error_count=0,
        last_error=None,
        last_fetch=now,
        next_attempt=now + delay,
        moved_to=moved_to,
        moved_count=moved_count,
        gone=False,
        body_hash=body_hash if body_hash is not None else state.body_hash,
        warning=warning,
    )


def _is_https_upgrade(old: str, new: str) -> bool:
    a, b = urlsplit(old), urlsplit(new)
    return (
        a.scheme == "http"
        and b.scheme == "https"
        and (a.hostname or "").lower() == (b.hostname or "").lower()
        and a.port in (None, 80)
        and b.port in (None, 443)
    )


def after_failure(
    state: SourceState,
    error: BaseException,
    now: datetime,
    interval: float,
    rng: random.Random | None = None,
) -> SourceState:
    """The state after a failed fetch or parse: 410 retires the source; 429/503 with Retry-After
    wait as told (at most ``MAX_RETRY_AFTER``); anything else backs off exponentially with jitter,
    ``interval * 2**previous_errors`` capped at ``MAX_BACKOFF``. Never abandoned."""
    status = getattr(error, "status", None) if isinstance(error, FetchError) else None
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    errors = state.error_count + 1
    common = {
        "last_error": message,
        "last_fetch": now,
        "error_count": errors,
        "http_status": status if isinstance(error, FetchError) else state.http_status,
    }
    if status == 410:
        return replace(state, state="gone", gone=True, next_attempt=None, **common)
    retry_after = getattr(error, "retry_after", None) if isinstance(error, FetchError) else None
    if status in (429, 503) and isinstance(retry_after, datetime):
        when = min(max(retry_after, now), now + MAX_RETRY_AFTER)
        return replace(state, state="backing-off", next_attempt=when, **common)
    return replace(
        state,
        state="backing-off",
        next_attempt=now + backoff_delay(state.error_count, interval, rng),
        **common,
    )


def backoff_delay(
    previous_errors: int, interval: float, rng: random.Random | None = None
) -> timedelta:
    """``interval * 2**previous_errors``, capped at ``MAX_BACKOFF``, times a draw from
    ``[1 - JITTER, 1]`` so that sources failing together do not retry together."""
    base = min(interval * 2.0 ** min(previous_errors, 40), MAX_BACKOFF.total_seconds())
    factor = (rng or random).uniform(1.0 - JITTER, 1.0)
    return timedelta(seconds=base * factor)


def is_due(state: SourceState, now: datetime) -> bool:
    """Should this source be fetched at ``now``? Gone sources never are."""
    return not state.gone and (state.next_attempt is None or state.next_attempt <= now)
