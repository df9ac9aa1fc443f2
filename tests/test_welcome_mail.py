"""The mails of joining (service.subscriber_mail), through the real pages of ``aggregator serve``
on 127.0.0.1 and a real SMTP server (aiosmtpd) on loopback: the confirmation's parts, headers,
language, greeting and link; the welcome sent exactly once per confirmation, whatever is
replayed or posted by others; DKIM and the VERP return path; an operator's template."""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aggregator.service import subscriptions as subs
from aggregator.settings import DkimSettings
from aggregator.unsubscribe import verify_expiring_token, verify_token

from support.site_subscribe import Site
from support.smtpserver import Sink

LINK = re.compile(r"http://127\.0\.0\.1:\d+/subscribe/confirm\?token=[\w.%-]+")
PREFS = re.compile(r"http://127\.0\.0\.1:\d+/preferences\?token=[\w.%-]+")


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


@pytest.fixture
def site(tmp_path, sink):
    s = Site(tmp_path, sink)
    yield s
    s.close()


def _parts(received) -> tuple[object, str, str]:
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = list(msg.iter_parts())
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    return msg, plain.get_content().replace("\r\n", "\n"), html.get_content()


def _secret(site: Site) -> bytes:
    return site.store.meta_get("unsubscribe_secret").encode()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _confirm(site: Site, link: str):
    return site.request("POST", _path(link), {}, headers={"Origin": site.origin})


def test_confirmation_is_text_and_html_in_the_chosen_language_with_name_and_link(site, sink):
    before = datetime.now(UTC)
    site.join("karim@example.org", extra={"name": "Karim", "topics": ["africa", "diplomacy"],
                                          "languages": ["fr"]})  # fmt: skip
    assert len(sink.messages) == 1
    msg, text, html = _parts(sink.messages[0])
    karim = site.store.subscriber("karim@example.org")
    assert karim.name == "Karim" and karim.status == "pending"
    # the subscriber's language (they chose French only), greeted by name, what they asked for
    assert str(msg["Subject"]).startswith("Confirmez votre abonnement à ")
    assert msg["Content-Language"] == "fr" and '<html lang="fr" dir="ltr">' in html
    assert text.startswith("Bonjour Karim,\n") and "Bonjour <bdi>Karim</bdi>," in html
    assert "Rubriques\u202f: Afrique, Diplomacy" in text and "Langues\u202f: Français" in text
    assert "vous ne recevrez rien d’autre" in text and "vous ne recevrez rien d’autre" in html
    assert "Digest" in text and "https://news.example.org/" in html  # who sends it
    # the same confirm link in both parts, signed for this subscriber, valid 48 hours
    link = LINK.search(text).group(0)
    assert f'href="{link}"' in html
    token = parse_qs(urlsplit(link).query)["token"][0]
    uid, expired = verify_expiring_token(_secret(site), token, "confirm", datetime.now(UTC))
    assert uid == karim.uid and not expired
    assert verify_expiring_token(_secret(site), token, "confirm",
                                 before + timedelta(hours=48, minutes=1))[1]  # fmt: skip
    # the digest's header hygiene
    assert re.fullmatch(r"<[^@<>\s]+@news\.test>", msg["Message-ID"])
    assert msg["Date"] and msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Id"] == '"Digest" <digest.news.test>'
    unsubscribe = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert unsubscribe[0].startswith("mailto:digest@news.test?subject=unsubscribe")
    assert unsubscribe[1].startswith(f"http://127.0.0.1:{site.port}/unsubscribe?token=")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "karim" not in link.lower() and "karim" not in msg["List-Unsubscribe"].lower()


def test_arabic_confirmation_reads_right_to_left(site, sink):
    site.join("layla@example.org", extra={"name": "ليلى", "languages": ["ar"]})
    msg, text, html = _parts(sink.messages[0])
    assert str(msg["Subject"]).startswith("أكِّد اشتراكك في ")
    assert '<html lang="ar" dir="rtl">' in html and "text-align:right" in html
    assert text.startswith("مرحبًا ليلى،") and "كل المواضيع" in text
    assert "<bdi>layla@example.org</bdi>" in html  # the address keeps its order in Arabic


