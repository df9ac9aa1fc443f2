#!/usr/bin/env python3
"""Fit the tagger's weights (aggregator/tagging/weights.json) on the labelled development data.

python scripts/train_tagging.py [--eval ../shared/eval] [--out aggregator/tagging/weights.json]
    Reads tagging_dev.jsonl and tagging_dev_more.jsonl (labels: ai, africa, countries), builds
    every (item, candidate tag) feature map with the runtime code (``Tagger.candidates``), and
    fits one L2-regularised logistic regression per family: ``country`` (one model shared by
    every ISO code), ``africa`` (its ``country_score`` feature is the fitted country model's best
    logit on the item) and ``ai``. Newton's method, a fixed number of iterations, items in file
    order, no randomness: the same data gives the same JSON, byte for byte. Needs numpy (the
    ``dev`` extra); the runtime does not. Each family's L2 penalty and probability threshold
    are chosen by grouped k-fold over the outlets (``choose_l2``, ``choose_thresholds``): the
    threshold from predictions on held-out outlets, 0.5 unless another wins by more than one
    decision.

The file says ``"active": false`` unless ``--activate`` is given: the runtime then keeps the
hand-set scorer and the model is only shown by ``aggregator tag --explain``.

Not learned: the ``prior`` weight (a source's ``prior:`` hint; evaluation runs without source
tags, so the data says nothing about it) is fixed at ``PRIOR_LOGIT``, and operator topics keep
the hand rule of ``features.RULE_*`` (there are no labels for them).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aggregator.tagging import Tagger
from aggregator.tagging.features import FEATURES, Candidates, country_logits
from aggregator.tagging.model import Model, from_json

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
FILES = ("tagging_dev.jsonl", "tagging_dev_more.jsonl")
OUT = ROOT / "aggregator" / "tagging" / "weights.json"
L2 = 1.0  # ridge penalty on every weight but the bias
ITERATIONS = 25
PRIOR_LOGIT = 2.0  # fixed: a source prior adds this much log-odds to a candidate with evidence
THRESHOLD = 0.5
DIGITS = 4


@dataclass
class Item:
    id: str
    title: str
    summary: str
    language: str
    group: str  # the outlet, for grouped cross-validation
    ai: bool
    africa: bool
    countries: frozenset[str]
    cand: Candidates | None = None


# Language of each corpus folder, as ../shared/eval/corpus_items.py decides it.
_FOLDER_LANGUAGE = {
    "le-monde": "fr",
    "franceinfo": "fr",
    "sciences-et-avenir": "fr",
    "maroc-diplomatique": "fr",
    "jeune-afrique": "fr",
    "masakhanews-fra-bbc-afrique": "fr",
    "hespress": "ar",
    "sky-news-arabia": "ar",
    "morocco-news-ar": "ar",
    "fr": "fr",
    "ar": "ar",
}


def outlet(file: str) -> str:
    """The outlet of a corpus file: ``real/<outlet>/...``, ``datasets/<dataset>/...`` (dev and
    test split together), ``more/<lang>/<feed>.xml`` by brand (every BFM feed is one outlet,
    ``aitnews@<rev>`` snapshots are one)."""
    parts = file.split("/")
    if parts[0] == "more":
        stem = parts[-1].split("@")[0].removesuffix(".xml")
        return "more:" + ("bfm" if stem.startswith("flux-rss-bfm") else stem)
    return f"{parts[0]}:{parts[1]}"


def load(eval_dir: Path = EVAL, files: Sequence[str] = FILES) -> list[Item]:
    items = []
    for name in files:
        for line in (eval_dir / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            file = r.get("file", "")
            lang = r.get("language") or _FOLDER_LANGUAGE.get(file.split("/")[1], "en")
            items.append(
                Item(
                    str(r["id"]),
                    r.get("title") or "",
                    r.get("summary") or "",
                    lang,
                    outlet(file),
                    bool(r["ai"]),
                    bool(r["africa"]),
                    frozenset(c.upper() for c in r.get("countries", [])),
                )
            )
    return items


def featurize(items: Iterable[Item], tagger: Tagger | None = None) -> None:
    tagger = tagger or Tagger.from_settings({}, 1.0)
    for it in items:
        it.cand = tagger.candidates(it.title, it.summary, it.language)


# Prior means of the weights (the ridge pulls each weight toward its mean, not toward 0),
# written from the labelling guidelines (../shared/eval/GUIDELINES.md: a country is tagged
# when it is "a main subject or main actor", not "only mentioned in passing", not a diaspora
# outside Africa), not fitted: signs and unit sizes only. They matter where the training
# outlets hold few counter-examples (every outlet but BBC Afrique names an African country
# almost only when it is the subject). Written after reading the development data, so the
# cross-validation that uses them is somewhat optimistic; ``--prior zero`` gives the plain
# ridge toward 0.
GUIDELINE_MEANS: dict[str, dict[str, float]] = {
    "country": {
        "title_ev": 1.0,  # named as a place in the title: the subject
        "lede_ev": 1.0,  # ... or in the opening sentence
        "summary_more": 0.5,  # named again and again
        "title_pass": -1.0,  # a route, a venue, an example: "in passing"
        "summary_pass": -1.0,
        "title_origin": -1.0,  # origin, not place: a diaspora
        "summary_origin": -1.0,
        "abroad": -1.0,
        "summary_only": -1.0,  # not in the title
        "anchored_other": -1.0,  # the title names another African country
        "top": 1.0,  # the story's best-evidenced country
        "share": 1.0,
    },
    # ai: "a main subject or a substantial part of the item", not "mentions AI only in passing
    # (one word in a long list, a sidebar, a byline)"
    "ai": {
        "title_ev": 1.0,  # named in the title: a main subject
        "lede_ev": 1.0,  # ... or in the opening sentence
        "summary_more": 0.5,  # named again and again: a substantial part
        "list": -1.0,  # one word in a list (of the summary)
        "device": -1.0,  # "gadgets ... with no AI framing": the title names a phone, a laptop...
    },
    "africa": {
        "country_score": 1.0,  # the country model's best logit
        "term_title_ev": 1.0,
        "term_lede_ev": 1.0,
        "abroad": -1.0,
        "origin": -1.0,
    },
}
PRIOR_MEANS: dict[str, dict[str, float]] = GUIDELINE_MEANS


def set_prior(name: str) -> None:
    """``guideline``: the ridge pulls toward ``GUIDELINE_MEANS``; ``zero``: toward 0."""
    global PRIOR_MEANS
    PRIOR_MEANS = GUIDELINE_MEANS if name == "guideline" else {}


BALANCED = False  # class weighting tried: lower CV F1 for every family
L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=float).reshape(
        len(rows), len(names)
    )


def fit(
    x: np.ndarray,
    y: Sequence[bool],
    names: Sequence[str],
    l2: float = L2,
    mean: dict[str, float] | None = None,
) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (fixed iterations, no randomness).
    Positives and negatives weigh equally in total (candidates are mostly negatives for
    countries, mostly positives for africa), so one ``l2`` suits every family."""
    t = np.array(y, dtype=float)
    n_pos = max(1.0, float(t.sum()))
    n_neg = max(1.0, float(len(t) - t.sum()))
    sw = np.where(t > 0, len(t) / (2 * n_pos), len(t) / (2 * n_neg))
    if not BALANCED:
        sw = np.ones(len(t))
    m = np.array([(mean or {}).get(n, 0.0) for n in names])
    w = m.copy()
    ridge = np.full(len(names), l2)
    ridge[list(names).index("bias")] = 1e-6
    for _ in range(ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (sw * (p - t)) + ridge * (w - m)
        hess = (x.T * (sw * p * (1.0 - p))) @ x + np.diag(ridge)
        w = w - np.linalg.solve(hess, grad)
    return w


def _weights(names: Sequence[str], w: np.ndarray) -> dict[str, float]:
    out = {n: round(float(v), DIGITS) + 0.0 for n, v in zip(names, w, strict=True)}
    out["prior"] = PRIOR_LOGIT
    return out


def _threshold(z: Sequence[float], y: Sequence[bool], margin: float = 1e-9) -> float:
    """The probability threshold with the best F1 of logits ``z`` (ties: the one nearest 0.5;
    a threshold farther from 0.5 must beat a nearer one by more than ``margin``)."""
    best, best_f = THRESHOLD, -1.0
    for step in sorted(range(20, 81, 5), key=lambda s: (abs(s - 50), s)):
        t = step / 100
        cut = math.log(t / (1 - t))
        tp = sum(1 for v, truth in zip(z, y, strict=True) if v >= cut and truth)
        fp = sum(1 for v, truth in zip(z, y, strict=True) if v >= cut and not truth)
        fn = sum(1 for v, truth in zip(z, y, strict=True) if v < cut and truth)
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f > best_f + margin:
            best, best_f = t, f
    return best


def _logit(weights: dict[str, float], f: dict[str, float]) -> float:
    return sum(weights.get(k, 0.0) * v for k, v in f.items())


# Not fitted: a per-language bias stands for the outlets of that language in the training
# data (one Arabic tech outlet, one French Africa outlet) and moved the held-out outlets'
# decisions the wrong way in cross-validation; the runtime reads a missing weight as 0.
DROPPED = frozenset(f"{p}lang_{x}" for p in ("", "term_") for x in ("fr", "en", "ar"))


def _names(family: str) -> list[str]:
    return [n for n in FEATURES[family] if n != "prior" and n not in DROPPED]


def country_rows(items: Sequence[Item]) -> tuple[list[dict[str, float]], list[bool], list[int]]:
    """(features, label, index of the item) of every country candidate."""
    rows, y, owner = [], [], []
    for i, it in enumerate(items):
        if it.cand is not None:
            for code, f in it.cand.countries.items():
                rows.append(f)
                y.append(code in it.countries)
                owner.append(i)
    return rows, y, owner


def africa_rows(
    items: Sequence[Item], country: dict[str, float]
) -> tuple[list[dict[str, float]], list[bool], list[int]]:
    rows, y, owner = [], [], []
    for i, it in enumerate(items):
        if it.cand is not None and it.cand.africa is not None:
            f = dict(it.cand.africa)
            f.update(country_logits([_logit(country, g) for g in it.cand.countries.values()]))
            rows.append(f)
            y.append(it.africa)
            owner.append(i)
    return rows, y, owner


def ai_rows(items: Sequence[Item]) -> tuple[list[dict[str, float]], list[bool], list[int]]:
    rows, y, owner = [], [], []
    for i, it in enumerate(items):
        if it.cand is not None and "ai" in it.cand.topics:
            rows.append(it.cand.topics["ai"])
            y.append(it.ai)
            owner.append(i)
    return rows, y, owner


def _family(
    rows: Sequence[dict[str, float]],
    y: Sequence[bool],
    family: str,
    l2: float,
    threshold: float | None = None,
) -> dict[str, object]:
    """One family's weights, and its threshold: ``threshold`` if given (``choose_thresholds``: from
    predictions on held-out outlets), else the best F1 on the training rows themselves."""
    names = _names(family)
    w = _weights(names, fit(matrix(rows, names), y, names, l2, PRIOR_MEANS.get(family)))
    if threshold is None:
        threshold = _threshold([_logit(w, r) for r in rows], y)
    return {"threshold": threshold, "weights": w}


INNER_FOLDS = 5


def outlet_folds(groups: Sequence[str], k: int = INNER_FOLDS) -> list[set[str]]:
    """``k`` sets of outlets of about equal size: outlets by decreasing number of rows (then
    name), each into the currently smallest set. Deterministic; the largest outlet (BBC Afrique)
    is a fold by itself, as in the outer cross-validation."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    bins: list[tuple[int, int, set[str]]] = [(0, i, set()) for i in range(k)]
    for g in sorted(sizes, key=lambda g: (-sizes[g], g)):
        bins.sort(key=lambda b: (b[0], b[1]))
        n, i, members = bins[0]
        members.add(g)
        bins[0] = (n + sizes[g], i, members)
    return [b[2] for b in sorted(bins, key=lambda b: b[1]) if b[2]]


def _held_out(
    rows: Sequence[dict[str, float]],
    y: Sequence[bool],
    groups: Sequence[str],
    family: str,
    l2: float,
) -> tuple[list[float], list[bool], float]:
    """Grouped k-fold (``outlet_folds``) of one family's candidates: every row's logit under a
    model fitted without its outlet's fold, its label, and the pooled F1 of those models at
    their own thresholds (one F1 over all predictions, not a mean of per-fold F1s that small
    folds make noisy)."""
    z: list[float] = []
    truth: list[bool] = []
    tp = fp = fn = 0
    for held in outlet_folds(groups):
        tr = [i for i, x in enumerate(groups) if x not in held]
        if not any(y[i] for i in tr):
            continue
        spec = _family([rows[i] for i in tr], [y[i] for i in tr], family, l2)
        w, t = spec["weights"], float(spec["threshold"])  # type: ignore[arg-type]
        cut = math.log(t / (1 - t))
        for i, x in enumerate(groups):
            if x in held:
                v = _logit(w, rows[i])  # type: ignore[arg-type]
                z.append(v)
                truth.append(y[i])
                pred = v >= cut
                tp += pred and y[i]
                fp += pred and not y[i]
                fn += (not pred) and y[i]
    return z, truth, (2 * tp / (2 * tp + fp + fn) if tp else 0.0)


def _cv_f1(
    rows: Sequence[dict[str, float]],
    y: Sequence[bool],
    groups: Sequence[str],
    family: str,
    l2: float,
) -> float:
    return _held_out(rows, y, groups, family, l2)[2]


def choose_l2(items: Sequence[Item], grid: Sequence[float] = L2_GRID) -> dict[str, float]:
    """Each family's L2 penalty by grouped k-fold F1 over ``items``' outlets (ties: the larger
    penalty). Only ``items`` are read: inside a cross-validation fold, its training outlets."""
    chosen: dict[str, float] = {}

    def pick(rows: list[dict[str, float]], y: list[bool], owner: list[int], family: str) -> float:
        groups = [items[i].group for i in owner]
        scored = [(round(_cv_f1(rows, y, groups, family, l2), 6), l2) for l2 in grid]
        return max(scored)[1]

    chosen["country"] = pick(*country_rows(items), "country")
    chosen["ai"] = pick(*ai_rows(items), "ai")
    # africa reads the country model; fitted here on all of ``items`` (a small optimism,
    # inside the training outlets only).
    rows, y, _ = country_rows(items)
    country = _family(rows, y, "country", chosen["country"])["weights"]
    chosen["africa"] = pick(*africa_rows(items, country), "africa")  # type: ignore[arg-type]
    return chosen


def choose_thresholds(items: Sequence[Item], l2: dict[str, float]) -> dict[str, float]:
    """Each family's probability threshold: the best F1 over the grouped k-fold predictions
    on held-out outlets (``_held_out``) at its chosen penalty, not over the training rows,
    whose fitted logits are more confident than a new outlet's will be; 0.5 unless another
    wins by more than one decision."""
    out: dict[str, float] = {}
    for family, (rows, y, owner) in (
        ("country", country_rows(items)),
        ("ai", ai_rows(items)),
    ):
        groups = [items[i].group for i in owner]
        z, truth, _ = _held_out(rows, y, groups, family, l2[family])
        out[family] = _threshold(z, truth, _one_decision(truth))
    rows, y, _ = country_rows(items)
    country = _family(rows, y, "country", l2["country"])["weights"]
    rows, y, owner = africa_rows(items, country)  # type: ignore[arg-type]
    groups = [items[i].group for i in owner]
    z, truth, _ = _held_out(rows, y, groups, "africa", l2["africa"])
    out["africa"] = _threshold(z, truth, _one_decision(truth))
    return out


def _one_decision(truth: Sequence[bool]) -> float:
    """About what one decision moves F1 by: a threshold away from 0.5 must win by more."""
    return 1.0 / (2 * max(1, sum(truth)))


def train(
    items: Sequence[Item], active: bool | list[str] = False, l2: dict[str, float] | None = None
) -> dict[str, object]:
    """The weights JSON (as a dict) fitted on ``items`` (featurized)."""
    l2 = l2 or {"ai": L2, "africa": L2, "country": L2}
    cut = choose_thresholds(items, l2)
    models: dict[str, dict[str, object]] = {}
    rows, y, _ = country_rows(items)
    models["country"] = _family(rows, y, "country", l2["country"], cut.get("country"))
    country = models["country"]["weights"]
    rows, y, _ = africa_rows(items, country)  # type: ignore[arg-type]
    models["africa"] = _family(rows, y, "africa", l2["africa"], cut.get("africa"))
    rows, y, _ = ai_rows(items)
    models["ai"] = _family(rows, y, "ai", l2["ai"], cut.get("ai"))
    return {
        "about": (
            "Logistic regression per tag family, fitted by scripts/train_tagging.py on "
            "../shared/eval/tagging_dev*.jsonl; 'prior' is fixed, not learned. Features: "
            "aggregator/tagging/features.py."
        ),
        "active": active,
        "trained_on": len(items),
        "l2": dict(l2),
        "prior_means": copy.deepcopy(PRIOR_MEANS),
        "models": {k: models[k] for k in ("ai", "africa", "country")},
    }


def predict(tagger: Tagger, model: Model, it: Item) -> tuple[set[str], set[str]]:
    """(tags among ai/africa, ISO codes) the runtime gives ``it`` under ``model``."""
    if it.cand is None:
        return set(), set()
    tagger.model = model
    t = tagger._decide(*tagger._learned(copy.deepcopy(it.cand)))
    return {x for x in t.tags if x in ("ai", "africa")}, set(t.countries)


def dumps(weights: dict[str, object]) -> str:
    return json.dumps(weights, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--eval", type=Path, default=EVAL, help="folder of the labelled files")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--activate",
        default="",
        metavar="TAGS",
        help="comma-separated tags the learned model decides at runtime (ai, africa, countries; "
        "'all'): only those where scripts/cv_tagging.py shows it at least as good as the "
        "hand-set scorer",
    )
    ap.add_argument(
        "--l2",
        type=float,
        default=None,
        help="one L2 penalty for every family (default: each family's by grouped k-fold F1 "
        "over the training outlets, grid L2_GRID)",
    )
    ap.add_argument(
        "--prior",
        choices=("guideline", "zero"),
        default="guideline",
        help="what the ridge pulls the weights toward: GUIDELINE_MEANS (default) or 0",
    )
    ap.add_argument("--limit", type=int, default=0, help="train on the first N items only")
    args = ap.parse_args(argv)
    set_prior(args.prior)
    items = load(args.eval)
    if args.limit:
        items = items[: args.limit]
    featurize(items)
    tags = [t for t in args.activate.split(",") if t]
    active: bool | list[str] = True if tags == ["all"] else (sorted(tags) or False)
    l2 = (
        choose_l2(items) if args.l2 is None else dict.fromkeys(("ai", "africa", "country"), args.l2)
    )
    weights = train(items, active, l2)
    from_json(weights)  # every feature it names exists
    args.out.write_text(dumps(weights), encoding="utf-8")
    for name, spec in weights["models"].items():  # type: ignore[attr-defined]
        top = sorted(spec["weights"].items(), key=lambda kv: -abs(kv[1]))[:8]
        print(f"{name:8} " + "  ".join(f"{k}={v:+.2f}" for k, v in top))
    print(f"wrote {args.out} ({len(items)} items)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
