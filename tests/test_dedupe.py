"""Story clustering: neutralising boilerplate, verification, and the store-backed Deduper.

Thresholds (see same_story in aggregator/dedupe/fingerprint.py): bodies overlap (3-gram
containment >= 0.5) with titles agreeing (word containment >= 0.5); or long near-identical bodies
(>= 0.8) with some title overlap (>= 0.25); with a body missing, identical titles (>= 3 content
words) or a contained title (>= 0.9, Jaccard >= 0.75 unless cut with an ellipsis, >= 5 words).
Titles whose numbers differ need bodies >= 0.9 alike.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.cli import dedupe_jsonl as dedupe_cli
from aggregator.dedupe import (
    Deduper,
    fingerprint,
    from_record,
    neutral_body,
    neutral_title,
    prepare,
    record,
    same_story,
    similarity,
    text_keys,
)
from aggregator.models import ParsedItem, Tagging
from aggregator.normalize import canonical_url, content_hash, item_key
from aggregator.store import Store

DATA = Path(__file__).parent / "data" / "dedupe"
ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)

WIRE_TITLE = "Gunmen abduct worshippers from Nigeria mosque, police say"
WIRE_BODY = (
    "Armed men abducted several worshippers from a mosque in Nigeria's north-central Niger state "
    "during Friday prayers, police said on Saturday, in the latest mass kidnapping in a region "
    "plagued by violent gangs."
)


# ---- neutralising boilerplate ---------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "VIDEO. Le Maroc et le Sénégal signent un accord",
        "EXCLUSIVE: Le Maroc et le Sénégal signent un accord",
        "Breaking: Le Maroc et le Sénégal signent un accord",
        "[PHOTOS] Le Maroc et le Sénégal signent un accord",
        "Le Maroc et le Sénégal signent un accord - Yahoo News",
        "Le Maroc et le Sénégal signent un accord | Maroc Diplomatique",
        "Le Maroc et le Sénégal signent un accord – Médias24",
        "Le Maroc et le Sénégal signent un accord (vidéo)",
        "Hespress FR | Le Maroc et le Sénégal signent un accord",
        "Le Maroc et le Sénégal signent un accord…",
    ],
)
def test_title_labels_and_outlet_names_are_neutralised(title: str) -> None:
    assert neutral_title(title) == "le maroc et le senegal signent un accord"


def test_title_content_is_kept() -> None:
    # a French colon is content, an all-capitals title is not a label, a long tail is not an outlet
    assert (
        neutral_title("Paris 2024 : des policiers manifestent")
        == "paris 2024 : des policiers manifestent"
    )
    assert (
        neutral_title("TOURNOI DES SIX NATIONS : LA FRANCE GAGNE")
        == "tournoi des six nations : la france gagne"
    )
    assert "airtel" in neutral_title(
        "TechCabal Daily – Airtel Money is eating M-PESA's lunch today"
    )


@pytest.mark.parametrize(
    "body",
    [
        "(AFP) - Le roi a reçu le président.",
        "Rabat, (MAP) - Le roi a reçu le président.",
        "RABAT, Nov 2 (Reuters) - Le roi a reçu le président.",
        "MAP - Le roi a reçu le président.",
        "Le roi a reçu le président. The post Le roi reçoit appeared first on Hespress.",
        "Le roi a reçu le président. Cet article Le roi reçoit est apparu en premier sur Maroc Diplomatique.",
        "Le roi a reçu le président. […]",
        "Le roi a reçu le président. Lire la suite",
        "Le roi a reçu le président. © 2026 AFP",
        "<p>Le roi a re&ccedil;u le pr&eacute;sident.</p>",
    ],
)
def test_body_boilerplate_is_neutralised(body: str) -> None:
    assert neutral_body(body) == "le roi a recu le president."


# ---- verification ---------------------------------------------------------------------------


def fp(title: str, body: str = ""):
    return fingerprint(title, body)


def test_wire_copy_with_prefix_suffix_and_truncation_is_the_same_story() -> None:
    origin = fp(WIRE_TITLE, WIRE_BODY)
    copy = fp(WIRE_TITLE + " - Yahoo News", "(Reuters) - " + WIRE_BODY.split(",")[0] + " […]")
    assert same_story(origin, copy) and same_story(copy, origin)


def test_summary_repeating_the_title_is_not_counted_as_body() -> None:
    copy = fp(WIRE_TITLE, WIRE_TITLE + ". " + WIRE_BODY)
    assert similarity(fp(WIRE_TITLE, WIRE_BODY), copy).body_containment == 1.0


def test_recurring_headlines_with_different_text_stay_apart() -> None:
    monday = fp(
        "Daily briefing: Monday 2 November 2026",
        "Kenya's parliament votes on the finance bill, and Ghana's cedi slides.",
    )
    tuesday = fp(
        "Daily briefing: Tuesday 3 November 2026",
        "Senegal's new budget goes to parliament, and Morocco hosts a meeting.",
    )
    assert not same_story(monday, tuesday)
    assert not same_story(
        fp("Daily briefing: Monday 2 November 2026"), fp("Daily briefing: Tuesday 3 November 2026")
    )


def test_same_summary_under_an_unrelated_title_is_another_story() -> None:
    assert not same_story(
        fp(WIRE_TITLE, WIRE_BODY), fp("Morning brief: Monday 2 November 2026", WIRE_BODY)
    )


def test_same_topic_different_articles_stay_apart() -> None:
    a = fp(
        "Le Maroc lance un programme de formation en intelligence artificielle",
        "Le ministère a présenté lundi un programme destiné à former 5 000 jeunes aux métiers de l'IA d'ici 2027.",
    )
    b = fp(
        "Le Maroc et le Sénégal signent un accord sur l'intelligence artificielle",
        "Le Maroc et le Sénégal ont signé lundi à Rabat un mémorandum d'entente sur la coopération numérique.",
    )
    assert not same_story(a, b)  # fmt: skip


def test_title_only_copies() -> None:
    full = fp(WIRE_TITLE)
    assert same_story(full, fp(WIRE_TITLE.upper() + " | MSN"))
    assert same_story(full, fp("Gunmen abduct worshippers from Nigeria mosque, pol…"))
    assert not same_story(full, fp("Gunmen abduct worshippers from Nig…"))  # too little left
    assert not same_story(fp("Weekly roundup"), fp("Weekly roundup"))  # too short to tell


def test_arabic_spelling_variants_are_the_same_story() -> None:
    a = fp(
        "المغرب يُطلق استراتيجيةً وطنيةً للذكاء الاصطناعي",
        "أعلنت وزارة الانتقال الرقمي وإصلاح الإدارة عن إطلاق استراتيجية وطنية للذكاء الاصطناعي في أفق سنة 2030",
    )
    b = fp(
        "عاجل: المغرب يطلق استراتيجيـــة وطنيه للذكاء الاصطناعى",
        "أعلنت وزارة الانتقال الرقمى واصلاح الاداره عن إطلاق استراتيجيه وطنيه للذكاء الاصطناعي فى افق سنه ٢٠٣٠",
    )
    assert same_story(a, b)
    assert a.title_set == b.title_set  # fmt: skip


def test_keys_are_stable_across_processes() -> None:
    exact, bands = text_keys(fp(WIRE_TITLE, WIRE_BODY))
    code = (
        "from aggregator.dedupe import fingerprint, text_keys;"
        f"print(text_keys(fingerprint({WIRE_TITLE!r}, {WIRE_BODY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout  # fmt: skip
    assert out.strip() == str((exact, bands))
    assert all(0 <= k < 2**63 for k in exact + bands) and len(bands) == 6 + 3  # title + body


# ---- store-backed -------------------------------------------------------------------------------


class Feed:
    """Adds items the pipeline's way: insert_item then Deduper.assign in one transaction."""

    def __init__(self, store: Store):
        self.store = store
        self.deduper = Deduper(store)
        self.n = 0

    def add(self, source: str, title: str, summary: str = "", link: str | None = None,
            guid: str | None = None, at: datetime = T0) -> tuple[int, int]:  # fmt: skip
        self.n += 1
        self.store.sync_sources([(source, f"https://{source}.example/feed")])
        link = link or f"https://{source}.example/{self.n}"
        p = ParsedItem(guid=guid, link=link, title=title, summary=summary)
        canon = canonical_url(link)
        with self.store.transaction():
            iid = self.store.insert_item(
                source, item_key(p), canon, p, content_hash(p), Tagging(), at
            )
            return iid, self.deduper.assign(iid, source, p, canon, at)


