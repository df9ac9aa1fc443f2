"""The fetcher against a real loopback server, and the pure state policy with a fixed clock."""

from __future__ import annotations

import itertools
import random
import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from aggregator.errors import FetchError, ParseError
from aggregator.fetch import (
    MAX_BACKOFF,
    MAX_LENGTHEN,
    MAX_RETRY_AFTER,
    Fetcher,
    address_allowed,
    after_failure,
    after_success,
    backoff_delay,
    is_due,
    is_public_address,
    parse_max_age,
    parse_networks,
    parse_retry_after,
)
from aggregator.models import FetchResult, SourceState
from aggregator.settings import FetchSettings

if TYPE_CHECKING:
    from typing import Self

FEED = (Path(__file__).parent / "data" / "fetch" / "feed.xml").read_bytes()
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOOPBACK = ("127.0.0.0/8",)
MiB = 1 << 20


def settings(**kw) -> FetchSettings:
    kw.setdefault("allow_private", LOOPBACK)
    kw.setdefault("timeout", 5.0)
    return FetchSettings(**kw)


@pytest.fixture
def fetcher():
    with Fetcher(settings(), clock=lambda: NOW) as f:
        yield f


def source(url: str, **kw) -> SourceState:
    return SourceState(name="src", url=url, fetch_url=url, **kw)


def result(url: str = "http://example.org/feed", status: int = 200, **kw) -> FetchResult:
    content = None if status == 304 else b"<rss/>"
    return FetchResult(source="src", url=url, final_url=url, status=status, content=content, **kw)


# --------------------------------------------------------------------------- conditional GET


def test_first_fetch_returns_body_and_validators(feed_server, fetcher):
    res = fetcher.fetch(source(feed_server.url("fetch/feed.xml")))
    assert res.status == 200 and res.content == FEED
    assert res.etag and res.etag.startswith('"')
    assert res.last_modified and res.last_modified.endswith("GMT")
    assert res.headers["content-type"] == "application/xml"  # case-insensitive mapping
    sent = feed_server.requests_for("fetch/feed.xml")[0].headers
    assert sent["user-agent"] == FetchSettings().user_agent
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_second_fetch_is_conditional_and_gets_304(feed_server, fetcher):
    url = feed_server.url("fetch/feed.xml")
    first = fetcher.fetch(source(url))
    state = after_success(source(url), first, NOW, 1800)
    second = fetcher.fetch(state)
    assert second.status == 304 and second.not_modified and second.content is None
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = feed_server.requests_for("fetch/feed.xml")[1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified
    assert after_success(state, second, NOW, 1800).state == "not-modified"


def test_if_modified_since_alone_gets_304(feed_server, fetcher):
    url = feed_server.put("doc.xml", FEED, mtime=time.time() - 3600)
    first = fetcher.fetch(source(url))
    res = fetcher.fetch(source(url, last_modified=first.last_modified))
    assert res.status == 304


def test_changed_document_returns_new_body_and_etag(feed_server, fetcher):
    url = feed_server.put("doc.xml", b"<rss>one</rss>")
    first = fetcher.fetch(source(url))
    feed_server.put("doc.xml", b"<rss>two</rss>")
    second = fetcher.fetch(source(url, etag=first.etag))
    assert second.status == 200 and second.content == b"<rss>two</rss>"
    assert second.etag != first.etag


def test_gzip_body_is_decoded(feed_server, fetcher):
    res = fetcher.fetch(source(feed_server.url("fetch/feed.xml")))
    assert "gzip" in feed_server.log[0].headers["accept-encoding"]
    assert res.headers["content-encoding"] == "gzip"
    assert res.content == FEED


def test_connection_is_reused_after_200_304_redirect_and_error(feed_server, fetcher):
    url = feed_server.url("fetch/feed.xml")
    first = fetcher.fetch(source(url))
    assert fetcher.fetch(source(url, etag=first.etag)).status == 304
    fetcher.fetch(source(feed_server.url("_redirect/302?to=/fetch/feed.xml")))
    with pytest.raises(FetchError):
        fetcher.fetch(source(feed_server.url("_status/404")))
    fetcher.fetch(source(url))
    assert len(feed_server.log) == 6
    assert len({r.client for r in feed_server.log}) == 1  # one keep-alive connection for all


def test_cache_headers_become_max_age(feed_server, fetcher):
    url = feed_server.put("cached.xml", FEED, headers={"Cache-Control": "public, max-age=7200"})
    assert fetcher.fetch(source(url)).max_age == timedelta(hours=2)


# --------------------------------------------------------------------------- size and time bounds


def test_size_cap_with_content_length(feed_server):
    with Fetcher(settings(max_bytes=MiB)) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(feed_server.url("_big?bytes=5000000")))
    assert exc.value.message == "body larger than 1 MiB"


