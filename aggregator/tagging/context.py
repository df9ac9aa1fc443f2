"""Words around a mention that change what it means, in French, English and Arabic.

A country name followed by a capitalised word may be a person's first name ("Chad Smith");
"d'origine malienne" or "Nigerian-born" says origin, not place; "via la Libye", "sommet tenu à
Dakar", "comme le Sénégal" name a route, a venue or an example, not the subject. The scorer
reads these patterns on the folded, lower-cased text before or after a mention.
"""

from __future__ import annotations

import re
import re._parser as _sre_parse  # the parse tree of a pattern, read by ``_needles``
from re._constants import AT, BRANCH, LITERAL, MAX_REPEAT, MIN_REPEAT, SUBPATTERN

from ..text import contains_any

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

_SENTENCE_END = re.compile(r"[.!?؟](?:\s|$)")
# Between "Rabat" and "au Maroc", "Goma" and "(DR Congo)": one mention, not two.
_ADJACENT = re.compile(
    r"[\s,()\-]*(?:(?:au|aux|en|in|du|de|des|la|le|les|l'|l’|the|ال)\s*)*[\s,()]*"
)
_PASSING_BEFORE = re.compile(
    r"(?:\bvia|en passant par|proche d|pres d|non loin d|a destination d|destinee?s? a"
    r"|en provenance d|(?:ont |a |avaient |avait )?fui|fuyant|fuient|refugiee?s? (?:au|en|a)"
    r"|se rend(?:ra|ait)? |en route (?:vers|pour|to)|en transit|transit(?:ing)? through"
    r"|\bvers\b|en direction d|a l'approche d|aux portes d|aux frontieres d"
    r"|\bnear|\bneighbou?ring|bound for|fled|fleeing|flee to|visits?\b|visit(?:ed|ing) "
    r"|travel(?:s|led)? to|on (?:his|her|their) way to|\btowards?\b|in transit|headed for"
    r"|\bعبر|بالقرب من|قرب|متجه\w* (?:الى|نحو)|فر\w* (?:الى|نحو)|لج\w* (?:الى)|مرورا ب"
    r"|\bنحو|باتجاه|في طريق\w* (?:الى)|على حدود|ترانزيت)"
    r"[^.;:!?]{0,28}$"
)
# Examples in a list: "des sélections fortes, comme le Sénégal, l'Egypte ou encore l'Algérie".
_EXAMPLE = re.compile(
    r"(?:\bcomme|notamment|\btel(?:le)?s? que|such as|including|\blike|مثل)\b[^.;:!?]{0,30}$"
)
_PASSING_AFTER = re.compile(r"\s*(?:voisin|neighbou?r|المجاور)")
# A nationality before a person's name ("le Sénégalais Sadio Mané", "Nigerian Victor Osimhen"):
# in a story about something else, the person's origin, not the story's place.
_BEFORE_NAME = re.compile(r"[\s']+[A-Z][a-z]+[\s\-]+[A-Z]")

_VENUE = re.compile(
    r"(?:reunion|sommet|conference|forum|congres|assemblee|ceremonie|summit|meeting|congress"
    r"|\bheld|tenue?s?|organisee?s?|hosted|convoquee?s?|reunie?s?|rassemblee?s?|convened"
    r"|summoned|gathered|اجتماع|قمة|مؤتمر|منتدى)\b[^.;:!?]{0,24}"
    r"(?:\b(?:a|au|en|in|at)|\bب|في)\s*\S{0,12}\s*$"
)

# The three window patterns as one search (each is anchored at the window's end): what the
# learned features ask of every country mention, in one pass of the regex engine.
_CUE_BEFORE = re.compile("|".join(f"(?:{p.pattern})" for p in (_PASSING_BEFORE, _VENUE, _EXAMPLE)))


def _needles(items: list) -> list[str] | None:
    """Strings one of which every match of the parsed sequence ``items`` holds (the longest
    literal runs, through groups and alternations), or None when there is none to tell."""
    best: list[str] | None = None

    def consider(found: list[str] | None) -> None:
        nonlocal best
        if found and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    run = ""
    for op, av in items:
        if op is LITERAL:
            run += chr(av)
            continue
        if op is AT:  # zero-width: a run goes on across a boundary test
            continue
        consider([run] if run else None)
        run = ""
        if op is SUBPATTERN and not av[1]:  # (group, add flags, del flags, pattern)
            consider(_needles(av[3]))
        elif op is BRANCH:
            alts = [_needles(list(b)) for b in av[1]]
            if all(alts):
                consider([n for a in alts if a for n in a])
        elif op in (MAX_REPEAT, MIN_REPEAT) and av[0] >= 1:
            consider(_needles(list(av[2])))
    consider([run] if run else None)
    return best


def needles(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings one of which is in every text ``pattern`` matches, none holding another: a
    handful of substring tests rule out most texts before a slow search (None: no such set)."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    found = _needles(list(_sre_parse.parse(pattern.pattern, pattern.flags)))
    if not found:
        return None
    unique = set(found)
    return tuple(sorted(n for n in unique if not any(m != n and m in n for m in unique)))


# What every _CUE_BEFORE match holds: most country mentions' windows hold none of these, and
# the substring tests cost a tenth of the search (whose alternation is tried at each position).
_CUE_NEEDLES = needles(_CUE_BEFORE)


def cue_before(window: str) -> bool:
    """``_CUE_BEFORE.search(window)``: a route, venue or example cue ends the window."""
    if _CUE_NEEDLES is not None and not contains_any(window, _CUE_NEEDLES):
        return False
    return _CUE_BEFORE.search(window) is not None
