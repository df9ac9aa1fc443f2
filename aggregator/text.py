"""Text rules, one owner each: invisible characters, folding, plain text, scripts and direction,
feed boilerplate.

Every stage that reads or shows text uses these, so a title is folded the same way by dedupe and
tagging, shown the same way on the page and in the email, and given one direction everywhere.
``tests/test_architecture.py`` fails if another module defines its own copy again.

Two kinds of text:

- *shown* text (titles, excerpts): ``plain_text`` / ``excerpt`` / ``display_excerpt`` (which
  leaves out a photo caption sent as the summary), safe for any input (nh3 drops markup,
  invisible and control characters go), never folded;
- *matching* text (dedupe keys, tag lookup): ``fold`` (case-folded, accents and Arabic letter
  variants merged) and ``fold_keep_case`` (the same table, case and positions kept, for the
  tagger that quotes the original words). ``strip_tags`` is the cheap tag-stripper for text that
  was sanitised already.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

import nh3

# ---- invisible characters ------------------------------------------------------------------

#: Removed from all text: C0/C1 controls (tab, CR, LF kept), zero-width space, bidi embeddings,
#: overrides and isolates, word joiner and invisible operators, stray BOMs, and what XML cannot
#: carry (U+FFFE, U+FFFF, lone surrogates). Kept: ZWJ/ZWNJ (emoji, Persian and Arabic shaping)
#: and the weak marks LRM/RLM/ALM, which cannot reorder text.
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]"
)
#: Characters that would split or disguise a one-line header: line/paragraph separators and
#: bidi embeddings, overrides and isolates.
_HEADER_UNSAFE = frozenset(
    {"\u2028", "\u2029", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
)


def clean_chars(text: str) -> str:
    """``text`` without the ``INVISIBLE`` characters."""
    if not text or text.isprintable():  # every INVISIBLE character is non-printable
        return text or ""
    return INVISIBLE.sub("", text)


def one_line(value: str, limit: int | None = None) -> str:
    """One line of text safe for a mail header or a list: controls, separators and bidi
    overrides become spaces, whitespace collapsed, cut at ``limit`` with an ellipsis."""
    if not value.isprintable() or any(ch in _HEADER_UNSAFE for ch in value):
        value = "".join(
            " " if ch in _HEADER_UNSAFE or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
            else ch
            for ch in value
        )  # fmt: skip
    text = " ".join(value.split())
    return cut(text, limit) if limit is not None else text


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last being an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- plain text from HTML ------------------------------------------------------------------

#: Elements whose text is never shown (dropped with their content).
HIDDEN_ELEMENTS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "svg", "math", "noscript", "template", "textarea", "select", "button", "audio", "video",
        "canvas", "head", "title", "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(), clean_content_tags=set(HIDDEN_ELEMENTS), attributes={}, strip_comments=True
)
_TAG_SHAPED = re.compile(r"<[a-zA-Z/!?]")
#: Tags that end a word: "end.</p><p>Next" is "end. Next", not "end.Next".
_BREAKS = re.compile(
    r"<(?:br|hr|img|/?(?:p|div|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|blockquote|figure|figcaption"
    r"|section|article|aside|header|footer|pre|table))\b[^>]*>",
    re.IGNORECASE,
)


def plain_text(html_or_text: str, max_chars: int | None = None) -> str:
    """What a reader sees of an HTML or plain-text fragment, on one line: hidden elements
    dropped with their text, block ends made spaces, tags stripped, entities decoded once,
    invisible characters removed, whitespace collapsed, cut at ``max_chars`` (None: no cut).

    Safe for any input: double-escaped markup ("&amp;lt;script&amp;gt;") decodes to tag-shaped
    text, which is stripped once more (readers that render titles as HTML would run it)."""
    if not html_or_text:
        return ""
    text = html_or_text
    if "<" in text or "&" in text:
        if "<" in text:
            text = _BREAKS.sub(" ", text)
        # Invisible characters go before each markup pass, not only at the end: "<\u200b?" must
        # not become "<?" (markup) in the output, or a second pass would change it again.
        text = clean_chars(_html.unescape(_TEXT_CLEANER.clean(clean_chars(text))))
        if _TAG_SHAPED.search(text):
            text = _html.unescape(_TEXT_CLEANER.clean(text.replace("&", "&amp;")))
    text = " ".join(clean_chars(text).split())
    if max_chars is not None:
        text = cut(text, max_chars)
    return text


def excerpt(fragment: str, limit: int) -> str:
    """A short plain-text excerpt of an HTML fragment, cut at a word boundary when one is near."""
    text = plain_text(fragment)
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    if space > limit * 0.6:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"


# ---- photo captions taken as summaries ---------------------------------------------------------

# Some feeds send the lead photo's caption as the summary: Rest of World's <description> is "An
# Iranian flag hangs on a wall ... (Photo by Morteza Nikoubazl/NurPhoto via Getty Images)", or
# "... Photographer: Krisztian Bocsi/Bloomberg via Getty Images". A credit at the end marks the
# text before it as a caption; one alone ("Photo: AFP", "© Reuters", "الصورة: ...") is only a
# credit; one in brackets at the start ("(Crédit photo : AFP) Le président...") is cut off.
_CREDIT_WORD = (
    r"(?:photo(?:graph(?:er|ie|e)?)?s?|images?|illustrations?|pictures?|cr[ée]dits?\s+photos?"
    r"|photo\s+credits?|source\s+photo|الصورة|صورة|مصدر\s+الصورة|تصوير)"
)
#: A credit starts the text or a sentence, or follows an opening bracket or a dash.
_CREDIT_START = r"(?:^|(?<=[.!?»\"”)\]|–—-])\s+)"
_CAPTION_TAIL = re.compile(
    r"(?:[(\[]\s*(?:photo|image|picture)s?\s+(?:by|de|par)\s[^()\[\]]{1,120}[)\]]"  # (Photo by X)
    r"|[(\[]\s*(?:cr[ée]dits?|credits?)\s*:\s*[^:()\[\]]{1,120}[)\]]"  # (Crédit : X)
    rf"|{_CREDIT_START}[(\[]?\s*{_CREDIT_WORD}\s*:\s*[^:()\[\]]{{1,120}}[)\]]?"  # Photo: X
    rf"|{_CREDIT_START}[(\[]?\s*©\s*[^©()\[\]]{{1,80}}[)\]]?"  # © Reuters
    r"|\bvia\s+getty\s+images"
    r")\s*\.?\s*$",
    re.IGNORECASE,
)
_CAPTION_HEAD = re.compile(
    rf"^\s*[(\[]\s*(?:(?:{_CREDIT_WORD}|cr[ée]dits?|credits?)\s*:?|©)\s*[^()\[\]]{{1,80}}"
    r"[)\]]\s*[-–—:|]?\s*",
    re.IGNORECASE,
)
#: Longer than this, a summary ending with a credit is a text, not a caption: only the credit goes.
CAPTION_MAX = 400


def strip_caption(text: str) -> str:
    """Plain ``text`` without a photo caption or credit: "" when it is a caption (it ends with a
    credit) or only a credit; a credit in brackets at its start is cut off."""
    text = _CAPTION_HEAD.sub("", text, count=1)
    m = _CAPTION_TAIL.search(text, max(0, len(text) - 300))
    if m is None:
        return text
    if len(text) > CAPTION_MAX:
        return text[: m.start()].rstrip()
    return ""


def display_excerpt(summary: str, content: str, limit: int) -> str:
    """The excerpt readers are shown of an item: its summary (HTML) as plain text without a photo
    caption or credit, else its content's; cut like ``excerpt``. Matching (tags, dedupe) still
    reads the whole summary."""
    for fragment in (summary, content):
        text = strip_caption(plain_text(fragment)) if fragment else ""
        if text:
            return excerpt(text, limit)
    return ""


_TAG = re.compile(r"<[^>]*>")


def strip_tags(markup: str) -> str:
    """Text of already-sanitised HTML for *matching* (dedupe): tags dropped, entities decoded
    (twice, for double-escaped feeds), whitespace collapsed. Cheap: no parser. Not for display
    (use ``plain_text``)."""
    if not markup:
        return ""
    text = _TAG.sub(" ", markup) if "<" in markup else markup
    if "&" in text:
        text = _html.unescape(_html.unescape(text))
        if "<" in text:
            text = _TAG.sub(" ", text)
    return " ".join(text.split())


# ---- folding -------------------------------------------------------------------------------

#: One character for one character: Latin letters to their ASCII base (case kept), typographic
#: quotes, apostrophes, dashes and spaces to ASCII, Arabic letter variants to their base letter
#: (alef/hamza forms to bare alef, alef maqsura and Farsi yeh to ya, ta marbuta to ha),
#: Arabic punctuation and digits to ASCII.
ONE_TO_ONE: dict[int, str] = {}
for _cp in range(0xC0, 0x250):
    _ch = chr(_cp)
    _base = unicodedata.normalize("NFD", _ch)[0]
    if _base != _ch and _base.isascii() and _base.isalpha():
        ONE_TO_ONE[_cp] = _base
for _src, _dst in {
    "’‘‚‛′ʼʻ`´ʹ＇": "'",
    "“”„‟″«»‹›": '"',
    "‐‑‒–—―−⸺⸻﹘﹣－": "-",
    "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f"
    "\u3000\t\n\r\f\v": " ",
    "أإآٱٲٳ": "ا",
    "ىیےئ": "ي",
    "ةۀہ": "ه",
    "ؤ": "و",
    "ک": "ك",
    "٫": ".",
    "٬،": ",",
    "؛": ";",
    "؟": "?",
}.items():
    for _c in _src:
        ONE_TO_ONE[ord(_c)] = _dst
ONE_TO_ONE.update(
    {ord(c): d for c, d in zip("øØłŁđĐı", "oOlLdDi", strict=True)}
    | {0x0660 + i: str(i) for i in range(10)}  # Arabic-Indic digits
    | {0x06F0 + i: str(i) for i in range(10)}  # Eastern Arabic-Indic digits
)
#: One character for several: ligatures and sharp s spelled out.
EXPANSIONS: dict[int, str] = {
    ord("œ"): "oe", ord("Œ"): "OE", ord("æ"): "ae", ord("Æ"): "AE", ord("ß"): "ss",
    ord("ẞ"): "SS", ord("…"): "...",
}  # fmt: skip
#: Dropped: tatweel, Arabic diacritics (harakat, shadda, sukun, superscript alef, Quranic marks),
#: Latin combining marks, soft hyphen, zero-width and bidi marks.
_DROPPED_RANGES = (
    (0x0640, 0x0640), (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06ED), (0x0300, 0x036F),
    (0x00AD, 0x00AD), (0x200B, 0x200F), (0x2060, 0x2060), (0xFEFF, 0xFEFF), (0x061C, 0x061C),
    (0x202A, 0x202E), (0x2066, 0x2069),
)  # fmt: skip
DROPPED = "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in _DROPPED_RANGES)
_POSITION_WORK = re.compile(f"[{DROPPED}" + "".join(map(chr, EXPANSIONS)) + "]")
# Its Latin-1 members: on Latin-1 text a few single-character searches (memchr) replace the
# regex's search, which tests each character against the wide class.
_POSITION_WORK_LATIN1 = tuple(chr(c) for c in range(0x80, 0x100) if _POSITION_WORK.match(chr(c)))

_FULL: dict[int, str | None] = {**ONE_TO_ONE, **EXPANSIONS}
_FULL.update({cp: None for a, b in _DROPPED_RANGES for cp in range(a, b + 1)})
_FOLD_TABLE = str.maketrans(_FULL)
_KEEP_CASE_TABLE = str.maketrans(ONE_TO_ONE)
# After NFKD: the table again (NFKD makes some of its keys) plus every combining mark (Mn) of the
# BMP dropped, in one translate. Marks beyond the BMP (rare) go through a per-character check.
_MARK_TABLE = dict(_FOLD_TABLE)
_MARK_TABLE.update(
    {cp: None for cp in range(0x300, 0x10000) if unicodedata.category(chr(cp)) == "Mn"}
)
#: Variants of each folded lower-case letter (e -> {e, é, è, ê, ë...}): the tagger matches
#: unfolded text with these classes instead of folding every text.
VARIANTS: dict[str, set[str]] = {}
for _cp, _dst in ONE_TO_ONE.items():
    _low = chr(_cp).lower()
    if len(_low) == 1 and len(_dst) == 1:
        VARIANTS.setdefault(_dst.lower(), {_dst.lower()}).add(_low)
#: Folded form of each whitespace-free token seen (news vocabulary repeats: mostly dict hits).
_TOKENS: dict[str, str] = {}
_TOKENS_MAX = 100_000


def fold(text: str) -> str:
    """Matching form of a French, English or Arabic text: entities decoded, case folded, the
    tables above applied, compatibility forms decomposed (NFKD) and every combining mark dropped,
    whitespace collapsed. "Straße" and "STRASSE" fold alike, so do "Œuvre" and "oeuvre"."""
    if not text:
        return ""
    if "&" in text:
        text = _html.unescape(_html.unescape(text))
    if text.isascii():  # the tables' only ASCII keys are the backtick and blanks
        return " ".join(text.replace("`", "'").lower().split())
    cache = _TOKENS
    if len(cache) > _TOKENS_MAX:
        cache.clear()
    get = cache.get  # a token folding to "" is folded again: same result
    folded = [get(t) or _fold_token(t) for t in text.split()]
    return " ".join(filter(None, folded))


def _fold_token(token: str) -> str:
    text = unicodedata.normalize("NFKD", token.translate(_FOLD_TABLE))
    if text and max(text) > "\uffff":
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        text = text.translate(_FOLD_TABLE)
    else:
        text = text.translate(_MARK_TABLE)
    out = _TOKENS[token] = " ".join(text.casefold().split())
    return out


# The Latin-1 part of the table as bytes: every Latin-1 character folds to one Latin-1
# character (checked here), so Latin-1 text folds by ``bytes.translate``, several times
# cheaper than ``str.translate``'s per-character lookups. Typographic characters that texts
# use most, folding into ASCII (``WIDE_COMMON``), are replaced first so that text takes that
# path too (the tagger's matcher does the same before its scan).
_KEEP_CASE_LATIN1 = bytes(ord(ONE_TO_ONE.get(cp, chr(cp))) for cp in range(256))
#: (character, its fold) for the typographic characters above Latin-1 that texts use most.
WIDE_COMMON = tuple((c, ONE_TO_ONE[ord(c)]) for c in "’‘“”–—\u202f")
if not all(ord(ONE_TO_ONE.get(cp, chr(cp))) < 256 for cp in range(256)) or not all(
    d.isascii() and ONE_TO_ONE.get(ord(d), d) == d for _, d in WIDE_COMMON
):
    raise AssertionError("the Latin-1 fold table does not stay within Latin-1")


def fold_keep_case(text: str) -> tuple[str, list[int] | None]:
    """``fold`` without the case folding, the NFKD step and the whitespace collapsing, for
    a matcher that must quote the original: the folded text and, when characters were dropped
    or expanded, the map from its positions to positions in ``text`` (else None: identity)."""
    if text.isascii():  # nothing to fold but the odd backquote
        return (text.replace("`", "'") if "`" in text else text), None
    narrow = text.encode("latin-1", "ignore")
    if len(narrow) != len(text):
        for c, d in WIDE_COMMON:
            if c in text:
                text = text.replace(c, d)
        narrow = text.encode("latin-1", "ignore")
        if len(narrow) != len(text):
            return drop_marks(text.translate(_KEEP_CASE_TABLE))
    return drop_marks(narrow.translate(_KEEP_CASE_LATIN1).decode("latin-1"))


_LOWER_LATIN1 = bytes(ord(chr(cp).lower()) for cp in range(256))  # (ValueError if not)


def lower(text: str) -> str:
    """``text.lower()``: Latin-1 text by a byte table (every Latin-1 character lowers to one
    Latin-1 character, checked here), several times cheaper than ``str.lower``."""
    if text.isascii():
        return text.lower()
    try:
        narrow = text.encode("latin-1")
    except UnicodeEncodeError:
        return text.lower()
    return narrow.translate(_LOWER_LATIN1).decode("latin-1")


def drop_marks(text: str) -> tuple[str, list[int] | None]:
    """``text`` with the ``DROPPED`` characters removed and the ``EXPANSIONS`` spelled out, and
    the position map (None: nothing changed). Letters are kept as written otherwise."""
    if text.isascii():
        return text, None
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        if not _POSITION_WORK.search(text):
            return text, None
    else:
        if not any(c in text for c in _POSITION_WORK_LATIN1):
            return text, None
    parts: list[str] = []
    index: list[int] = []
    at = 0
    for m in _POSITION_WORK.finditer(text):
        i = m.start()
        parts.append(text[at:i])
        index.extend(range(at, i))
        out = EXPANSIONS.get(ord(text[i]), "")
        parts.append(out)
        index.extend([i] * len(out))
        at = i + 1
    parts.append(text[at:])
    index.extend(range(at, len(text) + 1))
    return "".join(parts), index


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Folded word tokens (letters and digits; punctuation is a separator)."""
    return _WORD.findall(fold(text).replace("_", " "))


