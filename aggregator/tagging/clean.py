"""Feed boilerplate taken out of a title or summary before matching: markup, entities, the
WordPress footer (``text.strip_footer_text``), "Continue reading", "Lire aussi" links and lists
of related episodes at the end, whose words name other stories and would tag this one.
"""

from __future__ import annotations

import html
import re

from ..text import contains_any, strip_footer_text

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
# What every trigger holds (``clean_text`` tests these first: five searches rule out most texts)
_TAIL_HINTS = ("utres ", "uelques", "elated ", "ore from", "ead more")
if not all(any(h in t for h in _TAIL_HINTS) for t in _TAIL_TRIGGERS):
    raise AssertionError("a tail trigger without a hint")
_TAIL = re.compile(
    r"\b(?:(?:Pour voir |Voir )?(?:d'|d’)?autres (?:épisodes|sujets|numéros)"
    r"|Quelques (?:numéros|épisodes)"
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
    if contains_any(text, _TAIL_HINTS):
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
