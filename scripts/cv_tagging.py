#!/usr/bin/env python3
"""Leave-one-outlet-out cross-validation of the learned tagger, against the hand-set scorer.

python scripts/cv_tagging.py [--eval ../shared/eval] [--json cv_tagging.json]
    For each outlet (``train_tagging.outlet``: one per corpus folder, dataset, or brand of the
    extra feeds), fits the models on every other outlet with ``train_tagging.train`` and tags
    the held-out outlet with the runtime code; each fold chooses its L2 penalties by an inner
    grouped k-fold over its training outlets (``train_tagging.outlet_folds``; ``--l2`` fixes
    one instead; ~15 s). ``--errors`` lists each wrong decision on a held-out item (a
    diagnostic: read it for classes of error, not to add terms for one item). ``--prior
    zero`` pulls the weights toward 0 instead of the guideline means
    (``train_tagging.GUIDELINE_MEANS``).
    Pools precision, recall and F1 per tag (ai, africa, countries; countries count ISO codes
    as score_tagging.py does) overall and per
    language, prints a table next to the hand-set scorer's (in-sample: its constants were set
    on all of these items) and its held-back figures quoted in issue 16, and writes the
    figures as JSON. Targets (issue 16): ai >= 0.95, africa >= 0.96,
    countries >= 0.93, overall and in each language with at least 10 positives.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_tagging as tt

from aggregator.tagging import Tagger
from aggregator.tagging.model import from_json

TARGETS = {"ai": 0.95, "africa": 0.96, "countries": 0.93}
#: The hand-set scorer's F1 on the held-back test set, as issue 16 quotes it: what the learned
#: model's cross-validated F1 must beat for ``train_tagging.py --activate`` to name the tag.
HELD_BACK = {
    ("africa", "all"): 0.93,
    ("africa", "fr"): 0.92,
    ("africa", "en"): 0.92,
    ("countries", "all"): 0.86,
    ("countries", "fr"): 0.84,
    ("countries", "en"): 0.85,
    ("ai", "all"): 0.935,
    ("ai", "ar"): 0.88,
    ("ai", "en"): 0.90,
}
Counts = dict[tuple[str, str], list[int]]  # (tag, language) -> [tp, fp, fn, positives]


def folds(items: Sequence[tt.Item]) -> Iterator[tuple[str, list[int], list[int]]]:
    """(outlet, train indices, test indices), one fold per outlet, outlets in sorted order."""
    for group in sorted({it.group for it in items}):
        test = [i for i, it in enumerate(items) if it.group == group]
        train = [i for i, it in enumerate(items) if it.group != group]
        yield group, train, test


def count(c: Counts, it: tt.Item, tags: set[str], codes: set[str]) -> None:
    for key_lang in ("all", it.language):
        for tag in ("ai", "africa"):
            truth, pred = getattr(it, tag), tag in tags
            row = c.setdefault((tag, key_lang), [0, 0, 0, 0])
            row[0] += truth and pred
            row[1] += pred and not truth
            row[2] += truth and not pred
            row[3] += truth
        row = c.setdefault(("countries", key_lang), [0, 0, 0, 0])
        row[0] += len(it.countries & codes)
        row[1] += len(codes - it.countries)
        row[2] += len(it.countries - codes)
        row[3] += len(it.countries)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def errors(it: tt.Item, tags: set[str], codes: set[str]) -> list[str]:
    """One line per wrong decision of the learned model on a held-out item (``--errors``)."""
    out = []
    for tag in ("ai", "africa"):
        truth, pred = getattr(it, tag), tag in tags
        if truth != pred:
            out.append(f"{'FN' if truth else 'FP'} {tag}")
    out += [f"FN {c}" for c in sorted(it.countries - codes)]
    out += [f"FP {c}" for c in sorted(codes - it.countries)]
    return [f"{e:9} {it.language} {it.group:28} {it.id}  {it.title[:90]}" for e in out]


def run(
    items: list[tt.Item], nested: bool = True, l2: float = tt.L2, wrong: list[str] | None = None
) -> dict[str, Counts]:
    """Pooled counts of both scorers; ``nested``: each fold chooses its L2 penalties by an
    inner leave-one-outlet-out over its own training outlets (as the shipped weights do over
    all of them), else every family uses ``l2``."""
    tt.featurize(items)
    tagger = Tagger.from_settings({}, 1.0)
    hand = Tagger.from_settings({}, 1.0)
    hand.model = None
    learned: Counts = {}
    handset: Counts = {}
    for _group, train, test in folds(items):
        fold = [items[i] for i in train]
        penalties = tt.choose_l2(fold) if nested else dict.fromkeys(("ai", "africa", "country"), l2)
        model = from_json(tt.train(fold, l2=penalties))
        for i in test:
            it = items[i]
            predicted = tt.predict(tagger, model, it)
            count(learned, it, *predicted)
            if wrong is not None:
                wrong.extend(errors(it, *predicted))
            t = hand.tag(it.title, it.summary, it.language)
            count(handset, it, {x for x in t.tags if x in ("ai", "africa")}, set(t.countries))
    return {"learned": learned, "hand": handset}


def table(results: dict[str, Counts]) -> tuple[str, dict[str, object]]:
    lines = [
        f"{'tag':10} {'lang':5} {'pos':>4}  {'learned P/R/F1':>20}  {'hand in-sample':>20}"
        "  held-back  target"
    ]
    out: dict[str, object] = {}
    keys = sorted(results["learned"], key=lambda k: (k[0], k[1] != "all", k[1]))
    for tag, lang in keys:
        row: dict[str, object] = {}
        cells = []
        pos = results["learned"][(tag, lang)][3]
        for name in ("learned", "hand"):
            tp, fp, fn, _ = results[name][(tag, lang)]
            p, r, f = prf(tp, fp, fn)
            row[name] = {"P": round(p, 3), "R": round(r, 3), "F1": round(f, 3), "tp": tp, "fp": fp}
            row[name]["fn"] = fn  # type: ignore[index]
            cells.append(f"{p:6.3f} {r:6.3f} {f:6.3f}")
        f_learned = row["learned"]["F1"]  # type: ignore[index]
        judged = lang == "all" or pos >= 10
        mark = ("ok" if f_learned >= TARGETS[tag] else "MISS") if judged else "-"
        row["positives"] = pos
        row["target"] = TARGETS[tag]
        held = HELD_BACK.get((tag, lang))
        row["hand_held_back_F1"] = held
        out[f"{tag}/{lang}"] = row
        hb = f"{held:9.3f}" if held is not None else f"{'':9}"
        lines.append(f"{tag:10} {lang:5} {pos:4}  {cells[0]:>20}  {cells[1]:>20}  {hb}  {mark}")
    return "\n".join(lines), out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--eval", type=Path, default=tt.EVAL)
    ap.add_argument(
        "--l2", type=float, default=None, help="one fixed L2 penalty (default: nested choice)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--prior", choices=("guideline", "zero"), default="guideline")
    ap.add_argument(
        "--errors", action="store_true", help="also list the learned model's held-out errors"
    )
    args = ap.parse_args(argv)
    tt.set_prior(args.prior)
    items = tt.load(args.eval)
    wrong: list[str] | None = [] if args.errors else None
    results = run(items, args.l2 is None, args.l2 or tt.L2, wrong)
    text, figures = table(results)
    print(f"leave-one-outlet-out, {len({it.group for it in items})} outlets, {len(items)} items")
    print(text)
    if wrong:
        print("\nheld-out errors of the learned model (kind, language, outlet, id, title):")
        print("\n".join(wrong))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
