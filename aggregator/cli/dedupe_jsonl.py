"""``aggregator dedupe --jsonl``: cluster JSON lines through the pipeline's own code path.

Reads ``{"id","title","summary","link","source","published"?,"guid"?}`` lines in order; writes
``{"id","cluster"}`` lines where ``cluster`` is the id of the first line of the story. Each line
goes into a temporary store exactly as the pipeline stores a new item (``insert_item`` then
``Deduper.assign``), with ``published`` as its first-seen time.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ..dedupe import Deduper
from ..errors import AggregatorError
from ..models import ParsedItem, Tagging
from ..normalize import canonical_url, content_hash, item_key
from ..store import Store

_BATCH = 200


def _when(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return fallback
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return fallback


@contextmanager
def _store(db_path: str | Path | None) -> Iterator[Store]:
    if db_path is not None:
        with Store(db_path) as store:
            yield store
        return
    with (
        tempfile.TemporaryDirectory(prefix="aggregator-dedupe-") as tmp,
        Store(Path(tmp) / "dedupe.db") as store,
    ):
        yield store


def run(stdin: IO[str], stdout: IO[str], db_path: str | Path | None = None) -> int:
    """Cluster the lines of ``stdin`` onto ``stdout``; returns an exit code."""
    rows = []
    for n, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            print(f"line {n}: not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(row, dict) or "id" not in row:
            print(f'line {n}: expected an object with an "id"', file=sys.stderr)
            return 2
        rows.append(row)
    with _store(db_path) as store:
        deduper = Deduper(store.dedupe)
        store.sync_sources(
            (s, f"jsonl:{s}") for s in dict.fromkeys(str(r.get("source") or "-") for r in rows)
        )
        first_row: dict[int, str] = {}  # cluster id -> id of its first line
        now = datetime(1970, 1, 2, tzinfo=UTC)
        for start in range(0, len(rows), _BATCH):
            with store.transaction():
                for row in rows[start : start + _BATCH]:
                    now = _when(row.get("published"), now)
                    cluster = _one(store, deduper, row, now)
                    first_row.setdefault(cluster, str(row["id"]))
                    out = {"id": row["id"], "cluster": first_row[cluster]}
                    stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    stdout.flush()
    return 0


def _one(store: Store, deduper: Deduper, row: dict, now: datetime) -> int:
    source = str(row.get("source") or "-")
    parsed = ParsedItem(
        guid=(str(row["guid"]) if row.get("guid") else None),
        link=(str(row["link"]) if row.get("link") else None),
        title=str(row.get("title") or ""),
        summary=str(row.get("summary") or ""),
        content=str(row.get("content") or ""),
        published=_when(row.get("published"), now) if row.get("published") else None,
    )
    key = item_key(parsed)
    known = store.known_items(source, [key])
    if key in known:  # the same item again: the pipeline would update it in place
        return store.item(known[key][0]).cluster_id or store.new_cluster(known[key][0], now)
    canonical = canonical_url(parsed.link)
    item_id = store.insert_item(
        source, key, canonical, parsed, content_hash(parsed), Tagging(), now
    )
    return deduper.assign(item_id, source, parsed, canonical, now)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.stdin, sys.stdout)
    except AggregatorError as exc:
        print(f"aggregator dedupe: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