def test_size_cap_without_content_length(feed_server):
    with Fetcher(settings(max_bytes=MiB)) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(feed_server.url("_big?bytes=5000000&length=0")))
    assert exc.value.message == "body larger than 1 MiB"


def test_gzip_bomb_stops_at_cap_without_inflating(feed_server):
    bomb = feed_server.bomb(100 * MiB)
    assert len(bomb) < MiB  # small on the wire
    with Fetcher(settings(max_bytes=MiB)) as f:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError) as exc:
                f.fetch(source(feed_server.url(f"_bomb?bytes={100 * MiB}")))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert exc.value.message == "body larger than 1 MiB"
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB while reading a 100 MiB bomb"


def test_total_deadline_bounds_drips_and_hangs(feed_server):
    """A byte a second in the body or in the headers, or no answer at all: each download ends
    at the deadline (run together, so the test takes one deadline)."""
    paths = ["_drip?bytes=60&every=0.3", "_drip_headers?every=0.3", "_hang"]
    timeout = 1.5
    with Fetcher(settings(timeout=timeout, workers=3, per_host=3)) as f:
        start = time.monotonic()
        outcomes = dict(f.fetch_many(source(feed_server.url(p)) for p in paths))
        elapsed = time.monotonic() - start
    assert len(outcomes) == 3
    for state, outcome in outcomes.items():
        assert isinstance(outcome, FetchError), state.fetch_url
        assert outcome.message == "timed out after 1.5 s"
    assert elapsed < timeout + 2
    assert len(feed_server.log) == 3  # each request did reach the server


def test_connection_refused_is_a_clear_error(fetcher):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(f"http://127.0.0.1:{port}/feed"))
    assert exc.value.message == "connection refused" and exc.value.status is None


# --------------------------------------------------------------------------- redirects


class RawServer:
    """Answers each of the next connections with canned bytes (one request each): for responses
    no well-behaved server would send."""

    def __init__(self, *answers: bytes):
        import threading

        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(len(answers))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "feed.xml") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def _serve(self) -> None:
        for answer in self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(65536))
                conn.sendall(answer)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def _response(status: bytes, headers: list[bytes], body: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


@pytest.mark.parametrize(
    "status, head, body",
    [
        (b"200 OK", [b"Content-Type : application/xml", b"Content-Length: 6"], b"<rss/>"),
        (b"200 OK", [b"Content-Length: 6", b"Content-Length: 6"], b"<rss/>"),
        (b"200 OK", [b"Garbage line", b"Content-Length: 6"], b"<rss/>"),
        (b"200 OK", [b"Content-Length: 6"], b"<rss/>\n<!-- cache: hit -->"),  # a script's tail
        (b"304 Not Modified", [b'ETag: "a"'], b"stray"),
    ],
)
def test_a_response_the_parser_refuses_is_read_by_http_client(status, head, body):
    """Sloppy servers that http.client always read: aiohttp's parser refuses them, so the
    fetcher asks once more with http.client (second connection) and gets the same answer."""
    server = RawServer(*[_response(status, head, body)] * 2)
    with server, Fetcher(settings()) as f:
        res = f.fetch(source(server.url(), etag='"a"'))
    assert len(server.requests) == 2
    assert b'if-none-match: "a"' in server.requests[1].lower()
    if status.startswith(b"304"):
        assert res.status == 304 and res.content is None
    else:
        assert res.status == 200 and res.content == b"<rss/>"


def test_a_response_neither_parser_reads_is_named_as_such():
    server = RawServer(*[b"HTTX/9 what\r\n\r\n<rss/>"] * 2)
    with server, Fetcher(settings()) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(server.url()))
    assert exc.value.message == "malformed HTTP response: BadStatusLine"


