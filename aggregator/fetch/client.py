"""``Fetcher``: one conditional GET of a source (``fetch``), or many at once (``fetch_many``).

One total deadline per download (``asyncio.timeout_at``) covers DNS, connect, every redirect hop,
headers and body: a server dripping one byte a second cannot hold a download past it. Redirects
are followed by hand so that every hop is counted and guarded, loops are caught and the first
hop's permanence is known.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Generator, Iterable, Mapping
from http.client import HTTPException
from typing import TYPE_CHECKING, Self
from urllib.parse import SplitResult, urljoin, urlsplit

from ..clock import Clock, utcnow
from ..errors import FetchError
from ..models import FetchResult, SourceState
from ..settings import FetchSettings
from .cookies import _cookie_header, _cookie_items, _store_cookies
from .decode import _DECODABLE, ACCEPT_ENCODING, _Decoder, human_size
from .describe import _describe, _parser_error
from .fallback import _lenient_get, _Plain, _shutdown
from .guard import _check_literal, _Refused, parse_networks
from .headers import _joined, _redirect_target, _text, parse_max_age, parse_retry_after
from .loop import CONNECT_TIMEOUT, _Loop
from .schedule import _Schedule, host_key

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

    import aiohttp

log = logging.getLogger("aggregator.fetch")

MAX_REDIRECTS = 5
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_CODES = frozenset({301, 308})
DRAIN_LIMIT = 64 * 1024  # bytes of a redirect/error body read so the connection can be reused


class Fetcher:
    """Conditional GETs on one event loop thread, keep-alive connections shared by all sources."""

    def __init__(self, settings: FetchSettings, clock: Clock = utcnow):
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
        system's (built on the first https download: loading a bundle is not free)."""
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
        self,
        states: Iterable[SourceState],
        host_limits: Mapping[tuple[str, int], int] | None = None,
    ) -> Generator[tuple[SourceState, FetchResult | FetchError], None, None]:
        """Fetch concurrently (at most ``workers`` downloads in flight, ``per_host`` per host,
        or ``host_limits[host_key(url)]`` for the hosts listed there); yield each outcome as it
        completes.

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
        sched = _Schedule(queues, per_host, workers, host_limits)
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
                task.add_done_callback(functools.partial(ended, key=key, state=state))

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


async def _drain(resp: aiohttp.ClientResponse | _Plain) -> None:
    """Read a small redirect/error body so the connection goes back to the pool; a larger one
    is left unread (aiohttp then closes the connection instead of reusing it)."""
    read = 0
    async for chunk in resp.content.iter_any():
        read += len(chunk)
        if read > DRAIN_LIMIT:
            resp.close()
            return


def _seconds(t: float) -> str:
    return f"{t:g} s"
