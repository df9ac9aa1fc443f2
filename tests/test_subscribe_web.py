"""Joining on the web, against the real HTTP server of ``aggregator serve`` on 127.0.0.1 and a
real SMTP server (aiosmtpd) on loopback: the double opt-in round trip, a flood of one victim's
address, an expired link, the honeypot, a cross-site post, the preferences page, and tokens
kept out of the access log."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from aggregator.service import subscribe as sweb
from aggregator.service import subscriptions as subs

from support.site_subscribe import Site
from support.smtpserver import Sink

LINK = re.compile(r"http://127\.0\.0\.1:\d+/subscribe/confirm\?token=[\w.%-]+")


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


@pytest.fixture
def site(tmp_path, sink):
    s = Site(tmp_path, sink)
    yield s
    s.close()


def _confirm_link(sink: Sink, n: int = 0) -> str:
    body = sink.messages[n].message.get_body(("plain",)).get_content()
    found = LINK.search(body)
    assert found, body
    return found.group(0)


def test_the_form_shows_topics_languages_and_protection(site):
    status, headers, page = site.request("GET", "/subscribe")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert 'name="email"' in page and 'name="website"' in page and 'name="form_token"' in page
    assert 'value="diplomacy"' in page and 'value="ai"' in page and 'value="ar"' in page
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    _, headers, page = site.request("GET", "/subscribe?embed")
    assert "frame-ancestors *" in headers["Content-Security-Policy"] and "<header" not in page


def test_double_opt_in_round_trip(site, sink):
    status, _, page = site.join("Amina <Amina@Example.ORG>",
                                extra={"topics": ["ai", "diplomacy"], "languages": ["fr"]})  # fmt: skip
    assert status == 200 and "Check your inbox" in page
    pending = site.store.subscriber("amina@example.org")
    assert pending and pending.status == "pending" and pending.origin == "form"
    assert pending.topics == ("ai", "diplomacy") and pending.languages == ("fr",)
    assert len(sink.messages) == 1 and sink.messages[0].rcpt_tos == ["Amina@example.org"]
    link = _confirm_link(sink)
    assert "amina" not in link.lower()  # the token carries no address
    path = link.split(str(site.port), 1)[1]
    # GET shows a button and changes nothing (mail scanners follow links)
    status, _, page = site.request("GET", path)
    assert status == 200 and 'method="post"' in page
    assert site.store.subscriber("amina@example.org").status == "pending"
    status, _, page = site.request("POST", path, {}, headers={"Origin": site.origin})
    assert status == 200 and "Subscription confirmed" in page
    confirmed = site.store.subscriber("amina@example.org")
    assert confirmed.status == "confirmed" and confirmed.origin == "form"
    events = site.store.subscriber_events(confirmed.id)
    assert [(e.status, e.origin) for e in events] == [("pending", "form"), ("confirmed", "form")]
    assert "Amina@example.org" in subs.digest_recipients(site.settings, site.store)


def test_a_flood_of_one_address_sends_one_mail(site, sink):
    clients = [f"127.0.0.{n}" for n in range(2, 7)]
    answers = []
    for i in range(50):
        client = clients[i % len(clients)]
        status, _, _ = site.join("victim@example.org", client=client)
        answers.append(status)
    assert len(sink.messages) == 1  # at most one confirmation per address per hour
    assert answers.count(429) > 0  # and each client was slowed down
    assert site.store.subscriber("victim@example.org").status == "pending"


def test_per_client_rate_limit(site, sink):
    statuses = [site.join(f"p{i}@example.org", client="127.0.0.9")[0] for i in range(8)]
    assert statuses[: sweb.PER_CLIENT] == [200] * sweb.PER_CLIENT
    assert set(statuses[sweb.PER_CLIENT :]) == {429}
    assert len(sink.messages) == sweb.PER_CLIENT


def test_expired_link_says_so(site, sink):
    site.join("late@example.org")
    subscriber = site.store.subscriber("late@example.org")
    secret = site.store.meta_get("unsubscribe_secret").encode()
    old = datetime.now(UTC) - subs.CONFIRM_TTL - timedelta(hours=1)
    link = subs.confirm_url(site.settings, secret, subscriber, old)
    path = urlsplit(link).path + "?" + urlsplit(link).query
    status, _, page = site.request("GET", path)
    assert status == 410 and "Link expired" in page and 'href="/subscribe"' in page
    status, _, _ = site.request("POST", path, {}, headers={"Origin": site.origin})
    assert status == 410 and site.store.subscriber("late@example.org").status == "pending"
    forged = path[:-3] + "xyz"
    assert site.request("GET", forged)[0] == 400


def test_honeypot_gets_the_same_answer_and_nothing_happens(site, sink):
    status, _, page = site.join("bot@example.org", extra={"website": "http://spam.test"})
    assert status == 200 and "Check your inbox" in page
    assert site.store.subscriber("bot@example.org") is None and not sink.messages


def test_cross_site_posts_are_refused(site, sink):
    status, _, _ = site.join("csrf@example.org", headers={"Origin": "https://evil.test"})
    assert status == 403
    status, _, _ = site.join("csrf@example.org",
                             headers={"Origin": "", "Referer": "https://evil.test/page"})  # fmt: skip
    assert status == 403
    # no form token (or a forged one): the form again, nothing recorded
    body = {"form_token": "1.forged", "email": "csrf@example.org"}
    status, _, page = site.request("POST", "/subscribe", body, headers={"Origin": site.origin})
    assert status == 400 and "too old" in page
    assert site.store.subscriber("csrf@example.org") is None and not sink.messages


def test_bad_address_shows_the_form_again(site, sink):
    status, _, page = site.join("amina@", extra={"topics": ["ai"]})
    assert status == 400 and "check the address" in page and not sink.messages
    assert re.search(r'value="ai" checked', page)


def test_preferences_page_changes_choices_pauses_and_unsubscribes(site, sink):
    s = subs.add(site.store, "Karim <karim@example.org>")
    secret = site.store.meta_get("unsubscribe_secret").encode()
    url = subs.preferences_url(site.settings, secret, s)
    assert "karim" not in url
    path = urlsplit(url).path + "?" + urlsplit(url).query
    status, _, page = site.request("GET", path)
    assert status == 200 and "karim@example.org" in page
    token = urlsplit(url).query.split("=", 1)[1]
    hdrs = {"Origin": site.origin}
    post = {"token": token, "topics": ["diplomacy"], "languages": ["ar"], "action": "save"}
    assert site.request("POST", "/preferences", post, headers=hdrs)[0] == 200
    assert site.store.subscriber("karim@example.org").topics == ("diplomacy",)
    site.request("POST", "/preferences", {**post, "action": "pause"}, headers=hdrs)
    assert site.store.subscriber("karim@example.org").status == "paused"
    assert "karim@example.org" not in subs.digest_recipients(site.settings, site.store)
    site.request("POST", "/preferences", {**post, "action": "unsubscribe"}, headers=hdrs)
    k = site.store.subscriber("karim@example.org")
    assert (k.status, k.origin) == ("unsubscribed", "preferences")
    assert site.request("GET", "/preferences?token=" + token[:-2] + "xx")[0] == 400
    # an unsubscribe token is no preferences token
    assert site.request("GET", "/preferences?token=" + token.split(".")[0] + ".x")[0] == 400


def test_tokens_never_reach_the_access_log(site, sink, caplog):
    s = subs.add(site.store, "logged@example.org")
    secret = site.store.meta_get("unsubscribe_secret").encode()
    token = subs.link_token(site.store, secret, s.email)
    with caplog.at_level(logging.INFO, logger="aggregator.web"):
        site.request("GET", f"/unsubscribe?token={token}")
        site.request("GET", f"/preferences?token={token}")
    lines = [r.getMessage() for r in caplog.records if r.name == "aggregator.web"]
    assert len(lines) >= 2 and all("[redacted]" in line for line in lines)
    assert not any(token in line or token.split(".")[1] in line for line in lines)


def test_one_click_unsubscribe_with_the_new_tokens(site, sink):
    s = subs.add(site.store, "one@example.org")
    secret = site.store.meta_get("unsubscribe_secret").encode()
    token = subs.link_token(site.store, secret, s.email)
    status, _, _ = site.request("POST", f"/unsubscribe?token={token}",
                                {"List-Unsubscribe": "One-Click"})  # fmt: skip
    assert status == 200
    one = site.store.subscriber("one@example.org")
    assert (one.status, one.origin) == ("unsubscribed", "one-click")
    # the same person joining again on the web goes through the double opt-in again
    site.join("one@example.org")
    assert site.store.subscriber("one@example.org").status == "pending" and len(sink.messages) == 1