def test_a_body_cut_short_is_a_broken_connection():
    server = RawServer(_response(b"200 OK", [b"Content-Length: 100"], b"<rss/>"))
    with server, Fetcher(settings()) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(server.url()))
    assert exc.value.message == "connection broken while reading the body"


def test_header_bytes_that_are_not_utf8_come_back_as_latin1_text(tmp_path):
    """ETag and reason bytes in Latin-1 (RFC 9110's obs-text): storable text, never surrogates
    (which SQLite refuses: a whole batch of source states failed to save)."""
    from aggregator.store import Store

    ok = _response(
        b"200 OK",
        [b'ETag: "\xe9t\xe9"', b"Last-Modified: Mon, 02 Nov 2026 10:00:00 GMT",
         b"X-Place: Sal\xe9", b"Content-Length: %d" % len(FEED)],
        FEED,
    )  # fmt: skip
    failed = _response(b"500 Erreur \xe9trange", [b"Content-Length: 0"], b"")
    with RawServer(ok, ok, failed) as server, Fetcher(settings(), clock=lambda: NOW) as f:
        first = f.fetch(source(server.url()))
        again = f.fetch(source(server.url(), etag=first.etag, last_modified=first.last_modified))
        with pytest.raises(FetchError) as exc:
            f.fetch(source(server.url()))
    assert first.etag == '"\u00e9t\u00e9"' and first.headers["x-place"] == "Sal\u00e9"
    assert again.status == 200 and again.content == FEED
    # aiohttp sends header text as UTF-8: the Latin-1 ETag could not match, so it is not sent;
    # If-Modified-Since goes alone.
    sent = server.requests[1].lower()
    assert b"if-none-match" not in sent and b"if-modified-since: mon, 02 nov 2026" in sent
    assert exc.value.message == "HTTP 500 Erreur \u00e9trange"
    state = after_success(source(server.url()), first, NOW, 1800.0)
    with Store(tmp_path / "s.db") as store:
        store.sync_sources([(state.name, state.url)])
        store.save_source_states([state])
        assert store.source_states([state.name])[0].etag == first.etag


def test_repeated_header_lines_are_read_together():
    """Cache-Control on two lines means both; Content-Encoding on two lines, both codings."""
    import gzip

    twice = gzip.compress(gzip.compress(FEED, mtime=0), mtime=0)
    answer = _response(
        b"200 OK",
        [b"Cache-Control: public", b"Cache-Control: max-age=7200",
         b"Content-Encoding: gzip", b"Content-Encoding: gzip",
         b"Content-Length: %d" % len(twice)],
        twice,
    )  # fmt: skip
    with RawServer(answer) as server, Fetcher(settings()) as f:
        res = f.fetch(source(server.url()))
    assert res.max_age == timedelta(hours=2)
    assert res.content == FEED


def test_trailing_junk_after_a_gzip_body_is_ignored():
    from aggregator.fetch.decode import _Decoder

    body = b"<rss>" + b"y" * 1000 + b"</rss>"
    for junk in (b"\r\n", b"garbage!", b"\x00\x00\r\n"):
        assert b"".join(_Decoder(["gzip"]).feed(_gzip(body) + junk)) == body


