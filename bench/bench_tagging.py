"""Tagging speed benchmark (not a test): items per second of ``Tagger.tag`` on one core.

python bench/bench_tagging.py [--repeat 5] [--hand | --learned | --interleave]
    Tags every item of ../shared/eval/tagging_dev.jsonl and tagging_dev_more.jsonl (title,
    summary, language) with the default tagger, ``--repeat`` times after one warm-up pass (the
    span cache filled, as in a long-running worker), and prints the best pass in items/s.
    ``--hand`` / ``--learned`` time that path for every tag instead of the mix ``weights.json``
    activates (the learned model for the tags it names, the hand-set scorer for the others).
    ``--interleave`` alternates passes of the default path and the hand-set scorer in one
    process and prints the median and best of each: on a loaded machine the ratio is steadier
    than either figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

from aggregator.tagging import Tagger

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
FILES = ("tagging_dev.jsonl", "tagging_dev_more.jsonl")
LANGUAGE = {"masakhanews-fra-bbc-afrique": "fr", "le-monde": "fr", "franceinfo": "fr"}
LANGUAGE |= dict.fromkeys(("sciences-et-avenir", "maroc-diplomatique", "jeune-afrique"), "fr")
LANGUAGE |= dict.fromkeys(("hespress", "sky-news-arabia", "fr", "ar"), "ar") | {"fr": "fr"}


def items() -> list[tuple[str, str, str | None]]:
    out = []
    for name in FILES:
        for line in (EVAL / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            lang = r.get("language") or LANGUAGE.get(r.get("file", "/").split("/")[1], "en")
            out.append((r.get("title") or "", r.get("summary") or "", lang))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--hand", action="store_true", help="time the hand-set scorer")
    ap.add_argument("--learned", action="store_true", help="time the learned model")
    ap.add_argument("--interleave", action="store_true", help="default and hand-set, alternated")
    args = ap.parse_args()
    rows = items()
    tagger = Tagger.from_settings({}, 1.0)
    if args.interleave:
        interleave(tagger, rows, args.repeat)
        return
    if args.hand:
        tagger.model = None
    if args.learned and tagger.learned is not None:
        everything = frozenset(("ai", "africa", "countries"))
        tagger.model = dataclasses.replace(tagger.learned, active=everything)
    for t, s, lang in rows:  # warm-up
        tagger.tag(t, s, lang)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.process_time()
        for t, s, lang in rows:
            tagger.tag(t, s, lang)
        best = min(best, time.process_time() - start)
    print(f"{len(rows)} items, best of {args.repeat}: {len(rows) / best:,.0f} items/s (one core)")


def one_pass(tagger: Tagger, rows: list[tuple[str, str, str | None]]) -> float:
    start = time.process_time()
    for t, s, lang in rows:
        tagger.tag(t, s, lang)
    return time.process_time() - start


def interleave(tagger: Tagger, rows: list[tuple[str, str, str | None]], repeat: int) -> None:
    default = tagger.model
    for t, s, lang in rows:  # warm-up (the hand-set path shares the scan and its caches)
        tagger.tag(t, s, lang)
    times: dict[str, list[float]] = {"default": [], "hand": []}
    for _ in range(repeat):
        for name, model in (("default", default), ("hand", None)):
            tagger.model = model
            times[name].append(one_pass(tagger, rows))
    tagger.model = default
    for name, ts in times.items():
        print(
            f"{name:8s} {len(rows)} items, {repeat} passes: median "
            f"{len(rows) / statistics.median(ts):,.0f}, best {len(rows) / min(ts):,.0f} items/s"
        )


if __name__ == "__main__":
    main()
