"""Outlet boilerplate taken out of titles and bodies before any comparison.

Two copies of one story differ mostly by what each outlet wraps it in: title labels ("VIDEO.",
"Breaking:", "[PHOTOS]"), outlet suffixes (" - Outlet", " | Outlet"), wire datelines
("Rabat, (MAP) -", "LAGOS (Reuters) -"), read-more tails and syndication footers ("The post ...
appeared first on ..."). Each pattern runs only when a cheap test finds what it cannot match
without, since this runs for every item.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..text import fold, strip_footer_text
from ..text import strip_tags as plain_text

_LABELS = (
    "exclusive|exclusif|exclusivite|breaking(?: news)?|just in|update[ds]?|updated|mise a jour|"
    "live|live updates?|en direct|direct|watch|video|videos|photo|photos|en images|audio|"
    "podcast|urgent|alerte|alert|flash|opinion|analysis|analyse|explainer|factbox|fact check|"
    "interview|entretien|tribune|editorial|chronique|infographie|infographic|revealed|"
    "developing|sponsored|partner content|contenu partenaire|"
    "عاجل|فيديو|بالفيديو|بالصور|صور|شاهد|خاص|حصري|مباشر|تحديث|رأي"
)
_TITLE_PREFIX = [
    re.compile(r"^\s*(?:\[[^\]]{1,40}\]|\([^)]{1,40}\)|【[^】]{1,20}】)\s*"),  # [VIDEO] (PHOTOS)
    re.compile(rf"^\s*(?:{_LABELS})\s*(?:[.:|!/-]+|\s-)\s*", re.IGNORECASE),
    re.compile(r"^\s*[^|\s]{1,20}(?: [^|\s]{1,20})?\s+\|\s+(?=\S+(?: \S+){3})"),  # "Outlet | "
    # an upper-case label such as "INFO FRANCEINFO." (only when the title is not all capitals)
    re.compile(r"^\s*[A-Z0-9ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ][A-Z0-9ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ' ]{3,24}[.:!]\s+(?=.*[a-z])"),
]
_TITLE_SUFFIX = [
    re.compile(
        r"\s*(?:\[[^\]]{1,40}\]|\((?:video|photos?|audio|live|direct|vid[eé]o)\))\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"\s+(?:[|·•]|-{1,2}|[–—])\s+[^|·•–—\s]{1,30}(?:\s[^|·•–—\s]{1,30}){0,3}$"
    ),  # " - Outlet"
    re.compile(r"\s*(?:\.{3}|…)\s*$"),
]
# Folded text from here on (lower case, ASCII quotes and dashes).
_WIRES = (
    r"afp|reuters|ap|map|aps|tap|mena|xinhua|ansa|dpa|efe|upi|anadolu|aa|pana|apa|wam|spa|qna|"
    r"kuna|sputnik|tass|ians|pti|bloomberg|nan|kna|lusa|belga|bernama|yonhap|kyodo|mapexpress|"
    r"ips|cna|rfi|bbc|cnn|ani|wafa|sana|irna|petra|bna|ona|mapnews|و\.م\.ع|واج|وات|ا ف ب"
)
_BODY_HEAD = [
    # "Rabat, (MAP) -", "LAGOS, Nov 2 (Reuters) -", "(AFP) -", "MAP -", "Rabat - "
    re.compile(rf"^[^()\n]{{0,60}}?\(\s*(?:{_WIRES})\s*\)\s*[-:,]*\s*"),
    re.compile(rf"^(?:[\w' .,/]{{0,40}}[,\s])?(?:{_WIRES})\s*[-:]+\s*"),
    re.compile(
        r"^[^\s,.()]{2,20}(?: [^\s,.()]{2,20})?,?(?: \d{1,2} \w{3,9}(?: \d{4})?)?\s+[-:]+(?:\s+|$)"
    ),
]
# Syndication footers, each run only when its guard words occur (cheap ``in`` tests first).
_FOOTERS = [
    (("originally", "first appeared", "first published", "was published", "was posted"),
     re.compile(r"\s*(?:this|the) (?:article|story|post) (?:was )?(?:originally |first )?"
                r"(?:appeared|published|posted) (?:first )?(?:on|in|at) .{0,160}$")),
    (("paru", "publie"),
     re.compile(r"\s*(?:cet article|l'article) (?:est )?(?:paru|publie) "
                r"(?:en premier |initialement )?(?:sur|dans) .{0,160}$")),
]  # fmt: skip
# Tails, run on the last characters only, as one alternation.
_TAIL_CHARS = 240
_TAILS = [
    (r"\s*(?:continue reading|read more|read the full (?:story|article)|lire la suite|lire plus|"
     r"en savoir plus|voir plus|plus d'infos|اقرا المزيد|اقرا ايضا|المزيد)\W{0,20}.{0,80}$"),
    r"\s*(?:\[\s*(?:\.\.\.|…)\s*\]|\(\s*(?:\.\.\.|…)\s*\)|\.\.\.|…)\s*$",
    rf"\s*[-(]\s*(?:{_WIRES})\s*\)?\s*$",  # "... said. - AFP"
    r"\s*(?:©|\(c\)|copyright\b).{0,160}$",
    r"\s*(?:all rights reserved|tous droits reserves|جميع الحقوق محفوظه)\W*$",
    r"\s*\(?(?:photo|image|credit|source|illustration)s?\s*:\s*[^()]{1,60}\)?\W*$",
]  # fmt: skip
_TAIL = re.compile("(?:" + "|".join(_TAILS) + ")")
# Literals each of _TAILS needs (see _tail_pattern), in the same order.
_TAIL_WORDS = ("continue reading", "read more", "read the full", "lire la suite", "lire plus",
               "en savoir plus", "voir plus", "plus d'infos", "اقرا ايضا", "المزيد")  # fmt: skip
_WIRE_NAMES = tuple(w.replace("\\", "") for w in _WIRES.split("|"))
_RIGHTS_WORDS = ("all rights reserved", "tous droits reserves", "جميع الحقوق محفوظه")
_CREDIT_WORDS = ("photo", "image", "credit", "source", "illustration")
_TAIL_SUBSETS: dict[tuple[bool, ...], re.Pattern[str]] = {}
_BODY_CHARS = 2000  # only the lead matters (BODY_WORDS), and regexes stay cheap


def neutral_title(title: str) -> str:
    """The folded title with outlet labels, suffixes and ellipses removed."""
    return _neutralise_title(plain_text(title))[0]


def _neutralise_title(t: str) -> tuple[str, bool]:
    """(neutral title, whether a pattern removed something). Each pattern runs only when the
    character it cannot match without is there (most titles have no label to strip)."""
    start = t
    for _ in range(3):
        before = t
        for needs, rx in _TITLE_PREFIX_GUARDED:
            if needs(t):
                t = rx.sub("", t, count=1)
        if t == before:
            break
    for needs, rx in _TITLE_SUFFIX_GUARDED:
        if needs(t):
            shorter = rx.sub("", t, count=1)
            if len(shorter) >= 12:  # never strip a title down to nothing
                t = shorter
    return fold(t), t != start


def _chars(cs: str) -> Callable[[str], bool]:
    search = re.compile(f"[{re.escape(cs)}]").search
    return lambda t: search(t) is not None


# What each title pattern cannot match without (same order as the patterns).
_TITLE_PREFIX_GUARDED = list(zip(
    [lambda t: t.lstrip()[:1] in ("[", "(", "【"), _chars(".:|!/-"), _chars("|"), _chars(".:!")],
    _TITLE_PREFIX, strict=True,
))  # fmt: skip
_TITLE_SUFFIX_GUARDED = list(zip(
    [lambda t: t.rstrip().endswith(("]", ")")), _chars("|·•-–—"),
     lambda t: t.rstrip().endswith(("...", "…"))],
    _TITLE_SUFFIX, strict=True,
))  # fmt: skip


def neutral_body(text: str) -> str:
    """Folded plain text with wire datelines, read-more tails and syndication footers removed."""
    b = fold(plain_text(text[: 4 * _BODY_CHARS]))
    if len(b) > _BODY_CHARS:
        b = b[:_BODY_CHARS]  # a full article: its footer is out of reach and out of interest
    else:
        b = strip_footer_text(b)
        for guards, rx in _FOOTERS:
            for g in guards:  # (a plain loop: any() over a generator costs more than the tests)
                if g in b:
                    b = rx.sub("", b, count=1)
                    break
        for _ in range(3):  # "... (Photo: AFP) Read more"
            head, tail = b[:-_TAIL_CHARS], b[-_TAIL_CHARS:]
            tail_rx = _tail_pattern(tail)
            if tail_rx is None:
                break
            shorter = tail_rx.sub("", tail, count=1)
            b = head + shorter
            if shorter == tail:
                break
    # A dateline needs its wire in brackets early on, or a dash or colon after it.
    paren, dash = "(" in b[:61], "-" in b or ":" in b
    for needs, rx in zip((paren, dash, dash), _BODY_HEAD):  # noqa: B905 (per item: no kwargs)
        if needs:
            shorter = rx.sub("", b, count=1)
            if shorter != b:
                b = shorter
                break
    return b


def _tail_pattern(tail: str) -> re.Pattern[str] | None:
    """The alternation of the tail patterns that can match ``tail`` (None: none can). Each
    pattern is anchored at the end and needs a literal that a few ``in`` tests look for, so the
    result equals ``_TAIL``'s at a fraction of its cost (a pattern is tried at every position
    of the tail, so each one left out saves a scan)."""
    end = tail.rstrip()
    wire = end[:-1].rstrip() if end.endswith(")") else end
    which = (
        any(w in tail for w in _TAIL_WORDS),
        end.endswith(("...", "…", "]", ")")),
        wire.endswith(_WIRE_NAMES),
        "©" in tail or "(c)" in tail or "copyright" in tail,
        any(w in tail for w in _RIGHTS_WORDS),
        ":" in tail and any(w in tail for w in _CREDIT_WORDS),
    )
    if not any(which):
        return None
    rx = _TAIL_SUBSETS.get(which)
    if rx is None:
        parts = [t for t, on in zip(_TAILS, which, strict=True) if on]
        rx = _TAIL_SUBSETS[which] = re.compile("(?:" + "|".join(parts) + ")")
    return rx
