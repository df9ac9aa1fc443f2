"""The learned tagging models at runtime: logistic regression read from ``weights.json``.

One model per tag family (``ai``, ``africa``, ``country`` shared by every ISO code): a weight
per feature name (``features``), a probability threshold, nothing else; the score is a dot
product and the decision ``p >= threshold``. The file's ``active`` says for which tags the model
decides at runtime (``true`` for all, or a list such as ``["ai"]``, set by the training
script's ``--activate`` once cross-validation shows it at least as good as the hand-set scorer
for that tag; ``countries`` is the ``country`` family, whose scores also feed ``africa``);
the other tags keep the hand-set scorer, and ``aggregator tag --explain`` shows the model.
No numpy at runtime: the weights are fitted by ``scripts/train_tagging.py`` and shipped as
reviewable package data.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .features import FEATURES

WEIGHTS = Path(__file__).with_name("weights.json")
TAGS = ("ai", "africa", "countries")


@dataclass(frozen=True)
class Logistic:
    """``p = sigmoid(sum(weight[f] * value[f]))``; a tag when ``p >= threshold``."""

    name: str
    weights: Mapping[str, float]
    threshold: float = 0.5

    def __post_init__(self) -> None:
        # For ``dot``: the positions (in ``FEATURES[name]`` order) of the weighted features and
        # their weights, so a vector's logit is one pass in the order ``logit`` sums a map.
        names = FEATURES.get(self.name, ())
        used = [(i, self.weights[n]) for i, n in enumerate(names) if n in self.weights]
        pick = operator.itemgetter(*(i for i, _ in used)) if len(used) > 1 else None
        object.__setattr__(self, "_pick", pick)
        object.__setattr__(self, "_w", tuple(w for _, w in used))
        object.__setattr__(self, "_used", tuple(used))

    def logit(self, features: Mapping[str, float]) -> float:
        w = self.weights
        return sum(w[k] * v for k, v in features.items() if v and k in w)

    def dot(self, vec: Sequence[float]) -> float:
        """``logit`` of a vector in ``FEATURES[name]`` order (the runtime's form): the same sum
        in the same order (a zero feature adds 0.0, which changes no sum)."""
        pick = self._pick  # type: ignore[attr-defined]
        if pick is None:
            return sum(w * vec[i] for i, w in self._used)  # type: ignore[attr-defined]
        return sum(map(operator.mul, self._w, pick(vec)))  # type: ignore[attr-defined]

    def margin(self, features: Mapping[str, float]) -> float:
        """Log-odds above the threshold's: >= 0 means the tag is given."""
        return self.logit(features) - _logit(self.threshold)

    def contributions(self, features: Mapping[str, float]) -> list[tuple[str, float, float]]:
        """(feature, value, weight x value), largest absolute contribution first."""
        rows = [(k, v, self.weights.get(k, 0.0) * v) for k, v in features.items()]
        return sorted(rows, key=lambda r: (-abs(r[2]), r[0]))


@dataclass(frozen=True)
class Model:
    """The three families plus the fixed (not learned) weights, e.g. of a source prior."""

    ai: Logistic
    africa: Logistic
    country: Logistic
    meta: Mapping[str, object]
    #: The tags it decides at runtime ("ai", "africa", "countries"); the hand-set scorer
    #: decides the others.
    active: frozenset[str] = frozenset()

    def family(self, name: str) -> Logistic:
        return {"ai": self.ai, "africa": self.africa, "country": self.country}[name]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def from_json(data: Mapping[str, object]) -> Model:
    """A ``Model`` from the parsed JSON; ValueError names a feature the code does not compute."""
    models = data["models"]
    if not isinstance(models, Mapping):
        raise ValueError("weights: 'models' must be an object")
    out: dict[str, Logistic] = {}
    for name, known in FEATURES.items():
        spec = models[name]
        weights = {str(k): float(v) for k, v in spec["weights"].items()}
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise ValueError(f"weights: model {name!r} has unknown features {unknown}")
        out[name] = Logistic(name, weights, float(spec.get("threshold", 0.5)))
    meta = {k: v for k, v in data.items() if k != "models"}
    raw = data.get("active", False)
    if raw is True:
        active = frozenset(TAGS)
    elif raw is False or raw is None:
        active = frozenset()
    elif isinstance(raw, list) and set(raw) <= set(TAGS):
        active = frozenset(str(t) for t in raw)
    else:
        raise ValueError(f"weights: 'active' must be true, false or a list of {list(TAGS)}")
    return Model(out["ai"], out["africa"], out["country"], meta, active)


def load(path: Path = WEIGHTS) -> Model | None:
    """The shipped model, or None when there is no weights file (then the hand-set scorer)."""
    if not path.exists():
        return None
    return from_json(json.loads(path.read_text(encoding="utf-8")))
