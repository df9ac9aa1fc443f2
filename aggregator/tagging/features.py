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
from typing import NamedTuple

from ..text import ARABIC, fold_keep_case
from .context import _ADJACENT, _BEFORE_NAME, _PASSING_AFTER, _SENTENCE_END, cue_before
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
#: route, venue or example cue ("via la Libye", "sommet tenu à Dakar", "comme le Sénégal"; in
#: the summary also a nationality before a person's name: "le Sénégalais Sadio Mané") and, in a
#: title, follow another country.
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
    "device",
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
_AFRICA_TERMS = len(TOPIC_FEATURES) - 2  # the term_* features lead the africa vector
#: Where the scorer writes the country model's view into the africa vector.
AFRICA_COUNTRY_SCORE = AFRICA_FEATURES.index("country_score")
AFRICA_COUNTRY_SECOND = AFRICA_FEATURES.index("country_second")
# A mention in an enumeration: a comma (Latin or Arabic) just before or after it, another
# separator (comma, ellipsis, "et"/"and"/"و") near it, and a short item: the words around the
# mention up to the separators on either side are few ("jumelles, IA avec un visage..."; not
# "... أولى نظاراتها المدعومة بالذكاء الاصطناعي في 2026، بالتوازي", where the Arabic comma joins
# clauses, as it often does).
_LIST_SEP = re.compile(r"[,،;]|\.\.\.|…|\b(?:et|and|ou|or)\b")
_ITEM_END = re.compile(r"[,،;.!?؟:…()]|\b(?:et|and|ou|or)\b")
LIST_ITEM_CHARS = 40  # at most this many characters of an item besides the mention itself


def _in_list(text: str, start: int, end: int, item: bool = True) -> bool:
    """``item``: also require the short item (topic mentions; country mentions keep the wider
    test their features were validated with, where it did better in cross-validation)."""
    near = text[max(0, start - 14) : end + 14]  # the mention itself holds no comma
    if "," not in near and "،" not in near:
        return False
    before = text[max(0, start - 60) : start]
    after = text[end : end + 60]
    around = before + " | " + after
    # Each of these characters is one _LIST_SEP match of its own (no other one holds it): two
    # of them are enough, with no regex pass (which tries its words at every position).
    seps = around.count(",") + around.count("،") + around.count(";")
    if seps < 2 and len(_LIST_SEP.findall(around)) < 2:
        return False
    if not item:
        return True
    ends = [m.end() for m in _ITEM_END.finditer(before)]
    left = len(before) - ends[-1] if ends else len(before)
    m = _ITEM_END.search(after)
    right = m.start() if m else len(after)
    return left + right <= LIST_ITEM_CHARS


class Hit(NamedTuple):
    """One accepted mention (a tuple: the scan makes one per mention, so construction counts)."""

    entry: Entry
    field: str  # "title" | "summary"
    text: str  # as written in the item
    start: int = 0  # position in the field
    factor: float = 1.0  # < 1 for origin rather than place ("d'origine malienne")


class _Acc:
    """Evidence for one target, accumulated over its hits (slots: one per target per item)."""

    __slots__ = (
        "adjective", "alt", "hits", "lede_ev", "list_w", "listed", "max_w", "origin", "rule",
        "s_ev", "s_main", "s_more", "s_n", "s_origin", "s_pass", "s_w", "t_adjective", "t_ev",
        "t_list_w", "t_listed", "t_n", "t_origin", "t_pass", "term_w", "weight", "why",
    )  # fmt: skip

    def __init__(self) -> None:
        self.t_n = 0
        self.t_ev = 0.0  # title, place, not passing
        self.t_pass = 0.0
        self.t_origin = 0.0
        self.t_adjective = 0
        self.s_n = 0  # summary mentions of any kind
        self.s_main = 0  # summary, place, not passing
        self.lede_ev = 0.0
        self.s_ev = 0.0  # the first main summary mention, when not in the lede
        self.s_more = 0
        self.s_pass = 0.0
        self.s_origin = 0.0
        self.s_w = 0.0  # every summary mention, damped (topics)
        self.hits = 0
        self.weight = 0.0
        self.max_w = 0.0
        self.list_w = 0.0  # mentions in an enumeration
        self.t_list_w = 0.0
        self.term_w: dict[str, float] = {}
        self.listed = 0
        self.t_listed = 0
        self.adjective = 0
        self.origin = 0
        self.alt = False
        self.rule = 0.0
        self.why: list[str] = []