def test_closing_the_fetcher_ends_a_fetch_many_in_another_thread(feed_server):
    """close() while a consumer waits on hung downloads: the consumer's iteration ends (the
    sources left are simply not fetched), and a fetch() caught by the close is a FetchError."""
    import threading

    states = [source(feed_server.url(f"_hang?n={i}")) for i in range(3)]
    got: list = []
    f = Fetcher(settings(timeout=30, workers=2, per_host=2))
    consumer = threading.Thread(target=lambda: got.extend(f.fetch_many(states)), daemon=True)
    single: list = []

    def one() -> None:
        try:
            f.fetch(source(feed_server.url("_hang?single")))
        except FetchError as e:
            single.append(e.message)

    other = threading.Thread(target=one, daemon=True)
    consumer.start()
    other.start()
    deadline = time.monotonic() + 10
    while len(feed_server.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    f.close()
    consumer.join(timeout=5)
    other.join(timeout=5)
    assert not consumer.is_alive() and not other.is_alive()
    assert time.monotonic() - start < 5
    assert got == []
    assert single == ["cancelled: the fetcher was closed"]
    assert len(feed_server.log) == 3  # the queued third source never started


def test_five_redirects_are_followed(feed_server, fetcher):
    url = feed_server.url("_chain/301/5/fetch/feed.xml")
    res = fetcher.fetch(source(url))
    assert res.status == 200 and res.content == FEED
    assert res.final_url == feed_server.url("fetch/feed.xml")
    assert res.url == url
    assert res.permanent_redirect == res.final_url  # every hop permanent: the end of the chain


def test_six_redirects_are_too_many(feed_server, fetcher):
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        fetcher.fetch(source(feed_server.url("_chain/302/6/fetch/feed.xml")))
    assert len(feed_server.log) == 6


def test_redirect_loop_is_detected(feed_server, fetcher):
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.fetch(source(feed_server.url("_loop/a")))
    assert len(feed_server.log) == 2


def test_redirect_to_other_scheme_is_refused(feed_server, fetcher):
    with pytest.raises(FetchError, match="unsupported URL scheme: file:///etc/passwd"):
        fetcher.fetch(source(feed_server.url("_redirect/302?to=file:///etc/passwd")))


def test_permanent_redirect_is_the_first_hops_target(feed_server, fetcher):
    res = fetcher.fetch(source(feed_server.url("_redirect/308?to=/_chain/302/1/fetch/feed.xml")))
    assert res.permanent_redirect == feed_server.url("_chain/302/1/fetch/feed.xml")
    res = fetcher.fetch(source(feed_server.url("_redirect/307?to=/_chain/301/1/fetch/feed.xml")))
    assert res.permanent_redirect is None  # the first hop was temporary


def test_permanent_redirect_confirmed_after_three_fetches(feed_server, fetcher):
    old = feed_server.url("_redirect/301?to=/fetch/feed.xml")
    new = feed_server.url("fetch/feed.xml")
    state = source(old)
    for n in (1, 2):
        state = after_success(state, fetcher.fetch(state), NOW, 1800)
        assert (state.fetch_url, state.moved_to, state.moved_count) == (old, new, n)
        assert state.state in ("ok", "not-modified")
    state = after_success(state, fetcher.fetch(state), NOW, 1800)
    assert (state.fetch_url, state.moved_to, state.state) == (new, new, "moved")
    assert state.url == old  # the configured URL stays; status shows where it went
    feed_server.reset()
    res = fetcher.fetch(state)
    assert res.status == 304 and res.permanent_redirect is None
    assert [r.path for r in feed_server.log] == ["/fetch/feed.xml"]
    state = after_success(state, res, NOW, 1800)
    assert (state.fetch_url, state.moved_to, state.moved_count, state.state) == (
        new,
        new,
        0,
        "moved",
    )


def test_temporary_redirect_changes_nothing(feed_server, fetcher):
    url = feed_server.url("_redirect/302?to=/fetch/feed.xml")
    state = source(url)
    for _ in range(4):
        res = fetcher.fetch(state)
        assert res.final_url == feed_server.url("fetch/feed.xml")
        state = after_success(state, res, NOW, 1800)
    assert (state.fetch_url, state.moved_to, state.moved_count) == (url, None, 0)
    assert state.state in ("ok", "not-modified")


def test_interrupted_redirect_run_starts_over():
    url, target = "http://a.example/feed", "http://b.example/feed"
    state = source(url)
    state = after_success(state, result(url, permanent_redirect=target), NOW, 60)
    state = after_success(state, result(url, permanent_redirect=target), NOW, 60)
    assert state.moved_count == 2
    state = after_success(state, result(url), NOW, 60)
    assert (state.moved_to, state.moved_count, state.fetch_url) == (None, 0, url)
    state = after_success(state, result(url, permanent_redirect=target), NOW, 60)
    assert (state.moved_count, state.fetch_url) == (1, url)


def test_new_redirect_target_restarts_count():
    url = "http://a.example/feed"
    state = after_success(source(url), result(url, permanent_redirect="http://b.example/"), NOW, 60)
    state = after_success(state, result(url, permanent_redirect="http://c.example/"), NOW, 60)
    assert (state.moved_to, state.moved_count) == ("http://c.example/", 1)


@pytest.mark.parametrize(
    "target, moved",
    [
        ("https://a.example/feed", True),
        ("https://A.EXAMPLE/feed/", True),
        ("https://b.example/feed", False),
        ("http://a.example/new", False),
    ],
    ids=["upgrade", "upgrade-other-path", "other-host", "same-scheme"],
)
def test_https_upgrade_on_same_host_moves_at_once(target, moved):
    url = "http://a.example/feed"
    state = after_success(source(url), result(url, permanent_redirect=target), NOW, 60)
    assert (state.fetch_url == target) is moved
    assert state.state == ("moved" if moved else "ok")


# --------------------------------------------------------------------------- statuses


def test_410_retires_the_source(feed_server, fetcher):
    url = feed_server.url("_status/410")
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(url))
    assert exc.value.status == 410
    state = after_failure(source(url), exc.value, NOW, 1800)
    assert (state.state, state.gone, state.next_attempt, state.http_status) == (
        "gone",
        True,
        None,
        410,
    )
    assert state.last_error == "HTTP 410 Gone"
    assert not is_due(state, NOW + timedelta(days=3650))


