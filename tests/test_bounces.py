"""Bounces: the refusal policy (thresholds, unknown users, a delivery resets the count), VERP
return paths that name the subscriber by an opaque id, `bounces read` on real DSNs in a Maildir
and an mbox (idempotent), the SMTP server on loopback refusing with 550 and 451, `subscribers
list` saying why an address stopped, and `check`'s warning."""

from __future__ import annotations

import json
import smtplib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from aggregator.cli.main import main
from aggregator.errors import DeliveryError
from aggregator.mailer import SmtpMailer
from aggregator.service import bounces
from aggregator.service import subscriptions as subs
from aggregator.service.sending import send_digest
from aggregator.store import Store

from support.corpus import write_config
from support.digest import AFTER_W48, settings_for, smtp_settings, week_store
from support.dsn import make_dsn, sample, write_maildir, write_mbox
from support.smtpserver import RefusingSink

T0 = datetime(2026, 12, 7, 7, tzinfo=UTC)
BOUNCES = "bounces@news.example.org"


@pytest.fixture
def env(tmp_path):
    settings = settings_for(tmp_path, recipients=(), bounce_address=BOUNCES)
    store = Store(settings.database)
    yield settings, store
    store.close()


def _add(store, *addresses):
    return [subs.add(store, a, now=T0) for a in addresses]


# ---- the policy -----------------------------------------------------------------------------


def test_unknown_user_bounces_at_once_with_origin_and_reason(env):
    settings, store = env
    (amina,) = _add(store, "Amina <amina@example.net>")
    outcome = bounces.on_refusal(store, settings, "amina@example.net", 550, None,
                                 "5.1.1 <amina@example.net>: Recipient address rejected: User "
                                 "unknown in virtual mailbox table", T0)  # fmt: skip
    assert outcome == "bounced"
    s = store.subscriber("amina@example.net")
    assert (s.status, s.origin) == ("bounced", "bounce")
    assert s.reason.startswith("550 5.1.1 <amina@example.net>: Recipient address rejected")
    events = store.subscriber_events(amina.id)
    assert [(e.status, e.origin) for e in events][-2:] == [("confirmed", "bounce"),
                                                          ("bounced", "bounce")]  # fmt: skip
    assert "550 5.1.1" in events[-1].detail


def test_three_permanent_refusals_in_a_row_bounce_a_delivery_resets_the_count(env):
    settings, store = env
    _add(store, "full@example.net", "other@example.net")
    full = "552 5.2.2 mailbox full"
    got = [bounces.on_refusal(store, settings, "full@example.net", 552, None, full, T0)
           for _ in range(2)]  # fmt: skip
    assert got == ["counted", "counted"] and store.bounce_count("full@example.net") == 2
    bounces.on_delivered(store, "full@example.net", T0)
    bounces.on_delivered(store, "other@example.net", T0)  # nothing counted: nothing written
    assert store.bounce_count("full@example.net") == 0
    got = [bounces.on_refusal(store, settings, "full@example.net", 552, "5.2.2", full, T0)
           for _ in range(3)]  # fmt: skip
    assert got == ["counted", "counted", "bounced"]
    s = store.subscriber("full@example.net")
    assert s.status == "bounced" and "3 permanent refusals in a row" in s.reason
    # already bounced: stays so, nothing more counted
    assert bounces.on_refusal(store, settings, "full@example.net", 552, None, full, T0) == "bounced"
    assert store.bounce_count("full@example.net") == 3


def test_temporary_refusals_record_nothing(env):
    settings, store = env
    (s,) = _add(store, "grey@example.net")
    before = store.subscriber_events(s.id)
    for _ in range(5):
        outcome = bounces.on_refusal(store, settings, "grey@example.net", 451, "4.7.1",
                                     "try again later", T0)  # fmt: skip
        assert outcome == "temporary"
    assert store.subscriber("grey@example.net").status == "confirmed"
    assert store.bounce_count("grey@example.net") == 0
    assert store.subscriber_events(s.id) == before


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "unknown"),
    [
        (550, "5.1.1", "Mailbox unavailable", True),
        (
            550,
            None,
            "5.1.10 RESOLVER.ADR.RecipientNotFound; not found by SMTP address lookup",
            True,
        ),
        (550, None, "Requested action not taken: mailbox unavailable (user unknown)", True),
        (550, None, "No such user here", True),
        (553, "5.1.8", "Sender address rejected: Domain not found", False),  # the sender's
        (554, "5.7.1", "Message rejected as spam", False),
        (552, "5.2.2", "Mailbox full", False),
    ],
)
def test_what_counts_as_an_unknown_user(env, code, enhanced, text, unknown):
    settings, store = env
    _add(store, "x@example.net")
    outcome = bounces.on_refusal(store, settings, "x@example.net", code, enhanced, text, T0)
    assert outcome == ("bounced" if unknown else "counted")


