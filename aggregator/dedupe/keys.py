"""Keys: what an item alone yields for candidate lookup, computed before any storage is read.

Keys are 63-bit integers from blake2b, so they are stable across processes and fit SQLite's
INTEGER. URL keys (the canonical link, a guid that is an article URL) identify an item at any
age. Text keys (about a dozen per item) find the candidates :func:`same_story` then verifies:
exact keys (the neutralised title, or its first words; the body lead) catch most copies, and
MinHash LSH bands of the title words and of the body lead's word 3-grams the reworded ones.
:func:`prepare` is the pure, CPU-bound half of clustering, run in worker processes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import blake2b

from ..models import ParsedItem
from ..normalize import canonical_url as _canonical_url
from .fingerprint import Fingerprint, fingerprint, record

# LSH: a band matches with probability J**rows; a candidate needs MIN_BAND_HITS = 2 keys (or one
# exact key; see cluster.py). From its title bands alone, a title at word Jaccard 0.8 is a
# candidate with P = 0.90 (0.38 at 0.6); body-lead 3-grams at 0.75 hit 2 of 3 bands with
# P = 0.59. Every key is hashed, stored and probed per item, so there are few (12 per item).
TITLE_BANDS, TITLE_ROWS = 6, 3
BODY_BANDS, BODY_ROWS = 3, 2
LEAD_WORDS = 30  # body words hashed into LSH bands
LEAD_KEY_WORDS = 12  # body words of the exact lead key
TITLE_PREFIX = 4  # title words of the exact title-prefix key


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
    return list(map(min, zip(*rows)))  # noqa: B905 (rows are equal; per item: no kwargs)


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
        grams = set(map(" ".join, zip(lead, lead[1:], lead[2:])))  # noqa: B905 (lengths differ)
        if len(grams) >= 4:
            bands += _band_keys(_BODY_SALTS, _minhash(grams, BODY_BANDS * BODY_ROWS), BODY_ROWS)
    return exact, bands


_UINT32 = {n: struct.Struct(f">{n}I") for n in range(1, 17)}
_TITLE_HASHES: dict[str, tuple[int, ...]] = {}  # title words recur: their hashes are kept
_TITLE_SALTS = _salts("t", TITLE_BANDS)
_BODY_SALTS = _salts("b", BODY_BANDS)


# ---- what crosses to the Deduper (and to the store) ------------------------------------------


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