def test_retry_after_seconds(feed_server, fetcher):
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(feed_server.url("_status/429?retry_after=7200")))
    assert exc.value.status == 429
    assert exc.value.retry_after == NOW + timedelta(seconds=7200)
    state = after_failure(source("u"), exc.value, NOW, 1800)
    assert state.next_attempt == NOW + timedelta(seconds=7200)
    assert state.state == "backing-off" and state.error_count == 1


def test_retry_after_http_date(feed_server, fetcher):
    when = "Wed, 02 Dec 2026 10:00:00 GMT"
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(feed_server.url(f"_status/503?retry_after={when}")))
    expected = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert (exc.value.status, exc.value.retry_after) == (503, expected)
    assert after_failure(source("u"), exc.value, NOW, 1800).next_attempt == expected


def test_retry_after_is_bounded():
    far = FetchError("u", "HTTP 429", status=429, retry_after=NOW + timedelta(days=365))
    assert after_failure(source("u"), far, NOW, 60).next_attempt == NOW + MAX_RETRY_AFTER
    past = FetchError("u", "HTTP 503", status=503, retry_after=NOW - timedelta(hours=1))
    assert after_failure(source("u"), past, NOW, 60).next_attempt == NOW


def test_429_without_retry_after_backs_off(feed_server, fetcher):
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(feed_server.url("_status/429")))
    assert exc.value.retry_after is None
    state = after_failure(source("u"), exc.value, NOW, 600, random.Random(1))
    assert NOW + timedelta(seconds=480) <= state.next_attempt <= NOW + timedelta(seconds=600)


@pytest.mark.parametrize("code", [404, 500])
def test_error_status_backs_off(feed_server, fetcher, code):
    with pytest.raises(FetchError) as exc:
        fetcher.fetch(source(feed_server.url(f"_status/{code}")))
    assert exc.value.status == code
    state = after_failure(source("u", error_count=2), exc.value, NOW, 600, random.Random(0))
    assert (state.state, state.error_count, state.http_status, state.gone) == (
        "backing-off",
        3,
        code,
        False,
    )
    assert state.last_error.startswith(f"HTTP {code}")
    assert (
        NOW + timedelta(seconds=0.8 * 2400) <= state.next_attempt <= NOW + timedelta(seconds=2400)
    )


# --------------------------------------------------------------------------- schedule policy


@pytest.mark.parametrize("errors", [0, 1, 2, 3, 5, 8])
def test_backoff_grows_within_jitter_bounds(errors):
    interval = 600.0
    expected = min(interval * 2**errors, MAX_BACKOFF.total_seconds())
    for seed in range(20):
        delay = backoff_delay(errors, interval, random.Random(seed)).total_seconds()
        assert 0.8 * expected <= delay <= expected


