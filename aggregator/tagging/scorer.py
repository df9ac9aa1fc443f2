"""``Tagger``: one scan of an item's title and summary, each accepted match scored by where it
is and what surrounds it, and the tags whose score reaches the threshold, with their reasons.

Scoring (the constants below are the knobs; ``threshold`` comes from settings, default 1.0):
every match adds its lexicon weight (``w=``, default 1.0) times a factor for where it is:

- title: ``TITLE`` (1.0), so one strong title mention is enough;
- summary, topics (ai, africa, operator topics): ``LEDE_TOPIC`` for a first mention in the
  opening sentence, else ``SUMMARY_FIRST``; ``SUMMARY_MORE`` for each further mention. One
  passing mention never reaches the threshold; two or three do;
- summary, countries: when the title names no African country the summary says what the story
  is about (``OPEN_*``); when it names one, other countries are usually context (``ANCHORED_*``);
- open story (no country in the title): the only country named, or the place names of a title
  about Africa naming at most ``OPEN_MAX`` countries, are its subjects (``OPEN_SUBJECT``);
- anchored story: another country named as a route, neighbour, destination, refuge, venue or
  example ("via la Libye", "proche du Nigeria", "fled to Rwanda", "visits Kenya", "sommet tenu à
  Dakar", "comme le Sénégal") is multiplied by ``PASSING`` (venues and examples also in open
  stories); a city next to its own country ("à Rabat, au Maroc") counts once;
- a title set abroad with only adjectives for Africa, in an item with a diaspora cue, is a
  diaspora story (lexicon ``cues.*.txt``): its Africa evidence is multiplied by ``ABROAD``;
- summary mentions are damped by ``sqrt(LONG_TEXT / len(summary))`` in long texts, and origin
  rather than place ("d'origine malienne", "Nigerian-born", "Ivoirienne vivant en Suède") is
  multiplied by ``DIASPORA``; lists of related episodes at the end of a summary are dropped.

``africa`` adds ``COUNTRY_AFRICA`` times the countries' scores and is set whenever a country is.
A source prior (``Source.tags``, a topic key or a country slug) adds ``PRIOR`` only to a tag the
item already has some evidence for: a prior alone never tags (all-Africa outlets also publish
world news); the reason then includes ``source:<tag>``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..models import Tagging
from ..text import ARABIC as _ARABIC
from ..text import ARABIC_LETTER, drop_marks, fold_keep_case, lower
from .clean import clean_text
from .context import (
    _ADJACENT,
    _AFTER_NAME_OK,
    _AFTER_ORIGIN,
    _EXAMPLE,
    _NEXT_WORD,
    _PASSING_AFTER,
    _PASSING_BEFORE,
    _VENUE,
)
from .features import (
    AFRICA_COUNTRY_SCORE,
    AFRICA_COUNTRY_SECOND,
    Candidates,
    Hit,
    country_pair,
    extract,
    language_of,
    read_story,
)
from .lexicon import (
    _ARTICLE,
    COUNTRY_CODES,
    COUNTRY_SLUGS,
    Entry,
    _capitals_match,
    _entry,
    _expand,
    _fix_lang_flags,
    _key,
    builtin_entries,
    countries,
    places,
)
from .matcher import _PREFIX, _compile
from .model import TAGS, Model, sigmoid
from .model import load as load_model

TITLE = 1.0
SUMMARY_FIRST = 0.6
SUMMARY_MORE = 0.5
LEDE_TOPIC = 0.75  # first summary mention of a topic within the opening sentence
# When the title names no African country, the summary says what the story is about, so its
# country mentions count more; when the title names one, other countries are usually context.
OPEN_FIRST = 0.75
OPEN_LEDE = 1.0
ANCHORED_FIRST = 0.6
ANCHORED_LEDE = 1.0
RELATIVE = 0.0  # a country also needs this fraction of the best country's score
COUNTRY_AFRICA = 1.34  # how much a country's score counts towards africa
DIASPORA = 0.3  # factor for "d'origine malienne", "Nigerian-born", "of Ghanaian descent"
PRIOR = 0.5
OPEN_SUBJECT = 1.0  # open story about Africa, or naming a single country: summary countries
PASSING = 0.4  # anchored story: another country named as a route, neighbour, destination
OPEN_MAX = 3  # ... about Africa naming at most this many countries (not a tournament roster)
ABROAD = 0.15  # title set outside Africa, only adjectives for Africa, a diaspora cue
BUILTIN = ("ai", "africa")
_ALL = frozenset(TAGS)
_NONE: frozenset[str] = frozenset()
_AI_ONLY = frozenset({"ai"})


_Hit = Hit
# A hit from its five fields without the named tuple's ``__new__`` (a Python frame per hit).
_new_hit = tuple.__new__


class Tagger:
    """Built once (lexicons + operator topics compiled), then ``tag()`` thousands of items/s."""

    def __init__(self, entries: Iterable[Entry], threshold: float = 1.0) -> None:
        self.threshold = float(threshold)
        self._by_key: dict[str, list[Entry]] = {}
        for e in entries:
            k = _key(e.term)
            if e.article:
                k = k[len(_ARTICLE) :]
            bucket = self._by_key.setdefault(k, [])
            if e not in bucket:
                bucket.append(e)
        self.topics = tuple(dict.fromkeys(e.tag for b in self._by_key.values() for e in b if e.tag))
        # Towns (generated from GeoNames): a dict of proper nouns looked up by first word, not
        # thousands more alternatives in the trie (whose compilation every process pays).
        self._places = places()
        self._place_first = frozenset(k.split(" ", 1)[0] for k in self._places)
        # every run of whole words that starts some town's name: a run stops growing outside it
        self._place_prefixes = frozenset(
            " ".join(k.split(" ")[:n]) for k in self._places for n in range(1, k.count(" ") + 2)
        )
        # ... as a text writes them (the old quick test, kept behind the gate below)
        self._place_cased = frozenset(
            f for k in self._place_first if k.isascii() for f in (k.capitalize(), k.upper())
        )
        # The gate: one word of each town's name (its first or last, the rarer), as the scan's
        # words fold; Arabic first words also with their proclitics. Built on first use.
        self._place_gate: frozenset[str] | None = None
        # Capitalised words as written whose key is no gate word (news names repeat: after a
        # while one set test answers the gate for most items, with no fold at all).
        self._not_gate: set[str] = set()
        self._not_gate_arabic: set[str] = set()  # the same for Arabic words, as ``low`` has them
        self._latin, self._arabic = _compile(self._by_key)
        # Matched span (lower-cased, folded) -> its entries; spans differ from keys only in blanks.
        self._spans: dict[str, tuple[Entry, ...]] = {}
        # (span, core, proclitics, ending, language) -> the entries accepted there, whether one
        # is a name, whether one is a blocker (``_accepted``)
        self._static: dict[
            tuple[str, str, str, str, str | None], tuple[tuple[Entry, ...], bool, bool]
        ] = {}
        #: The learned model of ``weights.json``, whether or not it decides (for ``explain``).
        self.learned: Model | None = _shipped_model()
        #: The model that decides the tags of its ``active`` set (``weights.json`` names those
        #: where cross-validation showed it at least as good), else None: the hand-set scorer.
        self.model: Model | None = self.learned if self.learned and self.learned.active else None

    @classmethod
    def from_settings(
        cls, topics: Mapping[str, Mapping[str, Iterable[str]]] | None = None, threshold: float = 1.0
    ) -> Tagger:
        """Built-in lexicons plus ``Settings.topics`` ({key: {lang: terms}}; terms apply to every
        item, and a key equal to ``ai``/``africa`` extends that built-in topic)."""
        entries = list(builtin_entries())
        known = countries()
        for key, by_lang in (topics or {}).items():
            for terms in by_lang.values():
                for term in terms:
                    for t in _expand(_fix_lang_flags(term)):
                        entries.append(_entry(key, " ".join(t.split()), {}, known))
        return cls(entries, threshold)

    # matching -------------------------------------------------------------------------------

    def _entries(self, span: str) -> tuple[Entry, ...]:
        found = self._spans.get(span)
        if found is None:
            key = re.sub(r"[\s\-]+", " ", re.sub(r"\s*'\s*", "'", fold_keep_case(span)[0])).strip()
            found = tuple(self._by_key.get(key, ()))
            if len(self._spans) < 100_000:
                self._spans[span] = found
        return found

    @staticmethod
    def _accept(
        e: Entry, core: str, prefix: str, suffix: str, folded: str, end: int, lang: str | None
    ) -> bool:
        if not Tagger._accept_static(e, core, prefix, suffix, lang):
            return False
        return not e.name or Tagger._name_ok(folded, end)

    @staticmethod
    def _accept_static(e: Entry, core: str, prefix: str, suffix: str, lang: str | None) -> bool:
        """The checks that depend only on the matched text (cached per span by ``_accepted``)."""
        if e.langs is not None and lang and lang not in e.langs:
            return False
        if e.case != "any":
            if e.case == "upper" and not all(c.isupper() for c in core if c.isalpha()):
                return False
            if e.case == "exact" and fold_keep_case(core)[0] != fold_keep_case(e.term)[0]:
                return False
            if e.case == "first" and not _capitals_match(e.term, core):
                return False
        if prefix or e.article:
            has_article = prefix.endswith((_ARTICLE, "لل"))
            if e.article and not has_article:
                return False
            if e.noarticle and has_article:
                return False
        return not suffix or e.nisba

    @staticmethod
    def _name_ok(folded: str, end: int) -> bool:
        """A name is not a person's first name: no capitalised word after it ("Chad Smith")."""
        nxt = _NEXT_WORD.match(folded, end)
        return not nxt or nxt.group(1).lower() in _AFTER_NAME_OK

    def _accepted(
        self,
        span: str,
        core: str,
        prefix: str,
        suffix: str,
        folded: str,
        end: int,
        lang: str | None,
    ) -> Sequence[Entry]:
        """The entries of ``span`` that this occurrence accepts (``_accept`` of each), none
        if one of them is a blocker; what depends only on the matched text is cached (with
        whether a name or a blocker is among them), the next-word test of names is not."""
        key = (span, core, prefix, suffix, lang)
        cached = self._static.get(key)
        if cached is None:
            entries = self._entries(span)
            static = tuple(e for e in entries if self._accept_static(e, core, prefix, suffix, lang))
            cached = (static, any(e.name for e in static), any(e.blocker for e in static))
            if len(self._static) < 100_000:
                self._static[key] = cached
        static, named, blocked = cached
        if named:
            accepted = [e for e in static if not e.name or self._name_ok(folded, end)]
            return () if any(e.blocker for e in accepted) else accepted
        return () if blocked else static

    @staticmethod
    def _context(low: str, start: int, end: int, folded: bool = False) -> float:
        """Weaker evidence for origin rather than place: "d'origine malienne", "Nigerian-born".
        ``folded``: ``low`` is folded already (``_fold_windows``), else its windows are."""
        before = low[max(0, start - 14) : start]
        after = low[end : end + 16]
        # ASCII windows fold to themselves (but a backquote, which no test below reads)
        if not folded:
            if not before.isascii():
                before = fold_keep_case(before)[0]
            if not after.isascii():
                after = fold_keep_case(after)[0]
        if "origin" in before or "descent" in after or after.startswith("-born"):
            return DIASPORA
        if _AFTER_ORIGIN.match(after):
            return DIASPORA
        return 1.0

    def _read(self, title: str, summary: str, language: str | None) -> tuple[str, str, list[_Hit]]:
        """The cleaned, NFC title and summary and their hits: what both scorers start from."""
        summary = unicodedata.normalize("NFC", clean_text(summary or ""))
        title = unicodedata.normalize("NFC", clean_text(title or ""))
        return title, summary, self._scan(title + "\x00" + summary, len(title) + 1, language)

    def _scan(self, text: str, split: int, language: str | None) -> list[_Hit]:
        """Hits in ``text`` (title, a NUL, the summary); ``split`` is where the summary starts."""
        folded, index = drop_marks(text)  # "folded": original letters, no diacritics/tatweel
        low = lower(folded)
        lowered = len(low) == len(folded)
        if not lowered:  # a few letters lower-case to two characters ("İ")
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in folded)
        lang = language.split("-")[0].lower() if language else None
        matches: list[tuple[int, int, str, str, str]] = []
        arabic = not low.isascii()
        if self._latin is not None:
            matches, arabic = self._latin.scan(low)
        arabic = arabic and _ARABIC.search(low) is not None
        if self._arabic is not None and arabic:
            matches.extend(self._arabic.finditer(low))
            matches.sort()
        hits: list[_Hit] = []
        found = (
            self._find_places(folded, low, matches, lowered, arabic) if self._place_first else None
        )
        if not matches and not found:
            return hits
        spans = self._spans
        windows: tuple[str, bool] | None = None  # for ``_context``, made at the first hit
        for start, end, span, prefix, suffix in matches:
            entries = spans.get(span)
            if entries is None:
                entries = self._entries(span)
            if not entries:
                continue
            cs = start + len(prefix)
            core = folded[cs : cs + len(span)]
            accepted = self._accepted(span, core, prefix, suffix, folded, end, lang)
            if not accepted:  # (none, or a blocker among them)
                continue
            if windows is None:
                windows = _fold_windows(low, arabic)
            factor = self._context(windows[0], start, end, windows[1])
            ostart, oend = (start, end) if index is None else (index[start], index[end - 1] + 1)
            field = "title" if ostart < split else "summary"
            where = ostart if field == "title" else ostart - split
            said = text[ostart:oend]
            if len(accepted) == 1:
                hits.append(_new_hit(_Hit, (accepted[0], field, said, where, factor)))
                continue
            seen = set()
            for e in accepted:
                target = (e.tag, e.codes, e.alt)
                if target not in seen:
                    seen.add(target)
                    hits.append(_new_hit(_Hit, (e, field, said, where, factor)))
        if found:
            for start, end, entries in found:
                accepted = [e for e in entries if not e.name or self._name_ok(folded, end)]
                if not accepted:
                    continue
                ostart, oend = (start, end) if index is None else (index[start], index[end - 1] + 1)
                field = "title" if ostart < split else "summary"
                where = ostart if field == "title" else ostart - split
                if windows is None:
                    windows = _fold_windows(low, arabic)
                factor = self._context(windows[0], start, end, windows[1])
                for e in accepted:
                    hits.append(_new_hit(_Hit, (e, field, text[ostart:oend], where, factor)))
            hits.sort(key=_hit_order)
        return hits

    def _find_places(
        self,
        folded: str,
        low: str,
        matches: list[tuple[int, int, str, str, str]],
        lowered: bool = False,
        arabic: bool | None = None,
    ) -> list[tuple[int, int, tuple[Entry, ...]]]:
        """Towns named in the text and not inside a lexicon match: runs of up to four
        capitalised words (connectors such as "es", "el", "des" between them: "Dar es Salaam")
        whose first word starts some town's name, looked up longest first; in Arabic, words
        with or without their proclitics. Cheap: one regex pass and a set test per capital."""
        out: list[tuple[int, int, tuple[Entry, ...]]] = []
        first = self._place_first
        prefixes = self._place_prefixes
        table = self._places
        if arabic is None:
            arabic = not low.isascii() and _ARABIC.search(low) is not None
        found = _CAPITAL.findall(folded)
        # (``lowered``: each word of ``low`` is the word of ``folded`` lower-cased)
        if lowered and self._gate_shut(found) and (not arabic or self._arabic_gate_shut(low)):
            return out  # no word of any town's name: the tests below would find none
        if not arabic:
            caps = set(found)
            if caps.isdisjoint(self._place_cased) and not any(
                _key(w) in first for w in caps if not w.isascii()
            ):
                return out
        words = [m.span() for m in _CAPITAL.finditer(folded)]
        if arabic:
            words += [m.span() for m in _ARABIC_WORD.finditer(low)]
            words.sort()
        n = len(words)
        i = 0
        while i < n:
            s, e = words[i]
            w = low[s:e]
            strip = 0
            if w not in first:
                if w.isascii() or (s and low[s - 1].isalnum()):  # not a word's start
                    i += 1
                    continue
                key = _key(w)
                if key not in first:
                    strip = _arabic_prefix(key, first) if arabic else 0
                    if not strip:
                        i += 1
                        continue
            best = None
            j = i
            end = e
            while j < n and j - i < 4:
                if j > i:
                    gap = low[words[j - 1][1] : words[j][0]]
                    if not _GAP.fullmatch(gap):
                        break
                    end = words[j][1]
                run = low[s:end]
                key = run if run.isascii() and run.isalpha() else _key(run)
                if not strip and key not in prefixes:
                    break
                entries = table.get(key[strip:] if strip else key)
                if entries is None and strip and key[strip - 2 : strip] == "لل":
                    entries = table.get(_ARTICLE + key[strip:])  # "للدار": li- + al-
                if entries is not None:
                    best = (s, end, entries)
                j += 1
            if best is not None and not any(a < best[1] and best[0] < b for a, b, *_ in matches):
                out.append(best)
                while i < n and words[i][0] < best[1]:
                    i += 1
                continue
            i += 1
        return out

    def _gate_shut(self, caps: list[str]) -> bool:
        """No key (``_word_keys``) of the capitalised words ``caps`` is a gate word: a word's
        key depends on that word alone, so the words known to miss are kept as written."""
        return self._all_miss(caps, self._not_gate, lambda new: _word_keys(new, ()))

    def _arabic_gate_shut(self, low: str) -> bool:
        """``_gate_shut`` for the Arabic words of ``low`` (with their proclitics)."""
        words = _ARABIC_WORD.findall(low)
        return self._all_miss(words, self._not_gate_arabic, lambda new: _word_keys([], new)[1:])

    def _all_miss(
        self, words: list[str], known: set[str], keys: Callable[[list[str]], list[str]]
    ) -> bool:
        """Whether no word's key (``keys`` of the words not yet ``known``) is a gate word; the
        words found to miss join ``known`` (bounded), so repeated names cost one set test."""
        if known.issuperset(words):
            return True
        gate = self._place_gate or self._build_gate()
        new = [w for w in dict.fromkeys(words) if w not in known]
        shut = True
        for w, k in zip(new, keys(new), strict=True):
            if k in gate:
                shut = False
            elif len(known) < 100_000:
                known.add(w)
        return shut

    def _build_gate(self) -> frozenset[str]:
        """The words whose presence lets ``_find_places`` find a town: for each name its last
        word or its first (rather not a short or common word of names, then not a lexicon term,
        then in fewer names, then the longer: "kef" of "le kef", "marsa" of "la marsa", "city"
        of "benin city"), as the scan's words fold. A
        first Arabic word also with every proclitic a word may carry before it ("بالدار"), and
        after لل for a name with the article ("للدار" of "الدار"). Every town the scan finds
        starts with its first word and ends with its last, so an item holding none of these
        words has none: one set test for most items, the same towns for the others."""
        names = [k.split(" ") for k in self._places]
        count = Counter(w for ws in names for w in {ws[0], ws[-1]})

        def rank(w: str) -> tuple[bool, bool, int, int]:
            return len(w) <= 3 or w in _COMMON_NAME_WORDS, w in self._by_key, count[w], -len(w)

        gate: set[str] = set()
        for ws in names:
            head, tail = ws[0], ws[-1]
            if len(ws) > 1 and rank(tail) <= rank(head):
                gate.add(tail)
                continue
            gate.add(head)
            if _ARABIC.search(head):
                gate.update(p + head for p in _PROCLITICS)
                if head.startswith(_ARTICLE):
                    gate.update(p + head[2:] for p in _PROCLITICS if p.endswith("لل"))
        self._place_gate = frozenset(gate)
        return self._place_gate

    # scoring --------------------------------------------------------------------------------

    def tag(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> Tagging:
        """Tags, ISO codes and reasons for one item (``source_tags``: its source's prior tags)."""
        return self._decide(*self.scores(title, summary, language, source_tags))

    def _decide(self, scores: dict[str, float], why: dict[str, list[str]]) -> Tagging:
        if not scores:  # no evidence at all (most items): no tag, whatever the threshold
            return Tagging(tags=(), countries=(), why={})
        code_scores = {c: v for c, v in scores.items() if c in COUNTRY_SLUGS}
        floor = max(self.threshold, RELATIVE * max(code_scores.values(), default=0.0))
        # in the order the item names them (scores are built in the order of the hits)
        chosen_codes = [c for c, v in code_scores.items() if v >= floor]
        tags = [  # a tag needs evidence: a threshold of 0 does not tag every topic
            t
            for t in self.topics
            if t not in COUNTRY_SLUGS and t in scores and scores[t] >= self.threshold
        ]
        if chosen_codes and "africa" not in tags:
            tags.append("africa")
        ordered = [t for t in BUILTIN if t in tags] + [t for t in tags if t not in BUILTIN]
        reasons = {t: tuple(why[t]) for t in ordered}
        for c in chosen_codes:
            ordered.append(COUNTRY_SLUGS[c])
            reasons[COUNTRY_SLUGS[c]] = tuple(why[c])
        return Tagging(tags=tuple(ordered), countries=tuple(chosen_codes), why=reasons)

    def scores(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Score per topic key and ISO code, and the reasons behind each (before the threshold):
        the learned model's for the tags it decides, the hand-set rules' for the others."""
        model = self.model
        if model is None:
            return self.hand_scores(title, summary, language, source_tags)
        if model.active == _ALL:
            return self.learned_scores(title, summary, language, source_tags)
        title, summary, hits = self._read(title, summary, language)
        if not hits:
            return {}, {}
        scores, why = self._hand(title, summary, hits, source_tags)
        if model.active == _AI_ONLY and "ai" not in scores:  # no AI evidence: nothing to learn
            return scores, why
        cand = self._candidates(title, summary, hits, language, source_tags)
        learned, lwhy = self._learned(cand, source_tags, model)
        keys = set()
        if "ai" in model.active:
            keys.add("ai")
        if "africa" in model.active:
            keys.add("africa")
        if "countries" in model.active:
            keys.update(c for c in set(scores) | set(learned) if c in COUNTRY_SLUGS)
        for k in keys:
            scores.pop(k, None)
            if k in learned:
                scores[k] = learned[k]
                why[k] = lwhy[k]
        return scores, why

    # learned model ----------------------------------------------------------------------------

    def candidates(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> Candidates | None:
        """Feature maps of every candidate tag of one item (None: no evidence at all)."""
        title, summary, hits = self._read(title, summary, language)
        if not hits:
            return None
        return self._candidates(title, summary, hits, language, source_tags)

    def _candidates(
        self,
        title: str,
        summary: str,
        hits: list[_Hit],
        language: str | None,
        source_tags: Iterable[str],
    ) -> Candidates:
        lang = language_of(language, title if title.isascii() else title + summary)
        priors = frozenset(COUNTRY_CODES.get(p, p) for p in source_tags) if source_tags else _NONE
        return extract(hits, title, summary, lang, priors)

    def learned_scores(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Learned score per candidate: its probability over the model's threshold (1.0 at the
        fitted threshold); operator topics keep the hand rule (``features.RULE_*``)."""
        cand = self.candidates(title, summary, language, source_tags)
        if cand is None:
            return {}, {}
        return self._learned(cand, source_tags)

    def _learned(
        self, cand: Candidates, source_tags: Iterable[str] = (), model: Model | None = None
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        model = model or self.model or self.learned
        assert model is not None
        scores: dict[str, float] = {}
        why = cand.why
        logits = []
        country = model.country
        for code, v in cand.country_vecs.items():
            z = country.dot(v)
            logits.append(z)
            scores[code] = sigmoid(z) / country.threshold
        for topic, v in cand.topic_vecs.items():
            if topic == "ai":
                scores["ai"] = sigmoid(model.ai.dot(v)) / model.ai.threshold
            elif topic != "africa":
                scores[topic] = cand.rule[topic] + (PRIOR if v[-1] else 0.0)
        africa = cand.africa_vec
        if africa is not None:
            africa[AFRICA_COUNTRY_SCORE], africa[AFRICA_COUNTRY_SECOND] = country_pair(logits)
            scores["africa"] = sigmoid(model.africa.dot(africa)) / model.africa.threshold
            reasons = why.setdefault("africa", [])
            for k in cand.country_vecs:
                for r in why[k]:
                    if r not in reasons:
                        reasons.append(r)
        for prior in dict.fromkeys(source_tags):
            target = COUNTRY_CODES.get(prior, prior)
            if target in scores:
                why[target].append(f"source:{prior}")
        return scores, why

    def explain(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> list[Explained]:
        """Every candidate tag of one item with its features, their contributions (weight x
        value, largest first), score, threshold and decision; for ``aggregator tag --explain``."""
        cand = self.candidates(title, summary, language, source_tags)
        model = self.learned
        if cand is None or model is None:
            return []
        scores, _ = self._learned(cand, source_tags, model)
        rows = []
        families: list[tuple[str, str, dict[str, float]]] = [
            ("ai", "ai", f) for t, f in cand.topics.items() if t == "ai"
        ]
        if cand.africa is not None:
            families.append(("africa", "africa", cand.africa))
        families += [(COUNTRY_SLUGS[c], "country", f) for c, f in cand.countries.items()]
        chosen = set(self._decide(scores, {k: list(v) for k, v in cand.why.items()}).tags)
        for tag, family, f in families:
            lr = model.family(family)
            key = tag if family != "country" else COUNTRY_CODES[tag]
            rows.append(
                Explained(
                    tag,
                    family,
                    dict(f),
                    lr.contributions(f),
                    scores[key],
                    self.threshold,
                    tag in chosen,
                    sigmoid(lr.logit(f)),
                    lr.threshold,
                )
            )
        for topic in cand.topics:
            if topic not in ("ai", "africa"):
                v = scores[topic]
                rows.append(Explained(topic, "rule", {}, [], v, self.threshold, topic in chosen))
        return rows

    # hand-set scorer --------------------------------------------------------------------------

    def hand_scores(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        """The hand-set rules' score per topic key and ISO code, and the reasons behind each."""
        title, summary, hits = self._read(title, summary, language)
        if not hits:
            return {}, {}
        return self._hand(title, summary, hits, source_tags)

    def _hand(
        self, title: str, summary: str, hits: list[_Hit], source_tags: Iterable[str]
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        damp, lede, codes_of, in_title, abroad = read_story(hits, summary)
        anchored = any(h.entry.codes and h.factor == 1.0 for h in in_title)
        # Open story (no country in the title): the countries of the summary are its subjects
        # when the title is about Africa or when only one country is named at all.
        # (Several countries: only place names, as demonyms there tend to describe a speaker.)
        named = len({c for h in hits for c in codes_of(h.entry)})
        anchor = next((codes_of(h.entry) for h in in_title if h.entry.codes), ())
        sole = named == 1
        africa_title = named <= OPEN_MAX and any(h.entry.tag == "africa" for h in in_title)

        seen_in_summary: dict[str, int] = {}
        last_end: dict[tuple[str, str], int] = {}

        def add(target: str, h: _Hit, passing: bool) -> None:
            text = title if h.field == "title" else summary
            end = h.start + len(h.text)
            prev = last_end.get((h.field, target))
            last_end[(h.field, target)] = end
            adjacent = prev is not None and _ADJACENT.fullmatch(text, prev, h.start) is not None
            if h.field == "title":
                value = 0.0 if adjacent else TITLE * h.entry.weight
            else:
                n = seen_in_summary.get(target, 0)
                if not adjacent:
                    seen_in_summary[target] = n + 1
                if h.entry.tag:
                    first = LEDE_TOPIC if h.start < lede else SUMMARY_FIRST
                elif anchored:
                    first = ANCHORED_LEDE if h.start < lede else ANCHORED_FIRST
                elif sole or (africa_title and not h.entry.adjective):
                    first = OPEN_SUBJECT
                else:
                    first = OPEN_LEDE if h.start < lede else OPEN_FIRST
                value = 0.0 if adjacent else (first if n == 0 else SUMMARY_MORE)
                value *= h.entry.weight * damp
            value *= h.factor * (PASSING if passing else 1.0) * (ABROAD if abroad else 1.0)
            scores[target] = scores.get(target, 0.0) + value
            reason = f"{h.field}:{h.text}"
            if reason not in why.setdefault(target, []):
                why[target].append(reason)

        for h in hits:
            e = h.entry
            if e.tag:
                add(e.tag, h, False)
                continue
            for code in codes_of(e):
                # Another country named as a route, neighbour, destination or refuge.
                text = title if h.field == "title" else summary
                if h.field == "title":  # only after another country named earlier in the title
                    passing = any(
                        g.start < h.start and code not in g.entry.codes and g.entry.codes
                        for g in in_title
                    ) and _passing(text, h)
                elif anchored:
                    passing = code not in anchor and _passing(text, h)
                else:
                    window = _window(text, h)
                    passing = bool(_VENUE.search(window) or (not sole and _EXAMPLE.search(window)))
                add(code, h, passing)

        code_set = COUNTRY_SLUGS
        country_total = sum(v for k, v in scores.items() if k in code_set)
        africa = scores.get("africa", 0.0) + COUNTRY_AFRICA * country_total
        if africa > 0:
            scores["africa"] = africa
            for k in list(why):
                if k in code_set:
                    for r in why[k]:
                        if r not in why.setdefault("africa", []):
                            why["africa"].append(r)

        for prior in dict.fromkeys(source_tags):
            target = COUNTRY_CODES.get(prior, prior)
            if scores.get(target, 0.0) > 0:
                scores[target] += PRIOR
                why[target].append(f"source:{prior}")

        return scores, why


_CAPITAL = re.compile(r"[A-ZÀ-ÖØ-Þ]\w*")  # a word's start is checked on the few hits
_ARABIC_WORD = re.compile(f"(?:{ARABIC_LETTER.pattern})+")
_GAP = re.compile(r"[ \-]+(?:[a-z]{1,3}[ \-]+)?")
_PROCLITIC = re.compile(_PREFIX)


# Words of town names that texts capitalise for other reasons (the gate prefers the other end).
_COMMON_NAME_WORDS = frozenset(
    _key(w)
    for w in (
        *("city", "new", "north", "south", "east", "west", "nord", "sud", "est", "ouest"),
        *("grand", "grande", "fort", "river", "ville", "port", "saint", "sainte", "san", "santa"),
        *("مدينة", "العاصمة", "الكبرى", "الجديدة", "الجديد", "الشمالية", "الجنوبية"),
    )
)
_SEP = "\x01"  # joins words for one fold: no word character folds to it, nor to a blank
# Letters up to U+024F whose decomposition is ASCII fold (``_key``) to that ASCII; others fold
# by the tables (``Ø``, ``ṣ``, ``ʼ``).
_BEYOND_LATIN = re.compile("[^\x00-\u024f]")
_MARKS = re.compile(
    "[\u0300-\u036f]+"
)  # joins words for one fold: no word character folds to it, nor to a blank


def _proclitics() -> frozenset[str]:
    """Every non-empty start of a ``_PREFIX`` match (``_arabic_prefix`` strips such a start)."""
    full = {a + b for a in ("", "و", "ف") for b in ("", "ال", "بال", "كال", "لل", "ب", "ك", "ل")}
    assert all(_PROCLITIC.fullmatch(p) for p in full)
    return frozenset(p[:n] for p in full for n in range(1, len(p) + 1))


_PROCLITICS = _proclitics()


def _word_keys(caps: list[str], arabic: Sequence[str]) -> list[str]:
    """The lookup key (``_key``) of each word, lower-cased first as the scan reads it: one fold
    of all the words joined (``_key`` works character by character on words)."""
    joined = _SEP.join(caps).lower()
    if not joined.isascii():
        if _BEYOND_LATIN.search(joined) is None:  # accents only: NFD and no marks, as _key
            bare = _MARKS.sub("", unicodedata.normalize("NFD", joined))
            joined = bare if bare.isascii() else _key(joined)
        else:
            joined = _key(joined)
    keys = joined.split(_SEP)
    if arabic:
        keys += _key(_SEP.join(arabic)).split(_SEP)
    return keys


def _arabic_prefix(key: str, first: frozenset[str]) -> int:
    """Length of the proclitics (and article) before an Arabic word that starts a town's name
    ("بالدار" -> 3), or 0."""
    m = _PROCLITIC.match(key)
    if not m or not m.end():
        return 0
    for k in range(m.end(), 0, -1):
        rest = key[k:]
        if rest in first or (key[k - 2 : k] == "لل" and _ARTICLE + rest in first):
            return k
    return 0


def _fold_windows(low: str, arabic: bool) -> tuple[str, bool]:
    """``low`` folded whole for ``Tagger._context`` (one fold per item, not two per hit) and
    True, when the fold keeps every position (``low`` has no mark left to drop: each fold is
    then one character for one); else ``low`` and False (its windows are folded). ASCII text
    is read as it is, as the windows were; so is Arabic text (``arabic``), whose whole fold
    (``str.translate``) costs more than a few windows'."""
    if low.isascii():
        return low, True
    if arabic:
        return low, False
    folded, index = fold_keep_case(low)
    return (folded, True) if index is None and len(folded) == len(low) else (low, False)


def _hit_order(h: _Hit) -> tuple[bool, int]:
    return h.field != "title", h.start


def _window(text: str, h: _Hit) -> str:
    return fold_keep_case(text[max(0, h.start - 40) : h.start])[0].lower()


def _passing(text: str, h: _Hit) -> bool:
    """A country named as a route, a neighbour, a destination, a refuge or a venue."""
    window = _window(text, h)
    if _PASSING_BEFORE.search(window) or _VENUE.search(window) or _EXAMPLE.search(window):
        return True
    return _PASSING_AFTER.match(text, h.start + len(h.text)) is not None


@dataclass(frozen=True)
class Explained:
    """One candidate tag of one item under the learned model, as ``aggregator tag --explain``
    prints it (``decision``: the learned model's, whichever path decides at runtime)."""

    tag: str
    family: str  # ai | africa | country | rule (operator topic) | hand (no learned model)
    features: dict[str, float]
    contributions: list[tuple[str, float, float]]
    score: float
    threshold: float
    decision: bool
    probability: float | None = None
    model_threshold: float | None = None


@lru_cache(maxsize=1)
def _shipped_model() -> Model | None:
    return load_model()


@lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    """A Tagger with the bundled lexicons only and the default threshold."""
    return Tagger.from_settings({}, 1.0)
