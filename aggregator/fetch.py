"""HTTP for feeds: polite, bounded, and unable to reach private networks.

``Fetcher.fetch`` does one conditional GET of a source and returns a ``FetchResult`` or raises
``FetchError``; ``Fetcher.fetch_many`` runs many of them concurrently with a per-host limit.
``after_success`` / ``after_failure`` / ``is_due`` are pure: they turn an outcome and a clock
value into the source's next ``SourceState`` (backoff, Retry-After, redirects, 410).

Why the machinery below, rather than a plain client call:

* Cost: every download runs on one asyncio event loop (a background thread) with aiohttp, whose
  HTTP parser is C. A thread per download spent ~0.5 ms of CPU per conditional GET in
  http.client and in GIL hand-offs between 100 threads; on the loop it is ~0.15 ms, and requests
  in flight no longer cost a thread each (a refresh where everything is 304 is mostly GETs).
* One total deadline per download (``asyncio.timeout_at``) covers DNS, connect, every redirect
  hop, headers and body: a server dripping one byte a second cannot hold a download past it.
* The private-address check happens on the addresses actually connected to: the resolver drops
  disallowed answers before aiohttp connects (a DNS answer cannot change between check and
  connect), IP literals are checked before the request (aiohttp skips the resolver for them),
  on every hop.
* Redirects are followed by hand so that every hop is counted, loops are caught and the first
  hop's permanence is known. Cookies set along a redirect chain are sent on its next hops (some
  sites redirect to themselves with a cookie) and forgotten after the fetch.
* Bodies are decompressed here, in steps of at most ``CHUNK_SIZE`` decoded bytes, so a gzip bomb
  stops at ``max_bytes`` instead of being inflated first.
* aiohttp's parser (llhttp, in its lenient mode) refuses a few malformed responses that
  http.client read: a space before a header's colon, a header line without one, a repeated
  Content-Length, and bytes after a complete response that arrive in the same read (a body
  longer than its Content-Length, a 304 or 204 with a body: the extra bytes parse as a bad
  status line and aiohttp drops the read). For such a hop the fetcher asks once more with
  the standard library's http.client (``_lenient_get``: same guard, deadline and cap), which
  reads them as it always did; only what neither can read fails, with one clear line in
  ``aggregator status``: "malformed HTTP response: ...".

aiohttp loads on the first download: commands that never fetch do not pay for its import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import queue
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException, IncompleteRead
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import SplitResult, urljoin, urlsplit

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

    import aiohttp

from .errors import FetchError
from .models import FetchResult, SourceState
from .settings import FetchSettings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_CODES = frozenset({301, 308})
CONNECT_TIMEOUT = 10.0  # seconds; never more than what is left of the total deadline
CHUNK_SIZE = 64 * 1024  # decoded bytes per step: bounds memory per step of a decompression bomb
DRAIN_LIMIT = 64 * 1024  # bytes of a redirect/error body read so the connection can be reused
MAX_HEADER_LINE = 65536  # what http.client allowed; aiohttp's default (8 KiB) refuses long cookies
DNS_THREADS = 32  # getaddrinfo calls at once (asyncio's default executor allows cpu_count + 4)
MAX_GZIP_MEMBERS = 1024  # concatenated gzip members decoded in one body, at most
WRAPPER_PROBE = 64 * 1024  # deflate input kept for a raw-deflate replay until output appears

MOVE_CONFIRMATIONS = 3  # consecutive fetches seeing the same permanent redirect
MAX_LENGTHEN = timedelta(hours=24)  # TTL / max-age may lengthen the interval up to this
MAX_BACKOFF = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=7)
JITTER = 0.2  # backoff delay is drawn from [(1 - JITTER) * d, d]

ACCEPT_ENCODING = "gzip, deflate"
_GZIP = frozenset({"gzip", "x-gzip"})
_DECODABLE = _GZIP | {"deflate"}

T = TypeVar("T")


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
    """A disallowed address (deliberately not an OSError: nothing in aiohttp wraps or retries it)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(address)


