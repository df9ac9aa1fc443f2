"""Features of each (item, candidate tag): where the evidence is, how often, the cue words around
it, the story's other candidates and the language, as a small map of named numbers.

Computed from the one scan's hits (``Hit``) and the cleaned text, with no other pass over the
item: only country mentions read a 40-character window before them (route, venue, example).
``model`` combines them with fitted weights; ``scripts/train_tagging.py`` fits the weights.
A candidate needs a hit: an item without evidence for a tag never gets that tag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..text import ARABIC, fold_keep_case
from .context import _ADJACENT, _EXAMPLE, _PASSING_AFTER, _PASSING_BEFORE, _SENTENCE_END, _VENUE
from .lexicon import COUNTRY_SLUGS, Entry

LEDE_CHARS = 300  # the opening sentence ends at the first full stop, or here
LONG_TEXT = 600  # characters of summary before mentions start to weigh less
# Hand rule for operator topics (no labels to learn from): title 1.0, first summary mention
# 0.75 in the opening sentence or 0.6 later, 0.5 each further one, damped in long texts.
RULE_TITLE, RULE_LEDE, RULE_FIRST, RULE_MORE = 1.0, 0.75, 0.6, 0.5
LANGS = ("fr", "en", "ar")

#: Feature names per model family (the JSON weights must use only these).
TOPIC_FEATURES = (
    "bias",
    "title",
    "title_weight",
    "lede",
    "summary",
    "summary_more",
    "summary_weight",
    "summary_only",
    "terms",
    "weak_terms",
    "long_text",
    "lang_fr",
    "lang_en",
    "lang_ar",
    "prior",
)
COUNTRY_FEATURES = (
    "bias",
    "title",
    "title_place",
    "title_first",
    "lede",
    "summary",
    "summary_more",
    "summary_only",
    "lexicon_weight",
    "route",
    "venue",
    "example",
    "diaspora",
    "abroad",
    "adjective_only",
    "anchored_other",
    "open_story",
    "sole",
    "countries_title",
    "countries_summary",
    "top",
    "share",
    "africa_title",
    "alt_reading",
    "route_anchored",
    "passing_title",
    "open_subject",
    "adjective_summary_only",
    "long_text",
    "lang_fr",
    "lang_en",
    "lang_ar",
    "prior",
)
AFRICA_FEATURES = (
    *(f"term_{f}" for f in TOPIC_FEATURES if f not in ("bias", "prior")),
    "bias",
    "country_score",
    "countries",
    "country_title",
    "country_lede",
    "abroad",
    "adjective_only",
    "diaspora",
    "lang_fr",
    "lang_en",
    "lang_ar",
    "prior",
)
FEATURES = {"ai": TOPIC_FEATURES, "africa": AFRICA_FEATURES, "country": COUNTRY_FEATURES}


@dataclass(frozen=True)
class Hit:
    entry: Entry
    field: str  # "title" | "summary"
    text: str  # as written in the item
    start: int = 0  # position in the field
    factor: float = 1.0  # < 1 for origin rather than place ("d'origine malienne")


@dataclass
class _Acc:
    """Evidence for one target, accumulated over its hits."""

    t_n: int = 0
    t_w: float = 0.0
    t_place: bool = False
    t_first: int = 10**6
    s_n: int = 0
    s_w: float = 0.0
    lede: bool = False
    hits: int = 0
    weight: float = 0.0
    route: int = 0
    venue: int = 0
    example: int = 0
    diaspora: int = 0
    adjective: int = 0
    alt: bool = False
    rule: float = 0.0
    terms: set[str] = field(default_factory=set)
    why: list[str] = field(default_factory=list)


@dataclass
class Candidates:
    """Feature maps per candidate: ``topics`` (ai, africa terms, operator topics; ``rule`` is the
    hand rule's score), ``countries`` per ISO code, ``africa`` (completed by the scorer with
    the countries' scores), and the reasons (``why``) per target, "field:term"."""

    topics: dict[str, dict[str, float]]
    rule: dict[str, float]
    countries: dict[str, dict[str, float]]
    africa: dict[str, float] | None
    why: dict[str, list[str]]


def language_of(language: str | None, text: str) -> str:
    lang = language.split("-")[0].lower() if language else ""
    if lang in LANGS:
        return lang
    if not lang and ARABIC.search(text):
        return "ar"
    return lang or "other"


def read_story(
    hits: list[Hit], summary: str
) -> tuple[float, int, Callable[[Entry], tuple[str, ...]], list[Hit], bool]:
    """What both scorers read of one item's hits: the long-text damping of summary mentions,
    where the lede ends, each entry's country codes (an ambiguous name such as a bare "Congo"
    takes its second reading only when that one alone has evidence), the title's hits, and
    whether the title is set abroad (African evidence only adjectives, an "abroad" and a
    "diaspora" cue: "l'Angolaise ... d'origine africaine en Uruguay")."""
    damp = min(1.0, math.sqrt(LONG_TEXT / len(summary))) if summary else 1.0
    stop = _SENTENCE_END.search(summary)
    lede_end = min(stop.end() if stop else len(summary), LEDE_CHARS)
    plain_codes = {c for h in hits for c in h.entry.codes if h.entry.alt is None}

    def codes_of(e: Entry) -> tuple[str, ...]:
        if e.alt and e.alt in plain_codes and e.codes[0] not in plain_codes:
            return (e.alt,)
        return e.codes

    in_title = [h for h in hits if h.field == "title"]
    african_title = [h for h in in_title if h.entry.codes or h.entry.tag == "africa"]
    abroad = (
        bool(african_title)
        and any(h.entry.marker == "abroad" for h in in_title)
        and all(h.entry.adjective for h in african_title)
        and any(h.entry.marker == "diaspora" for h in hits)
    )
    return damp, lede_end, codes_of, in_title, abroad


def extract(
    hits: list[Hit], title: str, summary: str, lang: str, priors: frozenset[str] = frozenset()
) -> Candidates:
    """Feature maps of every candidate of one item (``priors``: targets its source favours)."""
    damp, lede_end, codes_of, in_title, abroad = read_story(hits, summary)
    title_codes: dict[str, int] = {}
    for h in in_title:
        for c in codes_of(h.entry):
            title_codes.setdefault(c, len(title_codes))
    africa_title = any(h.entry.tag == "africa" for h in in_title)

    accs: dict[str, _Acc] = {}
    last_end: dict[tuple[str, str], int] = {}
    summary_codes: set[str] = set()
    for h in hits:
        e = h.entry
        if e.marker:
            continue
        targets = (e.tag,) if e.tag else codes_of(e)
        text = title if h.field == "title" else summary
        end = h.start + len(h.text)
        route = venue = example = False
        if not e.tag:
            window = fold_keep_case(text[max(0, h.start - 40) : h.start])[0].lower()
            route = bool(_PASSING_BEFORE.search(window) or _PASSING_AFTER.match(text, end))
            venue = bool(_VENUE.search(window))
            example = bool(_EXAMPLE.search(window))
        for target in targets:
            a = accs.get(target)
            if a is None:
                a = accs[target] = _Acc()
            key = (h.field, target)
            prev = last_end.get(key)
            last_end[key] = end
            adjacent = prev is not None and _ADJACENT.fullmatch(text, prev, h.start) is not None
            reason = f"{h.field}:{h.text}"
            if reason not in a.why:
                a.why.append(reason)
            if adjacent:  # "Rabat, au Maroc": one mention
                continue
            w = e.weight * h.factor
            a.hits += 1
            a.weight += e.weight
            a.terms.add(e.term)
            a.route += route
            a.venue += venue
            a.example += example
            a.diaspora += h.factor < 1.0
            a.adjective += e.adjective
            a.alt = a.alt or (e.alt is not None and target == e.alt)
            if h.field == "title":
                a.t_n += 1
                a.t_w += w
                a.t_place = a.t_place or not e.adjective
                a.rule += RULE_TITLE * w
            else:
                if not e.tag:
                    summary_codes.add(target)
                first = h.start < lede_end
                a.lede = a.lede or first
                a.rule += ((RULE_LEDE if first else RULE_FIRST) if a.s_n == 0 else RULE_MORE) * (
                    w * damp
                )
                a.s_n += 1
                a.s_w += w
    langs = {f"lang_{x}": float(lang == x) for x in LANGS}
    long_text = 1.0 - damp

    topics: dict[str, dict[str, float]] = {}
    rule: dict[str, float] = {}
    why: dict[str, list[str]] = {}
    codes: dict[str, _Acc] = {}
    for target, a in accs.items():
        why[target] = a.why
        if a.hits == 0:
            continue
        if target in COUNTRY_SLUGS:
            codes[target] = a
            continue
        rule[target] = a.rule
        topics[target] = {
            "bias": 1.0,
            "title": float(min(a.t_n, 2)),
            "title_weight": min(a.t_w, 2.0),
            "lede": float(a.lede),
            "summary": float(a.s_n > 0),
            "summary_more": math.log1p(max(0, a.s_n - 1)),
            "summary_weight": min(a.s_w * damp, 3.0),
            "summary_only": float(a.t_n == 0),
            "terms": math.log1p(len(a.terms)),
            "weak_terms": float(a.weight < a.hits),
            "long_text": long_text,
            **langs,
            "prior": float(target in priors),
        }

    countries: dict[str, dict[str, float]] = {}
    n_title = len(title_codes)
    if codes:
        evidence = {c: 2.0 * a.t_n + a.s_n * (0.5 if a.route else 1.0) for c, a in codes.items()}
        best = max(evidence.values())
        total = sum(evidence.values())
        n_summary = math.log1p(len(summary_codes))
        sole = float(len(codes) == 1)
        for c, a in codes.items():
            n = a.hits
            countries[c] = {
                "bias": 1.0,
                "title": float(min(a.t_n, 2)),
                "title_place": float(a.t_place),
                "title_first": float(title_codes.get(c) == 0),
                "lede": float(a.lede),
                "summary": float(a.s_n > 0),
                "summary_more": math.log1p(max(0, a.s_n - 1)),
                "summary_only": float(a.t_n == 0),
                "lexicon_weight": a.weight / n,
                "route": a.route / n,
                "venue": a.venue / n,
                "example": a.example / n,
                "diaspora": a.diaspora / n,
                "abroad": float(abroad),
                "adjective_only": float(a.adjective == n),
                "anchored_other": float(n_title > 0 and c not in title_codes),
                "open_story": float(n_title == 0),
                "sole": sole,
                "countries_title": float(min(n_title, 3)),
                "countries_summary": n_summary,
                "top": float(evidence[c] == best),
                "share": evidence[c] / total if total else 0.0,
                "africa_title": float(africa_title),
                "alt_reading": float(a.alt),
                "route_anchored": float(n_title > 0 and c not in title_codes) * a.route / n,
                "passing_title": float(a.t_n > 0 and title_codes.get(c, 0) > 0 and a.route > 0),
                "open_subject": float(
                    n_title == 0 and (len(codes) == 1 or (africa_title and a.adjective < n))
                ),
                "adjective_summary_only": float(a.t_n == 0 and a.adjective == n),
                "long_text": long_text,
                **langs,
                "prior": float(c in priors),
            }

    africa: dict[str, float] | None = None
    term = topics.get("africa")
    if term is not None or countries:
        africa = {f"term_{k}": v for k, v in (term or {}).items() if k not in ("bias", "prior")}
        cs = [accs[c] for c in codes]
        hits_n = sum(a.hits for a in cs) + (accs["africa"].hits if "africa" in accs else 0)
        adjectives = sum(a.adjective for a in cs) + (
            accs["africa"].adjective if "africa" in accs else 0
        )
        africa.update(
            {
                "bias": 1.0,
                "country_score": 0.0,  # the scorer puts the best country's score here
                "countries": math.log1p(len(codes)),
                "country_title": float(n_title > 0) if codes else 0.0,
                "country_lede": float(any(a.lede for a in cs)),
                "abroad": float(abroad),
                "adjective_only": float(hits_n > 0 and adjectives == hits_n),
                "diaspora": sum(a.diaspora for a in cs) / hits_n if hits_n else 0.0,
                **langs,
                "prior": float("africa" in priors),
            }
        )
    return Candidates(topics, rule, countries, africa, why)
