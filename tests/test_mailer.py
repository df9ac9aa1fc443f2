"""Delivery against a real SMTP server on loopback (aiosmtpd, see support/smtpserver.py): one message
per recipient over one connection, retries, permanent failures, resume, SIGKILL, the outbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.errors import DeliveryError
from aggregator.mailer import ConnectionFailed, Outbox, SmtpMailer
from aggregator.service.sending import send_digest
from aggregator.store import Store

from support.digest import AFTER_W48, PEOPLE, settings_for, smtp_settings, week_store
from support.smtpserver import DROP, Sink

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


def mailer(settings, sleeps=None, **kw):
    """A real SmtpMailer whose backoff sleeps are recorded instead of slept."""
    rec = sleeps if sleeps is not None else []
    return SmtpMailer(settings.digest.smtp, sleep=rec.append, **kw)


def run(settings, store, **kw):
    return send_digest(settings, store, week="2026-W48", now=AFTER_W48, **kw)


def test_one_message_per_recipient_over_one_connection(tmp_path, sink):
    store = week_store(tmp_path)
    s = smtp_settings(tmp_path, sink, smtp_kw={"connections": 1})  # the default is 4
    report = run(s, store)
    assert (report.sent, report.failed, report.recipients) == (6, 0, 6)
    assert sink.connections == 1
    assert sink.by_recipient() == {r: 1 for r in PEOPLE}
    for m in sink.messages:
        msg = m.message
        assert m.rcpt_tos == [msg["To"]] and m.mail_from == "digest@news.example.org"
        assert msg.get_all("To") == [m.rcpt_tos[0]]
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "L'IA au Maroc : un plan national" in text and "المغرب" in html
        assert "token=" in msg["List-Unsubscribe"] and m.rcpt_tos[0] in text
    ids = {m.message["Message-ID"] for m in sink.messages}
    assert len(ids) == 6
    assert {d.status for d in store.deliveries("2026-W48").values()} == {"sent"}
    again = run(s, store)  # running --send again sends nothing new
    assert (again.sent, again.already_sent) == (0, 6) and len(sink.messages) == 6


def test_connections_are_capped_per_connection_and_reused(tmp_path, sink):
    store = week_store(tmp_path)
    s = smtp_settings(tmp_path, sink)
    report = run(s, store, transport=mailer(s, max_per_connection=4))
    assert report.sent == 6 and sink.connections == 2


def test_temporary_failure_is_retried_with_backoff(tmp_path):
    def script(stage, rcpt, n):
        return "451 4.7.1 greylisted" if (stage, rcpt, n < 3) == ("RCPT", PEOPLE[1], True) else None

    with Sink(script=script) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink)
        sleeps: list[float] = []
        report = run(s, store, transport=mailer(s, sleeps, backoff=1.0))
        assert report.sent == 6 and report.failed == 0
        assert sleeps == [1.0, 2.0]
        assert sink.by_recipient() == {r: 1 for r in PEOPLE}
        assert sink.connections == 1  # a 4xx reply does not need a new connection
        assert store.deliveries("2026-W48")[PEOPLE[1]].status == "sent"


def test_permanent_failure_is_recorded_and_not_retried(tmp_path):
    def script(stage, rcpt, n):
        return "550 5.1.1 no such user" if stage == "RCPT" and rcpt == PEOPLE[2] else None

    with Sink(script=script) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink)
        sleeps: list[float] = []
        report = run(s, store, transport=mailer(s, sleeps))
        assert (report.sent, report.failed, sleeps) == (5, 1, [])
        assert report.failures[0][0] == PEOPLE[2] and "550" in report.failures[0][1]
        row = store.deliveries("2026-W48")[PEOPLE[2]]
        assert row.status == "failed" and "550 5.1.1" in (row.last_error or "")
        again = run(s, store, transport=mailer(s))  # the unknown user was bounced at once
        assert (again.sent, again.skipped, again.recipients) == (0, 5, 5)
        assert sink.handler.calls[("RCPT", PEOPLE[2])] == 1
        assert store.subscriber(PEOPLE[2]).status == "bounced"


def test_dropped_connection_reconnects(tmp_path):
    def script(stage, rcpt, n):  # the server hangs up when the 4th message starts
        return DROP if stage == "RCPT" and rcpt == PEOPLE[3] and n == 1 else None

    with Sink(script=script) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink)
        sleeps: list[float] = []
        report = run(s, store, transport=mailer(s, sleeps))
        assert report.sent == 6 and sink.connections == 2 and len(sleeps) == 1
        assert sink.by_recipient() == {r: 1 for r in PEOPLE}


def test_resume_after_failure_part_way(tmp_path):
    store = week_store(tmp_path)

    def script(stage, rcpt, n):  # the server starts refusing everyone from the 3rd on
        return "421 4.3.2 shutting down" if rcpt in PEOPLE[2:] else None

    with Sink(script=script) as first:
        s = smtp_settings(tmp_path, first)
        report = run(s, store, transport=mailer(s, retries=1))
        assert (report.sent, report.failed) == (2, 4)
    with Sink() as second:
        s = smtp_settings(tmp_path, second)
        report = run(s, store)
        assert (report.sent, report.already_sent) == (4, 2)
        got = first.by_recipient() + second.by_recipient()
    assert got == {r: 1 for r in PEOPLE}
    assert {d.status for d in store.deliveries("2026-W48").values()} == {"sent"}


def test_unreachable_server_stops_the_run_and_a_rerun_finishes(tmp_path):
    store = week_store(tmp_path)
    closed = Sink()  # never started: its port refuses connections
    s = smtp_settings(tmp_path, closed)
    sleeps: list[float] = []
    report = run(s, store, transport=mailer(s, sleeps))
    assert report.aborted and report.sent == 0 and report.failed == 1 and len(sleeps) == 3
    with Sink() as sink:
        report = run(smtp_settings(tmp_path, sink), store)
        assert report.sent == 6 and sink.by_recipient() == {r: 1 for r in PEOPLE}


def test_login_with_password_from_environment(tmp_path, monkeypatch):
    with Sink(users={"digest": "s3cret"}) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, recipients=PEOPLE[:2],
                          smtp_kw={"username": "digest", "password_env": "TEST_SMTP_PW"})  # fmt: skip
        monkeypatch.setenv("TEST_SMTP_PW", "wrong")
        report = run(s, store)  # a refused login stops at once: retrying cannot help
        assert report.aborted and "login refused" in report.aborted and not sink.messages
        monkeypatch.setenv("TEST_SMTP_PW", "s3cret")
        report = run(s, store)
        assert report.sent == 2 and len(sink.messages) == 2


def test_starttls_required_but_not_offered_fails_clearly(tmp_path, sink):
    s = smtp_settings(tmp_path, sink)
    m = SmtpMailer(replace(s.digest.smtp, security="starttls"), sleep=lambda _: None)
    store = week_store(tmp_path)
    report = run(s, store, transport=m)
    assert report.aborted and "STARTTLS" in report.aborted


def test_outbox_run_and_rerun(tmp_path):
    store = week_store(tmp_path)
    s = settings_for(tmp_path, recipients=PEOPLE[:3])  # smtp.host empty: the outbox delivers
    report = run(s, store)
    files = sorted((tmp_path / "outbox" / "2026-W48").glob("*.eml"))
    assert report.sent == 3 and len(files) == 3 and report.outbox == tmp_path / "outbox/2026-W48"
    assert not list((tmp_path / "outbox" / "2026-W48").glob(".tmp-*"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert run(s, store).sent == 0
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_dry_run_writes_eml_and_leaves_the_ledger_alone(tmp_path, sink):
    store = week_store(tmp_path)
    s = smtp_settings(tmp_path, sink, recipients=PEOPLE[:2])
    report = run(s, store, mode="dry-run")
    assert report.sent == 2 and not sink.messages
    assert len(list((tmp_path / "outbox" / "dry-run" / "2026-W48").glob("*.eml"))) == 2
    assert store.deliveries("2026-W48") == {} and store.frozen_digest("2026-W48") is None
    assert run(s, store).sent == 2 and len(sink.messages) == 2


def test_outbox_existing_file_counts_as_delivered(tmp_path):
    """The crash window of the outbox: file renamed, ledger not yet updated."""
    store = week_store(tmp_path)
    s = settings_for(tmp_path, recipients=PEOPLE[:2])
    run(s, store)
    store.begin_delivery("2026-W48", PEOPLE[0], "<x@y>", AFTER_W48)  # as if killed after rename
    report = run(s, store)
    assert report.sent == 1 and len(list((tmp_path / "outbox/2026-W48").glob("*.eml"))) == 2


def test_mailer_rejects_5xx_with_permanent_error(tmp_path):
    def script(stage, rcpt, n):
        return "554 5.6.0 rejected" if stage == "DATA" else None

    with Sink(script=script) as sink:
        s = smtp_settings(tmp_path, sink)
        store = week_store(tmp_path)
        with mailer(s) as m:
            report = run(s, store, transport=m)
            assert report.failed == 6 and m.connections == 1
        with pytest.raises(DeliveryError) as err:
            Outbox(tmp_path / "ob").send(_bad_message())
        assert err.value.permanent
    assert not isinstance(err.value, ConnectionFailed)


def _bad_message():
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"] = "a@example.org", "b@example.org"
    m["Subject"] = "=?utf-8?q?hi=0D=0ABcc=3A_c=40example=2Eorg?="  # decodes to a second header
    m.set_content("x")
    return m


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from aggregator.service.sending import send_digest
    from aggregator.store import Store
    from support.digest import smtp_settings, AFTER_W48
    from support.smtpserver import Sink
    from pathlib import Path
    class _Port:  # smtp_settings only needs .port
        port = {port}
    people = tuple(f"kill{{i}}@example.org" for i in range({n}))
    s = smtp_settings(Path({tmp!r}), _Port, recipients=people)
    send_digest(s, Store(s.database), week="2026-W48", now=AFTER_W48)
    """
)


