"""Features of each (item, candidate tag): where the evidence is, how often, the cue words around
it, the story's other candidates and the language, as a small map of named numbers.

Computed from the one scan's hits (``Hit``) and the cleaned text, with no other pass over the
item: only country mentions read a 40-character window before them (route, venue, example).
``model`` combines them with fitted weights; ``scripts/train_tagging.py`` fits the weights.
A candidate needs a hit: an item without evidence for a tag never gets that tag.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..text import ARABIC, fold_keep_case
from .context import _ADJACENT, _CUE_BEFORE, _PASSING_AFTER, _SENTENCE_END
from .lexicon import COUNTRY_SLUGS, Entry

LEDE_CHARS = 300  # the opening sentence ends at the first full stop, or here
LONG_TEXT = 600  # characters of summary before mentions start to weigh less
# Hand rule for operator topics (no labels to learn from): title 1.0, first summary mention
# 0.75 in the opening sentence or 0.6 later, 0.5 each further one, damped in long texts.
RULE_TITLE, RULE_LEDE, RULE_FIRST, RULE_MORE = 1.0, 0.75, 0.6, 0.5
LANGS = ("fr", "en", "ar")

#: Feature names per model family (the JSON weights must use only these). Evidence features
#: sum the lexicon weights (``w=``) of the mentions of one kind; summary ones are damped in long
#: texts; "origin" mentions are "d'origine malienne", "Nigerian-born"; "passing" mentions carry a
#: route, venue or example cue ("via la Libye", "sommet tenu à Dakar", "comme le Sénégal") and,
#: in a title, follow another country.
TOPIC_FEATURES = (
    "bias",
    "title_ev",
    "title_list",
    "lede_ev",
    "summary_ev",
    "summary_more",
    "summary_only",
    "terms",
    "weak_terms",
    "list",
    "long_text",
    "lang_fr",
    "lang_en",
    "lang_ar",
    "prior",
)
COUNTRY_FEATURES = (
    "bias",
    "title_ev",
    "title_first",
    "title_adjective",
    "title_pass",
    "title_origin",
    "lede_ev",
    "summary_ev",
    "summary_more",
    "summary_pass",
    "summary_origin",
    "summary_only",
    "list",
    "anchored_other",
    "anchored_summary",
    "open_story",
    "open_summary",
    "open_sole",
    "open_africa_title",
    "countries_title",
    "countries_summary",
    "top",
    "share",
    "abroad",
    "adjective_only",
    "alt_reading",
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
    "country_second",
    "countries",
    "country_title",
    "abroad",
    "adjective_only",
    "origin",
    "lang_fr",
    "lang_en",
    "lang_ar",
    "prior",
)
FEATURES = {"ai": TOPIC_FEATURES, "africa": AFRICA_FEATURES, "country": COUNTRY_FEATURES}
# A mention in an enumeration: a comma (Latin or Arabic) just before or after it, and another
# separator (comma, ellipsis, "et"/"and"/"و") near it: "jumelles, IA avec un visage...".
_LIST_SEP = re.compile(r"[,،;]|\.\.\.|…|\b(?:et|and|ou|or)\b")


def _in_list(text: str, start: int, end: int) -> bool:
    near = text[max(0, start - 14) : end + 14]  # the mention itself holds no comma
    if "," not in near and "،" not in near:
        return False
    wide = text[max(0, start - 60) : start] + " | " + text[end : end + 60]
    return len(_LIST_SEP.findall(wide)) >= 2


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
    t_ev: float = 0.0  # title, place, not passing
    t_pass: float = 0.0
    t_origin: float = 0.0
    t_adjective: int = 0
    s_n: int = 0  # summary mentions of any kind
    s_main: int = 0  # summary, place, not passing
    lede_ev: float = 0.0
    s_ev: float = 0.0  # the first main summary mention, when not in the lede
    s_more: int = 0
    s_pass: float = 0.0
    s_origin: float = 0.0
    s_w: float = 0.0  # every summary mention, damped (topics)
    hits: int = 0
    weight: float = 0.0
    max_w: float = 0.0
    list_w: float = 0.0  # mentions in an enumeration
    t_list_w: float = 0.0
    term_w: dict[str, float] = field(default_factory=dict)
    listed: int = 0
    t_listed: int = 0
    adjective: int = 0
    origin: int = 0
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


def country_logits(logits: list[float]) -> dict[str, float]:
    """The africa model's view of the country model: its best logit (clamped; 0 when there is
    no country) and the second best's probability (0 when there is none)."""
    if not logits:
        return {"country_score": 0.0, "country_second": 0.0}
    top = sorted(logits, reverse=True)
    second = 1.0 / (1.0 + math.exp(-max(-30.0, top[1]))) if len(top) > 1 else 0.0
    return {"country_score": max(-10.0, min(10.0, top[0])), "country_second": second}


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
        cue = False
        if not e.tag:
            window = fold_keep_case(text[max(0, h.start - 40) : h.start])[0].lower()
            cue = bool(_CUE_BEFORE.search(window) or _PASSING_AFTER.match(text, end))
        listed = _in_list(text, h.start, end)
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
            w = e.weight
            origin = h.factor < 1.0
            a.hits += 1
            a.weight += w
            a.max_w = max(a.max_w, w)
            a.terms.add(e.term)
            a.term_w[e.term] = max(a.term_w.get(e.term, 0.0), w)
            a.listed += listed
            a.adjective += e.adjective
            a.origin += origin
            a.alt = a.alt or (e.alt is not None and target == e.alt)
            if listed:
                a.list_w += w
            if h.field == "title":
                a.t_n += 1
                a.t_listed += listed
                a.t_list_w += w if listed else 0.0
                a.t_adjective += e.adjective
                a.rule += RULE_TITLE * w * h.factor
                if origin:
                    a.t_origin += w
                elif cue and title_codes.get(target, 0) > 0:
                    a.t_pass += w
                else:
                    a.t_ev += w
            else:
                if not e.tag:
                    summary_codes.add(target)
                first = h.start < lede_end
                a.rule += ((RULE_LEDE if first else RULE_FIRST) if a.s_n == 0 else RULE_MORE) * (
                    w * h.factor * damp
                )
                a.s_n += 1
                if not listed:
                    a.s_w += w * damp
                if origin:
                    a.s_origin += w * damp
                elif (cue and target not in title_codes) or (listed and e.tag):
                    a.s_pass += w * damp
                elif a.s_main == 0:
                    a.s_main = 1
                    if first:
                        a.lede_ev = w * damp
                    else:
                        a.s_ev = w * damp
                else:
                    a.s_main += 1
                    a.s_more += 1
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
        s_n = a.s_n
        first_lede = a.lede_ev if a.s_main else 0.0
        topics[target] = {
            "bias": 1.0,
            "title_ev": min(a.t_ev + a.t_pass + a.t_origin - a.t_list_w, 2.0),
            "title_list": min(a.t_list_w, 2.0),
            "lede_ev": first_lede,
            "summary_ev": min(a.s_w, 3.0),
            "summary_more": math.log1p(max(0, s_n - 1)) * min(1.0, a.weight / a.hits),
            "summary_only": float(a.t_n == 0),
            "terms": math.log1p(sum(a.term_w.values())),
            "weak_terms": float(a.max_w < 1.0),
            "list": min(a.list_w - a.t_list_w, 2.0),
            "long_text": long_text,
            **langs,
            "prior": float(target in priors),
        }

    countries: dict[str, dict[str, float]] = {}
    n_title = len(title_codes)
    if codes:
        evidence = {c: 2.0 * a.t_ev + a.lede_ev + a.s_ev + 0.5 * a.s_more for c, a in codes.items()}
        best = max(evidence.values())
        total = sum(evidence.values())
        n_summary = math.log1p(len(summary_codes))
        sole = len(codes) == 1
        open_story = n_title == 0
        few_africa = africa_title and len(codes) <= 3
        for c, a in codes.items():
            n = a.hits
            main_summary = a.lede_ev + a.s_ev
            anchored_other = n_title > 0 and c not in title_codes
            countries[c] = {
                "bias": 1.0,
                "title_ev": min(a.t_ev, 2.0),
                "title_first": float(title_codes.get(c) == 0),
                "title_adjective": float(a.t_n > 0 and a.t_adjective == a.t_n),
                "title_pass": min(a.t_pass, 2.0),
                "title_origin": min(a.t_origin, 2.0),
                "lede_ev": a.lede_ev,
                "summary_ev": a.s_ev,
                "summary_more": math.log1p(a.s_more),
                "summary_pass": min(a.s_pass, 2.0),
                "summary_origin": min(a.s_origin, 2.0),
                "summary_only": float(a.t_n == 0),
                "list": a.listed / n,
                "anchored_other": float(anchored_other),
                "anchored_summary": main_summary if anchored_other else 0.0,
                "open_story": float(open_story),
                "open_summary": main_summary if open_story else 0.0,
                "open_sole": main_summary if open_story and sole else 0.0,
                "open_africa_title": (
                    main_summary if open_story and few_africa and a.adjective < n else 0.0
                ),
                "countries_title": float(min(n_title, 3)),
                "countries_summary": n_summary,
                "top": float(evidence[c] == best and best > 0),
                "share": evidence[c] / total if total else 0.0,
                "abroad": float(abroad),
                "adjective_only": float(a.adjective == n),
                "alt_reading": float(a.alt),
                "long_text": long_text,
                **langs,
                "prior": float(c in priors),
            }

    africa: dict[str, float] | None = None
    term = topics.get("africa")
    if term is not None or countries:
        africa = {f"term_{k}": v for k, v in (term or {}).items() if k not in ("bias", "prior")}
        cs = [accs[c] for c in codes]
        if "africa" in accs:
            cs.append(accs["africa"])
        hits_n = sum(a.hits for a in cs)
        africa.update(
            {
                "bias": 1.0,
                "country_score": 0.0,  # the scorer puts the best country's logit here
                "country_second": 0.0,  # ... and the second best's
                "countries": math.log1p(len(codes)),
                "country_title": float(n_title > 0) if codes else 0.0,
                "abroad": float(abroad),
                "adjective_only": float(hits_n > 0 and sum(a.adjective for a in cs) == hits_n),
                "origin": sum(a.origin for a in cs) / hits_n if hits_n else 0.0,
                **langs,
                "prior": float("africa" in priors),
            }
        )
    return Candidates(topics, rule, countries, africa, why)
