"""Tag items with ``ai``, ``africa``, African countries and operator topics, and say why.

Vocabularies are data (``aggregator/lexicons/*.txt``, format in ``lexicons/README.md``), compiled
once into a trie-shaped regex per ``Tagger`` (plus one for Arabic terms, run only on text with
Arabic letters) so an item costs one scan of its lower-cased title + summary. The text is not
folded (``str.translate`` cost more than the scan): each letter of a term is the class of the
letters folding to it (accents, Arabic hamza forms, apostrophes, dashes), so reasons quote the
original text.

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

import html
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from .models import Tagging
from .text import ARABIC as _ARABIC
from .text import VARIANTS, drop_marks, fold_keep_case, strip_footer_text

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
OPEN_SUBJECT = 1.0  # open story about Africa, or naming a single country: summary countries
PASSING = 0.4  # anchored story: another country named as a route, neighbour, destination
OPEN_MAX = 3  # ... about Africa naming at most this many countries (not a tournament roster)
ABROAD = 0.15  # title set outside Africa, only adjectives for Africa, a diaspora cue
BUILTIN = ("ai", "africa")

# --- folding: the rules are text's; the matcher reads unfolded text through VARIANTS classes ---

@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    """Lookup key of a term or a matched span: folded, lower case, one space for blanks/hyphens."""
    text = fold_keep_case(unicodedata.normalize("NFC", text))[0].lower()
    text = re.sub(r"\s*'\s*", "'", text)
    return re.sub(r"[\s\-]+", " ", text).strip()


# --- lexicon entries ------------------------------------------------------------------------------

_ARTICLE = "ال"
_NISBA_SUFFIXES = "[هة]|ين|ون|ات"
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
    marker: str | None = None  # ``[~abroad]``, ``[~diaspora]``: a cue for the scoring, not a tag
    adjective: bool = False  # demonym or adjective ("angolaise", "African"), not a place name


_ADJ_END = re.compile(r"(?:ians?|eans?|ans?|ese|ois|is|i)$")


def _adjective(folded: str, arabic: bool, names: frozenset[str]) -> bool:
    """French lexicons write demonyms in lower case, English ones end like "-an", "-ese";
    Arabic ones are nisba adjectives. Good enough to tell "l'Angolaise" from "l'Angola"."""
    if arabic:
        return folded.endswith("ي")
    if folded[:1].islower():
        return True
    return folded not in names and bool(_ADJ_END.search(_WORD_SPLIT.split(folded)[-1]))


def _case_rule(term: str) -> str:
    letters = [c for c in fold_keep_case(term)[0] if c.isalpha() and c.isascii()]
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
    folded = fold_keep_case(term)[0]
    arabic = bool(_ARABIC.search(folded))
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
    common["adjective"] = _adjective(folded, arabic, _country_names(countries))
    if section == "-":
        return Entry(blocker=True, **common)
    if section.startswith("~"):
        return Entry(marker=section[1:], **common)
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


def _country_names(known: Mapping[str, Country]) -> frozenset[str]:
    return frozenset(c.name for c in known.values())


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


def _trie_regex(keys: Iterable[str], spelling: str = "full") -> str:
    """Alternation of ``keys`` factored as a trie; longer alternatives are tried first.
    ``spelling`` "ascii" / "latin1": each letter class keeps only its members up to U+007F /
    U+00FF (the same matches on text without the others; single letters compile to literals,
    which the matcher tests faster, and Latin-1 classes to a small bitmap)."""
    top = {"ascii": 0x7F, "latin1": 0xFF}.get(spelling, 0x10FFFF)
    trie: dict = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def variants(ch: str) -> str:
        return "".join(c for c in sorted(VARIANTS[ch]) if ord(c) <= top)

    def piece(ch: str) -> str:
        if ch == " ":
            return "[\\s" + re.escape(variants("-")) + "]+"
        if ch == "'":
            return "[\\s" + re.escape(variants("'")) + "]\\s*"
        if ch not in VARIANTS:
            return re.escape(ch)
        alts = variants(ch)
        return "[" + re.escape(alts) + "]" if len(alts) > 1 else re.escape(alts or ch)

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




class _Latin:
    r"""The Latin-script matcher: one trie in three spellings. ``ascii`` (letter classes cut to
    their ASCII members) reads ASCII text; ``latin1`` (cut to Latin-1) reads other text once
    the few characters above U+00FF that the classes hold and texts use (’ – — ā...) are
    replaced by their class's base (same class, same ``\w``-ness, same length: the same
    matches); ``full`` (every member) reads the rare text holding a class member that cannot
    be replaced so (ʼ is a letter, ' is not), and is compiled only then: its classes above
    Latin-1 cost the regex compiler ~0.4 s, in every worker process.

    With ``shift`` 1 they read ``"\x00" + text``: ``\W(trie)(?!\w)`` starts with a character
    class, so the regex engine skips from separator to separator in C instead of trying a
    ``(?<!\w)`` lookbehind at every position. Same matches as ``(?<!\w)trie(?!\w)`` on the
    text (the sentinel stands for the start), because every term starts with a word character:
    a match never starts where the previous one ended, so consuming its separator costs nothing.
    ``shift`` 0 (an operator term starting with punctuation): the lookbehind form, on the text."""

    def __init__(self, keys: list[str], shift: int):
        self.keys = keys
        self.shift = shift
        self.ascii = self._compile("ascii")
        self.latin1 = self._compile("latin1")
        self._full: re.Pattern[str] | None = None
        used = {c for k in keys for c in k if c != " "} | {"-", "'"}  # " " reads "-" variants
        owners: dict[str, list[str]] = {}
        for d in used:
            for c in VARIANTS.get(d, ()):
                if ord(c) > 0xFF:
                    owners.setdefault(c, []).append(d)
        self.replace = {
            c: ds[0]
            for c, ds in owners.items()
            if len(ds) == 1 and ord(ds[0]) <= 0xFF and _is_word(c) == _is_word(ds[0])
        }
        self.big = (
            re.compile("[" + re.escape("".join(sorted(owners))) + "]").findall if owners else None
        )

    def _compile(self, spelling: str) -> re.Pattern[str]:
        head = r"\W" if self.shift else r"(?<!\w)"
        return re.compile(rf"{head}({_trie_regex(self.keys, spelling)})(?!\w)")

    @property
    def full(self) -> re.Pattern[str]:
        if self._full is None:
            self._full = self._compile("full")
        return self._full

    def finditer(self, low: str) -> list[tuple[int, int, str, str, str]]:
        r"""(start, end, span, "", "") of each match in ``low``, as ``(?<!\w)trie(?!\w)`` with
        every class member finds them (the empty proclitics and ending of ``_Arabic``)."""
        text = low
        if low.isascii():
            pattern = self.ascii
        else:
            found = set(self.big(low)) if self.big is not None else ()
            if not found:
                pattern = self.latin1
            elif all(c in self.replace for c in found):
                pattern = self.latin1
                for c in found:
                    text = text.replace(c, self.replace[c])
            else:
                pattern = self.full
        d = self.shift
        return [
            (m.start(1) - d, m.end(1) - d, low[m.start(1) - d : m.end(1) - d], "", "")
            for m in pattern.finditer("\x00" + text if d else text)
        ]


def _is_word(c: str) -> bool:
    return re.match(r"\w", c) is not None


def _starts_word(key: str) -> bool:
    """Does every text character the trie accepts as the first letter of ``key`` match ``\\w``?"""
    first = key[:1]
    if not first or first in " '":
        return False
    return all(_is_word(c) for c in VARIANTS.get(first, {first}) | {first})


def _latin_matcher(keys: list[str]) -> _Latin:
    return _Latin(keys, 1 if all(_starts_word(k) for k in keys) else 0)


def _compile(keys: Iterable[str]) -> tuple[_Latin | None, _Arabic | None]:
    """Two case-sensitive matchers over lower-cased folded text: Latin-script terms, and Arabic
    terms with proclitics and nisba endings (only run on text that contains Arabic)."""
    keys = sorted(set(keys))
    latin = [k for k in keys if not _ARABIC.search(k)]
    arabic = [k for k in keys if _ARABIC.search(k)]
    lat = _latin_matcher(latin) if latin else None
    ara = _arabic_matcher(arabic) if arabic else None
    return lat, ara


def _arabic_matcher(keys: list[str]) -> _Arabic:
    """Groups ``p`` (proclitics), ``t`` (the term), ``s`` (nisba ending); the ``\\W`` form as in
    ``_Latin`` when every term starts with a word character (proclitics are Arabic letters)."""
    shift = 1 if all(_starts_word(k) for k in keys) else 0
    head = r"\W" if shift else r"(?<!\w)"
    body = rf"(?P<p>{_PREFIX})(?P<t>{_trie_regex(keys)})(?P<s>{_NISBA_SUFFIXES})?(?!\w)"
    return _Arabic(re.compile(head + body), shift)


@dataclass(frozen=True)
class _Arabic:
    pattern: re.Pattern[str]
    shift: int

    def finditer(self, low: str) -> list[tuple[int, int, str, str, str]]:
        """(start, end, term, proclitics, ending) of each match, as the lookbehind form finds them."""
        d = self.shift
        return [
            (m.start("p") - d, m.end() - d, m.group("t"), m.group("p") or "", m.group("s") or "")
            for m in self.pattern.finditer("\x00" + low if d else low)
        ]


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
_AFTER_ORIGIN = re.compile(
    r"\s*,?\s*(?:vivant|living|installee?s?|basee?s?|based|residant|resident)\b"
    r"|\s*(?:-|\s)?(?:american|americain|britannique|british|francais|french)"
)

# (two substrings every match contains, pattern): the cheap test skips most patterns on most items.
_BOILERPLATE = [
    ("Continue reading", "Continue reading", re.compile(r"\bContinue reading\.*\s*$")),
    (
        "BBC Afrique",
        "BBC Afrique",
        re.compile(
            r"\b(?:A|À) (?:surtout )?(?:lire|ne pas manquer|voir)(?: aussi)? sur BBC Afrique\s*:?",
            re.IGNORECASE,
        ),
    ),
]
_RELATED = re.compile(r"\b(?:(?:A|À) )?lire (?:aussi|également)\b\s*:?", re.IGNORECASE)
# What every _RELATED match contains (each letter spelled as IGNORECASE matches it): a search
# that starts with a character class, far cheaper than _RELATED's search where it cannot match.
_RELATED_HINT = re.compile(
    "[lL][iIİı][rR][eE] (?:[aA][uU][sSſ][sSſ][iIİı]|[éÉ][gG][aA][lL][eE][mM][eE][nN][tT])"
)
_TAGS = re.compile(r"<[^>]+>")
# Lists of related episodes or articles at the end of a summary: other stories' titles.
_TAIL_TRIGGERS = (
    "utres épisodes",
    "utres sujets",
    "utres numéros",
    "uelques",
    "elated ",
    "ore from",
    "ead more",
)
_TAIL = re.compile(
    r"\b(?:(?:Pour voir |Voir )?(?:d'|d’)?autres (?:épisodes|sujets|numéros)|Quelques (?:numéros|épisodes)"
    r"|Related (?:stories|articles|coverage)|More from|Read more)\b.*$",
    re.DOTALL | re.IGNORECASE,
)


def clean_text(text: str) -> str:
    """Plain text without feed boilerplate ("The post ... appeared first on ...", "Lire aussi")."""
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = strip_footer_text(text)
    for trigger, also, pattern in _BOILERPLATE:
        if trigger in text and also in text:
            text = pattern.sub(" ", text)
    for t in _TAIL_TRIGGERS:
        if t in text:
            text = _TAIL.sub(" ", text)
            break
    hint = ("ire " in text or "IRE " in text) and _RELATED_HINT.search(text)
    m = _RELATED.search(text) if hint else None
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
        self._latin, self._arabic = _compile(self._by_key)
        # Matched span (lower-cased, folded) -> its entries; spans differ from keys only in blanks.
        self._spans: dict[str, tuple[Entry, ...]] = {}

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
        if suffix and not e.nisba:
            return False
        if e.name:
            nxt = _NEXT_WORD.match(folded, end)
            if nxt and nxt.group(1).lower() not in _AFTER_NAME_OK:
                return False
        return True

    @staticmethod
    def _context(low: str, start: int, end: int) -> float:
        """Weaker evidence for origin rather than place: "d'origine malienne", "Nigerian-born"."""
        before = fold_keep_case(low[max(0, start - 14) : start])[0]
        after = fold_keep_case(low[end : end + 16])[0]
        if "origin" in before or "descent" in after or after.startswith("-born"):
            return DIASPORA
        if _AFTER_ORIGIN.match(after):
            return DIASPORA
        return 1.0

    def _scan(self, text: str, split: int, language: str | None) -> list[_Hit]:
        """Hits in ``text`` (title, a NUL, the summary); ``split`` is where the summary starts."""
        folded, index = drop_marks(text)  # "folded": original letters, no diacritics/tatweel
        low = folded.lower()
        if len(low) != len(folded):  # a few letters lower-case to two characters ("İ")
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in folded)
        lang = language.split("-")[0].lower() if language else None
        matches: list[tuple[int, int, str, str, str]] = []
        if self._latin is not None:
            matches = self._latin.finditer(low)
        if self._arabic is not None and _ARABIC.search(low):
            matches.extend(self._arabic.finditer(low))
            matches.sort()
        hits = []
        for start, end, span, prefix, suffix in matches:
            entries = self._entries(span)
            if not entries:
                continue
            cs = start + len(prefix)
            core = folded[cs : cs + len(span)]
            accepted = [
                e for e in entries if self._accept(e, core, prefix, suffix, folded, end, lang)
            ]
            if not accepted or any(e.blocker for e in accepted):
                continue
            factor = self._context(low, start, end)
            ostart, oend = (start, end) if index is None else (index[start], index[end - 1] + 1)
            field = "title" if ostart < split else "summary"
            where = ostart if field == "title" else ostart - split
            seen = set()
            for e in accepted:
                target = (e.tag, e.codes, e.alt)
                if target not in seen:
                    seen.add(target)
                    hits.append(_Hit(e, field, text[ostart:oend], where, factor))
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
        if not scores:  # no evidence at all (most items): no tag, whatever the threshold
            return Tagging(tags=(), countries=(), why={})
        code_scores = {c: v for c, v in scores.items() if c in COUNTRY_SLUGS}
        floor = max(self.threshold, RELATIVE * max(code_scores.values(), default=0.0))
        chosen_codes = sorted(
            (c for c, v in code_scores.items() if v >= floor), key=lambda c: (-scores[c], c)
        )
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
        """Score per topic key and ISO code, and the reasons behind each (before the threshold)."""
        summary = unicodedata.normalize("NFC", clean_text(summary or ""))
        title = unicodedata.normalize("NFC", clean_text(title or ""))
        hits = self._scan(title + "\x00" + summary, len(title) + 1, language)
        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        if not hits:
            return scores, why
        damp = min(1.0, math.sqrt(LONG_TEXT / len(summary))) if summary else 1.0
        stop = _SENTENCE_END.search(summary)
        lede = min(stop.end() if stop else len(summary), LEDE_CHARS)

        # Ambiguous names (bare "Congo"): the second reading only when it alone has evidence.
        plain_codes = {c for h in hits for c in h.entry.codes if h.entry.alt is None}

        def codes_of(e: Entry) -> tuple[str, ...]:
            if e.alt and e.alt in plain_codes and e.codes[0] not in plain_codes:
                return (e.alt,)
            return e.codes

        in_title = [h for h in hits if h.field == "title"]
        african_title = [h for h in in_title if h.entry.codes or h.entry.tag == "africa"]
        anchored = any(h.entry.codes and h.factor == 1.0 for h in in_title)
        # A title set outside Africa whose African evidence is only adjectives, with a diaspora
        # cue ("l'Angolaise ... d'origine africaine en Uruguay", "esclaves ... en Amérique").
        abroad = (
            bool(african_title)
            and any(h.entry.marker == "abroad" for h in in_title)
            and all(h.entry.adjective for h in african_title)
            and any(h.entry.marker == "diaspora" for h in hits)
        )
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


_SENTENCE_END = re.compile(r"[.!?؟](?:\s|$)")
# Between "Rabat" and "au Maroc", "Goma" and "(DR Congo)": one mention, not two.
_ADJACENT = re.compile(
    r"[\s,()\-]*(?:(?:au|aux|en|in|du|de|des|la|le|les|l'|l’|the|ال)\s*)*[\s,()]*"
)
_PASSING_BEFORE = re.compile(
    r"(?:\bvia|en passant par|proche d|pres d|non loin d|a destination d|destinee?s? a"
    r"|en provenance d|(?:ont |a |avaient |avait )?fui|fuyant|fuient|refugiee?s? (?:au|en|a)"
    r"|se rend(?:ra|ait)? |en route (?:vers|pour|to)|en transit|transit(?:ing)? through"
    r"|\bnear|\bneighbou?ring|bound for|fled|fleeing|flee to|visits?\b|visit(?:ed|ing) "
    r"|travel(?:s|led)? to|on (?:his|her|their) way to"
    r"|\bعبر|بالقرب من|قرب|متجه\w* (?:الى|نحو)|فر\w* (?:الى|نحو)|لج\w* (?:الى)|مرورا ب)"
    r"[^.;:!?]{0,28}$"
)
# Examples in a list: "des sélections fortes, comme le Sénégal, l'Egypte ou encore l'Algérie".
_EXAMPLE = re.compile(
    r"(?:\bcomme|notamment|\btel(?:le)?s? que|such as|including|\blike|مثل)\b[^.;:!?]{0,30}$"
)
_PASSING_AFTER = re.compile(r"\s*(?:voisin|neighbou?r|المجاور)")


_VENUE = re.compile(
    r"(?:reunion|sommet|conference|forum|congres|assemblee|ceremonie|summit|meeting|congress"
    r"|\bheld|tenue?s?|organisee?s?|hosted|اجتماع|قمة|مؤتمر|منتدى)\b[^.;:!?]{0,24}"
    r"(?:\b(?:a|au|en|in|at)|\bب|في)\s*\S{0,12}\s*$"
)


def _window(text: str, h: _Hit) -> str:
    return fold_keep_case(text[max(0, h.start - 40) : h.start])[0].lower()


def _passing(text: str, h: _Hit) -> bool:
    """A country named as a route, a neighbour, a destination, a refuge or a venue."""
    window = _window(text, h)
    if _PASSING_BEFORE.search(window) or _VENUE.search(window) or _EXAMPLE.search(window):
        return True
    return _PASSING_AFTER.match(text, h.start + len(h.text)) is not None


@lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    """A Tagger with the bundled lexicons only and the default threshold."""
    return Tagger.from_settings({}, 1.0)