def test_sigkill_mid_send_then_rerun_gives_exactly_one_each(tmp_path):
    n = 30
    people = tuple(f"kill{i}@example.org" for i in range(n))
    with Sink(delay_rcpt=0.03) as sink:
        week_store(tmp_path).close()
        code = _CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), port=sink.port, n=n,
                             tmp=str(tmp_path))  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)
        deadline = time.monotonic() + 30
        while len(sink.messages) < 8 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        first = len(sink.messages)
        assert 8 <= first < n
        store = Store(tmp_path / "agg.db")
        flags = store.delivery_flags("2026-W48")
        in_doubt = {r for r, (_, unknown) in flags.items() if unknown}
        # at most one message in flight per SMTP connection when the kill came (on a loaded
        # machine more than one connection can be between the end of DATA and its record)
        assert len(in_doubt) <= smtp_settings(tmp_path, sink).digest.smtp.connections
        report = run(smtp_settings(tmp_path, sink, recipients=people), store)
        assert report.sent + report.already_sent == n and report.failed == 0
        counts = sink.by_recipient()
    assert set(counts) == set(people)
    # Exactly one each; the only possible exception is a recipient the ledger had marked as
    # "outcome unknown" (killed between the end of DATA and recording it), resent with the
    # same Message-ID, which receivers deduplicate.
    assert {r for r, c in counts.items() if c != 1} <= in_doubt
    assert set(report.uncertain) == in_doubt
    for r in people:
        ids = {m.message["Message-ID"] for m in sink.messages if m.rcpt_tos == [r]}
        assert len(ids) == 1
    assert {d.status for d in store.deliveries("2026-W48").values()} == {"sent"}


