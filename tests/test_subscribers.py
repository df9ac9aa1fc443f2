"""Subscribers in the store: addresses ('Name <address>' everywhere, one rule for check and send),
statuses and their history, config.yaml seeding, the old unsubscribes ledger migrated, opaque
tokens, the CLI (list, add, remove --forget, import with a report, export)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from aggregator import addresses
from aggregator import unsubscribe as un
from aggregator.cli.main import main
from aggregator.config import load, problems
from aggregator.service import subscriptions as subs
from aggregator.service.sending import send_digest
from aggregator.store import Store
from aggregator.store.sqlite.schema import MIGRATIONS, statements

from support.corpus import write_config
from support.digest import AFTER_W48, settings_for, week_store
from support.smtpserver import Sink

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


# ---- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address", "name"),
    [
        ("Amina <amina@example.org>", "amina@example.org", "Amina"),
        ('"Doe, J." <j@Example.ORG>', "j@example.org", "Doe, J."),
        ("plain@x.org", "plain@x.org", ""),
        ("x@exämple.org", "x@xn--exmple-cua.org", ""),
    ],
)
def test_one_parser_reads_name_and_address(text, address, name):
    box = addresses.parse(text)
    assert (box.address, box.name) == (address, name)


@pytest.mark.parametrize(
    "text", ["", "amina", "a@", "@b.org", "a@b.org, c@d.org", "é@x.org", '"q q"@x.org', "a@-b.org",
             "Amina <amina@example.org", "a\r\nBcc: x@y.org"],
)  # fmt: skip
def test_one_parser_refuses_with_a_reason(text):
    with pytest.raises(addresses.InvalidAddress) as err:
        addresses.parse(text)
    assert str(err.value)


def test_name_and_address_in_recipients_passes_check_and_is_sent(tmp_path):
    """The bug of issue 18: 'Amina <amina@example.org>' passed check, then failed at send as a
    silent permanent failure. Now check and send agree, and she gets the digest."""
    config = write_config(
        tmp_path, [("x", "http://127.0.0.1:9/f.xml")],
    ).read_text().replace("recipients: [reader@example.org]",
                          "recipients: ['Amina <amina@example.org>', 'bad <b@>']")  # fmt: skip
    (tmp_path / "config.yaml").write_text(config)
    found = problems(tmp_path / "config.yaml")
    assert len(found) == 1 and "'bad <b@>'" in found[0]
    (tmp_path / "config.yaml").write_text(config.replace(", 'bad <b@>'", ""))
    assert problems(tmp_path / "config.yaml") == []
    store = week_store(tmp_path)
    s = settings_for(tmp_path, recipients=("Amina <amina@example.org>",))
    report = send_digest(s, store, week="2026-W48", now=AFTER_W48)
    assert (report.sent, report.failed) == (1, 0), report.failures
    assert store.deliveries("2026-W48")["amina@example.org"].status == "sent"
    amina = store.subscriber("amina@example.org")
    assert amina and (amina.status, amina.origin, amina.name) == ("confirmed", "config", "Amina")


def test_digest_carries_opaque_tokens_and_smtp_gets_the_bare_address(tmp_path):
    store = week_store(tmp_path)
    with Sink() as sink:
        from aggregator.settings import SmtpSettings

        s = settings_for(tmp_path, recipients=("Amina <amina@example.org>",),
                         smtp=SmtpSettings(host="127.0.0.1", port=sink.port, security="none"))  # fmt: skip
        report = send_digest(s, store, week="2026-W48", now=AFTER_W48)
        assert report.sent == 1 and sink.messages[0].rcpt_tos == ["amina@example.org"]
        header = sink.messages[0].message["List-Unsubscribe"]
        parts = {p.get_content_type(): p.get_content() for p in sink.messages[0].message.walk()
                 if not p.is_multipart()}  # fmt: skip
    uid = store.subscriber("amina@example.org").uid
    assert f"token={uid}." in header and "YW1pbmE" not in header  # base64 of 'amina'
    # every digest links to the subscriber's own preferences page, by a token of that purpose
    for body in parts.values():
        assert f"/preferences?token={uid}." in body and "amina@example.org/" not in body
    prefs = parts["text/plain"].split("/preferences?token=")[1].split()[0]
    assert prefs != header.split("token=")[1].split(">")[0]  # not the unsubscribe token


# ---- tokens ------------------------------------------------------------------------------------


def test_tokens_are_opaque_signed_and_scoped():
    uid = "0123456789abcdef01234567"
    tok = un.make_token(b"k1", uid)
    assert un.verify_token(b"k1", tok) == uid
    assert un.verify_token(b"k2", tok) is None
    assert un.verify_token(b"k1", tok, "preferences") is None  # one purpose per token
    other = un.make_token(b"k1", "f" * 24)
    assert un.verify_token(b"k1", other.split(".")[0] + "." + tok.split(".")[1]) is None
    for bad in ["", ".", "abc", tok + "x", "!!!." + tok, "a" * 1000, tok.replace(".", "..")]:
        assert un.verify_token(b"k1", bad) is None
    exp = un.make_expiring_token(b"k1", uid, "confirm", T0)
    assert un.verify_expiring_token(b"k1", exp, "confirm", T0 - timedelta(1)) == (uid, False)
    assert un.verify_expiring_token(b"k1", exp, "confirm", T0 + timedelta(1)) == (uid, True)
    assert un.verify_expiring_token(b"k1", exp.replace(".", ".9", 1), "confirm", T0) is None
    assert un.redact("GET /unsubscribe?token=abc.def&x=1 HTTP/1.1") == (
        "GET /unsubscribe?token=[redacted]&x=1 HTTP/1.1"
    )


def test_one_click_endpoint_old_and_new_tokens(database):
    store = Store(database)
    ana = subs.add(store, "ana@example.org", now=T0)
    tok = un.make_token(b"k", ana.uid)
    status, headers, body = un.handle("GET", f"token={tok}", b"", store, b"k")
    assert status == 200 and b'method="post"' in body and b"ana@example.org" in body
    assert store.unsubscribed() == set() and ("Cache-Control", "no-store") in headers
    status, _, _ = un.handle("POST", f"token={tok}", b"List-Unsubscribe=One-Click", store, b"k")
    assert status == 200 and store.unsubscribed() == {"ana@example.org"}
    assert store.subscriber("ana@example.org").origin == "one-click"
    # a link of an issue sent before (the address in base64) still unsubscribes
    import base64
    import hashlib
    import hmac

    mac = (
        base64.urlsafe_b64encode(
            hmac.new(b"k", b"unsubscribe\x00bob@example.org", hashlib.sha256).digest()
        )
        .rstrip(b"=")[:22]
        .decode()
    )
    legacy = base64.urlsafe_b64encode(b"bob@example.org").rstrip(b"=").decode() + "." + mac
    status, _, _ = un.handle("POST", "", f"token={legacy}".encode(), store, b"k")
    assert status == 200 and "bob@example.org" in store.unsubscribed()
    assert un.handle("POST", "token=forged.x", b"", store, b"k")[0] == 400
    status, headers, _ = un.handle("DELETE", f"token={tok}", b"", store, b"k")
    assert status == 405 and ("Allow", "GET, HEAD, POST") in headers
    store.close()


# ---- the store ---------------------------------------------------------------------------------


def test_old_unsubscribes_become_statuses_on_migration(tmp_path):
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path, isolation_level=None)
    before = next(i for i, step in enumerate(MIGRATIONS) if "CREATE TABLE subscribers" in step[0])
    for step in MIGRATIONS[:before]:
        for ddl in step:
            for statement in statements(ddl):
                db.execute(statement)
    db.execute(f"PRAGMA user_version={before}")
    db.execute("INSERT INTO unsubscribes(recipient, at) VALUES ('gone@example.org', ?)",
               (T0.timestamp(),))  # fmt: skip
    db.close()
    with Store(path) as store:
        gone = store.subscriber("gone@example.org")
        assert gone and (gone.status, gone.origin, gone.changed) == (
            "unsubscribed",
            "one-click",
            T0,
        )
        assert len(gone.uid) == 24 and store.unsubscribed() == {"gone@example.org"}
        assert [e.status for e in store.subscriber_events(gone.id)] == ["unsubscribed"]
        # config.yaml listing them does not bring them back
        store.seed_subscribers([("gone@example.org", "")], T0 + timedelta(days=1))
        assert store.subscriber("gone@example.org").status == "unsubscribed"


def test_config_seeding_rules(database):
    store = Store(database)
    store.seed_subscribers([("a@x.org", "A"), ("b@x.org", "")], T0)
    assert {s.email: s.status for s in store.subscribers()} == {"a@x.org": "confirmed",
                                                                "b@x.org": "confirmed"}  # fmt: skip
    store.unsubscribe("a@x.org", T0)
    # b leaves config.yaml: stopped, and back when listed again; a unsubscribed herself: never
    store.seed_subscribers([("a@x.org", "A")], T0 + timedelta(1))
    b = store.subscriber("b@x.org")
    assert (b.status, b.reason) == ("unsubscribed", "no longer in config.yaml")
    store.seed_subscribers([("a@x.org", "A"), ("b@x.org", "")], T0 + timedelta(2))
    assert store.subscriber("b@x.org").status == "confirmed"
    assert store.subscriber("a@x.org").status == "unsubscribed"
    store.close()


def test_forget_keeps_only_a_hash(tmp_path):
    store = week_store(tmp_path)
    s = settings_for(tmp_path, recipients=("Forget Me <forget@example.org>",))
    send_digest(s, store, week="2026-W48", now=AFTER_W48)
    assert subs.remove(store, "Forget Me <forget@example.org>", forget=True)
    assert store.subscriber("forget@example.org") is None
    dump = "\n".join(store.db.iterdump()).lower()
    assert "forget@example.org" not in dump and "forget me" not in dump
    assert len(store.deliveries("2026-W48")) == 1  # the ledger's row, without the address
    assert subs.digest_recipients(s, store) == []  # config.yaml does not add them back
    store.close()


# ---- the commands ------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, [("x", "http://127.0.0.1:9/f.xml")],
                        "topics:\n  diplomacy:\n    en: [embassy]\n")  # fmt: skip


def run(config, *args, capsys) -> tuple[int, str, str]:
    rc = main(["--config", str(config), "subscribers", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_add_list_remove(config, capsys):
    rc, out, _ = run(config, "add", "Karim Z <karim@example.ma>", "--topics", "ai", "diplomacy",
                     "--languages", "fr", capsys=capsys)  # fmt: skip
    assert rc == 0 and "karim@example.ma: confirmed" in out
    rc, _, err = run(config, "add", "z@x.org", "--topics", "nope", capsys=capsys)
    assert rc == 1 and "unknown topic 'nope'" in err
    rc, _, err = run(config, "add", "Broken <b@>", capsys=capsys)
    assert rc == 1 and "invalid address" in err
    run(config, "remove", "Karim Z <karim@example.ma>", capsys=capsys)
    rc, out, _ = run(config, "list", "--json", capsys=capsys)
    people = {p["email"]: p for p in json.loads(out)}
    assert people["reader@example.org"]["status"] == "confirmed"  # seeded from config.yaml
    assert people["reader@example.org"]["origin"] == "config"
    karim = people["karim@example.ma"]
    assert (karim["status"], karim["topics"], karim["languages"]) == (
        "unsubscribed",
        ["ai", "diplomacy"],
        ["fr"],
    )
    assert karim["origin"] == "operator" and karim["reason"] == "removed by the operator"
    rc, out, _ = run(config, "list", "--status", "unsubscribed", capsys=capsys)
    assert "karim@example.ma" in out and "reader@example.org" not in out


def test_cli_import_reports_refused_rows_and_export_round_trips(config, tmp_path, capsys):
    run(config, "add", "left@example.org", capsys=capsys)
    run(config, "remove", "left@example.org", capsys=capsys)
    people = tmp_path / "people.csv"
    people.write_text(
        "email,name,topics,languages\n"
        "Amina <amina@example.org>,,ai|diplomacy,fr ar\n"
        "john@example.org,John,,\n"
        "not-an-address,,,\n"
        "john@example.org,Again,,\n"
        "zed@example.org,,weather,\n"
        "left@example.org,,,\n",
        encoding="utf-8",
    )
    rc, out, _ = run(config, "import", str(people), capsys=capsys)
    assert rc == 1
    assert f"{people}: 2 added, 0 updated, 4 refused" in out
    assert f"{people}:4: 'not-an-address': invalid address" in out
    assert f"{people}:5: 'john@example.org': duplicate in this file" in out
    assert f"{people}:6: 'zed@example.org': unknown topic 'weather'" in out
    assert f"{people}:7: 'left@example.org': unsubscribed on" in out
    rc, out, _ = run(config, "export", capsys=capsys)
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(out))}
    amina = rows["amina@example.org"]
    assert (amina["status"], amina["origin"], amina["topics"], amina["languages"]) == (
        "confirmed", "import", "ai diplomacy", "fr ar")  # fmt: skip
    assert rows["john@example.org"]["name"] == "John"
    rc, out, _ = run(config, "remove", "amina@example.org", "--forget", capsys=capsys)
    assert rc == 0 and "forgotten" in out
    rc, out, _ = run(config, "import", str(people), capsys=capsys)
    assert "'Amina <amina@example.org>': asked to be forgotten" in out


def test_check_refuses_http_unsubscribe_and_warns_about_placeholders(tmp_path, capsys):
    config = write_config(
        tmp_path,
        [("x", "http://127.0.0.1:9/f.xml")],
    )
    text = config.read_text()
    config.write_text(
        text.replace("digest: {", "digest: {unsubscribe_url: 'http://news.mysite.ma/u', ")
    )
    found = problems(config)
    assert len(found) == 1 and "must be https://" in found[0]
    config.write_text(text)
    assert main(["--config", str(config), "check"]) == 0
    err = capsys.readouterr().err
    assert "digest.from: digest@news.example.org is a placeholder domain" in err
    assert "digest.unsubscribe_url: https://news.example.org/unsubscribe is not reachable" in err
    assert load(config).digest.unsubscribe_url.startswith("https://")


def test_french_and_arabic_are_choices_even_when_every_source_is_english(tmp_path):
    """A feed that calls itself English (as the bundled French feeds do) must not make a
    subscriber's 'fr' or 'ar' invalid at import or on the form."""
    s = settings_for(tmp_path)  # no sources: nothing says which languages are published
    assert [code for code, _ in subs.language_choices(s)][:3] == ["en", "fr", "ar"]
    rows = tmp_path / "people.csv"
    rows.write_text("email,name,topics,languages\nsara@example.org,سارة العلوي,,ar fr\n", "utf-8")
    with Store(tmp_path / "agg.db") as store:
        allowed = [code for code, _ in subs.language_choices(s)]
        report = subs.import_csv(store, rows, topics=["ai"], languages=allowed)
        assert not report.refused, report.refused
        assert sorted(store.subscriber("sara@example.org").languages) == ["ar", "fr"]


def test_check_warnings_name_the_line_of_the_key(tmp_path, capsys):
    """A warning points at the line to edit, like check's errors (the shipped config.yaml keeps
    the example.org placeholders, so it warns)."""
    import re
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "config.yaml"
    config = tmp_path / "config.yaml"
    shutil.copy(shipped, config)
    lines = config.read_text("utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("from:"))
    assert main(["--config", str(config), "check"]) == 0
    err = capsys.readouterr().err
    assert f"{config}:{line}: digest.from: digest@news.example.org is a placeholder" in err
    assert re.search(rf"{re.escape(str(config))}:\d+: digest\.unsubscribe_url: ", err)
