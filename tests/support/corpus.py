"""The corpus of real feeds in tests/data/corpus/real and the config files that point a run at
it (or at any loopback URLs): shared by the end-to-end, crash and serve tests."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser

REAL = Path(__file__).resolve().parent.parent / "data" / "corpus" / "real"


def distinct_items(path: Path) -> int:
    """Feedparser's view of how many distinct items a document holds (by guid, else link, else
    title): the number the store must end up with for that source."""
    doc = feedparser.parse(path.read_bytes())
    keys = {e.get("id") or e.get("link") or e.get("title") for e in doc.entries}
    return len(keys)


def write_config(
    tmp_path: Path, sources: list[tuple[str, str]], extra: str = "", database: object = "agg.db"
) -> Path:
    """A config.yaml in ``tmp_path`` for ``sources`` (name, URL), allowed to fetch from
    127.0.0.0/8; ``extra`` is appended as is (more top-level YAML); ``database``: a SQLite file
    or a PostgreSQL URL (the ``database`` fixture's)."""
    lines = [
        f"database: {json.dumps(str(database))}",
        "output: {dir: public, base_url: 'https://news.example.org/'}",
        "fetch: {timeout: 10s, allow_private: ['127.0.0.0/8'], workers: 8}",
        "digest: {outbox: outbox, recipients: [reader@example.org]}",
        "sources:",
    ]
    for name, url in sources:
        lines.append(f"  - {{name: {json.dumps(name)}, url: {json.dumps(url)}}}")
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path
