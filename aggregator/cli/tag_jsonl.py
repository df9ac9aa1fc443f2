"""``aggregator tag --jsonl``: tag JSON lines from stdin, one answer line per input line, in
the same order.

Input rows: ``{"id", "title", "summary", "language"?, "source_tags"?}``; output rows:
``{"id", "tags": [...], "countries": ["MA", ...], "why": {tag: [...]}}``. A line that is not
a JSON object gets ``{"id": null, "error": "..."}`` so the output stays aligned with the input.
``explain`` prints, for an editor, every candidate tag of each item with its features'
contributions under the learned model, its score and the decisions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO

from ..tagging import Tagger, default_tagger
from ..tagging.scorer import Explained


def _rows(stdin: IO[str]) -> Iterator[dict | str]:
    """Each non-blank line as a JSON object, or the reason it is not one (both commands read
    the same input)."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield f"bad input line: {exc}"
            continue
        yield row if isinstance(row, dict) else "bad input line: not a JSON object"


def run(stdin: IO[str], stdout: IO[str], tagger: Tagger) -> int:
    """Stream ``stdin`` to ``stdout``; return 0, or 1 if some line could not be read."""
    status = 0
    for row in _rows(stdin):
        if isinstance(row, str):
            status = 1
            stdout.write(json.dumps({"id": None, "error": row}) + "\n")
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


def explain_item(
    stdout: IO[str],
    tagger: Tagger,
    title: str,
    summary: str = "",
    language: str | None = None,
    source_tags: tuple[str, ...] = (),
    ident: object = None,
) -> None:
    """Readable text: the item, the tags given, then each candidate's features and decision."""
    t = tagger.tag(title, summary, language, source_tags)
    learned = sorted(tagger.model.active) if tagger.model is not None else []
    who = (
        f"learned model for {', '.join(learned)}; hand-set rules for the rest"
        if learned
        else "hand-set scorer"
    )
    head = f"== {ident}: " if ident is not None else "== "
    stdout.write(f"{head}{title[:120]}\n")
    stdout.write(f"   tags: {', '.join(t.tags) or '(none)'}  ({who})\n")
    hand, _ = tagger.hand_scores(title, summary, language, source_tags)
    rows = tagger.explain(title, summary, language, source_tags)
    if not rows:
        stdout.write("   no candidate tag (no lexicon term matched)\n\n")
        return
    for r in rows:
        stdout.write(_explain_row(r, hand))
    stdout.write("\n")


def _explain_row(r: Explained, hand: dict[str, float]) -> str:
    from ..tagging import COUNTRY_CODES

    key = COUNTRY_CODES.get(r.tag, r.tag)
    verdict = "TAG" if r.decision else "no"
    out = [f"  {r.tag} [{r.family}] -> {verdict}"]
    if r.probability is not None and r.model_threshold is not None:
        out.append(
            f"    p={r.probability:.3f} (threshold {r.model_threshold:.2f}); "
            f"score={r.score:.3f} vs setting {r.threshold:g}"
        )
    else:
        out.append(f"    rule score={r.score:.3f} vs threshold {r.threshold:g}")
    if key in hand:
        out.append(f"    hand-set score={hand[key]:.3f} (tags at {r.threshold:g})")
    shown = [c for c in r.contributions if c[2] != 0.0]
    for name, value, contrib in shown:
        out.append(f"    {contrib:+7.3f}  {name} = {value:.3g}")
    zero = [name for name, value, contrib in r.contributions if contrib == 0.0 and value]
    if zero:
        out.append("    (no weight: " + ", ".join(zero) + ")")
    return "\n".join(out) + "\n"


def explain(stdin: IO[str], stdout: IO[str], tagger: Tagger) -> int:
    """``--explain`` over JSON lines (same input rows as ``run``)."""
    status = 0
    for row in _rows(stdin):
        if isinstance(row, str):
            status = 1
            stdout.write("== bad input line (not a JSON object)\n\n")
            continue
        explain_item(
            stdout,
            tagger,
            str(row.get("title") or ""),
            str(row.get("summary") or ""),
            row.get("language") or None,
            tuple(row.get("source_tags") or ()),
            row.get("id"),
        )
    stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(run(sys.stdin, sys.stdout, default_tagger()))