# ---- the checks on bytes (a prebuilt message's, or a signed one's) -------------------------

_HEAD = (
    b"From: =?utf-8?q?Actualit=C3=A9s?= <lettre@actualites.example.fr>\r\n"
    b"To: o'k+tag@example.org\r\n"
    b"Subject: a long subject\r\n folded once\r\n"
    b"Message-ID: <2026-W48.abc@actualites.example.fr>\r\n"
    b"List-Unsubscribe: <mailto:x@y.example>, <https://y.example/u?t=1>\r\n"
)
_BODY = b"Content-Type: text/plain\r\n\r\nline one\r\n.dot line\r\n"


def test_bytes_are_read_like_the_email_parser_reads_them():
    from aggregator.mailer import Wire, prepare

    for checked in (False, True):
        wire = prepare(_HEAD + _BODY, body_checked=checked)
        assert wire.sender == "lettre@actualites.example.fr"
        assert wire.recipient == "o'k+tag@example.org"
        assert wire.message_id == "<2026-W48.abc@actualites.example.fr>"
        assert prepare(wire) is wire  # checked once: a Wire goes as it is
    named = prepare(_HEAD.replace(b"To: o'k", b'To: "Ana B." <o\'k') .replace(
        b"tag@example.org\r\n", b"tag@example.org>\r\n") + _BODY)  # fmt: skip
    assert named.recipient == "o'k+tag@example.org"
    assert isinstance(named, Wire)


@pytest.mark.parametrize(
    ("raw", "problem", "caught_when_body_checked"),
    [
        (_HEAD + b"X-Bad: a\nb\r\n" + _BODY, "bare CR or bare LF", True),
        (_HEAD + b"not a header\r\n" + _BODY, "not a header", True),
        (_HEAD + b"To: b@example.org\r\n" + _BODY, "single-use header appears twice", True),
        (_HEAD + b"X-Long: " + b"a" * 995 + b"\r\n" + _BODY, "longer than 998", True),
        (_HEAD + _BODY.replace(b"one", "é".encode()), "8-bit", True),
        (_HEAD.replace(b"To: o'k+tag@example.org\r\n", b""), "no header/body separator", True),
        (_HEAD.replace(b"To: o'k+tag@example.org\r\n", b"") + _BODY, "no From or To", True),
        (_HEAD + _BODY + b"bare\nLF\r\n", "bare CR or bare LF", False),
        (_HEAD + _BODY + b"x" * 999 + b"\r\n", "longer than 998", False),
    ],
)
def test_bytes_that_could_be_misread_are_refused(raw, problem, caught_when_body_checked):
    """The header block is always scanned; the body's lines only when it was not built from a
    checked template (``body_checked``: the prebuilt edition's quoted-printable body)."""
    from aggregator.mailer import prepare

    with pytest.raises(DeliveryError, match=problem) as err:
        prepare(raw)
    assert err.value.permanent
    if caught_when_body_checked:
        with pytest.raises(DeliveryError, match=problem):
            prepare(raw, body_checked=True)
    else:
        assert prepare(raw, body_checked=True).data == raw