@pytest.mark.parametrize(("languages", "locale", "expected"), [
    (["en", "fr"], "fr", "Confirmez"),  # two of them: the digest's locale
    ([], "fr", "Confirmez"),            # none (everything): the digest's locale
    (["en", "pt"], "fr", "Confirm your"),  # one of en/fr/ar: that one
    ([], "de", "Confirm your"),         # a locale without these words: English
])  # fmt: skip
def test_language_falls_back_to_the_digest_locale(tmp_path, sink, languages, locale, expected):
    site = Site(tmp_path, sink, locale=locale)
    try:
        site.store.set_subscriber_status("p@example.org", "pending", "form",
                                         datetime.now(UTC), languages=languages)  # fmt: skip
        subscriber = site.store.subscriber("p@example.org")
        from aggregator.service.subscriber_mail import send_confirmation

        assert send_confirmation(site.settings, site.store, subscriber)
        assert str(sink.messages[0].message["Subject"]).startswith(expected)
    finally:
        site.close()


def test_a_name_that_carries_a_link_is_never_put_in_a_mail(site, sink):
    site.join("victim@example.org", extra={"name": "Win $500 at www.spam.test now"})
    site.join("other@example.org", client="127.0.0.3",
              extra={"name": "Bob http://spam.test"})  # fmt: skip
    assert len(sink.messages) == 2
    for received in sink.messages:
        _, text, html = _parts(received)
        assert text.startswith("Hello,\n") and "spam" not in text and "spam" not in html
    assert site.store.subscriber("victim@example.org").name == ""


def test_welcome_is_sent_exactly_once_per_confirmation(site, sink):
    site.join("amina@example.org", extra={"name": "Amina", "topics": ["ai"]})
    link = LINK.search(_parts(sink.messages[0])[1]).group(0)
    assert site.request("GET", _path(link))[0] == 200 and len(sink.messages) == 1  # GET: nothing
    status, _, page = _confirm(site, link)
    assert status == 200 and "Subscription confirmed" in page
    assert len(sink.messages) == 2
    msg, text, html = _parts(sink.messages[1])
    assert sink.messages[1].rcpt_tos == ["amina@example.org"]
    assert str(msg["Subject"]).startswith("Welcome to ") and text.startswith("Hello Amina,")
    assert "Topics: AI" in text and msg["Auto-Submitted"] == "auto-generated"
    amina = site.store.subscriber("amina@example.org")
    # the preferences link and the one-click unsubscribe, signed for this subscriber
    prefs = PREFS.search(text).group(0)
    assert f'href="{prefs}"' in html
    token = unquote(parse_qs(urlsplit(prefs).query)["token"][0])
    assert verify_token(_secret(site), token, "preferences") == amina.uid
    https = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])[1]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and https in text
    assert verify_token(_secret(site), parse_qs(urlsplit(https).query)["token"][0]) == amina.uid
    # replays, a second click, the form again (a stranger): nothing more is sent
    for _ in range(3):
        assert _confirm(site, link)[0] == 200
    assert site.request("GET", _path(link))[0] == 200
    for n in range(20):
        site.join("amina@example.org", client=f"127.0.0.{10 + n % 4}")
    assert len(sink.messages) == 2
    events = site.store.subscriber_events(amina.id)
    assert [(e.status, e.origin) for e in events] == [("pending", "form"), ("confirmed", "form")]


def test_concurrent_confirmations_send_one_welcome(site, sink):
    site.join("race@example.org")
    link = LINK.search(_parts(sink.messages[0])[1]).group(0)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(_confirm(site, link)[0]))
               for _ in range(6)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert len(sink.messages) == 2  # the confirmation and one welcome