class Candidates:
    """Feature vectors per candidate, in ``FEATURES`` order (what the runtime's dot products
    read): ``topic_vecs`` (ai, africa terms, operator topics; ``rule`` is the hand rule's
    score), ``country_vecs`` per ISO code, ``africa_vec`` (completed by the scorer with the
    countries' scores), and the reasons (``why``) per target, "field:term". ``topics``,
    ``countries`` and ``africa`` are the same as named maps (explain, training)."""

    __slots__ = ("africa_terms", "africa_vec", "country_vecs", "rule", "topic_vecs", "why")

    def __init__(
        self,
        topic_vecs: dict[str, list[float]],
        rule: dict[str, float],
        country_vecs: dict[str, list[float]],
        africa_vec: list[float] | None,
        africa_terms: bool,
        why: dict[str, list[str]],
    ) -> None:
        self.topic_vecs = topic_vecs
        self.rule = rule
        self.country_vecs = country_vecs
        self.africa_vec = africa_vec
        self.africa_terms = africa_terms  # the item has africa terms (else no term_* features)
        self.why = why

    @property
    def topics(self) -> dict[str, dict[str, float]]:
        return {t: dict(zip(TOPIC_FEATURES, v, strict=True)) for t, v in self.topic_vecs.items()}

    @property
    def countries(self) -> dict[str, dict[str, float]]:
        vecs = self.country_vecs
        return {c: dict(zip(COUNTRY_FEATURES, v, strict=True)) for c, v in vecs.items()}

    @property
    def africa(self) -> dict[str, float] | None:
        v = self.africa_vec
        if v is None:
            return None
        pairs = zip(AFRICA_FEATURES, v, strict=True)
        return dict(pairs if self.africa_terms else list(pairs)[_AFRICA_TERMS:])


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
    score, second = country_pair(logits)
    return {"country_score": score, "country_second": second}


def country_pair(logits: list[float]) -> tuple[float, float]:
    """``country_logits`` as a pair (the runtime writes it into the africa vector)."""
    if not logits:
        return 0.0, 0.0
    if len(logits) == 1:
        return max(-10.0, min(10.0, logits[0])), 0.0
    top = sorted(logits, reverse=True)
    return max(-10.0, min(10.0, top[0])), 1.0 / (1.0 + math.exp(-max(-30.0, top[1])))