@pytest.fixture
def feed(tmp_path: Path):
    with Store(tmp_path / "agg.db") as store:
        yield Feed(store)


def test_wire_copies_join_one_cluster_with_all_outlets(feed: Feed) -> None:
    a, ca = feed.add("reuters", WIRE_TITLE, WIRE_BODY)
    _, cb = feed.add(
        "yahoo",
        WIRE_TITLE + " - Yahoo News",
        "(Reuters) - " + WIRE_BODY,
        at=T0 + timedelta(hours=2),
    )
    _, cc = feed.add(
        "allafrica", "Nigeria: " + WIRE_TITLE, WIRE_BODY[:120] + "…", at=T0 + timedelta(hours=5)
    )
    assert ca == cb == cc
    [story] = feed.store.stories([ca])
    assert story.sources == ("reuters", "yahoo", "allafrica")
    assert feed.store.item(a).cluster_id == ca


def test_amp_and_mobile_links_join_by_canonical_url_at_any_age(feed: Feed) -> None:
    url = "https://www.lemonde.fr/afrique/article/2026/11/02/sommet_6211541_3212.html"
    _, c1 = feed.add("le-monde", "Sommet de l'Union africaine", "Texte.", link=url)
    _, c2 = feed.add(
        "agg",
        "Autre titre",
        "",
        link="https://amp.lemonde.fr/afrique/article/2026/11/02/sommet_6211541_3212.amp.html?utm_source=x",
        at=T0 + timedelta(days=40),
    )
    _, c3 = feed.add(
        "mobile",
        "UA",
        "",
        link="http://m.lemonde.fr/afrique/article/2026/11/02/sommet_6211541_3212.html#comments",
    )
    assert c1 == c2 == c3  # fmt: skip