def test_backoff_is_capped_and_jittered():
    delays = {backoff_delay(60, 1800, random.Random(s)) for s in range(10)}
    assert max(delays) <= MAX_BACKOFF and min(delays) >= MAX_BACKOFF * 0.8
    assert len(delays) > 1  # sources failing together do not retry together


def test_failing_source_is_never_abandoned():
    state = source("http://a.example/feed")
    rng = random.Random(3)
    now = NOW
    for _ in range(100):
        state = after_failure(state, FetchError(state.url, "timed out after 20 s"), now, 1800, rng)
        assert state.next_attempt is not None and state.next_attempt <= now + MAX_BACKOFF
        assert not is_due(state, now) and is_due(state, state.next_attempt)
        now = state.next_attempt
    assert state.error_count == 100 and state.last_error == "timed out after 20 s"


def test_parse_error_backs_off_too():
    state = after_failure(source("u", http_status=200), ParseError("u", "not a feed"), NOW, 60)
    assert (state.state, state.last_error, state.http_status) == ("backing-off", "not a feed", 200)


def test_success_resets_errors_and_schedules_interval():
    failing = source("u", state="backing-off", error_count=4, last_error="boom")
    res = result(etag='"e"', last_modified="Mon, 30 Nov 2026 10:00:00 GMT")
    state = after_success(failing, res, NOW, 1800, body_hash="abc")
    assert (state.state, state.error_count, state.last_error) == ("ok", 0, None)
    assert (state.etag, state.last_modified, state.body_hash) == ('"e"', res.last_modified, "abc")
    assert (state.last_fetch, state.next_attempt) == (NOW, NOW + timedelta(seconds=1800))
    assert is_due(state, NOW + timedelta(seconds=1800)) and not is_due(state, NOW)


@pytest.mark.parametrize(
    "max_age, ttl, expected",
    [
        (None, None, timedelta(minutes=30)),
        (timedelta(minutes=5), None, timedelta(minutes=30)),  # never shortened
        (timedelta(hours=2), None, timedelta(hours=2)),
        (None, timedelta(hours=3), timedelta(hours=3)),
        (timedelta(hours=1), timedelta(hours=3), timedelta(hours=3)),
        (timedelta(days=30), None, MAX_LENGTHEN),  # within sane bounds
    ],
    ids=["interval", "short-max-age", "max-age", "ttl", "longest", "capped"],
)
def test_cache_hints_lengthen_the_interval(max_age, ttl, expected):
    state = after_success(source("u"), result(max_age=max_age), NOW, 1800, ttl=ttl)
    assert state.next_attempt == NOW + expected


def test_new_and_unscheduled_sources_are_due():
    assert is_due(source("u"), NOW)
    assert not is_due(source("u", gone=True), NOW)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", NOW + timedelta(seconds=120)),
        ("Wed, 02 Dec 2026 10:00:00 GMT", datetime(2026, 12, 2, 10, tzinfo=UTC)),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"cache-control": "max-age=600"}, timedelta(minutes=10)),
        ({"cache-control": "public, s-maxage=10, max-age=3600"}, timedelta(hours=1)),
        ({"cache-control": "no-cache, max-age=3600"}, None),
        ({"cache-control": "max-age=0"}, None),
        ({"expires": "Mon, 30 Nov 2026 14:00:00 GMT"}, timedelta(hours=2)),
        (
            {"expires": "Mon, 30 Nov 2026 14:00:00 GMT", "date": "Mon, 30 Nov 2026 13:00:00 GMT"},
            timedelta(hours=1),
        ),
        ({"expires": "0"}, None),
        ({}, None),
    ],
)
def test_parse_max_age(headers, expected):
    assert parse_max_age(headers, NOW) == expected


# --------------------------------------------------------------------------- concurrency


def test_fetch_many_respects_per_host_limit(feed_server, feed_server_factory):
    other = feed_server_factory()
    servers = [feed_server, other]
    states = [
        SourceState(
            name=f"s{i}-{n}",
            url=srv.url(f"_slow?delay=0.2&n={n}"),
            fetch_url=srv.url(f"_slow?delay=0.2&n={n}"),
        )
        for i, srv in enumerate(servers)
        for n in range(6)
    ]
    with Fetcher(settings(workers=8, per_host=2)) as f:
        outcomes = list(f.fetch_many(states))
    assert sorted(s.name for s, _ in outcomes) == sorted(s.name for s in states)
    assert all(isinstance(o, FetchResult) and o.status == 200 for _, o in outcomes)
    for srv in servers:
        assert len(srv.log) == 6
        assert srv.max_concurrent("/") == 2  # never more than per_host, and the slots were used


