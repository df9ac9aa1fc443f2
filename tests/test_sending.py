"""Fast, polite sending against a real SMTP server on loopback (aiosmtpd): several connections,
many messages each, the rate limit, 4xx refusals tried again later in the run, 5xx refusals
handed to the bounce policy, ``digest --test`` and List-Id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator import digest as dg
from aggregator.cli.main import main as cli_main
from aggregator.config import load
from aggregator.errors import ConfigError
from aggregator.mailer import Pacer, enhanced_code
from aggregator.service import sending
from aggregator.service.sending import send_digest, send_test

from support.digest import AFTER_W48, PEOPLE, smtp_settings, week_store
from support.smtpserver import Sink

ISSUE = "2026-W48"
MANY = tuple(f"many{i:03d}@example.org" for i in range(60))


def run(settings, store, **kw):
    return send_digest(settings, store, week=ISSUE, now=AFTER_W48, **kw)


def fast_retry(**kw):
    return {"retry_delay": 0.01, **kw}


def test_several_connections_each_carrying_many_messages(tmp_path):
    with Sink() as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, recipients=MANY, smtp_kw={"connections": 4})
        report = run(s, store)
        assert (report.sent, report.failed, report.connections) == (60, 0, 4)
        assert sink.connections == 4  # 60 messages over 4 reused connections
        assert sink.by_recipient() == {r: 1 for r in MANY}
        again = run(s, store)
        assert (again.sent, again.already_sent) == (0, 60) and len(sink.messages) == 60
    assert {d.status for d in store.deliveries(ISSUE).values()} == {"sent"}


def test_a_greylisting_4xx_is_tried_again_later_in_the_run(tmp_path):
    slow = PEOPLE[1]

    def script(stage, rcpt, n):
        greylisted = (stage, rcpt) == ("RCPT", slow) and n <= 2
        return "451 4.7.1 greylisted, come back later" if greylisted else None

    with Sink(script=script) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, smtp_kw=fast_retry(connections=2))
        report = run(s, store)
        assert (report.sent, report.failed, report.retried) == (6, 0, 2)
        assert sink.by_recipient() == {r: 1 for r in PEOPLE}
        assert sink.handler.calls[("RCPT", slow)] == 3
        # the others did not wait for it: it was the last one accepted
        assert sink.messages[-1].rcpt_tos == [slow]
    row = store.deliveries(ISSUE)[slow]
    assert row.status == "sent" and row.attempts == 3


def test_a_4xx_that_lasts_is_left_for_the_next_run(tmp_path):
    def script(stage, rcpt, n):
        return "452 4.2.2 mailbox full" if rcpt == PEOPLE[0] else None

    store = week_store(tmp_path)
    with Sink(script=script) as sink:
        s = smtp_settings(tmp_path, sink, smtp_kw=fast_retry(retries=2))
        report = run(s, store)
        assert (report.sent, report.failed, report.retried) == (5, 1, 2)
        assert sink.handler.calls[("RCPT", PEOPLE[0])] == 3  # the first try and 2 more
    row = store.deliveries(ISSUE)[PEOPLE[0]]
    assert row.status == "failed" and "452 4.2.2" in (row.last_error or "")
    with Sink() as sink:  # the next run tries it again
        report = run(smtp_settings(tmp_path, sink), store)
        assert (report.sent, report.already_sent) == (1, 5)
        assert sink.by_recipient() == {PEOPLE[0]: 1}


def test_a_5xx_ends_that_recipient_in_this_run_and_is_recorded(tmp_path):
    def script(stage, rcpt, n):
        return "550 5.1.1 no such user" if stage == "RCPT" and rcpt == PEOPLE[2] else None

    store = week_store(tmp_path)
    with Sink(script=script) as sink:
        s = smtp_settings(tmp_path, sink, smtp_kw=fast_retry())
        report = run(s, store)
        assert (report.sent, report.failed, report.retried) == (5, 1, 0)
        assert sink.handler.calls[("RCPT", PEOPLE[2])] == 1
        again = run(s, store)  # an unknown user is bounced at once: no longer a recipient
        assert (again.sent, again.skipped, again.recipients) == (0, 5, 5)
        assert sink.handler.calls[("RCPT", PEOPLE[2])] == 1
    assert store.subscriber(PEOPLE[2]).status == "bounced"
    row = store.deliveries(ISSUE)[PEOPLE[2]]
    assert row.status == "failed" and "550 5.1.1" in (row.last_error or "")


def test_refusals_go_to_the_bounce_policy(tmp_path, monkeypatch):
    """``bounces.on_refusal(store, settings, address, code, enhanced, text, now)`` is asked
    about every refusal; its verdict decides: "temporary" tries again, "bounced" stops."""
    calls = []

    def policy(store, settings, address, code, enhanced, text, now):
        calls.append((address, code, enhanced, text))
        return "temporary" if code < 500 else "bounced"

    monkeypatch.setattr(sending.bounces, "on_refusal", policy)

    def script(stage, rcpt, n):
        if rcpt == PEOPLE[0]:
            return "550 5.1.1 <x> no such user"
        return "450 4.2.1 busy" if (stage, rcpt, n) == ("RCPT", PEOPLE[1], 1) else None

    with Sink(script=script) as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, smtp_kw=fast_retry())
        report = run(s, store)
    assert (report.sent, report.failed, report.bounced, report.retried) == (5, 1, 1, 1)
    assert sorted(calls) == [  # in the order the connections got the replies
        (PEOPLE[0], 550, "5.1.1", "5.1.1 <x> no such user"),
        (PEOPLE[1], 450, "4.2.1", "4.2.1 busy"),
    ]
    assert "stopped as bounced" in report.summary()


def test_pacer_spaces_messages_and_counts_the_last_hour():
    now = [1000.0]
    slept: list[float] = []

    def sleep(d):
        slept.append(round(d, 6))
        now[0] += d

    p = Pacer(per_second=4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        p.wait()
    assert slept == [0.25] * 4  # the first goes at once, then one every 1/4 s

    slept.clear()
    now[0] = 10_000.0
    earlier = [now[0] - 3000, now[0] - 10]  # two sent by an earlier run in the last hour
    p = Pacer(per_hour=3, sent=earlier, clock=lambda: now[0], sleep=sleep)
    p.wait()  # the third of the hour: at once
    p.wait()  # the fourth waits until the oldest is an hour old
    assert slept == [600.0]
    assert not Pacer().limited


def test_the_hourly_limit_is_primed_from_the_ledger(tmp_path):
    with Sink() as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, recipients=PEOPLE[:2])
        run(s, store)
        limited = smtp_settings(tmp_path, sink, smtp_kw={"rate_per_hour": 50,
                                                         "rate_per_second": 5})  # fmt: skip
        make, connections, _ = sending._transports(limited, store, ISSUE, "send", None,
                                                    AFTER_W48 + timedelta(minutes=5))  # fmt: skip
        mailer = make()
    assert connections == 4 and mailer.defer_temporary
    assert mailer.pacer is not None and mailer.pacer.per_hour == 50
    assert mailer.pacer.gap == pytest.approx(0.2)
    assert len(mailer.pacer.window) == 2  # the two sends of the first run
    assert sending._transports(s, store, ISSUE, "send", None, AFTER_W48)[0]().pacer is None


def test_digest_test_goes_to_one_address_outside_the_ledger(tmp_path):
    store = week_store(tmp_path)
    store.set_subscriber_status("fr@example.org", "confirmed", "form", AFTER_W48,
                                languages=("fr",))  # fmt: skip
    with Sink() as sink:
        s = smtp_settings(tmp_path, sink, recipients=PEOPLE[:1])
        report = send_test(s, store, "Someone <someone@example.org>", week=ISSUE, now=AFTER_W48)
        assert report.ok and report.sent == 1 and "test message" in report.summary()
        (m,) = sink.messages
        msg = m.message
        assert m.rcpt_tos == ["someone@example.org"]
        assert msg["Subject"].startswith("[test] ") and msg["X-Aggregator-Test"] == "yes"
        assert msg["List-Id"] == '"AI & Africa digest" <digest.news.example.org>'
        assert store.deliveries(ISSUE) == {} and store.frozen_digest(ISSUE) is None
        # a subscriber gets their own edition
        send_test(s, store, "fr@example.org", week=ISSUE, now=AFTER_W48)
        text = sink.messages[-1].message.get_body(("plain",)).get_content()
        assert "L'IA au Maroc" in text and "A new model ships" not in text
        # the real send is not affected, and never shares the test's Message-ID
        report = run(s, store)
        assert report.sent == 2
        real = {x.message["Message-ID"] for x in sink.messages[2:]}
        assert msg["Message-ID"] not in real
        assert set(store.deliveries(ISSUE)) == {PEOPLE[0], "fr@example.org"}
    with pytest.raises(ConfigError, match="--test"):
        send_test(s, store, "not an address", week=ISSUE, now=AFTER_W48)


def test_digest_test_from_the_command_line(tmp_path, capsys):
    with Sink() as sink:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: {tmp_path / 'agg.db'}\n"
            "sources:\n  - {name: Local, url: 'http://127.0.0.1:9/feed.xml'}\n"
            "digest:\n  from: News <news@aggregator.test>\n  list_id: weekly.aggregator.test\n"
            f"  outbox: {tmp_path / 'outbox'}\n"
            f"  smtp: {{host: 127.0.0.1, port: {sink.port}, security: none}}\n",
            encoding="utf-8",
        )
        week_store(tmp_path).close()
        code = cli_main(["--config", str(config), "digest", "--test", "me@aggregator.test",
                         "--week", ISSUE])  # fmt: skip
        assert code == 0, capsys.readouterr()
        (m,) = sink.messages
    assert "test message to me@aggregator.test sent" in capsys.readouterr().out
    assert m.message["List-Id"] == '"News" <weekly.aggregator.test>'
    assert m.message["X-Aggregator-Test"] == "yes"


def test_list_id_on_every_message_and_its_config_key(tmp_path):
    assert dg.list_id("News <news@example.org>") == '"News" <news.example.org>'
    assert dg.list_id("news@example.org", "<digest.example.org>") == "<digest.example.org>"
    bad = tmp_path / "config.yaml"
    src = "sources:\n  - {name: Local, url: 'http://127.0.0.1:9/feed.xml'}\n"
    bad.write_text(src + "digest:\n  list_id: no spaces allowed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.yaml.*list_id"):
        load(bad)
    bad.write_text(src + "digest:\n  smtp:\n    rate_per_second: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="rate_per_second"):
        load(bad)


def test_enhanced_status_codes_are_read_from_replies():
    assert enhanced_code("5.1.1 <x@y> unknown user") == "5.1.1"
    assert enhanced_code("4.7.1 greylisted") == "4.7.1"
    assert enhanced_code("mailbox unavailable") is None


def test_a_connections_previous_message_is_recorded_sent_with_its_next_pending(tmp_path):
    """One commit for "the last message was accepted" and "the next is pending": until it,
    the accepted message reads "committing" (outcome unknown, resent with its Message-ID after
    a crash), as it would had the run been killed right after the server's 250."""
    from aggregator.store import Sent

    store = week_store(tmp_path)
    store.begin_delivery(ISSUE, "a@example.org", "<a@x>", AFTER_W48, "all")
    store.delivery_committing(ISSUE, "a@example.org", AFTER_W48)
    assert store.delivery_flags(ISSUE)["a@example.org"] == (False, True)  # in doubt
    accepted = Sent("a@example.org", "<a@x>", AFTER_W48 + timedelta(seconds=1), "all")
    store.begin_delivery(ISSUE, "b@example.org", "<b@x>", AFTER_W48, "all", sent=accepted)
    rows = store.deliveries(ISSUE)
    assert (rows["a@example.org"].status, rows["b@example.org"].status) == ("sent", "pending")
    assert rows["a@example.org"].updated == accepted.at
    assert store.delivery_flags(ISSUE)["a@example.org"] == (False, False)


@pytest.mark.parametrize("connections", [1, 4])
def test_every_accepted_message_is_recorded_sent_when_the_run_ends(tmp_path, connections):
    """Each connection records its last message when it has nothing more to send."""
    with Sink() as sink:
        store = week_store(tmp_path)
        s = smtp_settings(tmp_path, sink, recipients=MANY[:9],
                          smtp_kw={"connections": connections})  # fmt: skip
        report = run(s, store)
        assert (report.sent, report.failed) == (9, 0)
        assert len(sink.messages) == 9
    rows = store.deliveries(ISSUE)
    assert {r: d.status for r, d in rows.items()} == {r: "sent" for r in MANY[:9]}
    assert not any(unknown for _, unknown in store.delivery_flags(ISSUE).values())
    ids = {m.rcpt_tos[0]: m.message["Message-ID"] for m in sink.messages}
    assert {r: d.message_id for r, d in rows.items()} == ids