def read_story(
    hits: list[Hit], summary: str
) -> tuple[float, int, Callable[[Entry], tuple[str, ...]], list[Hit], bool]:
    """What both scorers read of one item's hits: the long-text damping of summary mentions,
    where the lede ends, each entry's country codes (an ambiguous name such as a bare "Congo"
    takes its second reading only when that one alone has evidence), the title's hits, and
    whether the title is set abroad (African evidence only adjectives, an "abroad" and a
    "diaspora" cue: "l'Angolaise ... d'origine africaine en Uruguay")."""
    damp = min(1.0, math.sqrt(LONG_TEXT / len(summary))) if summary else 1.0
    # (the first stop past LEDE_CHARS gives LEDE_CHARS too: no need to look further; a "$"
    # matched at the cut is past it as well)
    stop = _SENTENCE_END.search(summary, 0, LEDE_CHARS + 1)
    lede_end = min(stop.end() if stop else len(summary), LEDE_CHARS)
    plain_codes: set[str] = set()
    in_title: list[Hit] = []
    for h in hits:  # (one pass for both)
        if h.entry.alt is None:
            plain_codes.update(h.entry.codes)
        if h.field == "title":
            in_title.append(h)

    def codes_of(e: Entry) -> tuple[str, ...]:
        if e.alt and e.alt in plain_codes and e.codes[0] not in plain_codes:
            return (e.alt,)
        return e.codes

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
    """Feature vectors of every candidate of one item (``priors``: targets its source favours)."""
    damp, lede_end, codes_of, in_title, abroad = read_story(hits, summary)
    title_codes: dict[str, int] = {}
    africa_title = False
    device = 0.0  # a gadget story
    for h in in_title:
        e = h.entry
        for c in codes_of(e):
            title_codes.setdefault(c, len(title_codes))
        if e.tag == "africa":
            africa_title = True
        if e.marker == "device":
            device = 1.0

    accs: dict[str, _Acc] = {}
    last_end: dict[tuple[str, str], int] = {}
    summary_codes: set[str] = set()
    for h in hits:
        e = h.entry
        if e.marker:
            continue
        targets = (e.tag,) if e.tag else codes_of(e)
        in_title_field = h.field == "title"
        text = title if in_title_field else summary
        start = h.start
        end = start + len(h.text)
        origin = h.factor < 1.0
        # The cue (route, venue, example) is read only where it can matter: a country mention,
        # not of origin, in the title after another country, or in the summary for a country
        # the title does not name.
        cue = False
        if not e.tag and not origin:
            if len(targets) == 1:  # (most mentions: no generator)
                need = (
                    (title_codes.get(targets[0], 0) > 0)
                    if in_title_field
                    else (targets[0] not in title_codes)
                )
            elif in_title_field:
                need = any(title_codes.get(t, 0) > 0 for t in targets)
            else:
                need = any(t not in title_codes for t in targets)
            if need:
                window = fold_keep_case(text[max(0, start - 40) : start])[0].lower()
                cue = cue_before(window) or _PASSING_AFTER.match(text, end) is not None
                if not cue and e.adjective and not in_title_field:
                    cue = _BEFORE_NAME.match(text, end) is not None  # nationality of a person
        listed = _in_list(text, start, end, bool(e.tag))
        reason = f"{h.field}:{h.text}"
        w = e.weight
        for target in targets:
            a = accs.get(target)
            if a is None:
                a = accs[target] = _Acc()
            key = (h.field, target)
            prev = last_end.get(key)
            last_end[key] = end
            if reason not in a.why:
                a.why.append(reason)
            if prev is not None and _ADJACENT.fullmatch(text, prev, start) is not None:
                continue  # "Rabat, au Maroc": one mention
            a.hits += 1
            a.weight += w
            if w > a.max_w:
                a.max_w = w
            a.term_w[e.term] = max(a.term_w.get(e.term, 0.0), w)
            a.listed += listed
            a.adjective += e.adjective
            a.origin += origin
            if not a.alt and e.alt is not None and target == e.alt:
                a.alt = True
            if listed:
                a.list_w += w
            if in_title_field:
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
                first = start < lede_end
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
    lang_fr, lang_en, lang_ar = float(lang == "fr"), float(lang == "en"), float(lang == "ar")
    long_text = 1.0 - damp

    topics: dict[str, list[float]] = {}
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
        topics[target] = [  # TOPIC_FEATURES
            1.0,
            min(a.t_ev + a.t_pass + a.t_origin - a.t_list_w, 2.0),
            min(a.t_list_w, 2.0),
            a.lede_ev if a.s_main else 0.0,
            min(a.s_w, 3.0),
            math.log1p(max(0, s_n - 1)) * min(1.0, a.weight / a.hits),
            float(a.t_n == 0),
            math.log1p(sum(a.term_w.values())),
            float(a.max_w < 1.0),
            min(a.list_w - a.t_list_w, 2.0),
            long_text,
            device,
            lang_fr,
            lang_en,
            lang_ar,
            float(target in priors),
        ]

    countries: dict[str, list[float]] = {}
    n_title = len(title_codes)
    if codes:
        evidence = {c: 2.0 * a.t_ev + a.lede_ev + a.s_ev + 0.5 * a.s_more for c, a in codes.items()}
        best = max(evidence.values())
        total = sum(evidence.values())
        n_summary = math.log1p(len(summary_codes))
        sole = len(codes) == 1
        open_story = n_title == 0
        few_africa = africa_title and len(codes) <= 3
        f_open = float(open_story)
        f_abroad = float(abroad)
        f_n_title = float(min(n_title, 3))
        for c, a in codes.items():
            n = a.hits
            main_summary = a.lede_ev + a.s_ev
            anchored_other = n_title > 0 and c not in title_codes
            countries[c] = [  # COUNTRY_FEATURES
                1.0,
                min(a.t_ev, 2.0),
                float(title_codes.get(c) == 0),
                float(a.t_n > 0 and a.t_adjective == a.t_n),
                min(a.t_pass, 2.0),
                min(a.t_origin, 2.0),
                a.lede_ev,
                a.s_ev,
                math.log1p(a.s_more),
                min(a.s_pass, 2.0),
                min(a.s_origin, 2.0),
                float(a.t_n == 0),
                a.listed / n,
                float(anchored_other),
                main_summary if anchored_other else 0.0,
                f_open,
                main_summary if open_story else 0.0,
                main_summary if open_story and sole else 0.0,
                main_summary if open_story and few_africa and a.adjective < n else 0.0,
                f_n_title,
                n_summary,
                float(evidence[c] == best and best > 0),
                evidence[c] / total if total else 0.0,
                f_abroad,
                float(a.adjective == n),
                float(a.alt),
                long_text,
                lang_fr,
                lang_en,
                lang_ar,
                float(c in priors),
            ]

    africa: list[float] | None = None
    term = topics.get("africa")
    if term is not None or countries:
        africa = term[1:-1] if term is not None else [0.0] * _AFRICA_TERMS
        cs = [accs[c] for c in codes]
        if "africa" in accs:
            cs.append(accs["africa"])
        hits_n = sum(a.hits for a in cs)
        africa += [  # AFRICA_FEATURES after the term_* ones
            1.0,
            0.0,  # country_score: the scorer puts the best country's logit here
            0.0,  # country_second: ... and the second best's
            math.log1p(len(codes)),
            float(n_title > 0) if codes else 0.0,
            float(abroad),
            float(hits_n > 0 and sum(a.adjective for a in cs) == hits_n),
            sum(a.origin for a in cs) / hits_n if hits_n else 0.0,
            lang_fr,
            lang_en,
            lang_ar,
            float("africa" in priors),
        ]
    return Candidates(topics, rule, countries, africa, term is not None, why)
