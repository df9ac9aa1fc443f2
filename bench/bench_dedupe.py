"""Dedupe benchmarks (not tests): ingest cost against a big store, and clustering quality.

python bench/bench_dedupe.py speed [--base 1000000] [--new 40000]
    Ingest ``--new`` synthetic items the pipeline's way (``pipeline.store_new_items`` in one
    transaction per source, inside ``store.bulk()``; runs of 50 items split by source; the
    workers' half, ``dedupe.prepare``, done beforehand and untimed) into an empty store and
    into a store already holding ``--base`` items (built once with executemany and cached
    under bench/work/). Prints both times, their ratio and peak memory (ru_maxrss).

    ``--database postgresql``: the same on a throwaway PostgreSQL cluster (the base copied in
    with COPY, as ``aggregator db copy`` does).

python bench/bench_dedupe.py farm [--dir /tmp/farm500] [--repeat 3]
    CPU per item of ``dedupe.prepare`` (the worker side) and of ``Deduper.assign`` (the main
    process) on realistic items: the feeds of a farm (``../shared/bench/farm.py generate --n 500
    --out DIR``, ~20k items) are parsed once (cached under bench/work/), then prepared, then
    ingested source by source into a fresh store the pipeline's way (``store_new_items``:
    dedupe the source's new items, then write them, one transaction per source).
    Prints CPU microseconds per item (best of --repeat) and the clusters.

python bench/bench_dedupe.py quality [--seeds 1 2 3] [--stories 250]
    Pairwise precision/recall over case sets from ../shared/eval/dedup_cases.py, with the
    development transforms and with extra syndication changes defined here (AMP/mobile
    links, aggregator redirects, upper-cased or truncated titles, HTML summaries, empty
    summaries, credits, datelines, stripped accents, Arabic spelling variants...).
"""

from __future__ import annotations

import argparse
import collections
import html
import io
import itertools
import json
import random
import resource
import shutil
import sys
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregator.cli import dedupe_jsonl as dedupe_cli
from aggregator.dedupe import Deduper, pack_keys, prepare, text_record, url_keys
from aggregator.models import ParsedItem, Tagging
from aggregator.normalize import canonical_url, content_hash, item_key
from aggregator.service.pipeline import store_new_items
from aggregator.service.workers import Prep
from aggregator.store import Store

WORK = Path(__file__).resolve().parent / "work"
EVAL = ROOT.parent / "shared" / "eval"

# ---- synthetic items ---------------------------------------------------------------------------

_SYL = ["ka", "ro", "mi", "ta", "ne", "la", "so", "vi", "du", "pe", "ar", "ol", "en", "is", "ma",
        "ri", "tu", "zo", "be", "ha", "ni", "co", "da", "fe", "gu", "ji"]  # fmt: skip


def _vocab(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4))))
    return sorted(out)


