"""A published site to look at: a real store holding stories over several weeks (with a gap),
in three languages, a story on a week boundary that only the time zone places, an undated one,
a full Africa section, and one frozen digest issue; settings that publish it in
Africa/Casablanca (UTC+1 in December 2026)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.models import Digest, DigestSection, ParsedItem, Tagging
from aggregator.settings import DigestSettings, OutputSettings, Settings
from aggregator.store import Store

TZ = "Africa/Casablanca"
BASE_URL = "https://news.example.org/"
NOW = datetime(2026, 12, 19, 12, tzinfo=UTC)
#: Sunday 13 December 2026, 23:30 UTC: Monday 14 December, 00:30 in Casablanca (2026-W51).
BOUNDARY = datetime(2026, 12, 13, 23, 30, tzinfo=UTC)
TOPICS = {"diplomacy": {"en": ("embassy",)}, "energy": {"en": ("solar",)}}


def _d(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def add(
    store: Store,
    source: str,
    key: str,
    title: str,
    tags: tuple[str, ...],
    published: datetime | None,
    *,
    seen: datetime | None = None,
    lang: str | None = "en",
    summary: str = "<p>A short summary.</p>",
    also: tuple[str, ...] = (),
) -> int:
    """A story (cluster) from ``source`` published at ``published`` (None: undated), first seen
    at ``seen`` (default: an hour after publication), with one member per ``also`` outlet."""
    seen = seen or (published + timedelta(hours=1) if published else NOW)
    store.sync_sources([(n, f"http://127.0.0.1/{n}") for n in sorted({source, *also})])

    def insert(src: str, k: str) -> int:
        parsed = ParsedItem(
            guid=k, link=f"https://news.example.net/{k}?utm_source=rss", title=title,
            summary=summary, language=lang, published=published,
        )  # fmt: skip
        return store.insert_item(src, k, None, parsed, "h" + k, Tagging(tags=tags), seen)

    cid = store.new_cluster(insert(source, key), seen)
    for i, src in enumerate(also):
        store.join_cluster(insert(src, f"{key}-{i}"), cid, seen)
    return cid


def site_store(path: Path) -> Store:
    """Stories in 2026-W48, W50 and W51 (none in W49), and the frozen issue of W50."""
    store = Store(path)
    # W48 (23-29 November)
    add(store, "TechCabal", "w48-ai", "Lagos startups train a Yoruba model", ("ai", "africa"),
        _d(11, 25))  # fmt: skip
    # W50 (7-13 December)
    add(store, "Le Desk", "w50-ia", "L'IA au Maroc : un plan national", ("ai", "africa",
        "morocco"), _d(12, 8), lang="fr", also=("Medias24",))  # fmt: skip
    add(store, "Ars Technica", "w50-ai", "A new model ships", ("ai",), _d(12, 9))
    add(store, "Hespress", "w50-ar", "المغرب يطلق استراتيجية رقمية", ("africa", "morocco"),
        _d(12, 10), lang="ar", summary="<p>نص عربي عن الاستراتيجية الرقمية.</p>")  # fmt: skip
    # W51 (14-20 December): the boundary story, a full Africa section, the other sections
    add(store, "Jeune Afrique", "boundary", "Minuit à Rabat : un accord signé", ("africa",),
        BOUNDARY, lang="fr")  # fmt: skip
    for n in range(12):
        add(store, "Jeune Afrique", f"w51-af{n}", f"Afrique, brève {n}", ("africa",),
            _d(12, 15 + n % 4, 8 + n), lang="fr")  # fmt: skip
    add(store, "TechCabal", "w51-both", "Kenya's AI policy, explained", ("ai", "africa", "kenya"),
        _d(12, 16), also=("Rest of World",))  # fmt: skip
    add(store, "Ars Technica", "w51-ai", "Chips and more chips", ("ai",), _d(12, 17))
    add(store, "Rest of World", "w51-dip", "Embassy talks in Rabat", ("diplomacy",), _d(12, 17))
    add(store, "Ars Technica", "w51-rocket", "A rocket lands", (), _d(12, 18))
    add(store, "Hespress", "w51-ar", "الذكاء الاصطناعي في أفريقيا", ("ai", "africa"), _d(12, 18),
        lang="ar", summary="<p>تقرير عن الذكاء الاصطناعي في القارة.</p>")  # fmt: skip
    # undated: placed in the week it was first seen (W51)
    add(store, "Jeune Afrique", "undated", "Sans date : la diplomatie numérique", ("africa",),
        None, seen=_d(12, 16, 7), lang="fr")  # fmt: skip
    freeze_issue(store)
    return store


def freeze_issue(store: Store) -> Digest:
    """The issue of 2026-W50 as the digest would have frozen it (intro, a 'more' link)."""
    start = datetime(2026, 12, 6, 23, tzinfo=UTC)  # Monday 7 December, 00:00 in Casablanca
    stories = {s.item.title: s for s in store.stories_between(start, start + timedelta(days=7))}
    pick = {"ai-africa": "L'IA au Maroc : un plan national", "ai": "A new model ships",
            "africa": "المغرب يطلق استراتيجية رقمية"}  # fmt: skip
    titles = {"ai-africa": "AI & Africa", "ai": "AI", "africa": "Africa"}
    sections = tuple(
        DigestSection(
            key, titles[key], (stories[title],),
            more=5 if key == "africa" else 0,
            more_url=f"{BASE_URL}tags/africa.html" if key == "africa" else "",
        )
        for key, title in pick.items()
    )  # fmt: skip
    digest = Digest(
        issue="2026-W50", start=start, end=start + timedelta(days=7),
        subject="AI & Africa — 7 to 13 December 2026", sections=sections,
        intro="Morocco's national AI plan leads this week.\n\nAlso: a new model, and a digital\n"
        "strategy in Arabic.",
    )  # fmt: skip
    return store.freeze_digest(digest, start + timedelta(days=7, hours=8))


def site_settings(tmp_path: Path) -> Settings:
    return Settings(
        path=tmp_path / "config.yaml",
        database=tmp_path / "agg.db",
        sources=(),
        output=OutputSettings(dir=tmp_path / "public", base_url=BASE_URL, title="AI & Africa"),
        topics=TOPICS,  # type: ignore[arg-type]
        digest=DigestSettings(timezone=TZ),
    )
