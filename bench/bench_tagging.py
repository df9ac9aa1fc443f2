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
``--chunk-minima [--baseline REF] [--rounds 15]`` loads the tagger of git ``REF`` (default
    ``main``, extracted with ``git archive`` into a temporary package ``aggregator_base``) next
    to this one and times 50-item chunks of the learned (default) path, alternating old and new
    chunk by chunk; each chunk's minimum over the rounds, summed, is the figure least moved by
    load on a shared machine. Also prints the start cost (import + ``Tagger.from_settings``, CPU
    and wall time of fresh processes, best of 5) of each.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

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
    ap.add_argument("--chunk-minima", action="store_true", help="this tagger vs --baseline's")
    ap.add_argument("--baseline", default="main", help="git ref to compare with (--chunk-minima)")
    ap.add_argument("--rounds", type=int, default=15, help="rounds of chunks (--chunk-minima)")
    args = ap.parse_args()
    rows = items()
    if args.chunk_minima:
        chunk_minima(rows, args.baseline, args.rounds)
        return
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


ROOT = Path(__file__).resolve().parents[1]
CHUNK = 50
_START = (
    "import time, os; t, c = time.perf_counter(), time.process_time(); "
    "from {pkg}.tagging import Tagger; Tagger.from_settings({{}}, 1.0); "
    "print(time.process_time() - c, time.perf_counter() - t)"
)


def baseline_package(ref: str, into: Path) -> str:
    """``aggregator/`` of git ``ref`` extracted as package ``aggregator_base`` under ``into``
    (the package imports itself relatively, so a new name keeps the two apart)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "aggregator"], check=True, capture_output=True
    ).stdout
    tar = into / "base.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    shutil.move(into / "aggregator", into / "aggregator_base")
    return "aggregator_base"


def start_cost(pkg: str, path: Path | None, runs: int = 5) -> tuple[float, float]:
    """Best CPU and wall seconds of ``runs`` fresh processes importing ``pkg`` and building
    the default tagger."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = str(path)
    cpu, wall = float("inf"), float("inf")
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _START.format(pkg=pkg)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=path or ROOT,
        ).stdout.split()
        cpu, wall = min(cpu, float(out[0])), min(wall, float(out[1]))
    return cpu, wall


def chunk_minima(rows: list[tuple[str, str, str | None]], ref: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = Path(tmp)
        pkg = baseline_package(ref, base_dir)
        sys.path.insert(0, str(base_dir))
        old_tagging: Any = importlib.import_module(f"{pkg}.tagging")
        taggers = {"old": old_tagging.Tagger.from_settings({}, 1.0)}
        taggers["new"] = Tagger.from_settings({}, 1.0)
        chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        for tagger in taggers.values():  # warm-up: span caches filled, as in a worker
            for t, s, lang in rows:
                tagger.tag(t, s, lang)
        best = {name: [float("inf")] * len(chunks) for name in taggers}
        clock = time.process_time
        for r in range(rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for k, chunk in enumerate(chunks):
                for name in order:
                    tag = taggers[name].tag
                    start = clock()
                    for t, s, lang in chunk:
                        tag(t, s, lang)
                    spent = clock() - start
                    if spent < best[name][k]:
                        best[name][k] = spent
        label = {"old": ref, "new": "this tree"}
        total = {name: sum(b) for name, b in best.items()}
        for name in ("old", "new"):
            us = total[name] / len(rows) * 1e6
            print(
                f"{label[name]:10s} {len(rows)} items, {len(chunks)} chunks x {rounds} rounds: "
                f"{us:.1f} µs/item, {len(rows) / total[name]:,.0f} items/s (sum of chunk minima)"
            )
        print(f"new / old: {total['new'] / total['old']:.3f}")
        for name, (p, path) in (("old", (pkg, base_dir)), ("new", ("aggregator", None))):
            cpu, wall = start_cost(p, path)
            print(
                f"{label[name]:10s} start (import + Tagger build): "
                f"{cpu:.3f} s CPU, {wall:.3f} s wall"
            )


if __name__ == "__main__":
    main()
