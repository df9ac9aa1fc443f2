"""The CPU half of a refresh, run in worker processes: parse ─► key ─► tag ─► dedupe keys.

Why processes: parsing, tagging and dedupe fingerprints are pure Python/lxml work and the GIL
serialises threads, so a thread pool gives one core whatever its size. ``prepare_feed`` is a pure
function of the fetched bytes (plus the source's stored ``key -> content hash`` map, so unchanged
items are not tagged or fingerprinted again); it returns plain data and the main process does
every SQL statement, one transaction per source.

The pool is forked lazily (the first body that needs parsing, or the start of a run whose
sources were never fetched), so a refresh where everything is 304 never imports lxml, the tagger
or dedupe. Each child compiles the tagger itself (~0.13 s, on both cores at once) rather than the
main process compiling it before forking. The children run a little nicer than the main process,
which consumes their results and does all SQL.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from .. import dedupe
from .. import parse as parse_stage
from ..errors import ParseError
from ..models import ParsedItem, Tagging
from ..normalize import canonical_url, content_hash, item_key
from ..tagging import COUNTRY_CODES, Tagger, apply_source_tags

#: Fewer bodies than this to parse in one run: parse in-process (forking costs ~50 ms).
POOL_MIN = 12
#: How much nicer than the main process the workers run. The main process consumes every result
#: and does every SQL statement: when it waits for a CPU behind the two workers, their results
#: wait in the pipe and the workers stall behind them.
WORKER_NICE = 3
#: Pipe buffer for jobs and results (Linux's default pipe-max-size for unprivileged processes).
PIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class Job:
    """One fetched body to prepare (picklable)."""

    content: bytes
    url: str  # final URL, the base of relative links
    headers: dict[str, str]
    language: str | None  # the source's configured language
    tags: tuple[str, ...]  # the source's tags, applied to every item
    known: dict[str, str]  # key -> content hash of the items already stored for this source
    prior: tuple[str, ...] = ()  # the source's prior: a hint for the tagger, never a tag


@dataclass(frozen=True)
class Prep:
    """What storing and clustering a new or changed item needs, computed off the main process."""

    canonical_url: str | None
    tagging: Tagging
    dedupe: dedupe.Prepared  # keys and fingerprint record, for Deduper.assign_many


@dataclass(frozen=True)
class Prepared:
    """A parsed feed, its items keyed (first of duplicate keys wins) with their content hash;
    ``prep`` is None for items whose key and hash are already stored (nothing to do)."""

    ttl: timedelta | None
    warning: str | None
    items: list[tuple[str, str, ParsedItem, Prep | None]]


_tagger: Tagger | None = None


def _init(make_tagger: Callable[[], Tagger], parent: int) -> None:
    global _tagger
    _die_with_parent(parent)
    with contextlib.suppress(OSError):  # not permitted: run at the same priority
        os.nice(WORKER_NICE)
    _tagger = make_tagger()  # each child compiles its own (in parallel, off the main process)


def _die_with_parent(parent: int) -> None:
    """A forked worker holds copies of the parent's descriptors (the instance lock among them):
    if the parent is killed, the worker must not outlive it and keep the lock."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # died before the guard was in place
        os._exit(1)


def prep_item(
    parsed: ParsedItem, tagger: Tagger, tags: Sequence[str], prior: Sequence[str] = ()
) -> Prep:
    """Canonical URL, tags and dedupe keys of one item. The tagger sees the source's ``prior``
    (a hint); the source's ``tags`` are then added whatever the evidence. The tagger reads the
    item in ``parsed.language``, the language it is stored and published with: parse already gave
    it the source's configured ``language`` unless its script says otherwise."""
    canon = canonical_url(parsed.link)
    tagging = tagger.tag(parsed.title, parsed.summary or parsed.content, parsed.language, prior)
    if tags:
        tagging = apply_source_tags(tagging, tags, COUNTRY_CODES)
    return Prep(canon, tagging, dedupe.prepare(parsed, canon))


