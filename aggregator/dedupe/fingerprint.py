"""The matching form of an item (:class:`Fingerprint`) and the verification of a candidate pair.

A fingerprint keeps the neutralised title's words (its content words, numbers and day/month
names apart) and the first body words; :func:`same_story` decides on them whether two items
tell the same story. :func:`record` turns a fingerprint into one string, which is what crosses
from a worker process and what the store keeps, so a candidate is verified without re-reading
its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..text import fold
from ..text import strip_tags as plain_text
from .neutral import _neutralise_title, neutral_body

BODY_WORDS = 120  # body words compared at verification
_WORDS = re.compile(r"[^\W_]+").findall  # words of a folded text ("_" separates, like \W)
#: Day and month names (folded): like numbers, they tell recurring headlines apart.
_CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may "  # noqa: SIM905
    "june july august september october november december lundi mardi mercredi jeudi vendredi "
    "samedi dimanche janvier fevrier mars avril mai juin juillet aout septembre octobre novembre "
    "decembre الاثنين الثلاثاء الاربعاء الخميس الجمعه السبت الاحد يناير فبراير مارس ابريل مايو "
    "يونيو يوليو اغسطس سبتمبر اكتوبر نوفمبر ديسمبر".split()
)
_STOP = frozenset([
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "but", "is", "are", "was",
    "were", "be", "been", "by", "with", "from", "as", "that", "this", "it", "its", "he", "she",
    "they", "we", "you", "his", "her", "their", "our", "after", "over", "into", "about", "than",
    "more", "new", "says", "said", "will", "has", "have", "le", "la", "les", "l", "un", "une",
    "des", "de", "du", "d", "et", "ou", "en", "au", "aux", "a", "sur", "pour", "par", "dans",
    "que", "qui", "est", "sont", "ce", "cette", "ces", "il", "elle", "ils", "son", "sa", "ses",
    "leur", "leurs", "plus", "pas", "ne", "se", "s", "qu", "n", "y", "avec", "apres", "selon",
    "في", "من", "على", "الى", "عن", "مع", "ان", "او", "ما", "لا", "هذا", "هذه", "التي", "الذي",
    "و", "ب", "ل", "ال", "بعد", "قبل"
])  # fmt: skip


@dataclass(frozen=True)
class Fingerprint:
    """The matching form of an item's text."""

    title: tuple[str, ...]  # neutralised title words
    title_set: frozenset[str]  # content words of the title (no stop words, no 1-letter words)
    numbers: frozenset[str]  # title numbers, day and month names (dates, counts, scores)
    truncated: bool  # the title ends with an ellipsis (its last word may be cut)
    body: tuple[str, ...]  # first BODY_WORDS neutralised body words

    @cached_property
    def shingles(self) -> frozenset[str]:
        """Word 3-grams of ``body``: built on first use, as only fingerprints that are compared
        need them (an item's own, when it has candidates, and its candidates')."""
        return _shingles(self.body)

    @property
    def has_body(self) -> bool:
        return len(self.shingles) >= 4


def fingerprint(title: str, summary: str, content: str = "") -> Fingerprint:
    """Build the matching form; ``content`` is used when the summary is too short."""
    raw_title = plain_text(title)
    truncated = raw_title.endswith(("…", "..."))
    neutral, changed = _neutralise_title(raw_title)
    tw = whole = _WORDS(neutral)
    if truncated and len(tw) > 4 and not raw_title.rstrip(".…")[-1:].isspace():
        tw = tw[:-1]  # "... in robotaxi bat…": the last word is cut
    bw = _WORDS(neutral_body(summary))
    bw = _drop_title(bw, tw, raw_title, whole if not changed else None)
    if len(bw) < 12 and content:
        cw = _WORDS(neutral_body(content[:6000]))
        if len(cw) > len(bw):
            bw = cw
    return _make(tuple(tw), truncated, tuple(bw[:BODY_WORDS]))


def _make(tw: tuple[str, ...], truncated: bool, bw: tuple[str, ...]) -> Fingerprint:
    tset = frozenset(w for w in tw if (len(w) > 1 or w.isdigit()) and w not in _STOP)
    nums = frozenset(w for w in tw if w[0].isdigit() or w in _CALENDAR)
    return Fingerprint(tw, tset, nums, truncated, bw)


