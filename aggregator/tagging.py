"""Tag items with ``ai``, ``africa``, African countries and operator topics, and say why.

Vocabularies are data (``aggregator/lexicons/*.txt``, format in ``lexicons/README.md``), compiled
once into one trie-shaped regex per ``Tagger`` so an item costs one scan of its folded title and
summary. Folding is length-preserving where possible (accents, Arabic hamza forms, apostrophes,
dashes) so reasons quote the original text.

Scoring (the constants below are the knobs; ``threshold`` comes from settings, default 1.0):
every match adds its lexicon weight (``w=``, default 1.0) times a factor for where it is:

- title: ``TITLE`` (1.0), so one strong title mention is enough;
- summary, topics (ai, africa, operator topics): ``LEDE_TOPIC`` for a first mention in the
  opening sentence, else ``SUMMARY_FIRST``; ``SUMMARY_MORE`` for each further mention. One
  passing mention never reaches the threshold; two or three do;
- summary, countries: when the title names no African country the summary says what the story
  is about (``OPEN_*``); when it names one, other countries are usually context (``ANCHORED_*``);
- summary mentions are damped by ``sqrt(LONG_TEXT / len(summary))`` in long texts, and origin
  rather than place ("d'origine malienne", "Nigerian-born", "Ivoirienne vivant en Suède") is
  multiplied by ``DIASPORA``.

``africa`` adds ``COUNTRY_AFRICA`` times the countries' scores and is set whenever a country is.
A source prior (``Source.tags``, a topic key or a country slug) adds ``PRIOR`` only to a tag the
item already has some evidence for: a prior alone never tags (all-Africa outlets also publish
world news); the reason then includes ``source:<tag>``.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from .models import Tagging

LEXICONS = Path(__file__).with_name("lexicons")

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
LEDE_CHARS = 300  # the opening sentence ends at the first full stop, or here
DIASPORA = 0.3  # factor for "d'origine malienne", "Nigerian-born", "of Ghanaian descent"
LONG_TEXT = 600  # characters of summary before mentions start to weigh less
PRIOR = 0.5
BUILTIN = ("ai", "africa")

# --- folding ------------------------------------------------------------------------------------

_ONE_TO_ONE: dict[int, str] = {}
for _cp in range(0xC0, 0x250):
    _ch = chr(_cp)
    _base = unicodedata.normalize("NFD", _ch)[0]
    if _base != _ch and _base.isascii() and _base.isalpha():
        _ONE_TO_ONE[_cp] = _base
for _src, _dst in {
    "’‘ʼ`´ʹ′＇": "'",
    "‐‑‒–—―−": "-",
    "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\t\n\r\f\v": " ",
    "أإآٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ی": "ي",
    "ک": "ك",
    "ؤ": "و",
}.items():
    for _c in _src:
        _ONE_TO_ONE[ord(_c)] = _dst
_ONE_TO_ONE.update(
    {ord("ß"): "s", ord("ø"): "o", ord("Ø"): "O", ord("ł"): "l", ord("Ł"): "L", ord("đ"): "d"}
)
_FOLD = str.maketrans(_ONE_TO_ONE)
# Characters dropped altogether: tatweel, Arabic diacritics, combining marks, invisible format marks.
_DROP = re.compile(
    "[\u0640\u064b-\u065f\u0670\u06d6-\u06ed\u0300-\u036f\u00ad\u200b-\u200f\u2060\ufeff]"
)


def fold(text: str) -> tuple[str, list[int] | None]:
    """Fold case-preservingly for matching; return the folded text and, if characters were
    dropped, the map from folded positions to positions in ``text`` (else None: identity)."""
    if text.isascii():  # nothing to fold but the odd backquote
        return (text.replace("`", "'") if "`" in text else text), None
    folded = text.translate(_FOLD)
    if not _DROP.search(folded):
        return folded, None
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(folded):
        if not _DROP.match(ch):
            chars.append(ch)
            index.append(i)
    index.append(len(folded))
    return "".join(chars), index


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    """Lookup key of a term or a matched span: folded, lower case, one space for blanks/hyphens."""
    text = fold(unicodedata.normalize("NFC", text))[0].lower()
    text = re.sub(r"\s*'\s*", "'", text)
    return re.sub(r"[\s\-]+", " ", text).strip()


# --- lexicon entries ------------------------------------------------------------------------------

_ARTICLE = "ال"
_NISBA_SUFFIXES = "ه|ين|ون|ات"
_PREFIX = "[وف]?(?:[بك]?ال|لل|[بكل])?"


@dataclass(frozen=True)
class Entry:
    """One lexicon term. ``tag`` is a topic key or None for a country (then ``codes``), and
    ``blocker`` entries only mask text (e.g. "Papua New Guinea" so "Guinea" does not fire)."""

    term: str
    tag: str | None = None
    codes: tuple[str, ...] = ()
    alt: str | None = None  # ambiguous name: second reading, used when only it has other evidence
    weight: float = 1.0
    case: str = "any"  # any | first | upper | exact
    name: bool = False  # not when followed by a capitalised word ("Chad Smith")
    langs: frozenset[str] | None = None
    article: bool = False  # Arabic: written with ال, needs the article (or لل) in the text
    noarticle: bool = False
    nisba: bool = False  # Arabic adjective in ي: may take ية/يون/يين/يات
    blocker: bool = False


def _case_rule(term: str) -> str:
    letters = [c for c in fold(term)[0] if c.isalpha() and c.isascii()]
    if not any(c.isupper() for c in letters):
        return "any"
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return "upper"
    return "first"


_WORD_SPLIT = re.compile(r"[\s\-']+")


def _capitals_match(term: str, text: str) -> bool:
    """The first word the term capitalises is capitalised in the text ("île Maurice")."""
    for want, got in zip(_WORD_SPLIT.split(term), _WORD_SPLIT.split(text)):
        if want[:1].isupper():
            return got[:1].isupper()
    return True


def _expand(term: str) -> list[str]:
    """``marocain(,e,s,es)`` -> marocain, marocaine, marocains, marocaines (any word may carry one)."""
    m = re.search(r"\(([^()]*)\)", term)
    if not m:
        return [term]
    out: list[str] = []
    for suffix in m.group(1).split(","):
        out.extend(_expand(term[: m.start()] + suffix.strip() + term[m.end() :]))
    return out


def _flags(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        part = part.strip()
        if part:
            k, _, v = part.partition("=")
            out[k.strip()] = v.strip()
    return out


def parse_lexicon(text: str, section: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
    """Lines of a lexicon file as (section, term, flags). ``[x]`` lines set the section."""
    rows = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        flags: dict[str, str] = {}
        m = re.search(r"\{([^}]*)\}\s*$", line)
        if m:
            flags = _flags(m.group(1))
            line = line[: m.start()].strip()
        for term in _expand(line):
            rows.append((section or "", " ".join(term.split()), flags))
    return rows


def _entry(
    section: str, term: str, flags: Mapping[str, str], countries: Mapping[str, str]
) -> Entry:
    term = unicodedata.normalize("NFC", term)
    folded = fold(term)[0]
    arabic = bool(re.search("[\u0600-\u06ff]", folded))
    article = arabic and folded.startswith(_ARTICLE) and len(folded) > 3
    langs = (
        frozenset(x.strip() for x in flags["lang"].split(";") if x.strip())
        if "lang" in flags
        else None
    )
    common = {
        "term": term,
        "weight": float(flags.get("w", 1.0)),
        "case": "exact" if "exact" in flags else _case_rule(term),
        "name": "name" in flags,
        "langs": langs,
        "article": article,
        "noarticle": "noart" in flags,
        "nisba": arabic and folded.endswith("ي"),
    }
    if section == "-":
        return Entry(blocker=True, **common)
    if "|" in section:
        first, second = (s.strip() for s in section.split("|", 1))
        return Entry(codes=(first,), alt=second, **common)
    parts = section.split()
    if parts and all(p in countries for p in parts):
        return Entry(codes=tuple(parts), **common)
    return Entry(tag=section, **common)


def _fix_lang_flags(text: str) -> str:
    # ``{lang=fr,es,w=0.7}``: let commas inside lang= separate languages, not flags.
    def repl(m: re.Match[str]) -> str:
        inner = m.group(1)
        parts = [p.strip() for p in inner.split(",")]
        out: list[str] = []
        for p in parts:
            if (
                out
                and out[-1].startswith("lang=")
                and "=" not in p
                and p not in ("name", "noart", "exact")
            ):
                out[-1] += ";" + p
            else:
                out.append(p)
        return "{" + ",".join(out) + "}"

    return re.sub(r"\{([^}]*)\}", repl, text)


@dataclass(frozen=True)
class Country:
    code: str
    slug: str
    name: str


@cache
def countries(directory: Path = LEXICONS) -> dict[str, Country]:
    """ISO code -> Country, from ``countries.tsv``."""
    out = {}
    for line in (directory / "countries.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            code, slug, name = line.split("\t")
            out[code] = Country(code, slug, name)
    return out


COUNTRY_SLUGS: dict[str, str] = {c.code: c.slug for c in countries().values()}
#: Display name per country slug, e.g. ``COUNTRY_NAMES["morocco"] == "Morocco"``.
COUNTRY_NAMES: dict[str, str] = {c.slug: c.name for c in countries().values()}
#: ISO code per country slug.
COUNTRY_CODES: dict[str, str] = {c.slug: c.code for c in countries().values()}


def country_slug(code: str) -> str:
    """``"MA"`` -> ``"morocco"``; KeyError for a code that is not an African state."""
    return COUNTRY_SLUGS[code.upper()]


@cache
def builtin_entries(directory: Path = LEXICONS) -> tuple[Entry, ...]:
    """Every entry of the bundled lexicon files (read once per process)."""
    known = countries(directory)
    out = []
    for path in sorted(directory.glob("*.txt")):
        topic = path.name.split(".", 1)[0]
        text = _fix_lang_flags(path.read_text(encoding="utf-8"))
        default = None if topic == "countries" else topic
        for section, term, flags in parse_lexicon(text, default):
            out.append(_entry(section, term, flags, known))
    return tuple(out)


# --- regex compilation ----------------------------------------------------------------------------


def _trie_regex(keys: Iterable[str]) -> str:
    """Alternation of ``keys`` factored as a trie; longer alternatives are tried first."""
    trie: dict = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def piece(ch: str) -> str:
        if ch == " ":
            return r"[\s\-]+"
        if ch == "'":
            return r"['\s]\s*"
        return re.escape(ch)

    def emit(node: dict) -> str:
        end = "" in node
        alts = [piece(ch) + emit(child) for ch, child in sorted(node.items(), reverse=True) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            return "(?:" + body + ")?"
        return body

    return emit(trie)


def _compile(keys: Iterable[str]) -> re.Pattern[str]:
    core = _trie_regex(sorted(set(keys)))
    return re.compile(
        rf"(?<!\w)(?P<p>{_PREFIX})(?P<t>{core})(?P<s>{_NISBA_SUFFIXES})?(?!\w)", re.IGNORECASE
    )


# Words that may follow a country name without making it a person's first name ("Chad President").
_AFTER_NAME_OK = frozenset(
    re.split(
        r"\s+",
        "president presidential government army basin republic national armed ministry "
        "minister forces police border capital coup military junta on in and or the to as "
        "at for with after is has says said was will could would",
    )
)
_NEXT_WORD = re.compile(r"[\s']+([A-Z][a-z]+)")

_BOILERPLATE = [
    re.compile(r"\bThe post .{0,300}? appeared first on .*$", re.DOTALL),
    re.compile(r"\bCet article .{0,300}? est apparu en premier sur .*$", re.DOTALL),
    re.compile(r"\bContinue reading\.*\s*$"),
    re.compile(
        r"\b(?:A|À) (?:surtout )?(?:lire|ne pas manquer|voir)(?: aussi)? sur BBC Afrique\s*:?",
        re.IGNORECASE,
    ),
]
_RELATED = re.compile(r"\b(?:(?:A|À) )?lire (?:aussi|également)\b\s*:?", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def clean_text(text: str) -> str:
    """Plain text without feed boilerplate ("The post ... appeared first on ...", "Lire aussi")."""
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    for pattern in _BOILERPLATE:
        text = pattern.sub(" ", text)
    m = _RELATED.search(text)
    if m:  # a "read also" link title follows: drop the next sentence-ish chunk
        rest = text[m.end() :]
        cut = re.search(r"[.!?]\s|\s{2,}", rest[:160])
        text = text[: m.start()] + " " + (rest[cut.end() :] if cut else rest[160:])
    return text


# --- the tagger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    entry: Entry
    field: str  # "title" | "summary"
    text: str  # as written in the item
    start: int = 0  # position in the field
    factor: float = 1.0  # e.g. DIASPORA


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
        self._regex = _compile(self._by_key)

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

    def _accept(self, e: Entry, m: re.Match[str], folded: str, language: str | None) -> bool:
        core = m.group("t")
        if e.langs is not None and language and language.split("-")[0].lower() not in e.langs:
            return False
        if e.case == "upper" and not all(c.isupper() for c in core if c.isalpha()):
            return False
        if e.case == "exact" and core != fold(e.term)[0]:
            return False
        if e.case == "first" and not _capitals_match(e.term, core):
            return False
        prefix = m.group("p") or ""
        has_article = prefix.endswith((_ARTICLE, "لل"))
        if e.article and not has_article:
            return False
        if e.noarticle and has_article:
            return False
        if m.group("s") and not e.nisba:
            return False
        if e.name:
            nxt = _NEXT_WORD.match(folded, m.end())
            if nxt and nxt.group(1).lower() not in _AFTER_NAME_OK:
                return False
        return True

    @staticmethod
    def _context(folded: str, m: re.Match[str]) -> float:
        """Weaker evidence for origin rather than place: "d'origine malienne", "Nigerian-born"."""
        before = folded[max(0, m.start() - 14) : m.start()].lower()
        after = folded[m.end() : m.end() + 16].lower()
        if (
            "origine" in before
            or "origin" in before
            or "descent" in after
            or after.startswith("-born")
        ):
            return DIASPORA
        if re.match(
            r"\s*,?\s*(?:vivant|living|installee?s?|basee?s?|based|residant|resident)\b", after
        ):
            return DIASPORA
        if re.match(
            r"\s*(?:-|\s)?(?:american|americain|britannique|british|francais|french)", after
        ):
            return DIASPORA
        return 1.0

    def _scan(self, text: str, field: str, language: str | None) -> list[_Hit]:
        if not text:
            return []
        text = unicodedata.normalize("NFC", text)
        folded, index = fold(text)
        hits = []
        for m in self._regex.finditer(folded):
            entries = self._by_key.get(_key(m.group("t")), ())
            accepted = [e for e in entries if self._accept(e, m, folded, language)]
            if not accepted or any(e.blocker for e in accepted):
                continue
            start, end = m.start(), m.end()
            if index is not None:
                start, end = index[start], index[end - 1] + 1
            seen = set()
            for e in accepted:
                target = (e.tag, e.codes, e.alt)
                if target not in seen:
                    seen.add(target)
                    hits.append(_Hit(e, field, text[start:end], start, self._context(folded, m)))
        return hits

    # scoring --------------------------------------------------------------------------------

    def tag(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_tags: Iterable[str] = (),
    ) -> Tagging:
        """Tags, ISO codes and reasons for one item (``source_tags``: its source's prior tags)."""
        scores, why = self.scores(title, summary, language, source_tags)
        code_scores = {c: v for c, v in scores.items() if c in COUNTRY_SLUGS}
        floor = max(self.threshold, RELATIVE * max(code_scores.values(), default=0.0))
        chosen_codes = sorted(
            (c for c, v in code_scores.items() if v >= floor), key=lambda c: (-scores[c], c)
        )
        tags = [
            t
            for t in self.topics
            if t not in COUNTRY_SLUGS and scores.get(t, 0.0) >= self.threshold
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
        """Score per topic key and ISO code, and the reasons behind each (before the threshold)."""
        summary = clean_text(summary or "")
        title = clean_text(title or "")
        hits = self._scan(title, "title", language) + self._scan(summary, "summary", language)
        damp = min(1.0, math.sqrt(LONG_TEXT / len(summary))) if summary else 1.0
        stop = re.search(r"[.!?؟](?:\s|$)", summary)
        lede = min(stop.end() if stop else len(summary), LEDE_CHARS)

        # Ambiguous names (bare "Congo"): the second reading only when it alone has evidence.
        plain_codes = {c for h in hits for c in h.entry.codes if h.entry.alt is None}

        anchored = any(h.entry.codes and h.field == "title" and h.factor == 1.0 for h in hits)
        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        seen_in_summary: dict[str, int] = {}

        def add(target: str, h: _Hit) -> None:
            if h.field == "title":
                value = TITLE * h.entry.weight
            else:
                n = seen_in_summary.get(target, 0)
                seen_in_summary[target] = n + 1
                if h.entry.tag:
                    first = LEDE_TOPIC if h.start < lede else SUMMARY_FIRST
                elif anchored:
                    first = ANCHORED_LEDE if h.start < lede else ANCHORED_FIRST
                else:
                    first = OPEN_LEDE if h.start < lede else OPEN_FIRST
                value = (first if n == 0 else SUMMARY_MORE) * h.entry.weight * damp
            value *= h.factor
            scores[target] = scores.get(target, 0.0) + value
            reason = f"{h.field}:{h.text}"
            if reason not in why.setdefault(target, []):
                why[target].append(reason)

        for h in hits:
            e = h.entry
            if e.tag:
                add(e.tag, h)
                continue
            codes = e.codes
            if e.alt and e.alt in plain_codes and e.codes[0] not in plain_codes:
                codes = (e.alt,)
            for code in codes:
                add(code, h)

        code_set = set(COUNTRY_SLUGS)
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


@lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    """A Tagger with the bundled lexicons only and the default threshold."""
    return Tagger.from_settings({}, 1.0)