def prepare_feed(job: Job, tagger: Tagger | None = None) -> Prepared | ParseError:
    """Parse ``job.content`` and prepare every item that is new or changed. A ParseError is
    returned (not raised), so it crosses the process boundary as a value."""
    tagger = tagger or _tagger
    assert tagger is not None, "prepare_feed needs a tagger (pool initializer or argument)"
    try:
        feed = parse_stage.parse(job.content, job.url, job.headers, job.language)
    except ParseError as exc:
        return exc
    keyed: dict[str, ParsedItem] = {}
    for parsed in feed.items:
        keyed.setdefault(item_key(parsed), parsed)  # duplicate guids in one feed: first wins
    out = []
    for key, parsed in keyed.items():
        chash = content_hash(parsed)
        prep = (
            None if job.known.get(key) == chash else prep_item(parsed, tagger, job.tags, job.prior)
        )
        out.append((key, chash, parsed, prep))
    return Prepared(feed.ttl, feed.warning, out)


def _run(job: Job) -> Prepared | tuple[str, str]:
    result = prepare_feed(job)
    if isinstance(result, ParseError):  # exceptions with custom __init__ do not unpickle
        return (result.url, result.message)
    return result


def _widen_pipes(pool: ProcessPoolExecutor) -> None:
    """A prepared feed is a ~95 KB pickle (95 MB for the farm's 66 MB of feeds): through a 64 KiB
    pipe a worker blocks on each result until the main process, busy with SQL, reads it. With
    1 MiB it goes on with its next job. ProcessPoolExecutor does not expose its pipes: this
    reaches in, and does nothing where the attributes or F_SETPIPE_SZ are missing (figures in
    bench/README.md)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX)
        return
    op = getattr(fcntl, "F_SETPIPE_SZ", None)
    if op is None:  # pragma: no cover  (not Linux)
        return
    for q in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        for end in ("_reader", "_writer"):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                fcntl.fcntl(getattr(q, end).fileno(), op, PIPE_BYTES)


class PrepPool:
    """``submit(job, expected)`` -> Future of ``Prepared | ParseError``: in worker processes once
    ``expected`` bodies justify them, else in-process (done futures)."""

    def __init__(
        self,
        make_tagger: Callable[[], Tagger],
        workers: int | None = None,
        before_fork: Callable[[], None] | None = None,
    ):
        self.make_tagger = make_tagger  # called per in-process job and once per child: cache it
        self.before_fork = before_fork
        self.workers = workers or min(2, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def will_fork(self, expected: int) -> bool:
        """Would ``submit(job, expected)`` fork the worker processes now?"""
        return self._pool is None and expected >= POOL_MIN and self.workers > 1

    def start(self, expected: int) -> None:
        """Fork the workers now if ``expected`` bodies justify them (no-op otherwise, or when
        forked already): a run that knows its bodies in advance forks before its first download,
        so the children build their taggers while the downloads start, not after the first body
        arrives (cold refresh of 1,000 feeds ~0.1 s sooner)."""
        if self.will_fork(expected):
            if self.before_fork is not None:
                self.before_fork()
            ctx = multiprocessing.get_context("fork")  # the initializer is inherited, not pickled
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=ctx,
                initializer=_init,
                initargs=(self.make_tagger, os.getpid()),
            )
            _widen_pipes(self._pool)
            self._pool.submit(int)  # with "fork", the first submit starts every worker

    def submit(self, job: Job, expected: int) -> Future:
        self.start(expected)
        if self._pool is None:
            fut: Future = Future()
            fut.set_result(prepare_feed(job, self.make_tagger()))
            return fut
        inner = self._pool.submit(_run, job)
        outer: Future = Future()

        def relay(f: Future) -> None:
            try:
                r = f.result()
            except Exception as exc:
                outer.set_exception(exc)
                return
            outer.set_result(ParseError(*r) if isinstance(r, tuple) else r)

        inner.add_done_callback(relay)
        return outer

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
