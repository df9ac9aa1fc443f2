"""One story, one cluster: exact keys and near-duplicate matching across outlets.

An item joins an existing cluster when (in this order)

1. another item (any source, any age) shares a URL key with it: the same canonical link, or a
   guid that is an http(s) URL whose canonical form is another item's link or guid URL (the
   item sharing most URL keys wins, then the earliest);
2. another item of the same source has the same guid;
3. a recent item (``window``, default 7 days of first-seen) of *another* source tells the same
   story: candidates come from an indexed table of keys (the neutralised title's first words,
   or the whole title when short; the body lead; MinHash LSH bands of the title words and of
   the body lead's word 3-grams), must share an exact key or two keys, then :func:`same_story`
   verifies each candidate on the actual text.

Outlet boilerplate is neutralised before any comparison: title labels ("VIDEO.", "Breaking:",
"[PHOTOS]"), outlet suffixes (" - Outlet", " | Outlet"), wire datelines ("Rabat, (MAP) -",
"LAGOS (Reuters) -"), read-more tails and WordPress footers ("The post ... appeared first on ...").

The representative of a cluster is the member with the fullest text: the first member, replaced
by a later one only when that one's plain text is at least 25 % longer (so a truncated aggregator
copy seen first gives way to the outlet's full summary, and the choice does not flap).

Keys are 63-bit integers from blake2b, so they are stable across processes and fit SQLite's
INTEGER. URL keys live in their own table (any age). Text keys (about 10 per item) are stored
packed in one row per item, with the item's fingerprint as one string (:func:`record`); the
:class:`Deduper` reads the window's rows into memory once and counts shared keys there (a dict
probe per key), so a new item costs one row, not an index entry per key, and a candidate is
verified from its record without re-reading its text. ``store.dedupe_prune`` drops the rows no
window reaches. A source's new items are clustered as one batch (:meth:`Deduper.assign_many`).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from hashlib import blake2b
from typing import Protocol

from .models import ParsedItem
from .normalize import canonical_url as _canonical_url
from .text import fold, strip_footer_text
from .text import strip_tags as plain_text

# ---- parameters (verification thresholds: see same_story) -------------------------------------

WINDOW = timedelta(days=7)
PRUNE_MARGIN = timedelta(days=7)  # text rows kept past the window (see Deduper.prune)
# LSH: a band matches with probability J**rows; a candidate needs MIN_BAND_HITS = 2 keys (or one
# exact key). From its title bands alone, a title at word Jaccard 0.8 is a candidate with
# P = 0.90 (0.38 at 0.6); body-lead 3-grams at 0.75 hit 2 of 3 bands with P = 0.59. The exact
# keys (the title's first words, or the whole title when short; the body lead) catch most copies,
# the bands the reworded ones. Every key is hashed, stored and probed per item, so there are
# few: 12 per item, where there were 24 (12 title bands x 4 rows, 8 body bands x 2) for the
# same recall on the case sets.
TITLE_BANDS, TITLE_ROWS = 6, 3
BODY_BANDS, BODY_ROWS = 3, 2
LEAD_WORDS = 30  # body words hashed into LSH bands
LEAD_KEY_WORDS = 12  # body words of the exact lead key
TITLE_PREFIX = 4  # title words of the exact title-prefix key
BODY_WORDS = 120  # body words compared at verification
MAX_CANDIDATES = 200  # verified per item at most (best-hit first)
MIN_BAND_HITS = 2  # a candidate shares an exact key or at least this many keys
REP_GAIN = 1.25  # a later member becomes representative when this much fuller

# ---- storage seam -----------------------------------------------------------------------------

#: ``(item_id, source, cluster_id, first_seen timestamp, text keys shared, exact keys shared)``
Candidate = tuple[int, str, int, float, int, int]


class ClusterIndex(Protocol):
    """What dedupe needs from storage (``store.Store`` implements it). Batch-shaped: a source's
    new items cost a handful of statements, not a handful per item."""

    def next_cluster_id(self) -> int: ...

    def dedupe_url_matches(self, keys: Sequence[int]) -> dict[int, list[tuple[int, int, float]]]:
        """URL key -> ``(item id, cluster id, first seen)`` of clustered items, any age."""
        ...

    def dedupe_window(self, since: datetime) -> Iterable[tuple[int, str, int, float, bytes]]:
        """``(item id, source, cluster id, first seen, packed text keys)`` of the clustered
        items first seen from ``since`` on."""
        ...

    def dedupe_records(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The :func:`record` of each item (those that have one)."""
        ...

    def dedupe_representatives(self, cluster_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        """cluster id -> ``(representative item id, summary, content lead)``."""
        ...

    def dedupe_write(
        self,
        new: Sequence[tuple[int, int]],
        joined: Sequence[int],
        reps: Sequence[tuple[int, int]],
        keys: Sequence[tuple[int, Sequence[int], bytes, str]],
        first_seen: datetime,
    ) -> None:
        """Store the decisions: new clusters, joined clusters, representatives, and per item
        ``(item id, URL keys, packed text keys, record)``."""
        ...

    def set_item_clusters(self, pairs: Sequence[tuple[int, int]]) -> None: ...

    def dedupe_prune(self, before: datetime) -> int:
        """Drop the text keys and records of the items first seen before ``before``."""
        ...


# ---- neutralising boilerplate -----------------------------------------------------------------

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
     re.compile(r"\s*(?:cet article|l'article) (?:est )?(?:paru|publie) (?:en premier |initialement )?"
                r"(?:sur|dans) .{0,160}$")),
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
_WORDS = re.compile(r"[^\W_]+").findall  # words of a folded text ("_" separates, like \W)
#: Day and month names (folded): like numbers, they tell recurring headlines apart.
_CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may "  # noqa: SIM905
    "june july august september october november december lundi mardi mercredi jeudi vendredi "
    "samedi dimanche janvier fevrier mars avril mai juin juillet aout septembre octobre novembre "
    "decembre الاثنين الثلاثاء الاربعاء الخميس الجمعه السبت الاحد يناير فبراير مارس ابريل مايو "
    "يونيو يوليو اغسطس سبتمبر اكتوبر نوفمبر ديسمبر".split()
)
_STOP = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "but", "is", "are", "was", "were", "be", "been", "by", "with", "from", "as", "that", "this", "it", "its", "he", "she", "they", "we", "you", "his", "her", "their", "our", "after", "over", "into", "about", "than", "more", "new", "says", "said", "will", "has", "have", "le", "la", "les", "l", "un", "une", "des", "de", "du", "d", "et", "ou", "en", "au", "aux", "a", "sur", "pour", "par", "dans", "que", "qui", "est", "sont", "ce", "cette", "ces", "il", "elle", "ils", "son", "sa", "ses", "leur", "leurs", "plus", "pas", "ne", "se", "s", "qu", "n", "y", "avec", "apres", "selon", "في", "من", "على", "الى", "عن", "مع", "ان", "او", "ما", "لا", "هذا", "هذه", "التي", "الذي", "و", "ب", "ل", "ال", "بعد", "قبل"]
)  # fmt: skip


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
    _TITLE_PREFIX,
))  # fmt: skip
_TITLE_SUFFIX_GUARDED = list(zip(
    [lambda t: t.rstrip().endswith(("]", ")")), _chars("|·•-–—"),
     lambda t: t.rstrip().endswith(("...", "…"))],
    _TITLE_SUFFIX,
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
            rx = _tail_pattern(tail)
            if rx is None:
                break
            shorter = rx.sub("", tail, count=1)
            b = head + shorter
            if shorter == tail:
                break
    # A dateline needs its wire in brackets early on, or a dash or colon after it.
    paren, dash = "(" in b[:61], "-" in b or ":" in b
    for needs, rx in zip((paren, dash, dash), _BODY_HEAD):
        if needs:
            shorter = rx.sub("", b, count=1)
            if shorter != b:
                b = shorter
                break
    return b


def _tail_pattern(tail: str) -> re.Pattern[str] | None:
    """The alternation of the tail patterns that can match ``tail`` (None: none can). Each
    pattern is anchored at the end and needs a literal that a few ``in`` tests look for, so the
    result equals ``_TAIL``'s at a fraction of its cost (one pattern tried at every position of
    240 characters costs microseconds; all six, tens of them)."""
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
        parts = [t for t, on in zip(_TAILS, which) if on]
        rx = _TAIL_SUBSETS[which] = re.compile("(?:" + "|".join(parts) + ")")
    return rx


# ---- fingerprints and verification ------------------------------------------------------------


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
    re-neutralising its text (one string unpickles and decodes in microseconds; the words as a
    tuple cost tens)."""
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
    return frozenset(map(" ".join, zip(ws, ws[1:], ws[2:])))


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


# ---- keys -------------------------------------------------------------------------------------


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def _key(namespace: str, text: str) -> int:
    """A stable signed 63-bit key (fits SQLite INTEGER)."""
    return _h64(namespace + "\x1f" + text) >> 1


def _minhash(elements: Iterable[str], n: int, cache: dict[str, tuple[int, ...]] | None = None
             ) -> list[int]:  # fmt: skip
    """``n`` MinHash values: the i-th is the minimum over the elements of the i-th 32-bit word
    of the elements' blake2b digests (one digest per element for n <= 16; hashing and the
    column minima run in C)."""
    if cache is None and n <= 16:
        unpack = _UINT32[n].unpack
        rows = [unpack(blake2b(e.encode(), digest_size=4 * n).digest()) for e in elements]
    elif cache is None:
        rows = [_hash_words(e, n) for e in elements]
    else:
        if len(cache) > 50_000:
            cache.clear()
        rows = [cache.get(e) or cache.setdefault(e, _hash_words(e, n)) for e in elements]
    return list(map(min, zip(*rows)))


def _hash_words(e: str, n: int) -> tuple[int, ...]:
    data = e.encode()
    if n <= 16:
        return _UINT32[n].unpack(blake2b(data, digest_size=4 * n).digest())
    out: tuple[int, ...] = ()
    for r in range(0, n, 16):
        m = min(16, n - r)
        out += _UINT32[m].unpack(blake2b(data, digest_size=4 * m, salt=bytes([r])).digest())
    return out


def _band_keys(salts: Sequence[int], sig: Sequence[int], rows: int) -> list[int]:
    """One key per band of ``rows`` signature values: their low bits packed into 63 bits (exact:
    two bands collide only if their values do), XORed with the band's own salt."""
    bits = 63 // rows
    mask = (1 << bits) - 1
    out = []
    for j, salt in enumerate(salts):
        k = 0
        for v in sig[j * rows : (j + 1) * rows]:
            k = (k << bits) | (v & mask)
        out.append(k ^ salt)
    return out


def _salts(ns: str, n: int) -> list[int]:
    return [_key("band", f"{ns}{j}") for j in range(n)]


def url_key(canonical: str) -> int | None:
    """The key of one canonical URL (None for a home page or bare section: never an identity)."""
    return _key("url", canonical) if _useful_url(canonical) else None


def url_keys(canonical: str | None, guid: str | None, link: str | None = None) -> list[int]:
    """Keys of an item's URLs: its canonical link and a guid that is itself an article URL.
    ``link`` (the raw link ``canonical`` was made from) spares canonicalising an equal guid."""
    out = []
    if canonical and _useful_url(canonical):
        out.append(_key("url", canonical))
    g = None
    if guid and guid.lstrip().lower().startswith("http"):
        g = canonical if link is not None and guid.strip() == link.strip() else _canonical_url(guid)
    if g and g != canonical and _useful_url(g):
        out.append(_key("url", g))
    return out


def _useful_url(url: str) -> bool:
    """A home page or a bare section is shared by unrelated items: never an identity."""
    path = url.split("://", 1)[-1].partition("/")[2].partition("?")
    return bool(path[0].strip("/")) or bool(path[2])


def text_keys(fp: Fingerprint) -> tuple[list[int], list[int]]:
    """(exact keys, LSH band keys): the neutralised title, its first words and the body lead;
    then bands of the title words' and the body lead's MinHash signatures."""
    exact: list[int] = []
    if len(fp.title_set) >= 3 and len(fp.title) <= TITLE_PREFIX:  # else the prefix says it
        exact.append(_key("title", " ".join(fp.title)))
    if len(fp.title) > TITLE_PREFIX:  # survives truncation and suffixes; equal long titles too
        exact.append(_key("tprefix", " ".join(fp.title[:TITLE_PREFIX])))
    if len(fp.body) >= LEAD_KEY_WORDS:
        exact.append(_key("lead", " ".join(fp.body[:LEAD_KEY_WORDS])))
    bands: list[int] = []
    if len(fp.title_set) >= 3 and TITLE_BANDS:
        sig = _minhash(fp.title_set, TITLE_BANDS * TITLE_ROWS, _TITLE_HASHES)
        bands += _band_keys(_TITLE_SALTS, sig, TITLE_ROWS)
    lead = fp.body[:LEAD_WORDS]
    if len(lead) >= 6 and BODY_BANDS:  # at least 4 3-grams
        grams = set(map(" ".join, zip(lead, lead[1:], lead[2:])))
        if len(grams) >= 4:
            bands += _band_keys(_BODY_SALTS, _minhash(grams, BODY_BANDS * BODY_ROWS), BODY_ROWS)
    return exact, bands


_UINT32 = {n: struct.Struct(f">{n}I") for n in range(1, 17)}
_TITLE_HASHES: dict[str, tuple[int, ...]] = {}  # title words recur: their hashes are kept
_TITLE_SALTS = _salts("t", TITLE_BANDS)
_BODY_SALTS = _salts("b", BODY_BANDS)


# ---- the stage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """Everything ``assign`` computes from the item alone (no storage): made by :func:`prepare`,
    possibly in a worker process (it pickles), and handed to ``Deduper.assign_many``. The
    fingerprint travels as its :func:`record`, one string."""

    canonical_url: str | None
    url_keys: tuple[int, ...]
    record: str
    exact_keys: tuple[int, ...]
    band_keys: tuple[int, ...]


def prepare(parsed: ParsedItem, canonical_url: str | None) -> Prepared:
    """The pure, CPU-bound half of :meth:`Deduper.assign`."""
    fp = fingerprint(parsed.title, parsed.summary, parsed.content)
    exact, bands = text_keys(fp)
    return Prepared(
        canonical_url,
        tuple(url_keys(canonical_url, parsed.guid, parsed.link)),
        record(fp),
        tuple(exact),
        tuple(bands),
    )


def text_record(title: str, summary: str, content: str = "") -> tuple[bytes, str]:
    """``(packed text keys, record)`` of a stored item's text (the store's migration uses it)."""
    fp = fingerprint(title, summary, content)
    exact, bands = text_keys(fp)
    return pack_keys((*exact, *bands)), record(fp)


def pack_keys(keys: Iterable[int]) -> bytes:
    """Text keys as the store keeps them: little-endian 64-bit integers, no repeats."""
    return _pack(tuple(dict.fromkeys(keys)))


def _pack(keys: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(keys)}q", *keys)


def unpack_keys(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 8}q", data)


class _Window:
    """The text keys of the recent items, in memory: key -> the items that have it. Loaded once
    from the store (one range scan of packed keys) and kept up to date as items are assigned,
    so a candidate lookup is a few dict probes instead of index seeks, and a new item's keys
    cost one row instead of one index entry each."""

    def __init__(self, since: float):
        self.since = since  # items first seen from here on are all here
        self.items: dict[int, tuple[str, int, float]] = {}  # id -> (source, cluster, seen)
        self.postings: dict[int, int | list[int]] = {}  # an int until a second item shares it

    def add(
        self, item_id: int, source: str, cluster: int, seen: float, keys: Iterable[int]
    ) -> None:
        self.items[item_id] = (source, cluster, seen)
        postings = self.postings
        for k in keys:
            p = postings.get(k)
            if p is None:
                postings[k] = item_id
            elif type(p) is int:
                postings[k] = [p, item_id]
            else:
                p.append(item_id)

    def candidates(
        self, exact: Sequence[int], bands: Sequence[int], since: float, until: float
    ) -> list[Candidate]:
        """Items first seen in [since, until] sharing an exact key or MIN_BAND_HITS keys."""
        hits: list[int] = []
        self._gather(exact, hits)
        exacts = Counter(hits) if hits else {}
        self._gather(bands, hits)
        if not hits:
            return []
        out = []
        items = self.items
        for iid, n in Counter(hits).items():  # counted in C
            e = exacts.get(iid, 0)
            if e or n >= MIN_BAND_HITS:
                src, cid, seen = items[iid]
                if since <= seen <= until:
                    out.append((iid, src, cid, seen, n, e))
        return out

    def _gather(self, keys: Sequence[int], out: list[int]) -> None:
        """Append the items that have each key (once per key they share)."""
        postings = self.postings
        for k in keys:
            p = postings.get(k)
            if type(p) is int:
                out.append(p)
            elif p is not None:
                out.extend(p)


class Deduper:
    """Assigns new items to story clusters, a source's new items at a time. Holds the window's
    text keys in memory (see :class:`_Window`; :meth:`forget` drops them, so they are read
    again from the store) and the records of the last ``cache`` items it assigned or verified
    (candidates are mostly recent items)."""

    def __init__(self, index: ClusterIndex, window: timedelta = WINDOW, cache: int = 4096):
        self.index = index
        self.window = window
        self._cache = cache
        self._fps: OrderedDict[int, Fingerprint | str] = OrderedDict()  # str: not decoded yet
        self._win: _Window | None = None

    def assign(
        self,
        item_id: int,
        source: str,
        parsed: ParsedItem,
        canonical_url: str | None,
        first_seen: datetime,
        prepared: Prepared | None = None,
    ) -> int:
        """Put item ``item_id``, already stored without a cluster, in a cluster; return its id.
        ``prepared`` (from :func:`prepare` with the same ``canonical_url``) saves the text work."""
        prep = prepared if prepared is not None else prepare(parsed, canonical_url)
        [cluster] = self.assign_many(source, [(item_id, parsed, prep)], first_seen)
        self.index.set_item_clusters([(item_id, cluster)])
        return cluster

    def assign_many(
        self,
        source: str,
        items: Sequence[tuple[int, ParsedItem, Prepared]],
        first_seen: datetime,
    ) -> list[int]:
        """Cluster ``(item id, parsed, prepared)``, new items of ``source`` first seen at
        ``first_seen``, in order (an item may join the cluster of an earlier one), and write
        the clusters and keys. Returns the cluster ids; the caller stores them on the items
        (``store.insert_items(clusters=)``, or ``set_item_clusters`` for items already there).
        If the caller's transaction fails, it must call :meth:`forget`.

        Rule 2 (same guid in the source) needs no lookup: an item with a guid is keyed by it
        (normalize.item_key, UNIQUE per source), so a same-guid item is this very item,
        updated in place (``store.dedupe_guid_cluster`` stays for callers with other keys)."""
        if not items:
            return []
        idx = self.index
        since, until = (first_seen - self.window).timestamp(), first_seen.timestamp()
        win = self._window(since)
        url_all = list(dict.fromkeys(k for _, _, p in items for k in p.url_keys))
        by_url = idx.dedupe_url_matches(url_all) if url_all else {}
        next_cluster = idx.next_cluster_id()
        batch_urls: dict[int, list[tuple[int, int, float]]] = {}
        out: list[int] = []
        new: list[tuple[int, int]] = []
        created: dict[int, ParsedItem] = {}
        joined: list[tuple[int, int, ParsedItem]] = []
        for item_id, parsed, prep in items:
            cluster = _by_url(prep.url_keys, by_url, batch_urls)
            if cluster is None:
                cands = win.candidates(prep.exact_keys, prep.band_keys, since, until)
                if cands:
                    cluster = self._match(from_record(prep.record), cands, source)
            if cluster is None:
                cluster, next_cluster = next_cluster, next_cluster + 1
                new.append((cluster, item_id))
                created[cluster] = parsed
            else:
                joined.append((cluster, item_id, parsed))
            for k in prep.url_keys:
                batch_urls.setdefault(k, []).append((item_id, cluster, until))
            out.append(cluster)
        reps = self._representatives(joined, created)
        rows = []
        for (item_id, _, prep), cluster in zip(items, out):
            keys = tuple(dict.fromkeys((*prep.exact_keys, *prep.band_keys)))
            rows.append((item_id, prep.url_keys, _pack(keys), prep.record))
            win.add(item_id, source, cluster, until, keys)
            self._remember(item_id, prep.record)
        idx.dedupe_write(new, [c for c, _, _ in joined], reps, rows, first_seen)
        return out

    def forget(self) -> None:
        """Drop the in-memory window (read again on the next assignment): after a failed
        transaction, or when another process may have written the store."""
        self._win = None

    def prune(self, now: datetime) -> int:
        """Drop the text keys no lookup from ``now`` on can reach (a week of margin past the
        window): the key table stays the size of the window, not of the store."""
        self.forget()
        return self.index.dedupe_prune(now - self.window - PRUNE_MARGIN)

    def _window(self, since: float) -> _Window:
        if self._win is None or since < self._win.since:
            if self._win is not None:  # items out of time order: reach a window further back,
                since -= self.window.total_seconds()  # so going back costs a reload per window
            win = _Window(since)
            for iid, src, cid, seen, packed in self.index.dedupe_window(
                datetime.fromtimestamp(since, UTC)
            ):
                win.add(iid, src, cid, seen, unpack_keys(packed))
            self._win = win
        return self._win

    def _remember(self, item_id: int, fp: Fingerprint | str) -> None:
        self._fps[item_id] = fp
        if len(self._fps) > self._cache:
            self._fps.popitem(last=False)

    def _match(self, fp: Fingerprint, found: Sequence[Candidate], source: str) -> int | None:
        """The cluster of the best verified candidate of another source, if any (candidates
        share an exact key or MIN_BAND_HITS keys; most shared first, then earliest)."""
        cands = sorted((-c[4], c[3], c[0], c[2]) for c in found if c[1] != source)[:MAX_CANDIDATES]
        if not cands:
            return None
        got = {c[2]: self._fps.get(c[2]) for c in cands}  # taken now: _remember evicts
        missing = [cid for cid, v in got.items() if v is None]
        if missing:
            got.update(self.index.dedupe_records(missing))
        best: tuple[float, int] | None = None
        for _hits, _seen, cid, ccluster in cands:
            other = got.get(cid)
            if other is None:  # no record (an item clustered before records were kept)
                continue
            if isinstance(other, str):
                other = got[cid] = from_record(other)
                self._remember(cid, other)
            if not same_story(fp, other):
                continue
            s = similarity(fp, other)
            score = (s.body_containment or 0.0) + s.title_containment
            if best is None or score > best[0]:
                best = (score, ccluster)
        return None if best is None else best[1]

    def _representatives(
        self, joined: Sequence[tuple[int, int, ParsedItem]], created: dict[int, ParsedItem]
    ) -> list[tuple[int, int]]:
        """Representative changes for the joins, in order: a member replaces the current
        representative when its text is REP_GAIN times fuller (``created``: the clusters this
        batch made, with their first member)."""
        if not joined:
            return []
        stored = list(dict.fromkeys(c for c, _, _ in joined if c not in created))
        reps = self.index.dedupe_representatives(stored) if stored else {}
        current = {c: _fullness(s, t) for c, (_, s, t) in reps.items()}
        for c in dict.fromkeys(c for c, _, _ in joined if c in created):
            current[c] = _fullness(created[c].summary, created[c].content)
        changes: list[tuple[int, int]] = []
        for cluster, item_id, parsed in joined:
            mine = _fullness(parsed.summary, parsed.content)
            rep = current.get(cluster)
            if rep is None or mine >= REP_GAIN * max(1, rep):
                changes.append((cluster, item_id))
                current[cluster] = mine
        return changes


def _by_url(
    keys: Sequence[int],
    stored: dict[int, list[tuple[int, int, float]]],
    batch: dict[int, list[tuple[int, int, float]]],
) -> int | None:
    """The cluster of the item sharing the most URL keys (its canonical link, a guid URL), then
    the earliest, among stored items and earlier items of the batch."""
    shared: dict[int, list] = {}
    for k in keys:
        for iid, cid, seen in (*stored.get(k, ()), *batch.get(k, ())):
            e = shared.setdefault(iid, [0, seen, iid, cid])
            e[0] -= 1
    return min(shared.values())[3] if shared else None


def _fullness(summary: str, content: str) -> int:
    return max(len(plain_text(summary)), len(plain_text(content[:20000])))


__all__ = [
    "PRUNE_MARGIN",
    "WINDOW",
    "ClusterIndex",
    "Deduper",
    "Fingerprint",
    "Prepared",
    "Similarity",
    "fingerprint",
    "from_record",
    "neutral_body",
    "neutral_title",
    "prepare",
    "record",
    "same_story",
    "similarity",
    "text_keys",
    "text_record",
    "url_key",
    "url_keys",
]  # fmt: skip
