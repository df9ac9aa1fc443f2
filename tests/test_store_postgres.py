"""The PostgreSQL backend: the same methods as SQLite's (a method added to one backend only fails
here), the same migrations, ``db upgrade``, ``db copy`` and ``check`` against a real server, and
the whole corpus giving the same published files and the same stories on both backends.

The store tests themselves run on both backends through the ``database`` fixture
(tests/conftest.py); the server is the test run's own (tests/support/postgres.py).
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.config import load
from aggregator.errors import StorageError
from aggregator.models import Digest, DigestSection, Tagging
from aggregator.normalize import item_key
from aggregator.service.pipeline import Pipeline, publish
from aggregator.store import Store, postgres, sqlite

from support.corpus import REAL, write_config

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name == "__init__"
    }


# ---- the contract: same families, same methods, same signatures --------------------------------


@pytest.mark.parametrize("name", sorted(set(sqlite.__all__) - {"MIGRATIONS", "Connection"}))
def test_every_sqlite_family_has_a_postgres_twin_with_the_same_signatures(name):
    """Each family object of store/sqlite/ exists in store/postgres/ with every public method
    of the same signature (names, kinds, defaults, annotations): a method added to SQLite only
    (or changed there) fails here, not in production on PostgreSQL."""
    lite, pg = getattr(sqlite, name), getattr(postgres, name, None)
    assert pg is not None, f"store.postgres has no {name}"
    theirs = _public(pg)
    for method, sig in _public(lite).items():
        if method == "__init__":  # takes its own backend's connection
            assert [p for p in sig.parameters] == [p for p in theirs["__init__"].parameters]
            continue
        assert method in theirs, f"store.postgres.{name} lacks {method}{sig}"
        assert str(theirs[method]) == str(sig), f"{name}.{method}: {theirs[method]} != {sig}"


def test_the_connections_offer_what_the_facade_uses():
    lite, pg = _public(sqlite.Connection), _public(postgres.Connection)
    for method in ("transaction", "bulk", "commit_group", "integrity_check", "close"):
        assert str(lite[method]) == str(pg[method]), method


def test_the_families_question_marks_become_psycopgs_placeholders():
    """The families write statements once with ``?``; PostgreSQL's ``db`` rewrites them (a
    quoted ``?`` is text, every ``%`` is doubled for psycopg)."""
    from aggregator.store.postgres.connection import qmark

    assert qmark("SELECT '?%' FROM t WHERE a=? AND b LIKE '%' || ?") == (
        "SELECT '?%%' FROM t WHERE a=%s AND b LIKE '%%' || %s"
    )


@pytest.mark.postgres
def test_a_family_statement_runs_on_both_backends(tmp_path, postgres_url):
    for database in (tmp_path / "agg.db", postgres_url):
        with Store(database) as store:
            store.sync_sources([(n, f"https://{n}.example/feed") for n in ("A", "B", "C")])
            row = store.conn.db.execute("SELECT '50%?', name FROM sources WHERE name=?", ("B",))
            assert tuple(row.fetchone()) == ("50%?", "B"), store.backend
            names = store.conn.select_in(
                "SELECT name FROM sources WHERE id {in} AND name <> ? ORDER BY name", [1, 3], "A"
            )
            assert [r[0] for r in names] == ["C"], store.backend


def test_both_backends_have_the_same_numbered_migrations():
    """One schema, one numbering: a step appended to SQLite's MIGRATIONS needs its PostgreSQL
    DDL at the same index."""
    assert len(postgres.MIGRATIONS) == len(sqlite.MIGRATIONS)


def test_store_picks_the_backend_from_the_database_value(tmp_path, postgres_url):
    with Store(tmp_path / "agg.db") as lite, Store(postgres_url) as pg:
        assert (lite.backend, pg.backend) == ("sqlite", "postgresql")
        assert pg.where.startswith("postgresql://postgres@/t") and "?host=/" in pg.where
        assert isinstance(pg.sources, postgres.Sources)
        with pytest.raises(StorageError, match="no sqlite3 connection"):
            pg.db  # noqa: B018


def test_an_unreachable_server_is_one_clear_storage_error(tmp_path):
    with pytest.raises(StorageError, match="cannot connect"):
        Store(f"postgresql://nobody@/agg?host={tmp_path}", timeout=2)


@pytest.mark.postgres
def test_a_newer_schema_is_refused(postgres_url):
    Store(postgres_url).close()
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE aggregator_schema SET version = version + 5")
    with pytest.raises(StorageError, match="newer than this aggregator"):
        Store(postgres_url)


@pytest.mark.postgres
def test_two_stores_on_one_database_write_in_turn(postgres_url):
    """Two processes' stores (here two pools) give ids as max + 1 behind the writers' lock:
    interleaved transactions never take the same id."""
    import threading

    from aggregator.models import ParsedItem

    a, b = Store(postgres_url), Store(postgres_url)
    a.sync_sources([("A", "https://a.example/feed"), ("B", "https://b.example/feed")])
    errors: list[BaseException] = []

    def write(store: Store, source: str) -> None:
        try:
            for n in range(40):
                p = ParsedItem(guid=f"{source}{n}", link=f"https://x.example/{source}/{n}",
                               title=f"{source} {n}")  # fmt: skip
                with store.transaction():
                    iid = store.insert_item(source, item_key(p), p.link, p, "h", Tagging(), T0)
                    store.new_cluster(iid, T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((a, "A"), (b, "B"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert a.count_items() == 80 and len(a.latest_stories(100)) == 80
    a.close()
    b.close()


@pytest.mark.postgres
def test_forget_keeps_one_ledger_row_per_issue(postgres_url):
    """SQLite's UPDATE OR IGNORE: of two rows of one person in one issue, one takes the hash,
    the other goes."""
    with Store(postgres_url) as store:
        store.set_subscriber_status("f@example.org", "confirmed", "operator", T0)
        store.begin_delivery("2026-W48", "f@example.org", "<1@x>", T0)
        store.begin_delivery("2026-W48", "Forget <f@example.org>", "<2@x>", T0)
        store.begin_delivery("2026-W48", "other@example.org", "<3@x>", T0)
        assert store.forget_subscriber("F@example.org", T0)
        rows = store.deliveries("2026-W48")
        assert len(rows) == 2 and "other@example.org" in rows
        assert not any("f@example.org" in k for k in rows)
        assert store.is_forgotten("f@example.org") and store.subscriber("f@example.org") is None


# ---- the commands ------------------------------------------------------------------------------


def _config(tmp_path: Path, database: str, extra: str = "") -> Path:
    return write_config(tmp_path, [("one", "http://127.0.0.1:9/feed.xml")], extra, database)


@pytest.mark.postgres
def test_check_and_db_upgrade_on_postgresql(tmp_path, postgres_url, capsys):
    config = _config(tmp_path, postgres_url)
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "database: postgresql postgresql://postgres@" in out and "schema version 0 of" in out
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert f"schema version {len(sqlite.MIGRATIONS)} ({len(sqlite.MIGRATIONS)} migrations" in (
        capsys.readouterr().out
    )
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert "(0 migrations applied)" in capsys.readouterr().out
    assert main(["--config", str(config), "check"]) == 0
    assert f"reachable, schema version {len(sqlite.MIGRATIONS)}\n" in capsys.readouterr().out


def test_check_says_when_the_database_is_unreachable(tmp_path, capsys):
    config = _config(tmp_path, f"postgresql://agg@/agg?host={tmp_path}")
    assert main(["--config", str(config), "check"]) == 1
    captured = capsys.readouterr()
    assert "config.yaml: OK" in captured.out
    assert "database: unreachable: postgresql://agg@" in captured.err
    assert "cannot connect" in captured.err


def test_config_refuses_a_password_in_the_url_and_other_schemes(tmp_path, capsys):
    config = _config(tmp_path, "postgresql://agg:secret@db.example.org/agg")
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert "never put a password in the URL" in err and "secret" not in err
    config = _config(tmp_path, "mysql://agg@db.example.org/agg")
    assert main(["--config", str(config), "check"]) == 2
    assert "mysql:// is not a database" in capsys.readouterr().err


def test_the_password_comes_from_the_named_variable(tmp_path):
    config = _config(
        tmp_path, "postgresql://agg@db.example.org/agg", "database_password_env: PGX\n"
    )
    settings = load(config)
    assert settings.database == "postgresql://agg@db.example.org/agg"
    assert settings.database.password_env == "PGX"  # type: ignore[union-attr]


@pytest.mark.postgres
def test_db_copy_moves_every_table_and_verifies_the_counts(tmp_path, postgres_url, feed_server,
                                                            capsys):  # fmt: skip
    files = sorted(REAL.glob("*.xml"))[:6]
    config = write_config(tmp_path, [(f.stem, feed_server.url(f"corpus/real/{f.name}"))
                                     for f in files])  # fmt: skip
    settings = load(config)
    with Store(settings.database) as lite:
        Pipeline(settings, lite, clock=lambda: T0).refresh()
        lite.set_subscriber_status("ana@example.org", "confirmed", "form", T0, topics=["ai"])
        lite.unsubscribe("bob@example.org", T0)
        lite.meta_setdefault("secret", "s3")
        stories = lite.latest_stories(50)
        lite.freeze_digest(
            Digest("2026-W48", T0, T0 + timedelta(7), "Issue",
                   (DigestSection("ai", "AI", tuple(stories[:3])),)), T0,
        )  # fmt: skip
        lite.finish_delivery("2026-W48", "ana@example.org", "sent", T0)
        before = (lite.items(), stories, lite.subscribers(), lite.source_states(),
                  lite.frozen_digest("2026-W48"), lite.deliveries("2026-W48"),
                  list(lite.dedupe_window(T0 - timedelta(days=1))))  # fmt: skip

    assert main(["--config", str(config), "db", "copy", "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "counts verified" in out and " items " in out and "dedupe_text" in out

    with Store(postgres_url) as pg:
        after = (pg.items(), pg.latest_stories(50), pg.subscribers(), pg.source_states(),
                 pg.frozen_digest("2026-W48"), pg.deliveries("2026-W48"),
                 list(pg.dedupe_window(T0 - timedelta(days=1))))  # fmt: skip
        assert after == before
        assert pg.meta_get("secret") == "s3"
        # the copied store goes on: new ids follow the copied ones
        new = pg.set_subscriber_status("cy@example.org", "confirmed", "form", T0)
        assert new is not None and new.id > max(s.id for s in before[2])

    # a second copy into the same (now full) database is refused, nothing changed
    assert main(["--config", str(config), "db", "copy", "--to", postgres_url]) == 1
    assert "is not empty" in capsys.readouterr().err


# ---- same behaviour: the whole corpus on both backends -----------------------------------------


def _corpus_run(tmp_path: Path, feed_server, database: str | None) -> tuple[dict, list]:
    """Refresh the corpus one source at a time (sorted, the clock a minute further each time:
    the ids and times do not depend on which download ends first), publish, and return the
    published files and the stories (cluster id, member sources and keys)."""
    tmp_path.mkdir()
    files = sorted(REAL.glob("*.xml"))
    sources = [(f.stem, feed_server.url(f"corpus/real/{f.name}")) for f in files]
    config = write_config(tmp_path, sources, database=database or "agg.db")
    settings = load(config)
    clock = [T0]
    with Store(settings.database) as store, Pipeline(settings, store,
                                                     clock=lambda: clock[0]) as pipe:  # fmt: skip
        for f in files:
            report = pipe.refresh([f.stem])
            assert report.count("ok") == 1, f.name
            clock[0] += timedelta(minutes=1)
        publish(settings, store, now=clock[0])
        members: dict[int | None, list[tuple[str, str]]] = {}
        for it in store.items():
            members.setdefault(it.cluster_id, []).append((it.source, it.key))
        stories = [
            (s.cluster_id, s.item.id, sorted(members[s.cluster_id]))
            for s in store.latest_stories(10_000)
        ]
    out = settings.output.dir
    published = {
        str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }
    return published, stories


@pytest.mark.slow
@pytest.mark.postgres
def test_the_corpus_gives_the_same_files_and_stories_on_both_backends(
    tmp_path, feed_server, postgres_url
):
    lite_files, lite_stories = _corpus_run(tmp_path / "sqlite", feed_server, None)
    pg_files, pg_stories = _corpus_run(tmp_path / "pg", feed_server, postgres_url)
    assert len(lite_stories) > 300
    assert pg_stories == lite_stories
    assert sorted(pg_files) == sorted(lite_files) and len(lite_files) > 20
    differ = [name for name in lite_files if pg_files[name] != lite_files[name]]
    assert not differ, differ
    feed = json.loads(lite_files["feed.json"])
    assert feed["items"]


# ---- the digest's ledger: editions and bounces on both backends --------------------------------


def _send_week(tmp_path: Path, database: str | Path) -> tuple:
    """A week of stories, subscribers with choices (one edition empty), one address the SMTP
    server refuses for good and one with an earlier refusal; send, then send again (a rerun
    sends nothing more). Returns what the ledger and the subscribers say (a delivery's time is
    the clock's: whether it has one)."""
    from aggregator.service import subscriptions as subs
    from aggregator.service.sending import send_digest

    from support.digest import AFTER_W48, add_story, smtp_settings
    from support.smtpserver import RefusingSink

    tmp_path.mkdir()
    issue, gone, fine = "2026-W48", "gone@example.net", "fine@example.net"
    choices = {"ai@example.org": ("ai",), "fr@example.org": (), "empty@example.org": ("sport",)}
    with Store(database) as store, RefusingSink(permanent={gone: ""}) as sink:
        add_story(store, "Le Desk", "ia-maroc", "L'IA au Maroc", ("ai", "africa"), lang="fr",
                  also=("Hespress",))  # fmt: skip
        add_story(store, "TechCabal", "model", "A new model ships", ("ai",))
        add_story(store, "TechCabal", "embassy", "Embassy talks in Rabat", ("diplomacy",))
        for address, topics in choices.items():
            store.set_subscriber_status(
                address,
                "confirmed",
                "form",
                T0,
                topics=topics,
                languages=("fr",) if address == "fr@example.org" else (),
            )
        settings = smtp_settings(tmp_path, sink, recipients=(gone, fine),
                                 bounce_address="bounces@news.example.org")  # fmt: skip
        subs.seed_from_config(settings, store, T0)
        store.count_bounce(fine, T0, "552 5.2.2 Mailbox full")
        first = send_digest(settings, store, week=issue, now=AFTER_W48)
        again = send_digest(settings, store, week=issue, now=AFTER_W48 + timedelta(hours=1))
        rows = {
            k: (d.status, d.attempts, d.last_error, d.updated is not None)
            for k, d in store.deliveries(issue).items()
        }
        editions = store.delivery_editions(issue)
        frozen = {e: store.frozen_edition(issue, e) for e in set(editions.values()) if e}
        people = {s.key: (s.status, s.origin, s.reason) for s in store.subscribers()}
        bounces = {a: store.bounce_count(a) for a in (gone, fine)}
        return (
            (first.sent, first.bounced, first.failed, first.empty_editions, first.editions),
            (again.sent, again.failed),
            rows, editions, frozen, store.delivery_flags(issue), people, bounces,
            store.frozen_digests(), len(store.sent_since(AFTER_W48 - timedelta(days=1))),
            sorted(m.rcpt_tos[0] for m in sink.messages),
        )  # fmt: skip


@pytest.mark.postgres
def test_a_send_with_editions_and_a_bounce_leaves_the_same_ledger_on_both_backends(
    tmp_path, postgres_url
):
    lite = _send_week(tmp_path / "sqlite", tmp_path / "agg.db")
    pg = _send_week(tmp_path / "pg", postgres_url)
    counts, again, rows, editions, frozen, _flags, people, bounces = lite[:8]
    assert counts[:2] == (3, 1) and again == (0, 0)  # ai, fr, fine; gone refused
    assert rows["gone@example.net"][0] == "failed" and people["gone@example.net"][0] == "bounced"
    assert bounces == {"gone@example.net": 1, "fine@example.net": 0}
    assert rows["empty@example.org"][0] == "skipped" and frozen
    assert editions["ai@example.org"] == "topics=ai" and len(frozen) == 4
    assert pg == lite


@pytest.mark.postgres
def test_bounce_reports_and_counts_on_postgresql(postgres_url):
    with Store(postgres_url) as store:
        assert store.count_bounce("nobody@example.org", T0, "550") is None
        store.set_subscriber_status("b@example.org", "confirmed", "operator", T0)
        assert [store.count_bounce("B@example.org", T0, f"55{n}") for n in range(3)] == [1, 2, 3]
        assert store.bounce_count("b@example.org") == 3
        assert store.subscriber_events(store.subscriber("b@example.org").id)[-1].detail == (
            "refused (3): 552"
        )
        assert store.reset_bounces("b@example.org") and not store.reset_bounces("b@example.org")
        assert store.claim_bounce_report("<dsn1@x>", T0)
        assert not store.claim_bounce_report("<dsn1@x>", T0)
        assert store.forget_subscriber("b@example.org", T0)


@pytest.mark.postgres
def test_a_connections_previous_message_is_recorded_sent_with_its_next_pending(
    tmp_path, postgres_url
):
    """``begin_delivery(..., sent=Sent(...))`` (two ledger commits per message instead of
    three) leaves the same rows on both backends."""
    from aggregator.store import Sent

    rows = []
    for database in (tmp_path / "agg.db", postgres_url):
        with Store(database) as store:
            store.begin_delivery("2026-W48", "a@example.org", "<a@x>", T0, "full")
            store.begin_delivery("2026-W48", "b@example.org", "<b@x>", T0, "full",
                                 sent=Sent("a@example.org", "<a@x>", T0, "full"))  # fmt: skip
            got = store.deliveries("2026-W48")
            rows.append({k: (d.status, d.message_id) for k, d in got.items()})
    assert (
        rows[0]
        == rows[1]
        == {
            "a@example.org": ("sent", "<a@x>"),
            "b@example.org": ("pending", "<b@x>"),
        }
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not (ROOT.parent / "shared" / "eval" / "dedup_dev.jsonl").exists(),
                    reason="needs ../shared/eval")  # fmt: skip
def test_dedupe_scores_are_identical_on_both_backends(tmp_path, postgres_url):
    """`aggregator dedupe --jsonl` over the labelled development set, once on a SQLite file and
    once on PostgreSQL: the same clusters line for line, hence the same pairwise scores."""
    import io

    from aggregator.cli import dedupe_jsonl

    text = (ROOT.parent / "shared" / "eval" / "dedup_dev.jsonl").read_text("utf-8")
    outputs = []
    for database in (tmp_path / "dedupe.db", postgres_url):
        out = io.StringIO()
        assert dedupe_jsonl.run(io.StringIO(text), out, database) == 0
        outputs.append(out.getvalue().splitlines())
    assert len(outputs[0]) == len(text.splitlines()) and outputs[0] == outputs[1]