# ---- scripts and direction -----------------------------------------------------------------

#: Any character of the Arabic script blocks (letters, marks, digits, presentation forms).
ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefe]")
#: Arabic-script letters only (what counts towards a text's script).
ARABIC_LETTER = re.compile("[\u0620-\u064a\u0671-\u06d3\u0750-\u077f]")
LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
#: Languages written right to left (primary subtags).
RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"})
ARABIC_SCRIPT_LANGUAGES = frozenset({"ar", "fa", "ur", "ps", "ckb", "ku", "sd", "ug"})


def primary_language(code: str | None) -> str:
    """The primary subtag, lower case: "fr" of "fr-MA"; "" for None."""
    return (code or "").split("-")[0].lower()


def is_rtl(text: str, language: str | None = None) -> bool:
    """Right to left? By the declared language when there is one (parse has already corrected a
    language its text contradicts), else by the first strong letter of the text, as a browser
    does for ``dir="auto"`` (Unicode bidi rules P2-P3)."""
    if language:
        return primary_language(language) in RTL_LANGUAGES
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


def script_language(lang: str | None, text: str, hint: str | None) -> str | None:
    """``lang`` unless the text's script contradicts it. Aggregators re-serialise Arabic feeds with
    ``<language>en</language>``: Arabic-script text then takes the source's hint (or ``ar``), and
    Latin text labelled with an Arabic-script language takes the hint (or nothing)."""
    sample = text[:300]
    if ARABIC_LETTER.search(sample) is None:
        # no Arabic letter: only a Latin text labelled with an Arabic-script language can change
        if not lang or primary_language(lang) not in ARABIC_SCRIPT_LANGUAGES:
            return lang
        arabic = 0
    else:
        arabic = len(ARABIC_LETTER.findall(sample))
    latin = len(LATIN_LETTER.findall(sample))
    if arabic + latin < 12:  # too little text to contradict what the feed says
        return lang
    primary, hinted = primary_language(lang), primary_language(hint)
    if arabic >= 3 * latin and primary not in ARABIC_SCRIPT_LANGUAGES:
        return hint if hinted in ARABIC_SCRIPT_LANGUAGES else "ar"
    if latin >= 3 * arabic and primary in ARABIC_SCRIPT_LANGUAGES:
        return hint if hint and hinted not in ARABIC_SCRIPT_LANGUAGES else None
    return lang


