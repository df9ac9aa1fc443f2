"""End to end: the whole corpus of real feeds, fetched from a loopback server into a real SQLite
file, then fetched again (conditional GETs, 304s, nothing added), then published."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.config import load
from aggregator.service.pipeline import Pipeline, publish
from aggregator.store import Store

from support.corpus import REAL, distinct_items, write_config


@pytest.fixture
def corpus_config(tmp_path, feed_server):
    files = sorted(REAL.glob("*.xml"))
    assert len(files) >= 30
    sources = [(f.stem, feed_server.url(f"corpus/real/{f.name}")) for f in files]
    return write_config(tmp_path, sources), files


@pytest.mark.slow
def test_whole_corpus_fetch_refetch_and_status(corpus_config, feed_server, capsys):
    config, files = corpus_config
    assert main(["--config", str(config), "fetch"]) == 0
    first = capsys.readouterr().out
    assert f"{len(files)} sources: {len(files)} ok" in first

    settings = load(config)
    with Store(settings.database) as store:
        states = {s.name: s for s in store.source_states()}
        for f in files:
            assert states[f.stem].items == distinct_items(f), f.name
        total = store.count_items()
        assert store.integrity_check() == "ok"
    assert total == sum(distinct_items(f) for f in files)

    # Second pass, forced: only conditional requests, all 304, nothing added.
    feed_server.reset()
    assert main(["--config", str(config), "fetch", "--force"]) == 0
    second = capsys.readouterr().out
    assert f"{len(files)} not modified" in second and "0 new items" in second
    log = [r for r in feed_server.log if r.path.startswith("/corpus/real/")]
    assert len(log) == len(files)
    assert all("if-none-match" in r.headers or "if-modified-since" in r.headers for r in log)
    with Store(settings.database) as store:
        assert store.count_items() == total

    # Not due yet: a plain fetch does nothing.
    feed_server.reset()
    assert main(["--config", str(config), "fetch"]) == 0
    assert f"nothing due: {len(files)} sources fresh (next at " in capsys.readouterr().out
    assert not [r for r in feed_server.log if r.path.startswith("/corpus/real/")]

    assert main(["--config", str(config), "status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(files)
    assert {r["state"] for r in rows} <= {"ok", "not-modified"}
    assert all(r["http_status"] in (200, 304) and r["last_error"] is None for r in rows)
    assert all(r["items"] > 0 and r["next_attempt"] for r in rows)


def test_broken_sources_are_recorded_and_the_run_goes_on(tmp_path, feed_server, capsys):
    good = sorted(REAL.glob("*.xml"))[0]
    feed_server.put("notafeed.html", b"<html><body>Hello</body></html>", "text/html")
    config = write_config(
        tmp_path,
        [
            ("good", feed_server.url(f"corpus/real/{good.name}")),
            ("server-error", feed_server.url("_status/500")),
            ("html-page", feed_server.url("notafeed.html")),
            ("gone", feed_server.url("_status/410")),
        ],
    )
    assert main(["--config", str(config), "fetch"]) == 0
    out = capsys.readouterr().out
    assert "1 ok" in out and "3 failed" in out
    assert main(["--config", str(config), "status", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["good"]["state"] == "ok" and rows["good"]["items"] > 0
    assert (
        rows["server-error"]["state"] == "backing-off"
        and rows["server-error"]["http_status"] == 500
    )
    assert rows["html-page"]["state"] == "backing-off" and rows["html-page"]["last_error"]
    assert rows["gone"]["state"] == "gone" and rows["gone"]["next_attempt"] is None
    # The gone source is never requested again, even with --force.
    feed_server.reset()
    assert main(["--config", str(config), "fetch", "--force"]) == 0
    assert not feed_server.requests_for("/_status/410")


def test_fatal_problems_exit_non_zero_with_one_line(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("sources:\n  - name: x\n    url: notaurl\n", encoding="utf-8")
    assert main(["--config", str(bad), "fetch"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "url" in err
    db = tmp_path / "agg.db"
    db.write_bytes(b"garbage" * 1000)
    good = write_config(tmp_path, [("x", "http://127.0.0.1:9/feed")])
    assert main(["--config", str(good), "fetch"]) == 1
    assert "agg.db" in capsys.readouterr().err


def test_changed_item_is_updated_in_place(tmp_path, feed_server, database):
    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
    <link>https://example.org/</link><description>d</description>
    <item><title>{title}</title><link>https://example.org/a</link><guid>https://example.org/a</guid>
    <description>Le Maroc et l'IA</description></item></channel></rss>"""
    feed_server.put("changing.xml", rss.format(title="First title"))
    config = write_config(tmp_path, [("changing", feed_server.url("changing.xml"))],
                          database=database)  # fmt: skip
    settings = load(config)
    clock = [datetime(2026, 11, 23, 8, 0, tzinfo=UTC)]
    with Store(settings.database) as store:
        pipe = Pipeline(settings, store, clock=lambda: clock[0])
        assert pipe.refresh().new_items == 1
        first = store.items()[0]
        feed_server.put("changing.xml", rss.format(title="Second title"))
        clock[0] += timedelta(hours=1)
        report = pipe.refresh(force=True)
        assert report.new_items == 0 and report.outcomes[0].updated == 1
        (item,) = store.items()
        assert item.id == first.id and item.first_seen == first.first_seen
        assert item.title == "Second title" and item.last_seen == clock[0]


