"""Write an aggregator config.yaml for a list of feed URLs (the bench farm's urls.txt).

    python3 bench/mkconfig.py URLS_FILE OUT_CONFIG [--workers N] [--per-host N]

Untimed set-up step for ``bench/run_peers.sh``: loopback hosts are allowed, mail goes nowhere.
``fetch.workers`` and ``fetch.per_host`` are written only when given (else: the defaults).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("urls")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--per-host", type=int, default=None)
    args = ap.parse_args()
    urls = [u.strip() for u in Path(args.urls).read_text().splitlines() if u.strip()]
    fetch = ["timeout: 60s", "allow_private: [127.0.0.0/8]"]
    if args.workers is not None:
        fetch.insert(0, f"workers: {args.workers}")
    if args.per_host is not None:
        fetch.insert(1, f"per_host: {args.per_host}")
    lines = [
        "database: agg.db",
        "output: {dir: public}",
        "fetch: {" + ", ".join(fetch) + "}",
        "digest: {outbox: outbox}",
        "sources:",
    ]
    for i, url in enumerate(urls):
        lines.append(f"  - {{name: {json.dumps(f'feed {i:05d}')}, url: {json.dumps(url)}}}")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