# ---- feed boilerplate ----------------------------------------------------------------------

# The footer WordPress (Yoast) appends to every feed body: "The post <a>X</a> appeared first on
# <a>Y</a>.", "L’article X est apparu en premier sur Y.", "Cet article ...", Arabic "ظهرت المقالة
# X أولاً على Y.". Noise in every output: parse removes it from sanitised bodies (``strip_footer``);
# tagging and dedupe, which also read text that never went through parse, use
# ``strip_footer_text`` on plain (possibly folded) text.
FOOTER_WORDS = ("appeared first on", "first appeared on", "est apparu en premier sur",
                "est paru en premier sur", "est publie en premier sur", "est publié en premier sur",
                "أولاً على", "أولا على", "اولا علي")  # fmt: skip
# What every footer word holds: three searches rule out most texts, where nine ran.
_FOOTER_HINTS = ("first", "en premier sur", "ولا")
if not all(any(h in w for h in _FOOTER_HINTS) for w in FOOTER_WORDS):
    raise AssertionError("a footer word without a hint")
_FOOTER_WINDOW = 2_000  # characters at the end of a body where a footer is looked for
_FOOTER_TAIL = re.compile(
    r"\s+(?:appeared first on|est apparu en premier sur|أولاً على|أولا على)\s+"
    r"(?:<a\b[^>]*>[^<]{1,300}</a>|[^<>]{1,300}?)\s*\.?\s*(?P<close></p>)?\s*\Z"
)
_FOOTER_HEAD = re.compile(r"(?:The post|L[’']article|Cet article|ظهرت المقالة)\s+")
_FOOTER_TITLE = re.compile(r"<a\b[^>]*>(?:(?!</?a\b).){1,1000}</a>|[^<>]{1,500}", re.DOTALL)
_OPEN_P = re.compile(r"<p>\s*\Z")
_FOOTER_TEXT = re.compile(
    r"\s*(?:\bthe post .{0,400}? (?:appeared first|first appeared) on "
    r"|\b(?:cet |l['’])article .{0,400}? est (?:apparu|paru|publi[eé]) en premier sur "
    r"|ظهرت المقال[ةه] .{0,400}? [أا]ول[اًا]* عل[ىي] ).*$",
    re.DOTALL | re.IGNORECASE,
)


