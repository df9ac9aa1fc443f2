"""``aggregator tag --jsonl``: tag JSON lines from stdin, one answer line per input line, in
the same order.

Input rows: ``{"id", "title", "summary", "language"?, "source_tags"?}``; output rows:
``{"id", "tags": [...], "countries": ["MA", ...], "why": {tag: [...]}}``. A line that is not
a JSON object gets ``{"id": null, "error": "..."}`` so the output stays aligned with the input.
"""

from __future__ import annotations

import json
import sys
from typing import IO

from ..tagging import Tagger, default_tagger


def run(stdin: IO[str], stdout: IO[str], tagger: Tagger) -> int:
    """Stream ``stdin`` to ``stdout``; return 0, or 1 if some line could not be read."""
    status = 0
    for line in stdin:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            row = f"bad input line: {exc}"
        if not isinstance(row, dict):
            status = 1
            error = row if isinstance(row, str) else "bad input line: not a JSON object"
            stdout.write(json.dumps({"id": None, "error": error}) + "\n")
            continue
        t = tagger.tag(
            str(row.get("title") or ""),
            str(row.get("summary") or ""),
            row.get("language") or None,
            tuple(row.get("source_tags") or ()),
        )
        out = {
            "id": row.get("id"),
            "tags": list(t.tags),
            "countries": list(t.countries),
            "why": {k: list(v) for k, v in t.why.items()},
        }
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(run(sys.stdin, sys.stdout, default_tagger()))
