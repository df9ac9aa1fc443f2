"""web: the published folder served by a real server on 127.0.0.1 (content types, validators,
304, gzip, HEAD, traversal refused, route table)."""

from __future__ import annotations

import gzip
import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.service.web import MAX_BODY, RequestHandler, make_server, simple_route

RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
    + b"x" * 600
    + b"</channel></rss>"
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    out = tmp_path / "public"
    (out / "tags").mkdir(parents=True)
    (out / "feed.xml").write_bytes(RSS)
    (out / "atom.xml").write_bytes(b"<feed xmlns='http://www.w3.org/2005/Atom'/>")
    (out / "feed.json").write_bytes(b'{"version": "https://jsonfeed.org/version/1.1"}')
    (out / "index.html").write_text("<!DOCTYPE html><p>caf\u00e9</p>", "utf-8")
    (out / "tags" / "ai.atom").write_bytes(b"<feed/>")
    (out / "tags" / "ai.xml").write_bytes(b"<rss/>")
    (out / "tags" / "ai.json").write_bytes(b"{}")
    (out / ".feed.xml.abc.tmp").write_bytes(b"half a file")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    os.symlink(tmp_path / "secret.txt", out / "link.txt")
    return out


def _unsubscribe(handler: RequestHandler) -> None:
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    handler.send_bytes(
        200,
        f"{handler.command} {handler.path} {body.decode()}".encode(),
        "text/plain; charset=utf-8",
    )


def _echo(method: str, query: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return 202, [("Content-Type", "text/plain")], f"{method}|{query}|".encode() + body


@pytest.fixture
def server(site: Path) -> Iterator[tuple[str, int]]:
    routes = {"/unsubscribe": _unsubscribe, "/echo": simple_route(_echo)}
    srv = make_server(site, "127.0.0.1", 0, routes=routes)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv.server_address[0], srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def request(addr: tuple[str, int], path: str, method: str = "GET", headers=None, body=None):
    conn = http.client.HTTPConnection(*addr, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/feed.xml", "application/rss+xml; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/tags/ai.atom", "application/atom+xml; charset=utf-8"),
        ("/tags/ai.xml", "application/rss+xml; charset=utf-8"),
        ("/tags/ai.json", "application/feed+json; charset=utf-8"),
    ],
)
def test_content_types(server, path: str, ctype: str) -> None:
    status, headers, _ = request(server, path)
    assert status == 200
    assert headers["content-type"] == ctype


def test_body_and_validators(server, site: Path) -> None:
    status, headers, body = request(server, "/feed.xml")
    assert status == 200 and body == RSS
    assert headers["content-length"] == str(len(RSS))
    assert headers["etag"].startswith('"') and headers["last-modified"].endswith("GMT")
    assert "content-encoding" not in headers


def test_conditional_get_304(server, site: Path) -> None:
    _, h, _ = request(server, "/feed.xml")
    status, headers, body = request(server, "/feed.xml", headers={"If-None-Match": h["etag"]})
    assert status == 304 and body == b"" and headers["etag"] == h["etag"]
    status, _, body = request(
        server, "/feed.xml", headers={"If-None-Match": f'"other", W/{h["etag"]}'}
    )
    assert status == 304
    status, _, _ = request(server, "/feed.xml", headers={"If-Modified-Since": h["last-modified"]})
    assert status == 304
    # the file changes: the old validators no longer match
    (site / "feed.xml").write_bytes(RSS + b"\n")
    os.utime(site / "feed.xml", (2_000_000_000, 2_000_000_000))
    status, headers, body = request(server, "/feed.xml", headers={"If-None-Match": h["etag"]})
    assert status == 200 and body == RSS + b"\n" and headers["etag"] != h["etag"]
    status, _, _ = request(server, "/feed.xml", headers={"If-Modified-Since": h["last-modified"]})
    assert status == 200


def test_gzip_when_asked(server) -> None:
    status, headers, body = request(server, "/feed.xml", headers={"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == RSS
    assert headers["vary"] == "Accept-Encoding"
    assert headers["etag"].endswith('-gz"')
    status, _, _ = request(
        server, "/feed.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]}
    )
    assert status == 304
    _, headers, body = request(server, "/feed.xml", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in headers and body == RSS


def test_head(server) -> None:
    status, headers, body = request(server, "/feed.xml", method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(RSS))


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/tags/..%2f..%2fsecret.txt",
        "/link.txt",  # symlink leading outside the folder
        "/.feed.xml.abc.tmp",  # publish's temp files are never served
        "/missing.xml",
        "/tags/",  # no listing
        "/feed.xml%00.html",
    ],
)
def test_refused(server, path: str) -> None:
    status, _, body = request(server, path)
    assert status == 404 and b"outside" not in body and b"half" not in body


def test_method_not_allowed(server) -> None:
    status, headers, _ = request(server, "/feed.xml", method="POST", body=b"x")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_route_table(server) -> None:
    status, _headers, body = request(
        server,
        "/unsubscribe?t=abc",
        method="POST",
        body=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and body == b"POST /unsubscribe?t=abc List-Unsubscribe=One-Click"
    status, _, body = request(server, "/unsubscribe/xyz")
    assert status == 200 and body.startswith(b"GET /unsubscribe/xyz")
    status, _, _ = request(server, "/unsubscribed")
    assert status == 404  # a prefix is a path segment, not a string prefix


def test_simple_route_adapter(server) -> None:
    status, headers, body = request(server, "/echo?token=a%2Bb", method="POST", body=b"k=v")
    assert status == 202 and body == b"POST|token=a%2Bb|k=v"
    assert headers["content-length"] == str(len(body))
    status, _, body = request(server, "/echo", method="HEAD")
    assert status == 202 and body == b""
    status, _, _ = request(server, "/echo", method="POST", body=b"x" * (MAX_BODY + 1))
    assert status == 413