def _check_literal(host: str, allow: tuple[_Network, ...]) -> None:
    """aiohttp connects to an IP literal without asking the resolver: check it here."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not address_allowed(host, allow):
        raise _Refused(host)


def _allowed(answers: list[T], address: Callable[[T], str], allow: tuple[_Network, ...],
             host: str) -> list[T]:  # fmt: skip
    """The resolver's answers we may connect to; none left: refused, naming the first."""
    kept = [a for a in answers if address_allowed(address(a), allow)]
    if not kept:
        raise _Refused(address(answers[0]) if answers else host)
    return kept


def _guarded_resolver(allow: tuple[_Network, ...]) -> aiohttp.abc.AbstractResolver:
    """The system resolver (getaddrinfo in a thread), minus the addresses we may not reach.
    aiohttp connects only to what the resolver returns: the check is on the real target."""
    import aiohttp
    from aiohttp.abc import AbstractResolver

    class GuardedResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = aiohttp.ThreadedResolver()

        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
            answers = await self._inner.resolve(host, port, family)  # type: ignore[arg-type]
            return _allowed(answers, lambda a: a["host"], allow, host)

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver()


class _Decoder:
    """Content-Encoding undone in bounded steps (each ``zlib`` call yields at most
    ``CHUNK_SIZE`` bytes), for a list of codings in the order the server applied them."""

    def __init__(self, codings: list[str]):
        self._stages = [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Everything ``data`` decodes to (each stage drains what zlib holds back)."""
        return self._through(0, data)

    def _through(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[i].feed(data):
            yield from self._through(i + 1, piece)


class _Inflater:
    """One gzip (possibly several members) or deflate (zlib-wrapped or raw) stream."""

    def __init__(self, coding: str):
        self._gzip = coding in _GZIP
        self._members = 1
        # deflate: the zlib wrapper is tried first; when its header check fails before any
        # output, the input seen so far is replayed as raw deflate (what urllib3 did)
        self._seen: bytes | None = None if self._gzip else b""
        self._done = False  # the stream ended; anything after it is ignored, as browsers do
        self._member_out = False  # the current gzip member has produced output
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most CHUNK_SIZE bytes. Each step consumes input or yields a full
        piece, so this ends; ``feed(b"")`` yields what a full piece left pending."""
        while not self._done:
            if self._obj.eof:
                if not data:
                    return
                if not self._gzip or not data.strip(b"\x00"):
                    self._done = True
                    return
                self._members += 1
                if self._members > MAX_GZIP_MEMBERS:
                    raise zlib.error(f"more than {MAX_GZIP_MEMBERS} gzip members")
                self._obj = self._new()
                self._member_out = False
            if self._seen is not None:
                self._seen += data
            try:
                out = self._obj.decompress(data, CHUNK_SIZE)
            except zlib.error:
                if self._members > 1 and not self._member_out:
                    self._done = True  # not a gzip member after a complete one: trailing junk
                    return
                if self._seen is None:
                    raise
                data, self._seen = self._seen, None
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._obj.decompress(data, CHUNK_SIZE)
            if out or (self._seen is not None and len(self._seen) > WRAPPER_PROBE):
                self._seen = None  # the wrapper is settled
            if out:
                self._member_out = True
                yield out
            if self._obj.eof:
                data = self._obj.unused_data
                continue
            data = self._obj.unconsumed_tail
            if not data and len(out) < CHUNK_SIZE:
                return


class _Loop:
    """The event loop thread all downloads of a Fetcher run on, and the aiohttp session."""

    def __init__(self, allow: tuple[_Network, ...]):
        import aiohttp

        self.loop = asyncio.new_event_loop()
        self.closing = False  # set first by close(): no download starts after it
        self.runs: set[queue.SimpleQueue] = set()  # outcome queues of fetch_many in progress
        # The resolver runs getaddrinfo in the loop's default executor: with asyncio's default
        # (6 threads on 2 cores), 600 feed hosts at 100 ms a lookup would queue for 10 s.
        self.loop.set_default_executor(
            ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="fetch-dns")
        )
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name="fetch-loop", daemon=True
        )
        self.thread.start()
        ready.wait()

        async def open_session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(
                limit=0,  # fetch_many bounds requests in flight, in total and per host
                limit_per_host=0,
                resolver=_guarded_resolver(allow),
            )
            return aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies live for one fetch (see _hops)
                auto_decompress=False,  # _Decoder bounds each step
                trust_env=False,  # no proxy from the environment: the guard sees the target
                timeout=aiohttp.ClientTimeout(total=None),  # _fetch's deadline covers all
                max_line_size=MAX_HEADER_LINE,
                max_field_size=MAX_HEADER_LINE,
            )

        self.session = self.call(open_session())

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Cancel every download, close the connections and stop the thread. A ``fetch_many``
        in progress in another thread ends (its remaining sources are left unfetched)."""
        self.closing = True

        async def shutdown() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self.session.close()

        try:
            self.call(shutdown())
        finally:
            for run in list(self.runs):
                run.put(None)  # wakes the consumer: no more outcomes are coming
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            if not self.thread.is_alive():
                self.loop.close()


# --------------------------------------------------------------------------- the fetcher


class Fetcher:
    """Conditional GETs on one event loop thread, keep-alive connections shared by all sources."""

    def __init__(self, settings: FetchSettings, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock
        self.allow = parse_networks(settings.allow_private)
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept-Encoding": ACCEPT_ENCODING,
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
        }
        self._loop: _Loop | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    def close(self) -> None:
        with self._lock:
            loop, self._loop, self._closed = self._loop, None, True
        if loop is not None:
            loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _running(self) -> _Loop:
        with self._lock:
            if self._closed:
                raise RuntimeError("this Fetcher is closed")
            if self._loop is None:
                self._loop = _Loop(self.allow)
            return self._loop

    # -- one download

    def fetch(self, state: SourceState) -> FetchResult:
        """Conditional GET of ``state.fetch_url``; 2xx and 304 return, anything else raises."""
        loop = self._running()
        try:
            return loop.call(self._fetch(loop.session, state))
        except concurrent.futures.CancelledError:  # close() in another thread
            raise FetchError(state.fetch_url, "cancelled: the fetcher was closed") from None

    async def _fetch(self, session: aiohttp.ClientSession, state: SourceState) -> FetchResult:
        import aiohttp

        start = time.monotonic()
        timeout = self.settings.timeout
        url = state.fetch_url
        deadline = asyncio.timeout_at(asyncio.get_running_loop().time() + timeout)
        try:
            async with deadline:
                return await self._hops(session, state, start)
        except FetchError:
            raise
        except TimeoutError as e:  # ours, or aiohttp's connect timeout
            if deadline.expired():
                raise FetchError(url, f"timed out after {_seconds(timeout)}") from None
            raise FetchError(url, _describe(e)) from e
        except _Refused as e:
            raise FetchError(
                url, f"refused private address {e.address} (allow with fetch.allow_private)"
            ) from None
        except (aiohttp.ClientError, OSError, ValueError, zlib.error, HTTPException) as e:
            raise FetchError(url, _describe(e)) from e

    async def _hops(
        self, session: aiohttp.ClientSession, state: SourceState, start: float
    ) -> FetchResult:

        headers = dict(self._headers)
        if state.etag and state.etag.isascii():  # aiohttp sends UTF-8: a Latin-1 ETag (obs-text)
            headers["If-None-Match"] = state.etag  # would not match; If-Modified-Since still can
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        jar: CookieJar | None = None  # cookies live for one fetch only (made on the first one)
        url = state.fetch_url
        seen: set[tuple[str, tuple]] = set()
        permanent: str | None = None
        permanent_chain = True
        hops = 0
        while True:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError(state.fetch_url, f"unsupported URL scheme: {url}")
            _check_literal(parts.hostname, self.allow)
            seen.add((url, _cookie_items(jar)))
            if jar is not None:
                _cookie_header(jar, url, headers)
            resp = await self._send(session, url, parts, headers, start)
            try:
                if "set-cookie" in resp.headers:
                    jar = _store_cookies(jar, url, resp.headers)
                status = resp.status
                if status not in REDIRECT_CODES:
                    return await self._finish(state, resp, url, permanent, start)
                target = _redirect_target(resp.headers)
                if not target:
                    raise FetchError(state.fetch_url, f"HTTP {status} without Location")
                target = urljoin(url, target)
                await _drain(resp)
            finally:
                resp.release()  # back to the pool when its body was read to the end, else closed
            if permanent_chain and status in PERMANENT_CODES:
                permanent = target
            else:
                permanent_chain = False
            hops += 1
            if hops > MAX_REDIRECTS:
                raise FetchError(state.fetch_url, f"too many redirects (more than {MAX_REDIRECTS})")
            if (target, _cookie_items(jar)) in seen:
                raise FetchError(state.fetch_url, f"redirect loop at {target}")
            url = target

    async def _send(
        self,
        session: aiohttp.ClientSession,
        url: str,
        parts: SplitResult,
        headers: dict[str, str],
        start: float,
    ) -> aiohttp.ClientResponse | _Plain:
        """One GET; a response aiohttp's parser refuses is asked for once more with http.client."""
        import aiohttp

        left = start + self.settings.timeout - time.monotonic()
        tls = self._tls_context() if parts.scheme == "https" else None
        try:
            return await session.get(
                url,
                headers=headers,
                allow_redirects=False,
                ssl=tls or True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(CONNECT_TIMEOUT, left)),
            )
        except aiohttp.ClientResponseError as e:
            if _parser_error(e) is None:
                raise
        socks: list[socket.socket] = []
        work = (url, parts, headers, self.allow, start + self.settings.timeout, tls)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                None, _lenient_get, *work, self.settings.max_bytes, socks
            )
        finally:
            for sock in socks:  # at the deadline: the thread's blocking read ends at once
                _shutdown(sock)

    async def _finish(
        self,
        state: SourceState,
        resp: aiohttp.ClientResponse | _Plain,
        url: str,
        permanent: str | None,
        start: float,
    ) -> FetchResult:
        from multidict import CIMultiDict

        now = self.clock()
        status = resp.status
        h = CIMultiDict((k, _text(v)) for k, v in resp.headers.items())  # picklable
        retry_after = parse_retry_after(h.get("retry-after"), now)
        if status != 304 and not 200 <= status < 300:
            await _drain(resp)
            where = "" if url == state.fetch_url else f" (at {url})"
            raise FetchError(
                state.fetch_url,
                f"HTTP {status} {_text(resp.reason or '')}".rstrip() + where,
                status=status,
                retry_after=retry_after,
            )
        if status == 304:
            await _drain(resp)  # the (empty) body consumed: the connection is reused
            content = None
        else:
            content = await self._read_body(state.fetch_url, resp)
        return FetchResult(
            source=state.name,
            url=state.fetch_url,
            final_url=url,
            status=status,
            headers=h,
            content=content,
            etag=h.get("etag") or state.etag,
            last_modified=h.get("last-modified") or state.last_modified,
            permanent_redirect=permanent,
            retry_after=retry_after,
            max_age=parse_max_age(_joined(h, "cache-control", "expires", "date"), now),
            elapsed=time.monotonic() - start,
        )

    async def _read_body(self, source_url: str, resp: aiohttp.ClientResponse | _Plain) -> bytes:
        cap = self.settings.max_bytes
        encoding = ", ".join(resp.headers.getall("content-encoding", ())).strip().lower()
        codings = [e.strip() for e in encoding.split(",") if e.strip() not in ("", "identity")]
        if any(c not in _DECODABLE for c in codings):
            raise FetchError(source_url, f"unsupported Content-Encoding: {encoding}")
        length = resp.headers.get("content-length", "")
        if not codings and length.isdigit() and int(length) > cap:
            raise FetchError(source_url, f"body larger than {human_size(cap)}")
        decoder = _Decoder(codings) if codings else None
        body = bytearray()
        async for raw in resp.content.iter_any():
            for piece in decoder.feed(raw) if decoder else (raw,):
                body += piece
                if len(body) > cap:
                    raise FetchError(source_url, f"body larger than {human_size(cap)}")
        return bytes(body)

    def _tls_context(self) -> ssl.SSLContext:
        """Certificates verified against certifi's bundle when it is installed, else the
        system's (built on the first https download: loading a bundle costs ~20 ms)."""
        if self._tls is None:
            try:
                import certifi
            except ImportError:  # pragma: no cover
                self._tls = ssl.create_default_context()
            else:
                self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

    # -- many downloads

    def fetch_many(
        self, states: Iterable[SourceState]
    ) -> Iterator[tuple[SourceState, FetchResult | FetchError]]:
        """Fetch concurrently (at most ``workers`` downloads in flight, ``per_host`` per host);
        yield each outcome as it completes.

        The schedule runs on the loop thread: a host's next download starts the moment its
        previous one ends, whatever the consumer is doing. A fetched body keeps
        its slot until the consumer has taken it, so bodies never pile up in memory while the
        caller is busy storing. Leaving early (a stop, an exception) cancels the downloads in
        flight."""
        per_host = max(1, self.settings.per_host)
        queues: dict[tuple[str, int], deque[SourceState]] = {}
        for s in states:
            queues.setdefault(host_key(s.fetch_url), deque()).append(s)
        total = sum(len(q) for q in queues.values())
        if not total:
            return
        workers = max(1, self.settings.workers)
        loop = self._running()
        sched = _Schedule(queues, per_host, workers)
        done: queue.SimpleQueue[tuple[SourceState, FetchResult | FetchError] | None] = (
            queue.SimpleQueue()
        )  # None: the fetcher was closed
        tasks: set[asyncio.Task] = set()  # the loop thread's, like everything in sched

        def fill() -> None:  # on the loop thread
            if loop.closing:
                return
            for key, state in sched.take():
                task = loop.loop.create_task(self._outcome(loop.session, state))
                tasks.add(task)
                task.add_done_callback(lambda t, k=key, s=state: ended(t, k, s))

        def ended(task: asyncio.Task, key: tuple[str, int], state: SourceState) -> None:
            tasks.discard(task)
            sched.ended(key)
            if not task.cancelled():
                outcome = task.result()
                if isinstance(outcome, FetchResult) and outcome.content is not None:
                    sched.held += 1
                done.put((state, outcome))
            fill()

        def release(bodies: int) -> None:  # on the loop thread
            sched.held -= bodies
            fill()

        async def cancel() -> None:
            sched.stop()
            for t in list(tasks):
                t.cancel()
            await asyncio.gather(*list(tasks), return_exceptions=True)

        yielded = 0
        loop.runs.add(done)
        loop.loop.call_soon_threadsafe(fill)
        try:
            while yielded < total:
                finished = [done.get()]
                while True:  # whatever else is ready
                    try:
                        finished.append(done.get_nowait())
                    except queue.Empty:
                        break
                bodies = 0
                for item in finished:
                    if item is None:
                        return
                    yield item
                    yielded += 1
                    if isinstance(item[1], FetchResult) and item[1].content is not None:
                        bodies += 1
                if bodies and not loop.closing:  # consumed: their slots are free again
                    loop.loop.call_soon_threadsafe(release, bodies)
        finally:
            loop.runs.discard(done)
            if yielded < total and not loop.closing:
                loop.call(cancel())

    async def _outcome(
        self, session: aiohttp.ClientSession, state: SourceState
    ) -> FetchResult | FetchError:
        try:
            return await self._fetch(session, state)
        except FetchError as e:
            return e
        except Exception as e:  # a bug must not stop the other sources; keep its traceback
            log.exception("%s: unexpected error while fetching", state.name)
            err = FetchError(state.fetch_url, f"unexpected error: {type(e).__name__}: {e}")
            err.__cause__ = e
            return err