def record(fp: Fingerprint) -> str:
    """The fingerprint as one string (words have no blanks): what crosses from a worker process
    and what the store keeps per item, so a candidate is verified without re-reading and
    re-neutralising its text (one string unpickles and decodes far faster than a tuple of
    words)."""
    return f"{'1' if fp.truncated else '0'}{' '.join(fp.title)}\x1f{' '.join(fp.body)}"


def from_record(rec: str) -> Fingerprint:
    """The inverse of :func:`record`."""
    title, _, body = rec[1:].partition("\x1f")
    return _make(tuple(title.split()), rec[:1] == "1", tuple(body.split()))


def _drop_title(
    body: list[str], title: list[str], raw_title: str, raw_words: list[str] | None = None
) -> list[str]:
    """Feeds that repeat the title as the first sentence of the summary: drop it from the body.
    The body may skip a label or a place name the title starts with, so a few alignments are
    tried, of the neutralised title's words, then of the raw title's (``raw_words``, when the
    caller has them). An alignment needs the body's first word among the first three."""
    if not body:
        return body
    for words in (title, raw_words):
        if words is None:
            words = _WORDS(fold(raw_title))
        if body[0] not in words[:3]:
            continue
        for k in range(min(3, len(words))):
            want = words[k:]
            n = 0
            while n < len(want) and n < len(body) and body[n] == want[n]:
                n += 1
            if n >= 3 and n >= 0.8 * len(want):
                return body[n:]
    return body


def _shingles(ws: Sequence[str]) -> frozenset[str]:
    """Word 3-grams (zip and map: the loop runs in C)."""
    if len(ws) < 3:
        return frozenset([" ".join(ws)]) if ws else frozenset()
    return frozenset(map(" ".join, zip(ws, ws[1:], ws[2:])))  # noqa: B905 (lengths differ)


@dataclass(frozen=True)
class Similarity:
    title_containment: float  # |A ∩ B| / min(|A|, |B|) over title content words
    title_jaccard: float
    body_containment: float | None  # over body 3-grams; None when either body is too short
    same_numbers: bool  # the titles' numbers agree (or one title has none)


def similarity(a: Fingerprint, b: Fingerprint) -> Similarity:
    ta, tb = a.title_set, b.title_set
    inter = len(ta & tb)
    small = min(len(ta), len(tb))
    tc = inter / small if small else 0.0
    tj = inter / len(ta | tb) if ta or tb else 0.0
    bc = None
    if a.has_body and b.has_body:
        bc = len(a.shingles & b.shingles) / min(len(a.shingles), len(b.shingles))
    if a.truncated or b.truncated:  # a cut title keeps only some of the numbers
        same_numbers = a.numbers <= b.numbers or b.numbers <= a.numbers
    else:
        same_numbers = not a.numbers or not b.numbers or a.numbers == b.numbers
    return Similarity(tc, tj, bc, same_numbers)


def same_story(a: Fingerprint, b: Fingerprint) -> bool:
    """Verification of a candidate pair (thresholds documented in the report and tests).

    - both bodies present: the bodies must largely overlap (containment >= 0.5, so a
      first-sentence copy still matches) and the titles must agree (containment >= 0.5), or the
      bodies be near-identical and long with some title overlap (a retitled wire copy);
    - a body missing: titles the same (Jaccard 1, >= 3 content words), or one contained in the
      other (containment >= 0.9, >= 5 content words, and Jaccard >= 0.75 unless a title was cut
      with an ellipsis).
    Titles whose numbers disagree ("Monday 2 November" vs "Tuesday 3 November") need
    near-identical bodies.
    """
    s = similarity(a, b)
    if s.body_containment is not None:
        bc = s.body_containment
        if not s.same_numbers:
            return bc >= 0.9 and s.title_containment >= 0.5
        if bc >= 0.5 and s.title_containment >= 0.5:
            return True
        long_bodies = min(len(a.shingles), len(b.shingles)) >= 20
        return long_bodies and bc >= 0.8 and s.title_containment >= 0.25
    small = min(len(a.title_set), len(b.title_set))
    if not s.same_numbers or small < 3:
        return False
    if s.title_jaccard >= 0.999:
        return True
    cut = a.truncated or b.truncated
    return small >= 5 and s.title_containment >= 0.9 and (cut or s.title_jaccard >= 0.75)