def test_publish_after_fetch_writes_every_format(corpus_config, tmp_path):
    config, _files = corpus_config
    settings = load(config)
    with Store(settings.database) as store:
        Pipeline(settings, store).refresh()
        report = publish(settings, store)
    out = settings.output.dir
    for name in ("feed.xml", "atom.xml", "feed.json", "index.html"):
        assert (out / name).stat().st_size > 1000, name
    for tag in ("ai", "africa", "ai-africa"):
        for ext in ("xml", "atom", "json"):
            assert (out / "tags" / f"{tag}.{ext}").exists()
    doc = json.loads((out / "feed.json").read_text(encoding="utf-8"))
    assert len(doc["items"]) == settings.output.max_items
    assert report.written


def test_a_rolled_back_source_leaves_nothing_in_the_dedupe_window(tmp_path):
    """Source b's transaction fails after its items were clustered (a trigger stands in for a
    full disk): the story it would have started must not be found by source c afterwards (its
    cluster was never written), so c starts the cluster itself."""
    from aggregator.service.workers import Job, prepare_feed

    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
    <link>https://{s}.example/</link><description>d</description><item><title>{t}</title>
    <link>https://{s}.example/story</link><description>{b}</description></item></channel></rss>"""
    title = "Ghana and Morocco sign an agreement on artificial intelligence research centres"
    body = ("The two governments agreed on Tuesday to open three joint research centres on "
            "artificial intelligence in Accra, Rabat and Kumasi over the next four years.")  # fmt: skip
    config = write_config(tmp_path, [(s, f"http://127.0.0.1:9/{s}.xml") for s in ("b", "c")])
    settings = load(config)
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with Store(settings.database) as store:
        pipe = Pipeline(settings, store, clock=lambda: now)
        store.db.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON items WHEN NEW.source_id ="
            " (SELECT id FROM sources WHERE name='b') BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

        def ingest(name: str) -> None:
            doc = rss.format(s=name, t=title, b=body).encode()
            job = Job(doc, f"https://{name}.example/rss", {}, None, (), {})
            prepared = prepare_feed(job, pipe.tagger)
            pipe.ingest(pipe.sources[name], prepared, store.source_state(name), now)

        with pytest.raises(sqlite3.IntegrityError, match="disk full"):
            ingest("b")
        ingest("c")  # a ghost of b in the window would give c a cluster that does not exist
        (item,) = store.items()
        (story,) = store.stories([item.cluster_id])
        assert item.source == "c" and story.item.id == item.id


def test_refresh_pauses_the_cyclic_gc_and_restores_it(tmp_path, feed_server):
    import gc

    feed_server.put("one.xml", (REAL / sorted(p.name for p in REAL.glob("*.xml"))[0]).read_bytes())
    settings = load(write_config(tmp_path, [("one", feed_server.url("one.xml"))]))
    seen = []
    with Store(settings.database) as store:
        pipe = Pipeline(settings, store)
        assert gc.isenabled()
        pipe.refresh(progress=lambda outcome: seen.append(gc.isenabled()))
        assert seen == [False] and gc.isenabled()

        def boom(outcome):
            raise RuntimeError("progress callback failed")

        with pytest.raises(RuntimeError):
            pipe.refresh(force=True, progress=boom)
        assert gc.isenabled()
        gc.disable()  # a caller that had it off keeps it off
        try:
            pipe.refresh(force=True)
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_a_first_run_forks_its_workers_before_the_first_download(tmp_path, feed_server):
    """Sources never fetched will all need parsing: the worker processes start with the run,
    not when the first body arrives. A run of 304s never forks."""
    import multiprocessing

    from aggregator.service.workers import POOL_MIN

    files = sorted(REAL.glob("*.xml"))[: POOL_MIN + 2]
    children_at_request: list[int] = []

    def serve(path: Path):
        def handler(req) -> None:
            children_at_request.append(len(multiprocessing.active_children()))
            req.send_body(200, path.read_bytes(), {"Content-Type": "application/xml"})

        return handler

    sources = [(f.stem, feed_server.route(f"first/{f.name}", serve(f))) for f in files]
    settings = load(write_config(tmp_path, sources))
    with Store(settings.database) as store:
        pipe = Pipeline(settings, store)
        assert multiprocessing.active_children() == []
        report = pipe.refresh()
        assert report.count("ok") == len(files) and report.new_items > 0
        assert children_at_request and min(children_at_request) >= 1  # already forked

        children_at_request.clear()
        pipe.refresh(force=True)  # same bytes again (no validators): nothing to parse
        assert children_at_request and max(children_at_request) == 0


