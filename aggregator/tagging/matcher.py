"""The term matcher: every lexicon key compiled into one trie-shaped regex (Latin script), plus
one for Arabic terms with their proclitics and nisba endings, run only on text with Arabic.

The text is not folded (``str.translate`` cost more than the scan): each letter of a term is the
class of the letters folding to it (``text.VARIANTS``: accents, Arabic hamza forms, apostrophes,
dashes), so an item costs one scan of its lower-cased text and reasons quote the original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..text import ARABIC as _ARABIC
from ..text import VARIANTS, WIDE_COMMON

# Arabic proclitics (wa-, fa-, bi-, ka-, li-, the article) and nisba endings around a term.
_NISBA_SUFFIXES = "[هة]|ين|ون|ات"
_PREFIX = "[وف]?(?:[بك]?ال|لل|[بكل])?"
# The matcher tries the shortest proclitics first, so that a term that starts with letters a
# proclitic is made of (Darija لمغرب, في مالي) is found whole rather than as ل + مغرب.
_LAZY_PREFIX = "[وف]??(?:[بك]?ال|لل|[بكل])??"


def _not_word_bmp() -> str:
    r"""A character class of every character up to U+FFFF that ``\w`` does not match, plus
    every character above: the regex engine tests such a class by a table lookup, where
    ``\W`` asks the Unicode database for each character of the text. Equal to ``\W`` on text
    without characters above U+FFFF (``_Latin`` sends the rare text with one to a ``\W``
    form)."""
    bmp = "".join(map(chr, range(0x10000)))
    runs = (m.span() for m in re.finditer(r"\W+", bmp))
    return (
        "["
        + "".join(
            re.escape(bmp[a]) if b - a == 1 else re.escape(bmp[a]) + "-" + re.escape(bmp[b - 1])
            for a, b in runs
        )
        + "\U00010000-\U0010ffff]"
    )


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
    Latin-1 cost the regex compiler ~0.4 s, in every worker process. Text left within Latin-1
    after those replacements has its Latin-1 class members replaced by their ASCII base too
    (``bytes.translate``, well under a microsecond) and reads with ``ascii``, whose single
    letters the engine tests faster than ``latin1``'s classes (~30% less scan time). Most
    texts are tried first with one encode (``_narrow``): Latin-1 as they are, or once the
    common typographic characters are replaced (``common``), they skip the search for class
    members above Latin-1 (``big``, ~4 µs of a 400-character text).

    With ``shift`` 1 they read ``"\x00" + text``: ``\W(trie)(?!\w)`` starts with a character
    class, so the regex engine skips from separator to separator in C instead of trying a
    ``(?<!\w)`` lookbehind at every position. Same matches as ``(?<!\w)trie(?!\w)`` on the
    text (the sentinel stands for the start), because every term starts with a word character:
    a match never starts where the previous one ended, so consuming its separator costs nothing.
    The ``\W`` is spelled as a table of the separators up to U+FFFF (``_not_word_bmp``; ~10%
    faster); text holding a character above U+FFFF reads with ``\W`` itself (``wide``, or
    ``full``). ``shift`` 0 (an operator term starting with punctuation): the lookbehind form,
    on the text."""

    def __init__(self, keys: list[str], shift: int):
        self.keys = keys
        self.shift = shift
        self.ascii = self._compile("ascii")
        self.latin1 = self._compile("latin1")
        self._full: re.Pattern[str] | None = None
        self._wide: re.Pattern[str] | None = None
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
        # Latin-1 class members -> their ASCII base, as a bytes.translate table (None: a member
        # has several bases, or a base above ASCII, or differs from it in \w or \s)
        latin: dict[str, list[str]] = {}
        for d in used:
            for c in VARIANTS.get(d, ()):
                if 0x7F < ord(c) <= 0xFF:
                    latin.setdefault(c, []).append(d)
        fold = list(range(256))
        for c, ds in latin.items():
            fold[ord(c)] = ord(ds[0])
        self.to_ascii: bytes | None = bytes(fold)
        if any(
            len(ds) != 1
            or ord(ds[0]) > 0x7F
            or _is_word(c) != _is_word(ds[0])
            or c.isspace() != ds[0].isspace()
            for c, ds in latin.items()
        ):
            self.to_ascii = None
        # The typographic characters texts use most (’ – “ ...): each replaced by its fold when
        # that is its class's base (as ``replace``) or when neither is in a class and both are
        # alike in \w and \s: the same matches, and the text may then read as Latin-1 (``scan``).
        member = {d for d in used} | {c for d in used for c in VARIANTS.get(d, ())}
        self.common = tuple(
            (c, d)
            for c, d in WIDE_COMMON
            if self.replace.get(c) == d
            or (
                c not in member
                and d not in member
                and _is_word(c) == _is_word(d)
                and c.isspace() == d.isspace()
            )
        )
        # class members above U+00FF, and any character above U+FFFF (``_not_word_bmp``)
        self.big = re.compile(
            "[" + re.escape("".join(sorted(owners))) + "\U00010000-\U0010ffff]"
        ).findall

    def _compile(self, spelling: str, table: bool = True) -> re.Pattern[str]:
        head = (_NOT_WORD if table else r"\W") if self.shift else r"(?<!\w)"
        return re.compile(rf"{head}({_trie_regex(self.keys, spelling)})(?!\w)")

    @property
    def full(self) -> re.Pattern[str]:
        if self._full is None:
            self._full = self._compile("full", table=False)
        return self._full

    @property
    def wide(self) -> re.Pattern[str]:
        r"""``latin1`` with ``\W`` itself, for text holding a character above U+FFFF."""
        if self._wide is None:
            self._wide = self._compile("latin1", table=False)
        return self._wide

    def finditer(self, low: str) -> list[tuple[int, int, str, str, str]]:
        r"""(start, end, span, "", "") of each match in ``low``, as ``(?<!\w)trie(?!\w)`` with
        every class member finds them (the empty proclitics and ending of ``_Arabic``)."""
        return self.scan(low)[0]

    def _narrow(self, low: str) -> bytes | None:
        """``low`` as Latin-1 bytes after the ``common`` replacements, if it then is Latin-1
        (and ``to_ascii`` can take it): one encode rules out the search for class members
        above Latin-1 (``big``) that most Latin-script texts would pay."""
        if self.to_ascii is None:
            return None
        try:
            return low.encode("latin-1")
        except UnicodeEncodeError:
            pass
        text = low
        for c, d in self.common:
            if c in text:
                text = text.replace(c, d)
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            return None

    def scan(self, low: str) -> tuple[list[tuple[int, int, str, str, str]], bool]:
        """``finditer``'s matches, and whether ``low`` may hold Arabic (False: it is within
        Latin-1 but for class members above it, none of them Arabic: the caller need not
        search it)."""
        text = low
        arabic = True
        if low.isascii():
            pattern = self.ascii
            arabic = False
        elif (narrow := self._narrow(low)) is not None:
            # within Latin-1 once the common typographic characters are replaced: no class
            # member above it to look for, and no Arabic
            assert self.to_ascii is not None
            text = narrow.translate(self.to_ascii).decode("latin-1")
            pattern = self.ascii
            arabic = False
        else:
            found = set(self.big(low))
            pattern = self.latin1
            if found:
                wide = max(found) > "\uffff"
                if wide:
                    found = {c for c in found if c <= "\uffff"}
                if all(c in self.replace for c in found):
                    if wide:
                        pattern = self.wide
                    for c in found:
                        text = text.replace(c, self.replace[c])
                else:
                    pattern = self.full
            if pattern is self.latin1 and self.to_ascii is not None:
                try:  # within Latin-1 (most Latin-script text): its members to their ASCII base
                    text = text.encode("latin-1").translate(self.to_ascii).decode("latin-1")
                    pattern = self.ascii
                    arabic = any(_ARABIC.match(c) for c in found)
                except UnicodeEncodeError:  # Arabic letters, typographic quotes...
                    pass
        d = self.shift
        return [
            (m.start(1) - d, m.end(1) - d, low[m.start(1) - d : m.end(1) - d], "", "")
            for m in pattern.finditer("\x00" + text if d else text)
        ], arabic


_NOT_WORD = _not_word_bmp()


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
    body = rf"(?P<p>{_LAZY_PREFIX})(?P<t>{_trie_regex(keys)})(?P<s>{_NISBA_SUFFIXES})?(?!\w)"
    return _Arabic(re.compile(head + body), shift)


@dataclass(frozen=True)
class _Arabic:
    pattern: re.Pattern[str]
    shift: int

    def finditer(self, low: str) -> list[tuple[int, int, str, str, str]]:
        """(start, end, term, proclitics, ending) of each match, as the lookbehind form finds
        them."""
        d = self.shift
        return [
            (m.start("p") - d, m.end() - d, m.group("t"), m.group("p") or "", m.group("s") or "")
            for m in self.pattern.finditer("\x00" + low if d else low)
        ]
