"""The lxml fast path and feedparser (the reference) must produce the same items.

Runs both on every document of the shared corpus (real/ and wild/) when it is there, and always on
the copies in tests/data/parse/. Where the fast path declines a document, ``parse`` must give
exactly feedparser's result (it falls back)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.parse import parse, parse_fast, parse_feedparser

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"  # a copy of the shared corpus
DATA = Path(__file__).parent / "data" / "parse"
NOW = datetime(2026, 9, 1, tzinfo=UTC)


def _docs(root: Path, pattern: str) -> list[Path]:
    return sorted(
        p
        for p in root.glob(pattern)
        if p.is_file() and p.suffix in (".xml", ".rdf", ".atom", ".rss")
    )


CORPUS_DOCS = (_docs(CORPUS, "real/**/*") + _docs(CORPUS, "wild/**/*")) if CORPUS.is_dir() else []
LOCAL_DOCS = _docs(DATA, "*")
HEADER_VARIANTS = {
    "no-headers": None,
    "rss+xml-utf8": {"Content-Type": "application/rss+xml; charset=utf-8"},
    "text-xml": {"Content-Type": "text/xml"},
    "lying-latin1-fr": {
        "Content-Type": "application/xml; charset=iso-8859-1",
        "Content-Language": "fr",
    },
}


def _outcome(fn, data: bytes, url: str, headers):
    try:
        return fn(data, url, headers, "en", now=NOW)
    except ParseError as exc:
        return ("ParseError", exc.message)


def _assert_same(fast, ref, where: str) -> None:
    assert len(fast.items) == len(ref.items), f"{where}: item count"
    for i, (a, b) in enumerate(zip(fast.items, ref.items)):
        for f in fields(a):
            assert getattr(a, f.name) == getattr(b, f.name), f"{where}: item {i} field {f.name}"


def _check(path: Path, headers) -> None:
    data = path.read_bytes()
    url = "https://example.org/feeds/" + path.name
    fast = _outcome(parse_fast, data, url, headers)
    ref = _outcome(parse_feedparser, data, url, headers)
    if isinstance(fast, tuple):  # refused before either reader ran (parse.guard): same refusal
        assert fast == ref
        return
    if fast is None:
        assert _outcome(parse, data, url, headers) == ref
        return
    assert not isinstance(ref, tuple), f"fast path read a document feedparser refuses: {ref}"
    _assert_same(fast, ref, str(path))


def _id(p: Path) -> str:
    try:
        return str(p.relative_to(CORPUS))
    except ValueError:
        return p.name


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_DOCS, ids=[_id(p) for p in CORPUS_DOCS])
def test_corpus_document_same_items_both_paths(path):
    _check(path, None)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.parametrize("variant", ["rss+xml-utf8", "lying-latin1-fr"])
def test_real_corpus_same_items_under_header_variants(variant):
    for path in _docs(CORPUS, "real/**/*"):
        _check(path, HEADER_VARIANTS[variant])


@pytest.mark.parametrize("variant", list(HEADER_VARIANTS))
@pytest.mark.parametrize("path", LOCAL_DOCS, ids=[p.name for p in LOCAL_DOCS])
def test_local_copies_same_items_both_paths(path, variant):
    _check(path, HEADER_VARIANTS[variant])


def test_local_copies_exist_and_fast_path_takes_the_well_formed_ones():
    assert len(LOCAL_DOCS) >= 5
    taken = {
        p.name
        for p in LOCAL_DOCS
        if parse_fast(p.read_bytes(), "https://example.org/f", None) is not None
    }
    # RSS 2.0 (ar, fr, en), RSS 1.0 and Atom 1.0 are all fast-path material
    for name in (
        "techcabal_2025-12-10.reserialized-by-prospect.xml",
        "hespress_ar_2026-02-15.reserialized-by-prospect.xml",
        "lemonde_une_2024-01-18.xml",
        "slashdot_2024-03-02_feeder-fixture.rdf.xml",
        "small_atom.xml",
    ):
        assert name in taken
    assert "koi8r.xml" not in taken  # odd encodings go to feedparser


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_fast_path_takes_most_of_the_real_corpus():
    docs = _docs(CORPUS, "real/**/*")
    taken = [
        p for p in docs if parse_fast(p.read_bytes(), "https://example.org/f", None) is not None
    ]
    assert len(taken) >= len(docs) - 3, "the fast path should read nearly every real feed"
