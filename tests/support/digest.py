"""A week of stories for the digest and mailer tests: two fixed instants around ISO week
2026-W48, a real SQLite store holding five stories in four sections, and digest settings that
write to a temporary outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aggregator.models import ParsedItem, Tagging
from aggregator.settings import DigestSettings, Settings, SmtpSettings
from aggregator.store import Store

W48 = datetime(2026, 11, 25, 10, tzinfo=UTC)  # Wednesday of 2026-W48
AFTER_W48 = datetime(2026, 12, 2, 9, tzinfo=UTC)  # the next Wednesday: W48 is the last complete


def add_story(
    store: Store,
    source: str,
    key: str,
    title: str,
    tags: tuple[str, ...] = (),
    *,
    when: datetime = W48,
    lang: str | None = "en",
    summary: str = "<p>A <b>short</b> summary &amp; context.</p>",
    also: tuple[str, ...] = (),
) -> int:
    """Insert a story (cluster) with a representative from ``source`` and one member per
    source in ``also``; returns the cluster id."""
    names = {source, *also}
    store.sync_sources([(n, f"http://127.0.0.1/{n}") for n in sorted(names)])

    def insert(src: str, k: str) -> int:
        parsed = ParsedItem(guid=k, link=f"https://news.example.net/{k}", title=title,
                            summary=summary, language=lang)  # fmt: skip
        return store.insert_item(src, k, None, parsed, "h" + k, Tagging(tags=tags), when)

    cid = store.new_cluster(insert(source, key), when)
    for i, src in enumerate(also):
        store.join_cluster(insert(src, f"{key}-{i}"), cid, when)
    return cid


def settings_for(tmp_path: Path, recipients=("ana@example.org",), **digest_kw) -> Settings:
    smtp = digest_kw.pop("smtp", SmtpSettings(host=""))
    return Settings(
        path=tmp_path / "config.yaml",
        database=tmp_path / "agg.db",
        sources=(),
        topics={"diplomacy": {"en": ("embassy",)}},
        digest=DigestSettings(
            recipients=tuple(recipients),
            templates=tmp_path / "templates",
            outbox=tmp_path / "outbox",
            smtp=smtp,
            **digest_kw,
        ),
    )


def week_store(tmp_path: Path, database: Path | str | None = None) -> Store:
    """The week's stories in a store at ``database`` (default: agg.db in ``tmp_path``)."""
    store = Store(database or tmp_path / "agg.db")
    add_story(store, "Le Desk", "ia-maroc", "L'IA au Maroc : un plan national", ("ai", "africa"),
              lang="fr", also=("Hespress", "Medias24"))  # fmt: skip
    add_story(store, "Hespress", "ar-1", "المغرب يطلق استراتيجية رقمية", ("africa",), lang="ar",
              summary="<p>نص عربي عن الاستراتيجية الرقمية.</p>")  # fmt: skip
    add_story(store, "TechCabal", "model", "A new model ships", ("ai",))
    add_story(store, "TechCabal", "embassy", "Embassy talks in Rabat", ("diplomacy",))
    add_story(store, "TechCabal", "sport", "Football results", ())
    return store


PEOPLE = tuple(f"reader{i}@example.org" for i in range(6))


def smtp_settings(tmp_path: Path, sink, recipients=PEOPLE, **kw) -> Settings:
    """Settings delivering to ``sink`` (anything with a ``port``) on loopback, no TLS."""
    smtp = SmtpSettings(
        host="127.0.0.1", port=sink.port, security="none", timeout=10, **kw.pop("smtp_kw", {})
    )
    return settings_for(tmp_path, recipients=recipients, smtp=smtp, **kw)