def test_leaving_fetch_many_early_cancels_downloads_in_flight(feed_server):
    """A stop between outcomes must not wait for a hung download's 30 s deadline."""
    states = [source(feed_server.url("_hang")), source(feed_server.url("fetch/feed.xml"))]
    with Fetcher(settings(timeout=30, workers=4, per_host=4)) as f:
        outcomes = f.fetch_many(states)
        state, outcome = next(outcomes)
        assert state.fetch_url.endswith("/fetch/feed.xml") and outcome.status == 200
        start = time.monotonic()
        outcomes.close()
        assert time.monotonic() - start < 5
        assert f.fetch(states[1]).status == 200  # the fetcher is still usable


def test_fetch_many_yields_errors_as_outcomes(feed_server):
    urls = [
        feed_server.url("fetch/feed.xml"),
        feed_server.url("_status/500"),
        "http://127.0.0.1:1/",
    ]
    with Fetcher(settings(workers=4)) as f:
        outcomes = {s.fetch_url: o for s, o in f.fetch_many(source(u) for u in urls)}
    assert outcomes[urls[0]].status == 200
    assert outcomes[urls[1]].status == 500 and isinstance(outcomes[urls[1]], FetchError)
    assert isinstance(outcomes[urls[2]], FetchError)


# --------------------------------------------------------------------------- private-address guard


@pytest.fixture
def tls_server(feed_server_factory):
    """HTTPS on loopback with a certificate from a throwaway CA that nothing trusts by default."""
    import ssl

    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return feed_server_factory(ssl_context=ctx), ca


def test_https_certificates_are_verified(tls_server):
    server, _ca = tls_server
    with Fetcher(settings()) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(server.url("fetch/feed.xml")))
    assert exc.value.message.startswith("TLS error: ")
    assert "certificate verify failed" in exc.value.message
    assert "\n" not in exc.value.message and len(exc.value.message) < 400


def test_https_with_a_trusted_certificate_is_fetched_and_kept_alive(tls_server, monkeypatch):
    import ssl

    server, ca = tls_server
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    with Fetcher(settings()) as f:
        monkeypatch.setattr(f, "_tls_context", lambda: ctx)  # trust the test CA, verify as usual
        url = server.url("fetch/feed.xml")
        first = f.fetch(source(url))
        second = f.fetch(source(url, etag=first.etag))
    assert first.status == 200 and first.content == FEED
    assert second.status == 304
    assert len({r.client for r in server.log}) == 1  # one TLS connection for both


def test_host_names_are_resolved_many_at_once(feed_server, monkeypatch):
    """Feeds on many hosts: DNS lookups (getaddrinfo in threads) must not queue behind asyncio's
    default of cpu_count + 4 threads. No DNS server here: the system call is wrapped to answer
    loopback for *.feeds.test after a pause, and counts the lookups running at once."""
    import threading

    real = socket.getaddrinfo
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def slow_getaddrinfo(host, port, *args, **kw):
        if not str(host).endswith(".feeds.test"):
            return real(host, port, *args, **kw)
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        try:
            time.sleep(0.3)
            return real("127.0.0.1", port, *args, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    port = feed_server.port
    states = [source(f"http://h{i}.feeds.test:{port}/fetch/feed.xml") for i in range(24)]
    with Fetcher(settings(workers=50, per_host=2)) as f:
        outcomes = list(f.fetch_many(states))
    assert all(isinstance(o, FetchResult) and o.status == 200 for _, o in outcomes)
    assert running[1] >= 16, f"at most {running[1]} lookups at once"


def test_loopback_refused_without_allow_private(feed_server):
    with Fetcher(FetchSettings(timeout=5)) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(feed_server.url("fetch/feed.xml")))
    assert exc.value.message == "refused private address 127.0.0.1 (allow with fetch.allow_private)"
    assert feed_server.log == []  # refused before a byte was sent