class _Schedule:
    """Which download starts next: hosts with queued sources and a free slot take turns; at most
    ``workers`` downloads in flight or bodies not yet consumed (``held``). Loop thread only."""

    def __init__(
        self, queues: dict[tuple[str, int], deque[SourceState]], per_host: int, workers: int
    ):
        self.queues = queues
        self.per_host = per_host
        self.workers = workers
        self.active = dict.fromkeys(queues, 0)
        self.ready = deque(queues)  # hosts with queued work and a free slot
        self.in_ready = set(queues)
        self.running = 0
        self.held = 0

    def take(self) -> Iterator[tuple[tuple[str, int], SourceState]]:
        while self.running + self.held < self.workers and self.ready:
            key = self.ready.popleft()
            self.in_ready.discard(key)
            self.active[key] += 1
            self.running += 1
            if len(self.queues[key]) > 1 and self.active[key] < self.per_host:
                self.ready.append(key)
                self.in_ready.add(key)
            yield key, self.queues[key].popleft()

    def ended(self, key: tuple[str, int]) -> None:
        self.active[key] -= 1
        self.running -= 1
        if self.queues[key] and key not in self.in_ready:
            self.ready.append(key)
            self.in_ready.add(key)

    def stop(self) -> None:
        self.ready.clear()
        self.in_ready.clear()