def test_home_page_links_are_not_an_identity(feed: Feed) -> None:
    _, c1 = feed.add(
        "a",
        "Kenya elects a new president after runoff",
        "One text about Kenya.",
        link="https://a.example/",
    )
    _, c2 = feed.add(
        "b",
        "Ghana cedi hits a record low against dollar",
        "Another about Ghana.",
        link="https://a.example/",
    )
    assert c1 != c2


def test_guid_that_is_an_article_url_joins_its_link(feed: Feed) -> None:
    url = "https://le360.ma/economie/le-maroc-et-le-senegal-signent-un-accord_ABC123"
    _, c1 = feed.add("le360", "Le Maroc et le Sénégal signent un accord", "Texte.", link=url)
    _, c2 = feed.add(
        "gnews",
        "Morocco, Senegal sign a memorandum",
        "",
        link="https://news.google.com/rss/articles/CBMi",
        guid=url + "/?utm_source=gnews",
    )
    assert c1 == c2  # fmt: skip


def test_near_duplicates_join_only_within_the_window_and_across_sources(feed: Feed) -> None:
    _, c1 = feed.add("reuters", WIRE_TITLE, WIRE_BODY)
    _, same_source = feed.add(
        "reuters", WIRE_TITLE, WIRE_BODY, link="https://reuters.example/other"
    )
    _, late = feed.add("yahoo", WIRE_TITLE, WIRE_BODY, at=T0 + timedelta(days=8))
    _, inside = feed.add("msn", WIRE_TITLE, WIRE_BODY, at=T0 + timedelta(days=6, hours=23))
    assert same_source != c1 and late != c1 and inside == c1


def test_same_guid_in_a_source_joins(feed: Feed) -> None:
    _, c1 = feed.add("src", "Title one about something", "Text.", guid="tag:src,2026:1")
    # another item of the same source whose guid differs only by whitespace: same identity
    other = ParsedItem(
        guid="tag:src,2026:1", link="https://src.example/x", title="Changed", summary=""
    )
    assert feed.store.dedupe_guid_cluster("src", other.guid or "", exclude_item=-1) == c1