def test_localhost_name_refused_after_dns(feed_server):
    with (
        Fetcher(FetchSettings(timeout=5)) as f,
        pytest.raises(FetchError, match="refused private address"),
    ):
        f.fetch(source(f"http://localhost:{feed_server.port}/fetch/feed.xml"))
    assert feed_server.log == []


def test_loopback_allowed_with_allow_private(feed_server):
    with Fetcher(FetchSettings(timeout=5, allow_private=("127.0.0.0/8",))) as f:
        assert f.fetch(source(feed_server.url("fetch/feed.xml"))).status == 200


def test_every_redirect_hop_is_checked(feed_server):
    """Allowed to reach 127.0.0.1 only; a redirect to 127.0.0.2 is refused at connect time."""
    url = feed_server.url(f"_redirect/302?to=http://127.0.0.2:{feed_server.port}/fetch/feed.xml")
    only_one = FetchSettings(timeout=5, allow_private=("127.0.0.1/32",))
    with Fetcher(only_one) as f, pytest.raises(FetchError) as exc:
        f.fetch(source(url))
    assert exc.value.message.startswith("refused private address 127.0.0.2 ")
    assert len(feed_server.log) == 1


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "100.64.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::",
        "64:ff9b::a00:1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(address):
    assert not is_public_address(address)
    assert not address_allowed(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses(address):
    assert is_public_address(address) and address_allowed(address)


@pytest.mark.parametrize(
    "address, cidrs, allowed",
    [
        ("127.0.0.1", ["127.0.0.0/8"], True),
        ("127.8.9.10", ["127.0.0.0/8"], True),
        ("::ffff:127.0.0.1", ["127.0.0.0/8"], True),
        ("10.0.0.1", ["127.0.0.0/8"], False),
        ("::1", ["127.0.0.0/8"], False),
        ("::1", ["::1/128"], True),
        ("10.1.2.3", ["10.0.0.0/8", "192.168.0.0/16"], True),
        ("fd00::5", ["fd00::/8"], True),
    ],
)
def test_allow_private_networks(address, cidrs, allowed):
    assert address_allowed(address, parse_networks(cidrs)) is allowed


# --------------------------------------------------------------------------- content decoding


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _deflate(data: bytes, wbits: int) -> bytes:
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


@given(
    text=st.binary(min_size=0, max_size=2000),
    repeat=st.integers(1, 400),
    coding=st.sampled_from(["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-members"]),
    cuts=st.lists(st.integers(1, 5000), max_size=8),
)
@settings_h(max_examples=60, deadline=None)
def test_decoder_matches_the_original_whatever_the_chunking(text, repeat, coding, cuts):
    """Highly compressible bodies (up to 800 KB from a few bytes of wire) decode exactly in
    pieces of at most CHUNK_SIZE, however the wire bytes are split."""
    from aggregator.fetch.decode import CHUNK_SIZE, _Decoder

    body = text * repeat
    if coding in ("gzip", "x-gzip"):
        wire, name = _gzip(body), coding
    elif coding == "gzip-members":
        half = len(body) // 2
        wire, name = _gzip(body[:half]) + _gzip(body[half:]), "gzip"
    else:
        wire, name = _deflate(body, 15 if coding == "deflate-zlib" else -15), "deflate"
    bounds = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    decoder = _Decoder([name])
    pieces = [p for a, b in itertools.pairwise(bounds) for p in decoder.feed(wire[a:b])]
    assert all(0 < len(p) <= CHUNK_SIZE for p in pieces)
    assert b"".join(pieces) == body


def test_decoder_chained_codings_and_corrupt_input():
    import zlib

    from aggregator.fetch.decode import _Decoder

    body = b"<rss>" + b"x" * 300_000 + b"</rss>"
    wire = _deflate(_gzip(body), 15)  # gzip applied first, then deflate
    assert b"".join(_Decoder(["gzip", "deflate"]).feed(wire)) == body
    with pytest.raises(zlib.error):
        list(_Decoder(["gzip"]).feed(b"\x1f\x8b\x08\x00garbage, not deflate"))
