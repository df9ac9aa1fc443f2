"""The CPU half of a refresh, run in worker processes: parse ─► key ─► tag ─► dedupe keys.

Why processes: parsing, tagging and dedupe fingerprints are pure Python/lxml work and the GIL
serialises threads, so a thread pool gives one core whatever its size. ``prepare_feed`` is a pure
function of the fetched bytes (plus the source's stored ``key -> content hash`` map, so unchanged
items are not tagged or fingerprinted again); it returns plain data and the main process does
every SQL statement, one transaction per source.

The pool is forked lazily (the first body that needs parsing), so a refresh where everything is
304 never imports lxml, the tagger or dedupe. Children inherit the parent's compiled tagger.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import parse as parse_stage
from .dedupe import Deduper, fingerprint, same_story, similarity, text_keys, url_keys
from .dedupe import MAX_CANDIDATES
from .errors import ParseError
from .models import ParsedItem, Tagging
from .normalize import canonical_url, content_hash, item_key
from .tagging import Tagger

#: Fewer bodies than this to parse in one run: parse in-process (forking costs ~50 ms).
POOL_MIN = 12


@dataclass(frozen=True)
class Job:
    """One fetched body to prepare (picklable)."""

    content: bytes
    url: str  # final URL, the base of relative links
    headers: dict[str, str]
    language: str | None  # the source's configured language
    tags: tuple[str, ...]  # the source's prior tags
    known: dict[str, str]  # key -> content hash of the items already stored for this source


@dataclass(frozen=True)
class Prep:
    """What storing and clustering a new or changed item needs, computed off the main process."""

    canonical_url: str | None
    tagging: Tagging
    url_keys: list[int]
    fingerprint: Any  # dedupe.Fingerprint
    text_keys: Any  # whatever dedupe.text_keys returns


@dataclass(frozen=True)
class Prepared:
    """A parsed feed, its items keyed (first of duplicate keys wins) with their content hash;
    ``prep`` is None for items whose key and hash are already stored (nothing to do)."""

    ttl: timedelta | None
    warning: str | None
    items: list[tuple[str, str, ParsedItem, Prep | None]]


_tagger: Tagger | None = None


def _init(tagger: Tagger) -> None:
    global _tagger
    _tagger = tagger


def prep_item(parsed: ParsedItem, tagger: Tagger, language: str | None, tags: Sequence[str]) -> Prep:
    canon = canonical_url(parsed.link)
    tagging = tagger.tag(parsed.title, parsed.summary or parsed.content, parsed.language or language, tags)
    fp = fingerprint(parsed.title, parsed.summary, parsed.content)
    return Prep(canon, tagging, url_keys(canon, parsed.guid), fp, text_keys(fp))


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
        prep = None if job.known.get(key) == chash else prep_item(parsed, tagger, job.language, job.tags)
        out.append((key, chash, parsed, prep))
    return Prepared(feed.ttl, feed.warning, out)


def _run(job: Job) -> Prepared | tuple[str, str]:
    result = prepare_feed(job)
    if isinstance(result, ParseError):  # exceptions with custom __init__ do not unpickle
        return (result.url, result.message)
    return result


class PrepPool:
    """``submit(job, expected)`` -> Future of ``Prepared | ParseError``: in worker processes once
    ``expected`` bodies justify them, else in-process (done futures)."""

    def __init__(self, tagger: Tagger, workers: int | None = None):
        self.tagger = tagger
        self.workers = workers or min(2, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, job: Job, expected: int) -> Future:
        if self._pool is None and expected >= POOL_MIN and self.workers > 1:
            ctx = multiprocessing.get_context("fork")  # children inherit the compiled tagger
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_init, initargs=(self.tagger,)
            )
        if self._pool is None:
            fut: Future = Future()
            fut.set_result(prepare_feed(job, self.tagger))
            return fut
        inner = self._pool.submit(_run, job)
        outer: Future = Future()

        def relay(f: Future) -> None:
            try:
                r = f.result()
            except BaseException as exc:  # a dead worker: this source fails, the run goes on
                outer.set_exception(exc)
                return
            outer.set_result(ParseError(*r) if isinstance(r, tuple) else r)

        inner.add_done_callback(relay)
        return outer

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class PreparedDeduper(Deduper):
    """``Deduper.assign`` with the fingerprint and keys computed in a worker, and candidate
    fingerprints remembered for the items of this run (candidates are mostly recent items).

    TODO(dedupe owner): fold into dedupe.py as ``Deduper.prepare(parsed, canon)`` +
    ``assign(..., prepared=)`` so the clustering rules live in one place; until then this
    mirrors ``Deduper.assign`` step for step.
    """

    CACHE = 20_000  # fingerprints kept (FIFO)

    def __init__(self, index: Any, **kw: Any):
        super().__init__(index, **kw)
        self._fps: dict[int, Any] = {}

    def remember(self, item_id: int, fp: Any) -> None:
        self._fps[item_id] = fp
        if len(self._fps) > self.CACHE:
            del self._fps[next(iter(self._fps))]

    def assign_prepared(
        self, item_id: int, source: str, parsed: ParsedItem, prep: Prep, first_seen: datetime
    ) -> int:
        from . import dedupe as d

        idx = self.index
        canon, ukeys, fp = prep.canonical_url, prep.url_keys, prep.fingerprint
        tk = prep.text_keys
        exact, bands = tk if isinstance(tk, tuple) else ([], tk)
        tkeys = list(exact) + list(bands)
        cluster: int | None = None
        if canon and d._useful_url(canon):
            cluster = idx.dedupe_url_cluster(canon, item_id)
        if cluster is None and parsed.guid and parsed.guid.strip():
            cluster = idx.dedupe_guid_cluster(source, parsed.guid.strip(), item_id)
        since = first_seen - self.window
        if cluster is None and ukeys:
            found = idx.dedupe_candidates(ukeys, since, first_seen, item_id, None)
            cluster = next((c[2] for c in found if c[2] is not None), None)
        if cluster is None and tkeys:
            if isinstance(tk, tuple):
                cands = idx.dedupe_candidates(
                    tkeys, since, first_seen, item_id, source,
                    min_hits=d.MIN_BAND_HITS, exact=exact,
                )  # fmt: skip
            else:
                cands = idx.dedupe_candidates(tkeys, since, first_seen, item_id, source)
            cluster = self._match(fp, cands)
        if cluster is None:
            cluster = idx.new_cluster(item_id, first_seen)
        else:
            idx.join_cluster(item_id, cluster, first_seen)
            self._maybe_represent(cluster, item_id, parsed)
        idx.dedupe_add_keys(item_id, ukeys + tkeys, first_seen)
        self.remember(item_id, fp)
        return cluster

    def _match(self, fp: Any, cands: Sequence) -> int | None:
        best: tuple[float, int] | None = None
        for cid, _src, ccluster, ctitle, csummary, ccontent, _hits in cands[:MAX_CANDIDATES]:
            if ccluster is None:
                continue
            other = self._fps.get(cid)
            if other is None:
                other = fingerprint(ctitle, csummary, ccontent)
            if not same_story(fp, other):
                continue
            s = similarity(fp, other)
            score = (s.body_containment or 0.0) + s.title_containment
            if best is None or score > best[0]:
                best = (score, ccluster)
        return None if best is None else best[1]