def test_representative_is_the_fullest_text(feed: Feed) -> None:
    a, cid = feed.add("yahoo", WIRE_TITLE, WIRE_BODY[:60] + "…")
    b, _ = feed.add(
        "reuters", WIRE_TITLE, WIRE_BODY + " Police gave no figure.", at=T0 + timedelta(hours=1)
    )
    feed.add("msn", WIRE_TITLE, WIRE_BODY[:100] + "…", at=T0 + timedelta(hours=2))
    [story] = feed.store.stories([cid])
    assert story.item.id == b != a
    assert {o.source for o in story.also_in} == {"yahoo", "msn"}


def test_window_scan_uses_the_first_seen_index(feed: Feed) -> None:
    feed.add("reuters", WIRE_TITLE, WIRE_BODY)
    plan = " ".join(
        str(r) for r in feed.store.db.execute(
            "EXPLAIN QUERY PLAN SELECT item_id, keys FROM dedupe_text WHERE first_seen >= 1"
        )
    )  # fmt: skip
    assert "dedupe_text_seen" in plan


def test_window_is_read_back_from_the_store(feed: Feed) -> None:
    _, c1 = feed.add("reuters", WIRE_TITLE, WIRE_BODY)
    [(keys, record)] = feed.store.db.execute("SELECT keys, record FROM dedupe_text").fetchall()
    assert len(keys) % 8 == 0 and len(keys) >= 8 * 6 and "\x1f" in record
    feed.deduper = Deduper(feed.store)  # a new process: nothing in memory
    _, c2 = feed.add("yahoo", WIRE_TITLE + " - Yahoo News", WIRE_BODY, at=T0 + timedelta(hours=1))
    assert c2 == c1
    feed.deduper.forget()  # and again after forgetting
    _, c3 = feed.add("msn", WIRE_TITLE, WIRE_BODY, at=T0 + timedelta(hours=2))
    assert c3 == c1


def test_record_round_trips_the_fingerprint() -> None:
    fp = fingerprint("Sénégal : 3 morts à Dakar…", "Trois personnes sont mortes " * 10)
    again = from_record(record(fp))
    assert again == fp and again.truncated and "3" in again.numbers
    empty = fingerprint("", "")
    assert from_record(record(empty)) == empty


def test_prune_drops_old_keys_only(feed: Feed) -> None:
    feed.add("reuters", WIRE_TITLE, WIRE_BODY, at=T0 - timedelta(days=30))
    feed.add("yahoo", "Another story entirely about Ghana", "Ghana text here for the body.", at=T0)
    n = feed.store.db.execute("SELECT count(*) FROM dedupe_text").fetchone()[0]
    dropped = feed.store.dedupe_prune(T0 - timedelta(days=8))
    left = feed.store.db.execute("SELECT count(*) FROM dedupe_text").fetchone()[0]
    assert n == 2 and dropped == 1 and left == 1


# ---- the JSON-lines command ---------------------------------------------------------------------


def test_cli_clusters_the_case_file(tmp_path: Path) -> None:
    lines = (DATA / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    truth = {json.loads(x)["id"]: json.loads(x)["cluster"] for x in lines}
    out = io.StringIO()
    assert dedupe_cli.run(io.StringIO("\n".join(lines) + "\n"), out, db_path=tmp_path / "d.db") == 0
    got = {o["id"]: o["cluster"] for o in map(json.loads, out.getvalue().splitlines())}
    assert got == truth


def test_cli_runs_as_a_module_and_rejects_bad_input() -> None:
    rows = [
        {"id": "x1", "title": WIRE_TITLE, "summary": WIRE_BODY, "link": "https://r.example/a", "source": "r"},
        {"id": "x2", "title": WIRE_TITLE, "summary": WIRE_BODY, "link": "https://y.example/b", "source": "y"},
        {"id": "x3", "title": WIRE_TITLE, "summary": WIRE_BODY, "link": "https://r.example/a", "source": "r"},
    ]  # fmt: skip
    feed = "".join(json.dumps(r) + "\n" for r in rows)
    proc = subprocess.run([sys.executable, "-m", "aggregator.cli.dedupe_jsonl"], input=feed, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x) for x in proc.stdout.splitlines()] == [
        {"id": "x1", "cluster": "x1"}, {"id": "x2", "cluster": "x1"}, {"id": "x3", "cluster": "x1"},
    ]  # fmt: skip
    assert dedupe_cli.run(io.StringIO("not json\n"), io.StringIO()) == 2