class Synth:
    """Zipf-ish news-like text: common words collide often, like real headlines."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.vocab = _vocab(20000, random.Random(0))
        self.weights = list(itertools.accumulate(1.0 / (i + 10) for i in range(len(self.vocab))))

    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.weights, k=n))

    def item(self, n: int, sources: list[str]) -> tuple[str, ParsedItem]:
        src = sources[n % len(sources)]
        title = self.words(self.rng.randint(7, 13)).capitalize()
        summary = self.words(self.rng.randint(25, 70)) + "."
        link = f"https://{src}.example/{n}/{title[:30].replace(' ', '-')}"
        return src, ParsedItem(guid=None, link=link, title=title, summary=summary)


SOURCES = [f"src{i:03d}" for i in range(200)]
KEYS_PER_ITEM = 11  # title prefix (or title) + lead + 6 title bands + 3 body bands
_FILLER_RECORD = "0" + " ".join(["word"] * 10) + "\x1f" + " ".join(["body"] * 120)  # typical size
START = datetime(2026, 1, 1, tzinfo=UTC)


NEW_EVERY = 15  # seconds between new items (40,000 new items = 6.9 days)


def _base_rows(
    args: tuple[int, int, int, dict[str, int], int, bool],
) -> tuple[list, list, list, list]:
    lo, hi, n, sid, gap_days, pruned = args
    synth = Synth(lo + 1)
    span = n * NEW_EVERY  # the base arrived at the new items' rate
    end = START.timestamp() - gap_days * 86400
    t0 = end - span
    recent = START.timestamp() - 15 * 86400
    items, keys, clusters, urls = [], [], [], []
    for i in range(lo, hi):
        src, p = synth.item(i, SOURCES)
        ts = t0 + span * i / n
        canon = canonical_url(p.link)
        iid = i + 1
        items.append(
            (
                iid,
                sid[src],
                item_key(p),
                None,
                p.link,
                canon,
                p.title,
                p.summary,
                "",
                "[]",
                "[]",
                None,
                None,
                None,
                "[]",
                ts,
                ts,
                content_hash(p),
                iid,
            )
        )
        clusters.append((iid, iid, ts, ts))
        urls += [(k, iid) for k in url_keys(canon, None)]  # any age: every item's real key
        if ts >= recent:  # rows a 7-day window can reach: the real keys and record
            keys.append((iid, ts, *text_record(p.title, p.summary)))
        elif not pruned:  # never read again: rows of the same size, random values
            packed = pack_keys(synth.rng.getrandbits(63) for _ in range(KEYS_PER_ITEM))
            keys.append((iid, ts, packed, _FILLER_RECORD))
    return items, clusters, keys, urls


def build_base(path: Path, n: int, gap_days: int, pruned: bool = True) -> None:
    """A store with ``n`` items that arrived at the new items' rate (one per NEW_EVERY
    seconds: 1,000,000 items = 174 days) and ended ``gap_days`` before START, each with a
    cluster and its URL key, written with executemany (the per-item path would take hours).
    Items of the last 15 days before START (what a window can reach) get their dedupe_text row
    from the same functions as Deduper.assign. Older ones get none when ``pruned`` (what
    ``Deduper.prune`` leaves after every refresh), else a row of the same size with random keys
    (a store never pruned: only its file size differs, no lookup reaches those rows)."""
    import multiprocessing

    tmp = path.with_suffix(".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    store = Store(tmp)
    store.sync_sources((s, f"https://{s}.example/feed") for s in SOURCES)
    sid = {s.name: i + 1 for i, s in enumerate(store.source_states())}
    db = store.db
    db.execute("PRAGMA synchronous=OFF")
    step = 10000
    jobs = [(lo, min(n, lo + step), n, sid, gap_days, pruned) for lo in range(0, n, step)]
    done = 0
    with multiprocessing.Pool() as pool:
        for items, clusters, keys, urls in pool.imap(_base_rows, jobs):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO clusters(id, rep_item_id, first_seen, last_seen) VALUES (?,?,?,?)",
                clusters,
            )
            db.executemany(
                "INSERT INTO items(id, source_id, key, guid, link, canonical_url, title, summary,"
                " content, authors, categories, language, published, updated, enclosures,"
                " first_seen, last_seen, content_hash, cluster_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                items,
            )
            db.executemany(
                "INSERT INTO dedupe_text(item_id, first_seen, keys, record) VALUES (?,?,?,?)", keys
            )
            db.executemany("INSERT OR IGNORE INTO dedupe_urls(key, item_id) VALUES (?,?)", urls)
            db.execute("COMMIT")
            done += len(items)
            print(f"  base: {done:,} items", file=sys.stderr, flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    tmp.rename(path)
    print(file=sys.stderr)


def new_items(n: int, seed: int) -> list[tuple[str, ParsedItem]]:
    """``n`` new items; 5 % are syndicated copies (other source, suffix, wire prefix) of a
    recent one, so the join path is exercised too."""
    synth = Synth(seed)
    out: list[tuple[str, ParsedItem]] = []
    for i in range(n):
        src, p = synth.item(1_000_000_000 + i, SOURCES)
        if out and synth.rng.random() < 0.05:
            orig = synth.rng.choice(out[-500:])[1]
            p = ParsedItem(
                guid=None,
                link=f"https://{src}.example/c/{i}",
                title=orig.title + " - Outlet",
                summary="(AFP) - " + orig.summary,
            )
        out.append((src, p))
    return out


def _prepared(items: list[tuple[str, ParsedItem]]) -> list[tuple[str, tuple]]:
    """What the worker processes hand the main process (untimed): per item its source and
    ``(key, content hash, parsed, Prep)``."""
    out = []
    for src, p in items:
        canon = canonical_url(p.link)
        prep = Prep(canon, Tagging(), prepare(p, canon))
        out.append((src, (item_key(p), content_hash(p), p, prep)))
    return out


def ingest(
    stores: dict[str, Store], items: list[tuple[str, ParsedItem]], batch: int = 50
) -> dict[str, tuple[float, int]]:
    """Ingest the same items into every store the pipeline's way: inside ``store.bulk()``, one
    transaction per source batch running ``pipeline.store_new_items`` (dedupe, then one write
    per table). Items come in runs of ``batch``, split by source in order, so a refresh where
    each source brings a few items is mimicked. The stores are interleaved run by run so that
    machine load affects them alike. Returns seconds and joined-cluster counts per store."""
    prepared = _prepared(items)
    secs = dict.fromkeys(stores, 0.0)
    seen: dict[str, set[int]] = {name: set() for name in stores}
    joined = dict.fromkeys(stores, 0)
    dedupers = {name: Deduper(st) for name, st in stores.items()}
    for st in stores.values():
        st.sync_sources((s, f"https://{s}.example/feed") for s in SOURCES)
    runs = []
    for lo in range(0, len(prepared), batch):
        by_source: dict[str, list] = {}
        for src, row in prepared[lo : lo + batch]:
            by_source.setdefault(src, []).append(row)
        runs.append((START + timedelta(seconds=lo * NEW_EVERY), by_source))
    order = list(stores)
    bulks = {name: st.bulk(commit_every=2.0) for name, st in stores.items()}
    for b in bulks.values():
        b.__enter__()
    try:
        for now, by_source in runs:
            order.reverse()
            for name in order:
                st, dd = stores[name], dedupers[name]
                t = time.perf_counter()
                for src, fresh in by_source.items():
                    with st.transaction():
                        pairs = store_new_items(st, dd, src, fresh, now)
                    for _, cid in pairs:
                        joined[name] += cid in seen[name]
                        seen[name].add(cid)
                secs[name] += time.perf_counter() - t
    finally:
        for name, b in bulks.items():
            t = time.perf_counter()
            b.__exit__(None, None, None)  # the last commit and the WAL checkpoint count too
            secs[name] += time.perf_counter() - t
    return {name: (secs[name], joined[name]) for name in stores}


def speed(args: argparse.Namespace) -> None:
    from aggregator import dedupe

    WORK.mkdir(parents=True, exist_ok=True)
    params = (
        dedupe.TITLE_BANDS,
        dedupe.TITLE_ROWS,
        dedupe.BODY_BANDS,
        dedupe.BODY_ROWS,
        dedupe.LEAD_WORDS,
        dedupe.LEAD_KEY_WORDS,
        dedupe.TITLE_PREFIX,
    )
    kind = "unpruned" if args.unpruned else "pruned"
    base = WORK / f"base-v5-{kind}-{args.base}-gap{args.gap_days}-w-{'-'.join(map(str, params))}.db"
    if not base.exists():
        t = time.perf_counter()
        build_base(base, args.base, args.gap_days, pruned=not args.unpruned)
        print(f"built {base.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.database == "postgresql":
        return _speed_postgresql(args, base)
    paths = {"empty": WORK / "run-empty.db", "big": WORK / "run-big.db"}
    for p in paths.values():
        for q in (p, Path(str(p) + "-wal"), Path(str(p) + "-shm")):
            q.unlink(missing_ok=True)
    shutil.copyfile(base, paths["big"])
    stores = {name: Store(p) for name, p in paths.items()}
    if args.cache_mib:  # the same page cache for both (the store's default is 2 MiB)
        for st in stores.values():
            st.db.execute(f"PRAGMA cache_size=-{args.cache_mib * 1024}")
    before = {name: st.count_items() for name, st in stores.items()}
    items = new_items(args.new, seed=7)
    result = ingest(stores, items)
    for name, (secs, joined) in result.items():
        print(
            f"{name:>5}: {before[name]:>9,} items before; {args.new:,} ingested in {secs:6.1f} s "
            f"({1e6 * secs / args.new:.0f} us/item); joined an existing cluster: {joined}"
        )
    for st in stores.values():
        st.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ratio big/empty = {result['big'][0] / result['empty'][0]:.2f}; peak RSS {peak:.0f} MiB")


def _speed_postgresql(args: argparse.Namespace, base: Path) -> None:
    """``speed`` on PostgreSQL: a throwaway cluster (tests/support/postgres.py), the same SQLite
    base copied into one database the way ``aggregator db copy`` does (COPY per table), an empty
    one beside it, the same items ingested into both."""
    sys.path.insert(0, str(ROOT / "tests"))
    from aggregator.store import postgres as pg
    from aggregator.store import sqlite as lite
    from aggregator.store.copy import copy_store

    from support.postgres import PostgresCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server programs not installed")
    cluster = PostgresCluster(bindir).start()
    try:
        urls = {"empty": cluster.database(), "big": cluster.database()}
        t = time.perf_counter()
        src, dst = lite.Connection(base), pg.Connection(urls["big"])
        try:
            copy_store(src, dst)
        finally:
            src.close(), dst.close()
        import psycopg

        with psycopg.connect(urls["big"], autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
        print(f"copied the base to PostgreSQL in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        stores = {name: Store(url) for name, url in urls.items()}
        before = {name: st.count_items() for name, st in stores.items()}
        items = new_items(args.new, seed=7)
        result = ingest(stores, items)
        for name, (secs, joined) in result.items():
            print(
                f"{name:>5}: {before[name]:>9,} items before; {args.new:,} ingested in "
                f"{secs:6.1f} s ({1e6 * secs / args.new:.0f} us/item); joined an existing "
                f"cluster: {joined}"
            )
        for st in stores.values():
            st.close()
    finally:
        cluster.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PostgreSQL: ratio big/empty = {result['big'][0] / result['empty'][0]:.2f}; "
          f"peak RSS {peak:.0f} MiB (this process)")  # fmt: skip


# ---- realistic items from a feed farm ------------------------------------------------------------


def _farm_items(farm: Path) -> list[tuple[str, list[ParsedItem]]]:
    import hashlib
    import pickle

    from aggregator.errors import ParseError
    from aggregator.parse import parse

    manifest = json.loads((farm / "manifest.json").read_text())
    tag = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]
    cache = WORK / f"farm-{tag}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    now = datetime.fromisoformat(manifest["now"])
    out = []
    for f in manifest["feeds"]:
        name = f["path"].split("/")[0]
        body = (farm / "www" / f["path"]).read_bytes()
        try:
            feed = parse(body, f"http://127.0.0.1/{f['path']}", now=now)
        except ParseError as exc:  # a broken farm feed is not dedupe's business
            print(f"  skipped {f['path']}: {exc}", file=sys.stderr)
            continue
        out.append((name, list(feed.items)))
    WORK.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def farm(args: argparse.Namespace) -> None:
    import tempfile

    feeds = _farm_items(Path(args.dir))
    n = sum(len(items) for _, items in feeds)
    canon = [[canonical_url(p.link) for p in items] for _, items in feeds]
    best_prep = best_assign = float("inf")
    for _ in range(args.repeat):
        t = time.process_time()
        # plain zips: this is the timed region (strict= would add its own cost per feed)
        preps = [
            [prepare(p, c) for p, c in zip(items, cs)]  # noqa: B905
            for (_, items), cs in zip(feeds, canon)  # noqa: B905
        ]
        best_prep = min(best_prep, time.process_time() - t)
        with tempfile.TemporaryDirectory() as tmp:
            st = Store(Path(tmp) / "farm.db")
            st.sync_sources((name, f"http://127.0.0.1/{name}") for name, _ in feeds)
            dd = Deduper(st)
            now = START
            spent = 0.0
            clusters: set[int] = set()
            with st.bulk(commit_every=2.0):
                for (name, items), cs, ps in zip(feeds, canon, preps, strict=True):
                    now += timedelta(seconds=1)
                    fresh, seen = [], set()
                    for p, c, pr in zip(items, cs, ps, strict=True):
                        key = item_key(p)
                        if key not in seen:
                            seen.add(key)
                            fresh.append((key, content_hash(p), p, Prep(c, Tagging(), pr)))
                    t = time.process_time()
                    with st.transaction():
                        clusters.update(c for _, c in store_new_items(st, dd, name, fresh, now))
                    spent += time.process_time() - t
            keys = sum(len(k) // 8 for (k,) in st.db.execute("SELECT keys FROM dedupe_text"))
            stored = st.count_items()
            st.close()
        best_assign = min(best_assign, spent)
    print(
        f"{n:,} items from {len(feeds)} feeds: prepare {1e6 * best_prep / n:.0f} us/item, "
        f"dedupe + store {1e6 * best_assign / stored:.0f} us/item ({stored:,} stored, "
        f"{len(clusters):,} clusters, {keys / stored:.1f} text keys/item)"
    )


# ---- quality over case sets ----------------------------------------------------------------------


def _origin_link(r: dict) -> bool:
    return (
        "/news/" not in r["link"]
        and "/article/" not in r["link"]
        and "/actualite/" not in r["link"]
    )


def x_amp_link(r, rng):
    if not _origin_link(r):
        return
    link = r["link"].split("?")[0].rstrip("/")
    host_path = link.split("://", 1)[1]
    host, _, path = host_path.partition("/")
    r["link"] = rng.choice(
        [
            f"https://{host}/{path}/amp",
            f"https://{host}/{path}?outputType=amp",
            f"https://{host}/amp/{path}",
            (
                f"https://{host.replace('-', '--').replace('.', '-')}"
                f".cdn.ampproject.org/c/s/{host}/{path}"
            ),
            f"https://{host}/{path[:-5]}.amp.html"
            if path.endswith(".html")
            else f"https://{host}/{path}/amp/",
        ]
    )


def x_mobile_link(r, rng):
    if _origin_link(r):
        host = r["link"].split("://", 1)[1].split("/")[0]
        bare = host.removeprefix("www.")
        r["link"] = r["link"].replace(host, rng.choice(["m.", "mobile."]) + bare, 1)


def x_redirect_link(r, rng):
    r["link"] = rng.choice(
        [
            f"https://news.google.com/rss/articles/CBMi{rng.getrandbits(120):x}?oc=5",
            f"https://feeds.feedburner.com/~r/x/~3/{rng.getrandbits(40):x}/",
            f"https://www.msn.com/fr-fr/actualite/monde/ar-AA{rng.getrandbits(30):x}",
        ]
    )


def x_title_upper(r, rng):
    r["title"] = r["title"].upper()


def x_title_case(r, rng):
    r["title"] = r["title"].title()


def x_title_truncate(r, rng):
    if len(r["title"]) > 60:
        r["title"] = r["title"][:55].rsplit(" ", 1)[0] + rng.choice(["…", "...", " …"])


def x_outlet_prefix(r, rng):
    r["title"] = (
        rng.choice(["Hespress FR", "Le360", "AFP", "Reuters", "APS"])
        + rng.choice([": ", " | ", " - "])
        + r["title"]
    )


def x_emoji(r, rng):
    r["title"] = rng.choice(["🔴 ", "⚡ ", "📢 ", "🇲🇦 "]) + r["title"]


def x_html_summary(r, rng):
    r["summary"] = (
        "<p>" + html.escape(r["summary"]).replace("’", "&rsquo;").replace("é", "&eacute;") + "</p>"
    )


def x_summary_chars(r, rng):
    if len(r["summary"]) > 180:
        r["summary"] = r["summary"][: rng.randint(120, 170)] + rng.choice(["…", "...", " [...]"])


def x_summary_empty(r, rng):
    r["summary"] = ""


def x_title_in_summary(r, rng):
    r["summary"] = r["title"] + ". " + r["summary"]


def x_dateline(r, rng):
    r["summary"] = (
        rng.choice(
            [
                "PARIS — ",
                "LAGOS, Nigeria — ",
                "Casablanca - ",
                "NAIROBI, Kenya (AP) — ",
                "ALGER (APS) - ",
            ]
        )
        + r["summary"]
    )


def x_credit(r, rng):
    r["summary"] += rng.choice(
        [
            " (Photo: AFP)",
            " © 2026 AFP",
            " Source: Reuters",
            " -- AFP",
            " Copyright 2026 The Associated Press. All rights reserved.",
        ]
    )


def x_strip_accents(r, rng):
    for k in ("title", "summary"):
        r[k] = "".join(
            c for c in unicodedata.normalize("NFKD", r[k]) if not unicodedata.combining(c)
        )


def x_spacing(r, rng):
    r["title"] = r["title"].replace(" :", "\u00a0:").replace(" ", " \u200b", 1)
    r["summary"] = r["summary"].replace(". ", ".\u00a0 ")


def x_arabic(r, rng):
    for k in ("title", "summary"):
        r[k] = r[k].replace("أ", "ا").replace("ى", "ي").replace("ة", "ه").replace("ال", "الـ", 2)


def x_date_suffix(r, rng):
    r["title"] += rng.choice([" (vidéo)", " [Photos]", " (+video)", " – en images"])


EXTRA = [
    x_amp_link,
    x_mobile_link,
    x_redirect_link,
    x_title_upper,
    x_title_case,
    x_title_truncate,
    x_outlet_prefix,
    x_emoji,
    x_html_summary,
    x_summary_chars,
    x_summary_empty,
    x_title_in_summary,
    x_dateline,
    x_credit,
    x_strip_accents,
    x_spacing,
    x_arabic,
    x_date_suffix,
]


def score(rows: list[dict]) -> tuple[float, float, list[str]]:
    feed = "".join(
        json.dumps(
            {k: r[k] for k in ("id", "title", "summary", "link", "source", "published")},
            ensure_ascii=False,
        )
        + "\n"
        for r in rows
    )
    out = io.StringIO()
    dedupe_cli.run(io.StringIO(feed), out)
    got = {o["id"]: o["cluster"] for o in map(json.loads, out.getvalue().splitlines())}
    truth, pred = collections.defaultdict(list), collections.defaultdict(list)
    for r in rows:
        truth[r["cluster"]].append(r["id"])
        pred[got[r["id"]]].append(r["id"])

    def pairs(g):
        return {p for m in g.values() for p in itertools.combinations(sorted(m), 2)}

    t, p = pairs(truth), pairs(pred)
    by = {r["id"]: r for r in rows}
    notes = [
        f"FALSE {by[a]['title'][:60]!r} ~ {by[b]['title'][:60]!r}" for a, b in sorted(p - t)[:8]
    ]
    notes += [
        f"MISS  {by[a]['title'][:60]!r} ~ {by[b]['title'][:60]!r} | {by[b]['summary'][:60]!r}"
        for a, b in sorted(t - p)[:8]
    ]
    tp = len(t & p)
    return (tp / len(p) if p else 1.0), (tp / len(t) if t else 1.0), notes


def quality(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(EVAL))
    import dedup_cases  # type: ignore[import-not-found]

    sets = {"dev": dedup_cases.TRANSFORMS, "extra": EXTRA, "both": dedup_cases.TRANSFORMS + EXTRA}
    for seed in args.seeds:
        for name, transforms in sets.items():
            rows = dedup_cases.build(
                seed,
                args.stories,
                transforms=transforms,
                extra_sibling_words=("Live updates", "Le point du jour", "نشرة الأخبار"),
            )
            prec, rec, notes = score(rows)
            print(f"seed {seed:>3} {name:>5}: P={prec:.4f} R={rec:.4f} ({len(rows)} rows)")
            if args.verbose:
                for n in notes:
                    print("   ", n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--base", type=int, default=1_000_000)
    sp.add_argument("--new", type=int, default=40_000)
    sp.add_argument(
        "--gap-days",
        type=int,
        default=0,
        help="the base ends this many days before the new items (0: right before them, so the "
        "big store's dedupe window starts full; 8: past the 7-day window, so only the store's "
        "size differs)",
    )
    sp.add_argument("--cache-mib", type=int, default=0, help="SQLite page cache for both stores")
    sp.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the stores' backend (postgresql: a throwaway cluster)")  # fmt: skip
    sp.add_argument(
        "--unpruned",
        action="store_true",
        help="base keeps a dedupe_text row for every item (a store never pruned)",
    )
    fm = sub.add_parser("farm")
    fm.add_argument("--dir", default="/tmp/farm500")
    fm.add_argument("--repeat", type=int, default=3)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    q.add_argument("--stories", type=int, default=250)
    q.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    {"speed": speed, "farm": farm, "quality": quality}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
