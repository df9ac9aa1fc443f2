"""One story, one cluster: the :class:`Deduper` and what it needs from storage.

An item joins an existing cluster when (in this order)

1. another item (any source, any age) shares a URL key with it: the same canonical link, or a
   guid that is an http(s) URL whose canonical form is another item's link or guid URL (the
   item sharing most URL keys wins, then the earliest);
2. another item of the same source has the same guid;
3. a recent item (``window``, default 7 days of first-seen) of *another* source tells the same
   story: it shares an exact text key or two keys (see keys.py), and :func:`same_story`
   verifies it on the actual text.

The representative of a cluster is the member with the fullest text: the first member, replaced
by a later one only when that one's plain text is at least 25 % longer (so a truncated aggregator
copy seen first gives way to the outlet's full summary, and the choice does not flap).

Storage is reached through :class:`ClusterIndex` (the store implements it). URL keys live in
their own table (any age); text keys are stored packed in one row per item, with the item's
:func:`record`. The Deduper reads the window's rows into memory once and counts shared keys
there (a dict probe per key), so a new item costs one row, not an index entry per key, and a
candidate is verified from its record without re-reading its text. ``store.dedupe_prune`` drops
the rows no window reaches. A source's new items are clustered as one batch
(:meth:`Deduper.assign_many`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

from ..models import ParsedItem
from ..text import strip_tags as plain_text
from .fingerprint import Fingerprint, from_record, same_story, similarity
from .keys import Prepared, _pack, prepare, unpack_keys

WINDOW = timedelta(days=7)
PRUNE_MARGIN = timedelta(days=7)  # text rows kept past the window (see Deduper.prune)
MAX_CANDIDATES = 200  # verified per item at most (best-hit first)
MIN_BAND_HITS = 2  # a candidate shares an exact key or at least this many keys
REP_GAIN = 1.25  # a later member becomes representative when this much fuller

# ---- storage seam -----------------------------------------------------------------------------

#: ``(item_id, source, cluster_id, first_seen timestamp, text keys shared, exact keys shared)``
Candidate = tuple[int, str, int, float, int, int]


class ClusterIndex(Protocol):
    """What dedupe needs from storage (``store.Store`` implements it). Batch-shaped: a source's
    new items cost a handful of statements, not a handful per item."""

    def next_cluster_id(self) -> int: ...

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        """URL key -> ``(item id, cluster id, first seen)`` of clustered items, any age."""
        ...

    def dedupe_window(self, since: datetime) -> Iterable[tuple[int, str, int, float, bytes]]:
        """``(item id, source, cluster id, first seen, packed text keys)`` of the clustered
        items first seen from ``since`` on."""
        ...

    def dedupe_records(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The :func:`record` of each item (those that have one)."""
        ...

    def dedupe_representatives(self, cluster_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        """cluster id -> ``(representative item id, summary, content lead)``."""
        ...

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], bytes, str]],
        first_seen: datetime,
    ) -> None:
        """Store the decisions: new clusters, joined clusters, representatives, and per item
        ``(item id, URL keys, packed text keys, record)``."""
        ...

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None: ...

    def dedupe_prune(self, before: datetime) -> int:
        """Drop the text keys and records of the items first seen before ``before``."""
        ...


# ---- the window and the stage -----------------------------------------------------------------


class _Window:
    """The text keys of the recent items, in memory: key -> the items that have it. Loaded once
    from the store (one range scan of packed keys) and kept up to date as items are assigned,
    so a candidate lookup is a few dict probes instead of index seeks, and a new item's keys
    cost one row instead of one index entry each."""

    def __init__(self, since: float):
        self.since = since  # items first seen from here on are all here
        self.items: dict[int, tuple[str, int, float]] = {}  # id -> (source, cluster, seen)
        self.postings: dict[int, int | list[int]] = {}  # an int until a second item shares it

    def add(
        self, item_id: int, source: str, cluster: int, seen: float, keys: Iterable[int]
    ) -> None:
        self.items[item_id] = (source, cluster, seen)
        postings = self.postings
        for k in keys:
            p = postings.get(k)
            if p is None:
                postings[k] = item_id
            elif type(p) is int:
                postings[k] = [p, item_id]
            else:  # (``type() is`` is the fast test, and mypy cannot narrow on its negation)
                cast("list[int]", p).append(item_id)

    def candidates(
        self, exact: Sequence[int], bands: Sequence[int], since: float, until: float
    ) -> list[Candidate]:
        """Items first seen in [since, until] sharing an exact key or MIN_BAND_HITS keys."""
        hits: list[int] = []
        self._gather(exact, hits)
        exacts = Counter(hits) if hits else {}
        self._gather(bands, hits)
        if not hits:
            return []
        out = []
        items = self.items
        for iid, n in Counter(hits).items():  # counted in C
            e = exacts.get(iid, 0)
            if e or n >= MIN_BAND_HITS:
                src, cid, seen = items[iid]
                if since <= seen <= until:
                    out.append((iid, src, cid, seen, n, e))
        return out

    def _gather(self, keys: Sequence[int], out: list[int]) -> None:
        """Append the items that have each key (once per key they share)."""
        postings = self.postings
        for k in keys:
            p = postings.get(k)
            if type(p) is int:
                out.append(p)
            elif p is not None:
                out.extend(cast("list[int]", p))


