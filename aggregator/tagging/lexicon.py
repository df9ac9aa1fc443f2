"""The lexicons: their file format, one ``Entry`` per term, the African countries, term expansion.

Vocabularies are data (``lexicons/*.txt``, format in ``lexicons/README.md``; ``countries.tsv``
lists the states), read once per process so the matcher and the scorer only see ``Entry`` values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

from ..text import ARABIC as _ARABIC
from ..text import fold_keep_case

LEXICONS = Path(__file__).with_name("lexicons")
#: Files of country sections: generated (``countries``: scripts/build_gazetteer.py) or kept by
#: hand (``overlay``, ``ambiguous``). Any other ``<topic>.<lang>.txt`` is a topic.
COUNTRY_FILES = frozenset({"countries", "overlay", "ambiguous"})
#: Generated files hold place names only, never demonyms, whatever their ending ("Oran").
PLACE_FILES = frozenset({"countries", "regions"})
#: Towns (generated, GeoNames): looked up in a dict by ``places``, not compiled into the trie.
PLACES = "places.tsv"
_ARTICLE = "ال"  # Arabic article: a term written with it needs it (or لل) in the text


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    """Lookup key of a term or a matched span: folded, lower case, one space for blanks/hyphens."""
    text = fold_keep_case(unicodedata.normalize("NFC", text))[0].lower()
    text = re.sub(r"\s*'\s*", "'", text)
    return re.sub(r"[\s\-]+", " ", text).strip()


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
    for want, got in zip(_WORD_SPLIT.split(term), _WORD_SPLIT.split(text), strict=False):
        if want[:1].isupper():
            return got[:1].isupper()
    return True


def _expand(term: str) -> list[str]:
    """``marocain(,e,s,es)`` -> marocain, marocaine, marocains, marocaines (any word may
    carry one)."""
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
    section: str, term: str, flags: Mapping[str, str], countries: Mapping[str, Country]
) -> Entry:
    """``term`` of ``section``: ``-`` blocks, ``~cue`` is a cue, ``A|B`` an ambiguous country,
    ISO codes a country, anything else a topic key."""
    term = unicodedata.normalize("NFC", term)
    folded = fold_keep_case(term)[0]
    arabic = bool(_ARABIC.search(folded))
    # the article starts a first word of four letters or more: إلى ("to", folded الى) is not one
    first = folded.split(" ", 1)[0]
    article = arabic and first.startswith(_ARTICLE) and len(first) > 3
    langs = (
        frozenset(x.strip() for x in flags["lang"].split(";") if x.strip())
        if "lang" in flags
        else None
    )
    tag: str | None = None
    codes: tuple[str, ...] = ()
    alt: str | None = None
    marker: str | None = None
    parts = section.split()
    if section == "-":
        pass
    elif section.startswith("~"):
        marker = section[1:]
    elif "|" in section:
        first, second = (s.strip() for s in section.split("|", 1))
        codes, alt = (first,), second
    elif parts and all(p in countries for p in parts):
        codes = tuple(parts)
    else:
        tag = section
    return Entry(
        term=term,
        tag=tag,
        codes=codes,
        alt=alt,
        weight=float(flags.get("w", 1.0)),
        case="exact" if "exact" in flags else _case_rule(term),
        name="name" in flags,
        langs=langs,
        article=article,
        noarticle="noart" in flags,
        nisba=arabic and folded.endswith("ي"),
        blocker=section == "-",
        marker=marker,
        adjective=_adjective(folded, arabic, _country_names(countries)),
    )


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
        kind = path.name.split(".", 1)[0]
        text = _fix_lang_flags(path.read_text(encoding="utf-8"))
        default = None if kind in COUNTRY_FILES else kind
        for section, term, flags in parse_lexicon(text, default):
            entry = _entry(section, term, flags, known)
            if kind in PLACE_FILES and entry.adjective:
                entry = replace(entry, adjective=False)
            out.append(entry)
    return tuple(out)


@cache
def places(directory: Path = LEXICONS) -> dict[str, tuple[Entry, ...]]:
    """Towns of ``places.tsv`` (ISO code, name, flags; generated from GeoNames) by lookup key
    (an Arabic name written with its article needs it in the text). Proper nouns: the scan
    looks capitalised words (and Arabic words) up in this dict instead of growing the trie
    regex by thousands of names, whose compilation every worker process would pay."""
    path = directory / PLACES
    out: dict[str, tuple[Entry, ...]] = {}
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            code, term, flags = line.split("\t")
        except ValueError:
            raise ValueError(
                f"{path}:{n}: expected code, name and flags separated by tabs"
            ) from None
        f = _flags(flags)
        term = unicodedata.normalize("NFC", term)
        arabic = bool(_ARABIC.search(term))
        entry = Entry(
            term=term,
            codes=(code,),
            weight=float(f.get("w", 1.0)),
            case="any" if arabic else "first",
            name="name" in f,
        )
        key = _key(term)
        if entry not in out.get(key, ()):
            out[key] = (*out.get(key, ()), entry)
    return out