def test_thresholds_are_configurable(tmp_path):
    settings = settings_for(tmp_path, recipients=(), bounce_threshold=1,
                            bounce_threshold_unknown=2)  # fmt: skip
    with Store(settings.database) as store:
        _add(store, "a@example.net", "b@example.net")
        assert bounces.on_refusal(store, settings, "a@example.net", 554, "5.7.1", "spam",
                                  T0) == "bounced"  # fmt: skip
        unknown = "5.1.1 user unknown"
        assert bounces.on_refusal(store, settings, "b@example.net", 550, None, unknown,
                                  T0) == "counted"  # fmt: skip
        assert bounces.on_refusal(store, settings, "b@example.net", 550, None, unknown,
                                  T0) == "bounced"  # fmt: skip


def test_reason_is_truncated_and_no_subscriber_is_unknown(env):
    settings, store = env
    _add(store, "long@example.net")
    bounces.on_refusal(store, settings, "long@example.net", 550, "5.1.1", "x " * 500, T0)
    assert len(store.subscriber("long@example.net").reason) <= bounces.REASON_CHARS
    assert bounces.on_refusal(store, settings, "nobody@example.net", 550, None, "user unknown",
                              T0) == "unknown"  # fmt: skip
    assert store.subscriber("nobody@example.net") is None
    with pytest.raises(ValueError, match="not a refusal"):
        bounces.on_refusal(store, settings, "long@example.net", 250, None, "OK", T0)


def test_an_unsubscribed_address_is_counted_but_stays_unsubscribed(env):
    settings, store = env
    _add(store, "left@example.net")
    subs.remove(store, "left@example.net", now=T0)
    assert bounces.on_refusal(store, settings, "left@example.net", 550, "5.1.1", "unknown",
                              T0) == "counted"  # fmt: skip
    assert store.subscriber("left@example.net").status == "unsubscribed"


def test_forgetting_a_person_deletes_their_bounce_count(env):
    settings, store = env
    _add(store, "gone@example.net")
    bounces.on_refusal(store, settings, "gone@example.net", 552, None, "full", T0)
    assert store.bounce_count("gone@example.net") == 1
    store.forget_subscriber("gone@example.net", T0)
    assert store.db.execute("SELECT count(*) FROM bounce_counts").fetchone()[0] == 0


# ---- VERP ---------------------------------------------------------------------------------------


def test_verp_names_the_subscriber_by_an_opaque_id_and_decodes_back(env):
    settings, store = env
    amina, other = _add(store, "amina@example.net", "other@example.net")
    verp = bounces.envelope_sender(settings, amina)
    assert verp == f"bounces+{amina.uid}@news.example.org"
    assert "amina" not in verp and "example.net" not in verp
    for form in (verp, f"<{verp}>", verp.upper(), f"Someone <{verp}>"):
        found = bounces.subscriber_of_bounce_address(store, settings, form)
        assert found is not None and found.email == "amina@example.net"
    for wrong in (f"bounces+{amina.uid}@elsewhere.org", f"other+{amina.uid}@news.example.org",
                  "bounces+0123456789abcdef01234567@news.example.org", "bounces@news.example.org",
                  "amina@example.net", ""):  # fmt: skip
        assert bounces.subscriber_of_bounce_address(store, settings, wrong) is None
    plain = replace(settings, digest=replace(settings.digest, bounce_address=""))
    assert bounces.envelope_sender(plain, other) is None
    assert bounces.subscriber_of_bounce_address(store, plain, verp) is None


# ---- the SMTP server on loopback ------------------------------------------------------------------