class Deduper:
    """Assigns new items to story clusters, a source's new items at a time. Holds the window's
    text keys in memory (see :class:`_Window`; :meth:`forget` drops them, so they are read
    again from the store) and the records of the last ``cache`` items it assigned or verified
    (candidates are mostly recent items)."""

    def __init__(self, index: ClusterIndex, window: timedelta = WINDOW, cache: int = 4096):
        self.index = index
        self.window = window
        self._cache = cache
        self._fps: OrderedDict[int, Fingerprint | str] = OrderedDict()  # str: not decoded yet
        self._win: _Window | None = None

    def assign(
        self,
        item_id: int,
        source: str,
        parsed: ParsedItem,
        canonical_url: str | None,
        first_seen: datetime,
        prepared: Prepared | None = None,
    ) -> int:
        """Put item ``item_id``, already stored without a cluster, in a cluster; return its id.
        ``prepared`` (from :func:`prepare` with the same ``canonical_url``) saves the text work."""
        prep = prepared if prepared is not None else prepare(parsed, canonical_url)
        [cluster] = self.assign_many(source, [(item_id, parsed, prep)], first_seen)
        self.index.set_item_clusters([(item_id, cluster)])
        return cluster

    def assign_many(
        self,
        source: str,
        items: Sequence[tuple[int, ParsedItem, Prepared]],
        first_seen: datetime,
    ) -> list[int]:
        """Cluster ``(item id, parsed, prepared)``, new items of ``source`` first seen at
        ``first_seen``, in order (an item may join the cluster of an earlier one), and write
        the clusters and keys. Returns the cluster ids; the caller stores them on the items
        (``store.insert_items(clusters=)``, or ``set_item_clusters`` for items already there).
        If the caller's transaction fails, it must call :meth:`forget`.

        Rule 2 (same guid in the source) needs no lookup: an item with a guid is keyed by it
        (normalize.item_key, UNIQUE per source), so a same-guid item is this very item,
        updated in place (``store.dedupe_guid_cluster`` stays for callers with other keys)."""
        if not items:
            return []
        idx = self.index
        since, until = (first_seen - self.window).timestamp(), first_seen.timestamp()
        win = self._window(since)
        url_all = list(dict.fromkeys(k for _, _, p in items for k in p.url_keys))
        by_url = idx.dedupe_url_matches(url_all) if url_all else {}
        next_cluster = idx.next_cluster_id()
        batch_urls: dict[int, list[tuple[int, int, float]]] = {}
        out: list[int] = []
        new: list[tuple[int, int]] = []
        created: dict[int, ParsedItem] = {}
        joined: list[tuple[int, int, ParsedItem]] = []
        for item_id, parsed, prep in items:
            cluster = _by_url(prep.url_keys, by_url, batch_urls)
            if cluster is None:
                cands = win.candidates(prep.exact_keys, prep.band_keys, since, until)
                if cands:
                    cluster = self._match(from_record(prep.record), cands, source)
            if cluster is None:
                cluster, next_cluster = next_cluster, next_cluster + 1
                new.append((cluster, item_id))
                created[cluster] = parsed
            else:
                joined.append((cluster, item_id, parsed))
            for k in prep.url_keys:
                batch_urls.setdefault(k, []).append((item_id, cluster, until))
            out.append(cluster)
        reps = self._representatives(joined, created)
        rows = []
        for (item_id, _, prep), cluster in zip(items, out, strict=True):
            keys = tuple(dict.fromkeys((*prep.exact_keys, *prep.band_keys)))
            rows.append((item_id, prep.url_keys, _pack(keys), prep.record))
            win.add(item_id, source, cluster, until, keys)
            self._remember(item_id, prep.record)
        idx.dedupe_write(new, [c for c, _, _ in joined], reps, rows, first_seen)
        return out

    def learn(self, rows: Iterable[tuple[int, str, int, float, bytes]]) -> None:
        """Items another process stored since the window was read (rows as ``dedupe_window``
        gives them): candidates from now on, without reading the window again. Nothing to do
        when no window is loaded (its next read has them)."""
        win = self._win
        if win is None:
            return
        for iid, src, cid, seen, packed in rows:
            if seen >= win.since and iid not in win.items:
                win.add(iid, src, cid, seen, unpack_keys(packed))

    def forget(self) -> None:
        """Drop the in-memory window (read again on the next assignment): after a failed
        transaction, or when another process may have written the store."""
        self._win = None

    def prune(self, now: datetime) -> int:
        """Drop the text keys no lookup from ``now`` on can reach (a week of margin past the
        window): the key table stays the size of the window, not of the store."""
        self.forget()
        return self.index.dedupe_prune(now - self.window - PRUNE_MARGIN)

    def _window(self, since: float) -> _Window:
        if self._win is None or since < self._win.since:
            if self._win is not None:  # items out of time order: reach a window further back,
                since -= self.window.total_seconds()  # so going back costs a reload per window
            win = _Window(since)
            for iid, src, cid, seen, packed in self.index.dedupe_window(
                datetime.fromtimestamp(since, UTC)
            ):
                win.add(iid, src, cid, seen, unpack_keys(packed))
            self._win = win
        return self._win

    def _remember(self, item_id: int, fp: Fingerprint | str) -> None:
        self._fps[item_id] = fp
        if len(self._fps) > self._cache:
            self._fps.popitem(last=False)

    def _match(self, fp: Fingerprint, found: Sequence[Candidate], source: str) -> int | None:
        """The cluster of the best verified candidate of another source, if any (candidates
        share an exact key or MIN_BAND_HITS keys; most shared first, then earliest)."""
        cands = sorted((-c[4], c[3], c[0], c[2]) for c in found if c[1] != source)[:MAX_CANDIDATES]
        if not cands:
            return None
        got = {c[2]: self._fps.get(c[2]) for c in cands}  # taken now: _remember evicts
        missing = [cid for cid, v in got.items() if v is None]
        if missing:
            got.update(self.index.dedupe_records(missing))
        best: tuple[float, int] | None = None
        for _hits, _seen, cid, ccluster in cands:
            other = got.get(cid)
            if other is None:  # no record (an item clustered before records were kept)
                continue
            if isinstance(other, str):
                other = got[cid] = from_record(other)
                self._remember(cid, other)
            if not same_story(fp, other):
                continue
            s = similarity(fp, other)
            score = (s.body_containment or 0.0) + s.title_containment
            if best is None or score > best[0]:
                best = (score, ccluster)
        return None if best is None else best[1]

    def _representatives(
        self, joined: Sequence[tuple[int, int, ParsedItem]], created: dict[int, ParsedItem]
    ) -> list[tuple[int, int]]:
        """Representative changes for the joins, in order: a member replaces the current
        representative when its text is REP_GAIN times fuller (``created``: the clusters this
        batch made, with their first member)."""
        if not joined:
            return []
        stored = list(dict.fromkeys(c for c, _, _ in joined if c not in created))
        reps = self.index.dedupe_representatives(stored) if stored else {}
        current = {c: _fullness(s, t) for c, (_, s, t) in reps.items()}
        for c in dict.fromkeys(c for c, _, _ in joined if c in created):
            current[c] = _fullness(created[c].summary, created[c].content)
        changes: list[tuple[int, int]] = []
        for cluster, item_id, parsed in joined:
            mine = _fullness(parsed.summary, parsed.content)
            rep = current.get(cluster)
            if rep is None or mine >= REP_GAIN * max(1, rep):
                changes.append((cluster, item_id))
                current[cluster] = mine
        return changes


def _by_url(
    keys: Sequence[int],
    stored: dict[int, list[tuple[int, int, float]]],
    batch: dict[int, list[tuple[int, int, float]]],
) -> int | None:
    """The cluster of the item sharing the most URL keys (its canonical link, a guid URL), then
    the earliest, among stored items and earlier items of the batch."""
    shared: dict[int, list] = {}
    for k in keys:
        for iid, cid, seen in (*stored.get(k, ()), *batch.get(k, ())):
            e = shared.setdefault(iid, [0, seen, iid, cid])
            e[0] -= 1
    return min(shared.values())[3] if shared else None


def _fullness(summary: str, content: str) -> int:
    return max(len(plain_text(summary)), len(plain_text(content[:20000])))
