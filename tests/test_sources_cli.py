"""``aggregator sources``: real config files edited in place (comments and order kept, checked,
atomic, backed up), sources added from a home page on the loopback server, ``fetch`` saying why
nothing was due, and a running ``aggregator run`` picking the change up."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.config import load, problems

DEMO = Path(__file__).resolve().parents[1] / "aggregator" / "data" / "demo"
RSS = (DEMO / "techcabal-en.xml").read_bytes()

CONFIG = """\
# The operator's notes stay where they are.
database: agg.db
fetch:
  interval: 30m
  allow_private: [127.0.0.0/8]     # the test sites live on loopback

sources:
  # Morocco
  - name: Hespress AR
    url: {hespress}
    language: ar                   # Arabic
    prior: [africa]

  # Tech
  - name: TechCabal
    url: {techcabal}
    language: en
  - name: "Rest of World"
    url: {row}

digest:
  timezone: Africa/Casablanca
  outbox: outbox
"""


@pytest.fixture
def site(feed_server_factory):
    return feed_server_factory(DEMO)


@pytest.fixture
def cfg(tmp_path, site) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG.format(
            hespress=site.url("hespress-ar.xml"),
            techcabal=site.url("techcabal-en.xml"),
            row=site.url("rest-of-world-en.xml"),
        ),
        encoding="utf-8",
    )
    return path


def agg(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args])


def home(*hrefs: str) -> bytes:
    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" title="t{i}" href="{h}">'
        for i, h in enumerate(hrefs)
    )
    return f"<html><head><title>Home</title>{links}</head><body></body></html>".encode()


def test_pause_then_resume_gives_back_the_same_bytes(cfg, capsys):
    before = cfg.read_bytes()
    assert agg(cfg, "sources", "pause", "techcabal") == 0  # any case
    paused = cfg.read_text(encoding="utf-8")
    assert "paused 'TechCabal' (previous version in config.yaml.bak)" in capsys.readouterr().out
    assert (cfg.parent / "config.yaml.bak").read_bytes() == before
    assert [s.enabled for s in load(cfg).sources] == [True, False, True]
    # Only the entry changed: one line added under it, every comment where it was.
    added = [line for line in paused.splitlines() if line not in before.decode().splitlines()]
    assert added == ["    enabled: false"]
    assert agg(cfg, "sources", "pause", "TechCabal") == 0
    assert "paused already" in capsys.readouterr().out
    assert agg(cfg, "sources", "resume", "TechCabal") == 0
    assert cfg.read_bytes() == before


def test_remove_keeps_the_comments_around_the_entry(cfg, capsys):
    text = cfg.read_text(encoding="utf-8")
    assert agg(cfg, "sources", "remove", "Hespress AR") == 0
    after = cfg.read_text(encoding="utf-8")
    assert "Hespress" not in after
    for comment in ("# The operator's notes", "# the test sites live", "# Morocco", "# Tech"):
        assert comment in after
    assert problems(cfg) == []
    # The last entry: the comment-free tail (digest:) follows as before.
    assert agg(cfg, "sources", "remove", "Rest of World") == 0
    after = cfg.read_text(encoding="utf-8")
    assert after.index("# Tech") < after.index("- name: TechCabal") < after.index("digest:")
    assert [s.name for s in load(cfg).sources] == ["TechCabal"]
    assert text.endswith(after[after.index("digest:") :])
    assert "    language: en\n\ndigest:" in after  # the blank line before the next key too
    # The only one left cannot go: a config needs a source, and the file is kept as it was.
    kept = cfg.read_bytes()
    assert agg(cfg, "sources", "remove", "TechCabal") == 2
    err = capsys.readouterr().err
    assert f"{cfg}:11: sources[0]: 'TechCabal' is the only source" in err
    assert "not changed" in err
    assert cfg.read_bytes() == kept


def test_remove_of_the_first_of_a_group_moves_the_next_heading(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "sources:\n  # first group\n  - name: A\n    url: https://a.example/feed\n\n"
        "  # second group\n  - name: B\n    url: https://b.example/feed\n",
        encoding="utf-8",
    )
    assert agg(path, "sources", "remove", "A") == 0
    text = path.read_text(encoding="utf-8")
    assert "# second group" in text and "- name: A" not in text
    assert [s.name for s in load(path).sources] == ["B"]


def test_rename_and_unknown_names(cfg, capsys):
    assert agg(cfg, "sources", "rename", "TechCabal", "TechCabal (EN)") == 0
    assert [s.name for s in load(cfg).sources][1] == "TechCabal (EN)"
    assert agg(cfg, "sources", "rename", "Hespress AR", "techcabal (en)") == 2
    assert "a source is named 'techcabal (en)' already" in capsys.readouterr().err
    assert agg(cfg, "sources", "pause", "Hespres AR") == 2
    err = capsys.readouterr().err
    assert f"{cfg}:7: sources: no source named 'Hespres AR' (did you mean 'Hespress AR'?)" in err


def test_add_a_feed_url_as_is(cfg, capsys):
    url = "https://news.example.org/feed.xml"
    assert agg(cfg, "sources", "add", url, "--no-discover", "--name", "Example",
               "--language", "FR", "--tags", "ai, africa") == 0  # fmt: skip
    last = load(cfg).sources[-1]
    assert (last.name, last.url, last.language, last.tags) == (
        "Example",
        url,
        "fr",
        ("ai", "africa"),
    )
    text = cfg.read_text(encoding="utf-8")
    assert "    tags: [ai, africa]\n" in text
    assert text.index("name: Example") < text.index("digest:")  # in the list, not after it
    # The same URL again, and a tag the tagger cannot give: nothing written.
    before = cfg.read_bytes()
    assert agg(cfg, "sources", "add", url + "/", "--no-discover", "--name", "Again") == 2
    assert "is already configured as 'Example'" in capsys.readouterr().err
    assert agg(cfg, "sources", "add", "https://x.example/rss", "--no-discover",
               "--tags", "sport") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"{cfg}:" in err and "unknown tag 'sport'" in err and "not changed" in err
    assert cfg.read_bytes() == before


def test_add_from_a_home_page(cfg, site, capsys):
    site.put("/", home("/feed/"), "text/html; charset=utf-8")
    site.put("/feed/", RSS.replace(b"TechCabal - Article Feed", b"Home Site News"))
    assert agg(cfg, "sources", "add", site.url(""), "--tags", "africa") == 0
    out = capsys.readouterr().out
    assert f"1 feed found at {site.url('')}:" in out
    assert f"added 'Home Site News' ({site.url('feed/')})" in out
    last = load(cfg).sources[-1]
    assert (last.name, last.url, last.language, last.tags) == (
        "Home Site News", site.url("feed/"), "en", ("africa",)
    )  # fmt: skip


def test_add_a_json_feed_found_from_a_home_page(cfg, site, capsys):
    feed = (Path(__file__).parent / "data" / "jsonfeed" / "daringfireball-1.1.json").read_bytes()
    site.put("/", b'<html><head><link rel="alternate" type="application/feed+json" '
             b'href="/feeds/json"></head></html>', "text/html")  # fmt: skip
    site.put("/feeds/json", feed, "application/json")
    assert agg(cfg, "sources", "add", site.url("")) == 0
    out = capsys.readouterr().out
    assert f"1. Daring Fireball  {site.url('feeds/json')}" in out
    assert "JSON Feed, 48 items, linked from the page" in out
    assert f"added 'Daring Fireball' ({site.url('feeds/json')})" in out
    assert (load(cfg).sources[-1].name, load(cfg).sources[-1].url) == (
        "Daring Fireball", site.url("feeds/json")
    )  # fmt: skip


def test_several_feeds_are_listed_and_one_is_picked(cfg, site, capsys):
    site.put("/", home("/feed/", "/comments/feed/"), "text/html")
    site.put("/feed/", RSS.replace(b"TechCabal - Article Feed", b"Posts"))
    site.put("/comments/feed/", RSS.replace(b"TechCabal - Article Feed", b"Comments"))
    before = cfg.read_bytes()
    assert agg(cfg, "sources", "add", site.url("")) == 2  # a choice is needed: a usage problem
    captured = capsys.readouterr()
    assert "1. Posts [en]" in captured.out and "2. Comments [en]" in captured.out
    assert "2 feeds found" in captured.err and "--pick N (1 to 2)" in captured.err
    assert cfg.read_bytes() == before
    assert agg(cfg, "sources", "add", site.url(""), "--pick", "3") == 2
    assert agg(cfg, "sources", "add", site.url(""), "--pick", "2", "--name", "Talk") == 0
    assert (load(cfg).sources[-1].name, load(cfg).sources[-1].url) == (
        "Talk", site.url("comments/feed/")
    )  # fmt: skip


def test_add_refuses_a_private_site_unless_allowed(tmp_path, site, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("sources:\n  - name: A\n    url: https://a.example/feed\n", encoding="utf-8")
    site.put("/", home("/feed/"), "text/html")
    assert agg(path, "sources", "add", site.url("")) == 1
    assert "refused private address 127.0.0.1" in capsys.readouterr().err
    assert not site.log


def test_the_first_source_of_an_empty_config(tmp_path, site):
    path = tmp_path / "config.yaml"
    path.write_text("# fresh install\nfetch:\n  allow_private: [127.0.0.0/8]\n", encoding="utf-8")
    assert agg(path, "sources", "add", site.url("techcabal-en.xml")) == 0
    (only,) = load(path).sources
    assert only.name == "TechCabal - Article Feed"
    assert path.read_text(encoding="utf-8").startswith("# fresh install\n")


def test_list_shows_states_and_fetch_says_why_nothing_is_due(cfg, site, capsys):
    assert agg(cfg, "sources", "list") == 0
    out = capsys.readouterr().out
    assert (
        "Hespress AR" in out and "never" in out and "(3 sources; times in Africa/Casablanca)" in out
    )
    assert agg(cfg, "fetch") == 0
    assert "3 sources: 3 ok" in capsys.readouterr().out
    assert agg(cfg, "sources", "pause", "Rest of World") == 0
    capsys.readouterr()
    assert agg(cfg, "sources", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["TechCabal"]["state"] == "ok" and rows["TechCabal"]["items"] == 10
    assert rows["TechCabal"]["last_success"] and rows["TechCabal"]["next_attempt"]
    assert (
        rows["Rest of World"]["state"] == "paused" and rows["Rest of World"]["next_attempt"] is None
    )
    assert agg(cfg, "sources", "list") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Rest of World"))
    assert " paused " in line and line.rstrip().endswith(site.url("rest-of-world-en.xml"))
    assert agg(cfg, "status", "--json") == 0
    status = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert status["Rest of World"]["state"] == "paused" and status["TechCabal"]["state"] == "ok"

    site.reset()
    assert agg(cfg, "fetch") == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing due: 2 sources fresh (next at ")
    assert "1 paused; times in Africa/Casablanca; --force fetches now" in out
    assert not site.log
    assert agg(cfg, "run", "--once") == 0
    assert capsys.readouterr().out.startswith("nothing due: ")


def test_a_backing_off_source_is_named_in_the_nothing_due_line(tmp_path, site, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(
        "database: agg.db\nfetch: {allow_private: [127.0.0.0/8]}\nsources:\n"
        f"  - name: Broken\n    url: {site.url('_status/500')}\n", encoding="utf-8",
    )  # fmt: skip
    assert agg(path, "fetch") == 0
    capsys.readouterr()
    assert agg(path, "fetch") == 0
    assert capsys.readouterr().out.startswith("nothing due: 1 source backing off (next at ")


def _run(cfg: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(cfg), "-v", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _until(test, what: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if proc.poll() is not None:
            raise AssertionError(f"the service exited before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _items(db: Path, source: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT count(*) FROM items JOIN sources ON sources.id=items.source_id"
            " WHERE sources.name=?",
            (source,),
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_a_running_service_picks_up_an_edit_without_a_signal(cfg, site, tmp_path):
    assert agg(cfg, "sources", "remove", "Rest of World") == 0
    db = tmp_path / "agg.db"
    proc = _run(cfg)
    try:
        _until(lambda: _items(db, "TechCabal") == 10, "the first refresh", proc)
        assert agg(cfg, "sources", "add", site.url("rest-of-world-en.xml"), "--name", "RoW") == 0
        _until(lambda: _items(db, "RoW") > 0, "the added source's items", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"{cfg} changed: reloading" in err and "reloaded" in err


def test_list_status_and_fetch_agree_on_a_retired_source(tmp_path, site, capsys):
    """A 410 retires a source: no command may say it is due ("now" in the list was wrong)."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "database: agg.db\nfetch: {allow_private: [127.0.0.0/8]}\nsources:\n"
        f"  - name: Gone\n    url: {site.url('_status/410')}\n"
        f"  - name: TechCabal\n    url: {site.url('techcabal-en.xml')}\n", encoding="utf-8",
    )  # fmt: skip
    assert agg(path, "fetch") == 0
    capsys.readouterr()
    assert agg(path, "sources", "list") == 0
    gone = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Gone"))
    assert gone.split()[1:4] == ["-", "gone", "never"] and " - " in gone and "now" not in gone
    assert agg(path, "sources", "list", "--json") == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert agg(path, "status", "--json") == 0
    status = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("Gone", "TechCabal"):
        for key in ("state", "since", "next_attempt", "silent"):
            assert listed[name][key] == status[name][key], (name, key)
    assert (status["Gone"]["state"], status["Gone"]["next_attempt"]) == ("gone", None)
    assert agg(path, "fetch") == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing due: 1 source fresh (next at ")
    assert ", 1 gone (410: change the URL to revive); times in " in out