def test_refusals_at_rcpt_and_data_over_smtp_apply_the_policy(tmp_path):
    """The real sink refuses one address with 550 5.1.1 at RCPT, one with 552 at DATA, and
    greylists a third (451 once). The mailer's errors carry what on_refusal needs."""
    gone, full, grey, fine = ("gone@example.net", "full@example.net", "grey@example.net",
                              "fine@example.net")  # fmt: skip
    with RefusingSink(permanent={gone: ""}, at_data={full: "552 5.2.2 Mailbox full"},
                      temporary={grey: 1}) as sink:  # fmt: skip
        settings = smtp_settings(tmp_path, sink, recipients=(), bounce_address=BOUNCES)
        outcomes: dict[str, list[str]] = {}
        with Store(settings.database) as store:
            _add(store, gone, full, grey, fine)
            mailer = SmtpMailer(settings.digest.smtp, retries=2, backoff=0, sleep=lambda s: None)
            for _ in range(3):  # three weekly issues
                for rcpt in (gone, full, grey, fine):
                    msg = EmailMessage()
                    msg["From"], msg["To"], msg["Subject"] = "digest@news.example.org", rcpt, "x"
                    msg.set_content("hello")
                    if store.subscriber(rcpt).status != "confirmed":
                        continue
                    try:
                        mailer.send(msg)
                    except DeliveryError as exc:
                        assert exc.code is not None
                        outcome = bounces.on_refusal(store, settings, rcpt, exc.code, None,
                                                     str(exc), T0)  # fmt: skip
                        outcomes.setdefault(rcpt, []).append(outcome)
                    else:
                        bounces.on_delivered(store, rcpt, T0)
                        outcomes.setdefault(rcpt, []).append("delivered")
            mailer.close()
            statuses = {a: store.subscriber(a).status for a in (gone, full, grey, fine)}
            reasons = {a: store.subscriber(a).reason for a in (gone, full)}
    assert outcomes == {gone: ["bounced"], full: ["counted", "counted", "bounced"],
                        grey: ["delivered"] * 3, fine: ["delivered"] * 3}  # fmt: skip
    assert statuses == {gone: "bounced", full: "bounced", grey: "confirmed", fine: "confirmed"}
    assert reasons[gone] == "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"
    assert reasons[full] == "552 5.2.2 Mailbox full (3 permanent refusals in a row)"
    assert ("RCPT", grey, f"451 4.7.1 <{grey}>: try again later") in sink.refused
    assert sink.by_recipient() == {grey: 3, fine: 3}


def test_the_envelope_sender_reaches_the_server_as_verp(tmp_path):
    with RefusingSink() as sink:
        settings = smtp_settings(tmp_path, sink, recipients=(), bounce_address=BOUNCES)
        with Store(settings.database) as store:
            (amina,) = _add(store, "amina@example.net")
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as conn:
                conn.sendmail(bounces.envelope_sender(settings, amina), [amina.email],
                              b"From: digest@news.example.org\r\nTo: amina@example.net\r\n"
                              b"Subject: x\r\n\r\nhello\r\n")  # fmt: skip
            (got,) = sink.messages
            assert got.mail_from == f"bounces+{amina.uid}@news.example.org"
            assert bounces.subscriber_of_bounce_address(store, settings, got.mail_from) == amina


# ---- bounces read ----------------------------------------------------------------------------------


REAL = ["flanker-zed.eml", "flanker-mailbox-full.eml", "flanker-delayed.eml",
        "flanker-no-mx.eml", "flanker-gmail-invalid-address.eml"]  # fmt: skip
ZED = "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com"


