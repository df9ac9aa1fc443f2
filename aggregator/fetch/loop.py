"""The event loop thread every download of a ``Fetcher`` runs on, and its aiohttp session.

One loop for all downloads: requests in flight cost no thread each, and aiohttp's HTTP parser is C.
aiohttp loads when the first download starts: commands that never fetch do not pay for its import.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from .guard import _guarded_resolver, _Network

if TYPE_CHECKING:
    import aiohttp

CONNECT_TIMEOUT = 10.0  # seconds; never more than what is left of the total deadline
MAX_HEADER_LINE = 65536  # what http.client allowed; aiohttp's default (8 KiB) refuses long cookies
DNS_THREADS = 32  # getaddrinfo calls at once (asyncio's default executor allows cpu_count + 4)

T = TypeVar("T")


class _Loop:
    """The event loop thread all downloads of a Fetcher run on, and the aiohttp session."""

    def __init__(self, allow: tuple[_Network, ...]):
        import aiohttp

        self.loop = asyncio.new_event_loop()
        self.closing = False  # set first by close(): no download starts after it
        self.runs: set[queue.SimpleQueue] = set()  # outcome queues of fetch_many in progress
        # The resolver runs getaddrinfo in the loop's default executor: with asyncio's default
        # (cpu_count + 4 threads), hundreds of feed hosts would queue for their lookups.
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
