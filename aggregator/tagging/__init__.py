"""Tag items with ``ai``, ``africa``, African countries and operator topics, and say why.

Lexicons (``lexicons/*.txt``, data) are compiled once per ``Tagger`` into a trie-shaped regex;
an item costs one scan of its cleaned title and summary, each match is scored by where it is and
what surrounds it, and a tag needs its score to reach the threshold (settings, default 1.0).
Files: ``lexicon`` (format, entries, countries), ``matcher`` (regexes), ``clean`` (boilerplate),
``context`` (words around a mention), ``features`` (evidence per candidate tag), ``model``
(learned weights, ``weights.json``), ``scorer`` (``Tagger``, the hand-set and learned scoring).
"""

# The ``_`` names are for the reference implementations of tests/test_perf_equivalence_worker.py.
from .clean import _BOILERPLATE as _BOILERPLATE
from .clean import _RELATED as _RELATED
from .clean import _TAGS as _TAGS
from .clean import _TAIL as _TAIL
from .clean import _TAIL_TRIGGERS as _TAIL_TRIGGERS
from .clean import clean_text
from .features import Candidates
from .lexicon import (
    COUNTRY_CODES,
    COUNTRY_NAMES,
    COUNTRY_SLUGS,
    LEXICONS,
    Country,
    Entry,
    builtin_entries,
    countries,
    country_slug,
    parse_lexicon,
)
from .matcher import _NISBA_SUFFIXES as _NISBA_SUFFIXES
from .matcher import _PREFIX as _PREFIX
from .model import Model
from .scorer import Explained, Tagger, default_tagger
from .source import apply_source_tags

__all__ = [
    "COUNTRY_CODES",
    "COUNTRY_NAMES",
    "COUNTRY_SLUGS",
    "LEXICONS",
    "Candidates",
    "Country",
    "Entry",
    "Explained",
    "Model",
    "Tagger",
    "apply_source_tags",
    "builtin_entries",
    "clean_text",
    "countries",
    "country_slug",
    "default_tagger",
    "parse_lexicon",
]