def test_a_flood_then_a_confirmation_sends_one_of_each(site, sink):
    for i in range(50):
        site.join("victim@example.org", client=f"127.0.0.{2 + i % 5}")
    assert len(sink.messages) == 1
    link = LINK.search(_parts(sink.messages[0])[1]).group(0)
    # a stranger without the link cannot confirm (nor get a welcome sent)
    forged = _path(link)[:-4] + "abcd"
    assert site.request("POST", forged, {}, headers={"Origin": site.origin})[0] == 400
    assert len(sink.messages) == 1
    _confirm(site, link)
    assert len(sink.messages) == 2


def test_welcome_off_sends_nothing_after_confirming(tmp_path, sink):
    site = Site(tmp_path, sink, welcome=False)
    try:
        site.join("quiet@example.org")
        _confirm(site, LINK.search(_parts(sink.messages[0])[1]).group(0))
        assert site.store.subscriber("quiet@example.org").status == "confirmed"
        assert len(sink.messages) == 1
    finally:
        site.close()


def test_one_click_on_the_confirmation_stops_the_pending_address(site, sink):
    site.join("notme@example.org")
    msg, text, _ = _parts(sink.messages[0])
    https = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])[1]
    status, _, _ = site.request("POST", _path(https), {"List-Unsubscribe": "One-Click"})
    assert status == 200
    assert site.store.subscriber("notme@example.org").status == "unsubscribed"
    assert _confirm(site, LINK.search(text).group(0))[0] == 409 and len(sink.messages) == 1


def test_dkim_signature_and_verp_return_path(tmp_path, sink):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "dkim.pem"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"s1._domainkey.news.test." else None

    site = Site(tmp_path, sink, bounce_address="bounces@news.test",
                dkim=DkimSettings(selector="s1", domain="news.test", key_file=key))  # fmt: skip
    try:
        site.join("signed@example.org")
        _confirm(site, LINK.search(_parts(sink.messages[0])[1]).group(0))
        uid = site.store.subscriber("signed@example.org").uid
        assert len(sink.messages) == 2
        for received in sink.messages:
            assert received.mail_from == f"bounces+{uid}@news.test"
            assert dkim.verify(received.data, dnsfunc=dns)
            head = received.data.split(b"\r\n\r\n", 1)[0].lower()
            assert b"list-unsubscribe-post" in head.split(b"dkim-signature:", 1)[1]
    finally:
        site.close()


def test_an_operators_template_replaces_the_packaged_one(tmp_path, sink):
    folder = tmp_path / "mytemplates"
    folder.mkdir()
    (folder / "subscribe_confirm.html.j2").write_text(
        '<!DOCTYPE html><html lang="{{ lang }}"><body><p>Custom {{ name }}</p>'
        '<a href="{{ link }}">{{ words.confirm_button }}</a></body></html>\n',
        encoding="utf-8",
    )
    site = Site(tmp_path, sink, templates=folder)
    try:
        site.join("custom@example.org", extra={"name": "Ada"})
        _, text, html = _parts(sink.messages[0])
        assert "<p>Custom Ada</p>" in html and "Confirm my subscription" in html
        assert text.startswith("Hello Ada,")  # the packaged text part
        link = LINK.search(text).group(0)
        assert link in html and timedelta(hours=48) == subs.CONFIRM_TTL
    finally:
        site.close()


def test_a_broken_operator_template_is_logged_and_the_confirmation_stands(tmp_path, sink, caplog):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "subscribe_welcome.html.j2").write_text("{{ no_such_variable }}\n", encoding="utf-8")
    site = Site(tmp_path, sink, templates=folder)
    try:
        site.join("ok@example.org")
        status, _, page = _confirm(site, LINK.search(_parts(sink.messages[0])[1]).group(0))
        assert status == 200 and "Subscription confirmed" in page and len(sink.messages) == 1
        assert site.store.subscriber("ok@example.org").status == "confirmed"
        assert any("subscribe_welcome" in r.getMessage() or "no_such_variable" in r.getMessage()
                   for r in caplog.records if r.levelname == "ERROR")  # fmt: skip
    finally:
        site.close()