def strip_footer(body: str) -> str:
    """``body`` (sanitised HTML) without a trailing "The post X appeared first on Y." footer."""
    tail_at = max(0, len(body) - _FOOTER_WINDOW)
    tail = body[tail_at:]
    if not any(w in tail for w in FOOTER_WORDS):
        return body
    end = _FOOTER_TAIL.search(tail)
    if end is None:
        return body
    # the rightmost opening whose title part is one link or plain text
    for head in reversed(list(_FOOTER_HEAD.finditer(tail, 0, end.start()))):
        if _FOOTER_TITLE.fullmatch(tail, head.end(), end.start()):
            before = tail[: head.start()]
            if end.group("close"):
                p = _OPEN_P.search(before)
                before = before[: p.start()] if p else before.rstrip() + "</p>"
            return (body[:tail_at] + before).rstrip()
    return body


def contains_any(text: str, parts: tuple[str, ...]) -> bool:
    """Whether one of ``parts`` is in ``text``: a plain loop of substring tests (memchr-fast),
    the cheap first check before a regex for hints every match holds (no generator frame)."""
    for part in parts:  # noqa: SIM110 (a loop: no generator frame on a hot path)
        if part in text:
            return True
    return False


def strip_footer_text(text: str) -> str:
    """Plain (or folded) ``text`` without a syndication footer ("The post X appeared first on
    Y", "Cet article X est apparu en premier sur Y", "ظهرت المقالة X أولاً على Y") and what
    follows it."""
    low = text.lower() if not text.islower() else text
    if not contains_any(low, _FOOTER_HINTS):
        return text
    if not any(w in low for w in FOOTER_WORDS):
        return text
    return _FOOTER_TEXT.sub("", text)


# ---- counts in messages ------------------------------------------------------------------------


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 source"``, ``"2 sources"``, ``"0 sources"``: a count and its noun, agreed (English
    messages; pass ``plural_form`` for irregular nouns: ``plural(n, "entry", "entries")``)."""
    return f"{n} {singular if n == 1 else plural_form or singular + 's'}"


__all__ = [
    "ARABIC", "ARABIC_LETTER", "ARABIC_SCRIPT_LANGUAGES", "DROPPED", "EXPANSIONS",
    "FOOTER_WORDS", "HIDDEN_ELEMENTS", "INVISIBLE", "LATIN_LETTER", "ONE_TO_ONE",
    "RTL_LANGUAGES", "VARIANTS", "WIDE_COMMON", "clean_chars", "contains_any", "cut",
    "display_excerpt",
    "drop_marks", "excerpt", "fold", "fold_keep_case", "is_rtl", "lower", "one_line",
    "plain_text", "plural", "primary_language", "script_language", "strip_caption",
    "strip_footer", "strip_footer_text", "strip_tags", "words",
]  # fmt: skip