def test_dedupe_is_a_stage_module() -> None:
    """The package's files import each other and, of the rest of aggregator, only shared
    modules (no store, no other stage)."""
    files = sorted((ROOT / "aggregator" / "dedupe").glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "cluster.py", "keys.py"}
    local: set[str] = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level > 1:  # ..x: outside the package
                local.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aggregator"):
                local.add((node.module or "").split(".")[1])
    assert "models" in local  # the walk found the package's imports
    assert local <= {"models", "normalize", "errors", "text"}


def test_prepared_in_another_process_gives_the_same_clusters(tmp_path: Path) -> None:
    import pickle

    items = [
        ("reuters", WIRE_TITLE, WIRE_BODY),
        ("yahoo", WIRE_TITLE + " - Yahoo News", "(Reuters) - " + WIRE_BODY),
        ("ghana", "Ghana cedi hits a record low against the dollar", "The cedi fell again."),
    ]
    runs = []
    for use_prepared in (False, True):
        with Store(tmp_path / f"p{use_prepared}.db") as store:
            deduper = Deduper(store)
            clusters = []
            for n, (src, title, body) in enumerate(items):
                store.sync_sources([(src, f"https://{src}.example/feed")])
                p = ParsedItem(
                    guid=None, link=f"https://{src}.example/{n}", title=title, summary=body
                )
                canon = canonical_url(p.link)
                prep = pickle.loads(pickle.dumps(prepare(p, canon))) if use_prepared else None
                with store.transaction():
                    iid = store.insert_item(
                        src, item_key(p), canon, p, content_hash(p), Tagging(), T0
                    )
                    clusters.append(deduper.assign(iid, src, p, canon, T0, prepared=prep))
            runs.append(clusters)
    assert runs[0] == runs[1] and runs[0][0] == runs[0][1] != runs[0][2]


def test_prune_keeps_the_window_and_a_week_of_margin(feed: Feed) -> None:
    feed.add("reuters", WIRE_TITLE, WIRE_BODY, at=T0 - timedelta(days=40))
    _, recent = feed.add("yahoo", WIRE_TITLE, WIRE_BODY, at=T0 - timedelta(days=3))

    def seen() -> set[float]:
        return {r[0] for r in feed.store.db.execute("SELECT first_seen FROM dedupe_text")}

    before = seen()
    assert feed.deduper.prune(T0) == 1
    after = seen()
    assert after == {(T0 - timedelta(days=3)).timestamp()} and len(before) == 2
    _, cluster = feed.add("bbc", WIRE_TITLE, WIRE_BODY, at=T0)  # the recent copy is still found
    assert cluster == recent


def test_items_out_of_time_order_reload_the_window_once_per_window(feed: Feed) -> None:
    """An older item after newer ones (dedupe --jsonl input is not sorted) reads the window
    again, reaching one window further back, so a run going back in time does not reload it
    for every item; copies are still found either way."""
    loads = []
    read = feed.store.dedupe_window

    def counting(since):
        loads.append(since)
        return read(since)

    feed.store.dedupe_window = counting  # type: ignore[method-assign]
    _, c0 = feed.add("reuters", WIRE_TITLE, WIRE_BODY, at=T0)
    for hours in range(1, 25):  # one a hour, going back a day
        at = T0 - timedelta(hours=hours)
        feed.add(f"src{hours}", f"Unrelated story number {hours} " + "x" * hours, "", at=at)
    _, copy = feed.add("yahoo", WIRE_TITLE, WIRE_BODY, at=T0 + timedelta(hours=1))
    assert copy == c0 and len(loads) == 2