def test_workers_run_nicer_than_the_main_process_with_wide_pipes(tmp_path):
    """The main process (every result, every SQL statement) gets a CPU before the workers, and
    a worker's result does not wait for it in a 64 KiB pipe."""
    import fcntl
    import multiprocessing
    import os

    from aggregator.service.workers import PIPE_BYTES, POOL_MIN, WORKER_NICE, PrepPool
    from aggregator.tagging import Tagger

    settings = load(write_config(tmp_path, [("one", "http://127.0.0.1:9/feed.xml")]))
    pool = PrepPool(lambda: Tagger.from_settings(settings.topics, settings.tagging.threshold))
    try:
        pool.start(POOL_MIN)
        pool._pool.submit(int).result(timeout=60)  # the workers are up (initializer done)
        children = multiprocessing.active_children()
        assert len(children) == pool.workers
        parent_nice = os.getpriority(os.PRIO_PROCESS, 0)
        for child in children:
            assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, parent_nice + WORKER_NICE)
        result_pipe = pool._pool._result_queue._reader.fileno()
        assert fcntl.fcntl(result_pipe, fcntl.F_GETPIPE_SZ) == PIPE_BYTES
    finally:
        pool.close()


def test_source_tags_reach_every_item_and_prior_only_hints(tmp_path, feed_server):
    """``tags: [africa]`` puts an off-topic story of that source in tags/africa.xml; the same
    story from a ``prior: [africa]`` source stays out (the prior goes to the tagger, a hint)."""
    from aggregator.tagging import Tagger

    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{s}</title>
    <link>https://{s}.example/</link><description>d</description>
    <item><title>{t}</title><link>https://{s}.example/{slug}</link>
    <description>{b}</description></item></channel></rss>"""
    stories = {
        "sectioned": ("Winter storm in the United States: 700,000 homes without power",
                      "Thousands of flights were cancelled across the north-east on Sunday."),
        "mixed": ("France: a sailor breaks the round-the-world record in 40 days",
                  "He crossed the finish line off Brest on Saturday evening after a solo race."),
    }  # fmt: skip
    for name, (title, body) in stories.items():
        feed_server.put(f"{name}.xml", rss.format(s=name, t=title, b=body, slug=name))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: agg.db\n"
        "output: {dir: public, base_url: 'https://news.example.org/'}\n"
        "fetch: {timeout: 10s, allow_private: ['127.0.0.0/8']}\n"
        "sources:\n"
        f"  - {{name: sectioned, url: '{feed_server.url('sectioned.xml')}', tags: [africa]}}\n"
        f"  - {{name: mixed, url: '{feed_server.url('mixed.xml')}', prior: [africa]}}\n",
        encoding="utf-8",
    )
    settings = load(config)
    seen: dict[str, tuple[str, ...]] = {}

    class Recording(Tagger):
        def tag(self, title, summary="", language=None, source_tags=()):
            seen[title] = tuple(source_tags)
            return super().tag(title, summary, language, source_tags)

    tagger = Recording.from_settings(settings.topics, settings.tagging.threshold)
    with Store(settings.database) as store:
        assert Pipeline(settings, store, tagger=tagger).refresh().new_items == 2
        items = {i.source: i for i in store.items()}
        publish(settings, store)
    # the scorer's input: the prior, never the source tags
    assert seen == {stories["sectioned"][0]: (), stories["mixed"][0]: ("africa",)}
    assert items["sectioned"].tags == ("africa",)
    assert items["sectioned"].why == {"africa": ("source:africa",)}
    assert items["mixed"].tags == ()
    africa = (settings.output.dir / "tags" / "africa.xml").read_text(encoding="utf-8")
    assert "700,000 homes without power" in africa
    assert "round-the-world" not in africa
    combined = (settings.output.dir / "feed.xml").read_text(encoding="utf-8")
    assert "round-the-world" in combined  # published, only not as Africa


def test_workers_apply_source_tags_after_the_prior(tmp_path):
    """The worker path (``Job`` -> ``prepare_feed``): tags applied, prior given to the tagger."""
    from aggregator.service.workers import Job, prepare_feed
    from aggregator.tagging import Tagger

    rss = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
    <link>https://w.example/</link><description>d</description>
    <item><title>Weekend football results</title><link>https://w.example/a</link>
    <description>All the scores of the league.</description></item></channel></rss>"""
    calls: list[tuple[str, ...]] = []

    class Recording(Tagger):
        def tag(self, title, summary="", language=None, source_tags=()):
            calls.append(tuple(source_tags))
            return super().tag(title, summary, language, source_tags)

    tagger = Recording.from_settings({}, 1.0)
    job = Job(rss, "https://w.example/rss", {}, "en", ("morocco",), {}, ("ai",))
    prepared = prepare_feed(job, tagger)
    assert not isinstance(prepared, Exception)
    ((_key, _hash, _parsed, prep),) = prepared.items
    assert prep is not None
    assert calls == [("ai",)]
    assert prep.tagging.tags == ("africa", "morocco")
    assert prep.tagging.countries == ("MA",)
    assert prep.tagging.why == {"africa": ("source:morocco",), "morocco": ("source:morocco",)}