def test_real_dsns_in_an_mbox_are_applied_once(env, tmp_path):
    settings, store = env
    _add(store, ZED, "user@aol.com", "foo@example.com", "user@example.com")
    box = write_mbox(tmp_path / "bounces.mbox", [sample(n) for n in REAL])
    report = bounces.read_bounces(store, settings, box, T0)
    assert report.messages == 5
    assert [a for a, _ in report.bounced] == [ZED]  # 5.1.1: at once
    assert [a for a, _ in report.counted] == ["user@aol.com", "foo@example.com"]
    assert [a for a, _ in report.temporary] == ["user@example.com"]  # Action: delayed
    assert report.not_dsn == ["<001a11c2449205704f04e0cbff5b@google.com>"]
    assert store.subscriber(ZED).reason.startswith("550 5.1.1 The email account")
    assert store.bounce_count("user@aol.com") == 1
    counted = dict(store.db.execute(
        "SELECT s.key, b.reason FROM bounce_counts b JOIN subscribers s ON s.id=b.subscriber_id"
    ).fetchall())  # fmt: skip
    assert counted["user@aol.com"] == "552 5.2.2 E4.12 user MAILBOX FULL"
    assert counted["foo@example.com"] == "550 4.0.0 gave up: 426 connection timed out"
    assert store.subscriber("user@example.com").status == "confirmed"

    again = bounces.read_bounces(store, settings, box, T0 + timedelta(hours=1))
    assert (again.applied, again.already, len(again.not_dsn)) == (0, 4, 1)
    assert store.bounce_count("user@aol.com") == 1 and store.bounce_count("foo@example.com") == 1


def test_a_dsn_to_our_verp_address_names_the_subscriber_even_when_forwarded(env, tmp_path):
    """Amina's mail was forwarded to an address that no longer exists: the DSN's
    Final-Recipient is that address, unknown to us; the VERP return path says it was hers."""
    settings, store = env
    amina, bob, carl = _add(store, "amina@example.net", "bob@example.net", "carl@example.net")
    dsns = [
        make_dsn(
            bounces.envelope_sender(settings, amina),
            "amina.old@forward.example",
            message_id="<dsn-1@mx.example.net>",
        ),
        # no Message-ID: remembered by a hash of its bytes
        make_dsn(
            bounces.envelope_sender(settings, bob),
            "bob@example.net",
            status="5.2.2",
            diagnostic="smtp; 552 5.2.2 Mailbox full",
            message_id=None,
        ),
        # our VERP only in the returned headers' Return-Path (the DSN went to a plain address)
        make_dsn(
            "postmaster@news.example.org",
            "carl.fwd@elsewhere.example",
            return_path=bounces.envelope_sender(settings, carl),
            message_id="<dsn-3@mx.example.net>",
        ),
        make_dsn(BOUNCES, "stranger@example.net", message_id="<dsn-4@mx.example.net>"),
    ]
    box = write_maildir(tmp_path / "Maildir", dsns)
    report = bounces.read_bounces(store, settings, box, T0)
    assert sorted(a for a, _ in report.bounced) == ["amina@example.net", "carl@example.net"]
    assert [a for a, _ in report.counted] == ["bob@example.net"]
    assert report.unknown == [("stranger@example.net", "Undelivered Mail Returned to Sender")]
    again = bounces.read_bounces(store, settings, box, T0)
    assert (again.applied, again.already) == (0, 4)
    assert store.bounce_count("bob@example.net") == 1