def _causes(e: BaseException) -> list[BaseException]:
    """``e`` and what caused it (at most 10 deep), through aiohttp's ``os_error`` too."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and isinstance(getattr(cur, "os_error", None), BaseException):
            nxt = cur.os_error  # type: ignore[attr-defined]
        cur = nxt
    return chain


def _parser_error(e: BaseException) -> Any:
    """The HttpProcessingError behind ``e`` when aiohttp's parser refused the response."""
    from aiohttp.http_exceptions import HttpProcessingError

    return next((c for c in _causes(e) if isinstance(c, HttpProcessingError)), None)


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
    sock = socket.create_connection(first[4][:2], timeout=min(CONNECT_TIMEOUT, left()))
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
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


async def _drain(resp: aiohttp.ClientResponse | _Plain) -> None:
    """Read a small redirect/error body so the connection goes back to the pool; a larger one
    is left unread (aiohttp then closes the connection instead of reusing it)."""
    read = 0
    async for chunk in resp.content.iter_any():
        read += len(chunk)
        if read > DRAIN_LIMIT:
            resp.close()
            return


def _text(value: str) -> str:
    """A header value as storable text. aiohttp decodes header bytes as UTF-8 with surrogate
    escapes; bytes that are not UTF-8 come back as Latin-1 characters (what http.client gave),
    never as surrogates, which SQLite and every encoder refuse."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


def _joined(headers: Any, *names: str) -> dict[str, str]:
    """Repeated header lines joined with commas, as HTTP defines (``Cache-Control: public`` and
    ``Cache-Control: max-age=600`` on two lines mean both)."""
    return {n: ", ".join(headers.getall(n)) for n in names if n in headers}


def _redirect_target(headers: Mapping[str, str]) -> str | None:
    """The Location header (a Latin-1 one comes back to its characters)."""
    location = headers.get("location")
    return _text(location) if location else None


# Cookies along a redirect chain (rare: the standard library's cookie machinery loads on demand).


class _CookieResponse:
    """What ``CookieJar.extract_cookies`` needs of a response."""

    def __init__(self, headers: Any):
        self._headers = headers

    def info(self) -> _CookieResponse:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._headers.getall(name, None) or default


def _store_cookies(jar: CookieJar | None, url: str, headers: Any) -> CookieJar:
    from http.cookiejar import CookieJar
    from urllib.request import Request

    if jar is None:
        jar = CookieJar()
    jar.extract_cookies(_CookieResponse(headers), Request(url))  # type: ignore[arg-type]
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
    """A short, readable reason from aiohttp's and the socket layer's exceptions."""
    import aiohttp

    chain = _causes(e)

    def has(*types: type) -> bool:
        return any(isinstance(c, types) for c in chain)

    if has(aiohttp.InvalidURL):
        return f"invalid URL: {e}"
    if has(IncompleteRead):  # http.client (the lenient second try): the body was cut short
        return "connection broken while reading the body"
    if has(HTTPException) and not has(OSError):
        return f"malformed HTTP response: {type(e).__name__}"
    if has(aiohttp.ClientPayloadError):  # cut short, or its chunking/length is wrong
        return "connection broken while reading the body"
    refused = _parser_error(e)
    if refused is not None:  # "Invalid header token:\n\n  b'...'\n  ^"
        what = (refused.message or "").strip().split("\n", 1)[0].rstrip(": ")
        return f"malformed HTTP response: {what[:120] or type(refused).__name__}"
    if has(socket.gaierror, getattr(aiohttp, "ClientConnectorDNSError", socket.gaierror)):
        return "could not resolve host"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(aiohttp.ClientSSLError, ssl.SSLError, ssl.CertificateError):
        return f"TLS error: {e}"
    if has(TimeoutError):
        return "connect timed out"
    if has(zlib.error):
        return "could not decode compressed body"
    if has(aiohttp.ClientError, ConnectionError, OSError):
        return "connection failed"
    return f"{type(e).__name__}: {e}"


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
