"""The operator's source tags (``tags:`` in config.yaml), applied to every item of the source.

The scorer only sees the item and the source's ``prior:`` (a hint that raises evidence); a
source tag is the operator's decision and needs no evidence: it is added after scoring, with the
reason ``source:<tag>``. A country slug also adds its ISO code and implies ``africa``, as a
country found by the scorer does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..models import Tagging

#: The built-in tags, first in ``Tagging.tags`` (as the scorer orders them).
BUILTIN = ("ai", "africa")


def apply_source_tags(
    tagging: Tagging, tags: Sequence[str], country_codes: Mapping[str, str]
) -> Tagging:
    """``tagging`` with each of ``tags`` added (``country_codes``: country slug -> ISO code).

    The order stays the scorer's: ai, africa, then topics, then countries (``countries`` in the
    same order as the country slugs); tags the item already had keep their place and their
    reasons, and gain ``source:<tag>``.
    """
    if not tags:
        return tagging
    n = len(tagging.countries)
    own_countries = list(tagging.tags[len(tagging.tags) - n :]) if n else []
    head = tagging.tags[: len(tagging.tags) - n]
    builtin = {t for t in head if t in BUILTIN}
    topics = [t for t in head if t not in BUILTIN]
    codes = list(tagging.countries)
    why = {t: list(r) for t, r in tagging.why.items()}

    def reason(tag: str, text: str) -> None:
        found = why.setdefault(tag, [])
        if text not in found:
            found.append(text)

    for tag in dict.fromkeys(tags):
        text = f"source:{tag}"
        code = country_codes.get(tag)
        if code is not None:
            if tag not in own_countries:
                own_countries.append(tag)
                codes.append(code)
            builtin.add("africa")
            reason("africa", text)
        elif tag in BUILTIN:
            builtin.add(tag)
        elif tag not in topics:
            topics.append(tag)
        reason(tag, text)

    ordered = [t for t in BUILTIN if t in builtin] + topics + own_countries
    return Tagging(
        tags=tuple(ordered),
        countries=tuple(codes),
        why={t: tuple(why.get(t, ())) for t in ordered},
    )