def test_end_to_end_sink_refusal_dsn_in_maildir_cli_and_list(tmp_path, capsys):
    """An operator's run: config.yaml with bounce_address; a relay accepted the digest, the
    recipient's server later refused it (550 5.1.1 on loopback), the relay's DSN lands in the
    bounces Maildir; `aggregator bounces read` applies it; `subscribers list` says why."""
    config = write_config(tmp_path, [("Feed", "http://127.0.0.1:9/feed")])
    text = config.read_text().replace(
        "digest: {outbox: outbox, recipients: [reader@example.org]}",
        f"digest: {{outbox: outbox, recipients: [reader@example.org], bounce_address: {BOUNCES}}}",
    )
    config.write_text(text)
    from aggregator.config import load

    settings = load(config)
    with RefusingSink(permanent={"reader@example.org": ""}) as sink, Store(settings.database) as st:
        subs.seed_from_config(settings, st)
        verp = bounces.envelope_sender(settings, st.subscriber("reader@example.org"))
        conn = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
        with conn, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            conn.sendmail(verp, ["reader@example.org"], b"Subject: x\r\n\r\nhi\r\n")
    code, reply = refused.value.recipients["reader@example.org"]
    assert code == 550
    dsn = make_dsn(verp, "reader@example.org", diagnostic=f"smtp; {code} {reply.decode()}")
    maildir = write_maildir(
        tmp_path / "bounces", [dsn, sample("flanker-gmail-invalid-address.eml")]
    )

    assert main(["--config", str(config), "bounces", "read", str(maildir)]) == 0
    out = capsys.readouterr().out
    assert "1 refusal applied (1 bounced, 0 counted)" in out and "1 not a DSN" in out
    assert "bounced: reader@example.org: 550 5.1.1" in out
    assert main(["--config", str(config), "bounces", "read", str(maildir)]) == 0
    assert "0 refusals applied" in capsys.readouterr().out

    assert main(["--config", str(config), "subscribers", "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "reader@example.org" in x)
    assert "bounced" in line and "bounce" in line and "550 5.1.1" in line
    assert main(["--config", str(config), "subscribers", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["status"], row["origin"]) == ("bounced", "bounce")
    assert "User unknown" in row["reason"]

    assert main(["--config", str(config), "bounces", "read", str(tmp_path / "nope")]) == 1
    assert "no such Maildir or mbox" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["--config", str(config), "bounces", "read", str(tmp_path / "plain")]) == 1
    assert "not a Maildir" in capsys.readouterr().err


def test_parse_dsn_reads_the_fields_of_a_real_report():
    dsn = bounces.parse_dsn(sample("flanker-mailbox-full.eml"))
    assert (
        dsn is not None and dsn.key == "<20110729080856.AAB7C3800008A@mtain-db01.r1000.mx.aol.com>"
    )
    (r,) = dsn.recipients
    assert (r.action, r.status, r.final, r.original, r.code) == (
        "failed",
        "5.2.2",
        "user@aol.com",
        "user@aol.com",
        552,
    )
    assert "bounce+8c8b98.c-user=aol.com@example.com" in dsn.envelope
    assert bounces.parse_dsn(sample("flanker-gmail-invalid-address.eml")) is None
    assert bounces.parse_dsn(b"\x00\xff not mail at all") is None


# ---- check --------------------------------------------------------------------------------------


def test_check_warns_without_bounce_address_when_smtp_is_set_and_refuses_a_plus(tmp_path, capsys):
    config = write_config(tmp_path, [("Feed", "http://127.0.0.1:9/feed")])
    base = config.read_text()
    config.write_text(
        base.replace(
            "digest: {outbox: outbox,", "digest: {smtp: {host: mail.example.com}, outbox: outbox,"
        )
    )
    assert main(["--config", str(config), "check"]) == 0
    assert "digest.bounce_address: not set" in capsys.readouterr().err
    config.write_text(base.replace(
        "digest: {outbox: outbox,",
        "digest: {smtp: {host: mail.example.com}, bounce_address: bounces@lettre.ma, "
        "outbox: outbox,"))  # fmt: skip
    assert main(["--config", str(config), "check"]) == 0
    assert "bounce_address" not in capsys.readouterr().err
    config.write_text(base.replace("digest: {outbox: outbox,",
                                   "digest: {bounce_address: 'b+x@mail.example.com', "
                                   "bounce_threshold: 0, outbox: outbox,"))  # fmt: skip
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert "digest.bounce_address" in err and "no '+'" in err
    assert "digest.bounce_threshold" in err


def test_the_digest_sender_applies_the_policy_and_sends_from_a_verp_address(tmp_path):
    """send_digest end to end: each message's MAIL FROM names its subscriber (VERP), an unknown
    user is bounced at once, and a delivery clears an earlier run of refusals."""
    gone, fine = "gone@example.net", "fine@example.net"
    with RefusingSink(permanent={gone: ""}) as sink:
        settings = smtp_settings(tmp_path, sink, recipients=(gone, fine), bounce_address=BOUNCES)
        with week_store(tmp_path) as store:
            subs.seed_from_config(settings, store, T0)
            store.count_bounce(fine, T0, "552 5.2.2 Mailbox full")
            assert store.bounce_count(fine) == 1
            report = send_digest(settings, store, week="2026-W48", now=AFTER_W48)
            assert (report.sent, report.bounced) == (1, 1), report.failures
            (got,) = sink.messages
            fine_sub = store.subscriber(fine)
            assert got.mail_from == f"bounces+{fine_sub.uid}@news.example.org"
            assert store.subscriber(gone).status == "bounced"
            assert store.bounce_count(fine) == 0
