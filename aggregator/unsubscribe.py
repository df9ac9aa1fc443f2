"""Signed, opaque link tokens, and the /unsubscribe request handler (RFC 8058 one-click).

A token names a subscriber by their random public id (``Subscriber.uid``, never the address)
and carries an HMAC-SHA256 over a purpose and that id: ``uid "." mac``, or ``uid "." expiry "."
mac`` for links that expire (the confirmation of a subscription). A token for one purpose
(``unsubscribe``, ``preferences``, ``confirm``, ``form``) is refused for another, and none can be
forged without the secret. Unsubscribe and preferences tokens never expire, so the links in an
old issue keep working. Tokens of the first format (the address in base64) are still accepted by
the endpoint, for issues sent before subscribers moved into the store.

GET never unsubscribes (link scanners follow GETs); it shows a confirm page whose form POSTs. A
POST with a valid token (the one-click body is ``List-Unsubscribe=One-Click``) records the
unsubscribe.

The secret comes from the environment variable named by ``Settings.secret_env``; when it is unset,
a random secret is created once and kept in the database's ``meta`` table, so tokens survive
restarts (and change only if the database is replaced).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import os
import re
import secrets
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, quote

from .clock import Clock, utcnow

MAX_TOKEN = 600
MAX_BODY = 4096  # the web layer should read at most this much of a POST body
SECRET_KEY = "unsubscribe_secret"
_MAC_CHARS = 22  # 16 bytes of HMAC-SHA256 in base64url
_UID = re.compile(r"[0-9a-f]{24}")
#: ``token=...`` in a logged request line, a Referer or a query string.
TOKEN_IN_TEXT = re.compile(r"(?i)((?:^|[?&;\s])(?:token|t)=)[^&\s\"]+")


class SubscriberRef(Protocol):
    @property
    def uid(self) -> str: ...

    @property
    def email(self) -> str: ...


class UnsubscribeStore(Protocol):
    def unsubscribe(self, recipient: str, now: datetime, origin: str = ...) -> bool: ...

    def meta_setdefault(self, key: str, value: str) -> str: ...

    def subscriber_by_uid(self, uid: str) -> SubscriberRef | None: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, purpose: str, *parts: str) -> str:
    """The MAC of ``parts`` for ``purpose`` (22 base64url characters)."""
    message = "\x00".join((purpose, *parts)).encode("utf-8")
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())[:_MAC_CHARS]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii"))


def make_token(secret: bytes, uid: str, purpose: str = "unsubscribe") -> str:
    """``uid.mac``: a link token for the subscriber whose public id is ``uid``."""
    return f"{uid}.{sign(secret, purpose, uid)}"


def verify_token(secret: bytes, token: str, purpose: str = "unsubscribe") -> str | None:
    """The subscriber uid named by a genuine token for ``purpose``, else None."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    uid, mac = token.split(".")
    if not _UID.fullmatch(uid) or not _same(mac, sign(secret, purpose, uid)):
        return None
    return uid


def make_expiring_token(secret: bytes, uid: str, purpose: str, expires: datetime) -> str:
    """``uid.expiry.mac``: like ``make_token``, refused after ``expires``."""
    stamp = str(int(expires.timestamp()))
    return f"{uid}.{stamp}.{sign(secret, purpose, uid, stamp)}"


def verify_expiring_token(
    secret: bytes, token: str, purpose: str, now: datetime
) -> tuple[str, bool] | None:
    """``(uid, expired)`` for a genuine token, else None (a forged one is not "expired")."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 2:
        return None
    uid, stamp, mac = token.split(".")
    if not _UID.fullmatch(uid) or not stamp.isdigit() or len(stamp) > 12:
        return None
    if not _same(mac, sign(secret, purpose, uid, stamp)):
        return None
    return uid, now.timestamp() > int(stamp)


def verify_legacy_token(secret: bytes, token: str) -> str | None:
    """The address in a token of the first format (``base64url(address).mac``), still accepted
    for the issues sent with it."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    payload, mac = token.split(".")
    try:
        address = _unb64(payload).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not address or "@" not in address or any(ord(c) < 32 or c == "\x7f" for c in address):
        return None
    digest = hmac.new(secret, b"unsubscribe\x00" + address.encode("utf-8"), hashlib.sha256)
    if not _same(mac, _b64(digest.digest())[:_MAC_CHARS]):
        return None
    return address


def redact(text: str) -> str:
    """``text`` (a request line, a URL) with the value of every ``token=`` replaced."""
    return TOKEN_IN_TEXT.sub(r"\1[redacted]", text)


def unsubscribe_link(base_url: str, token: str) -> str:
    return f"{base_url}{'&' if '?' in base_url else '?'}token={quote(token, safe='')}"


def secret_for(secret_env: str, store: UnsubscribeStore, environ: dict | None = None) -> bytes:
    """The HMAC key: ``$secret_env`` if set, else a random one stored once in the database."""
    env = os.environ if environ is None else environ
    value = env.get(secret_env, "")
    if value:
        return value.encode("utf-8")
    return store.meta_setdefault(SECRET_KEY, secrets.token_hex(32)).encode("ascii")


# ---- the endpoint --------------------------------------------------------------------------

_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
]  # fmt: skip

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;\
max-width:560px;margin:40px auto;padding:0 16px;">
<h1 style="font-size:22px;">{title}</h1>
{body}
</body></html>
"""


def _page(status: int, title: str, body: str) -> tuple[int, list[tuple[str, str]], bytes]:
    page = _PAGE.format(title=html.escape(title), body=body).encode("utf-8")
    return status, [*_HEADERS, ("Content-Length", str(len(page)))], page


def _field(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def _recipient(store: UnsubscribeStore, secret: bytes, token: str) -> str | None:
    uid = verify_token(secret, token)
    if uid is None:
        return verify_legacy_token(secret, token)
    subscriber = store.subscriber_by_uid(uid)
    return None if subscriber is None else subscriber.email


def handle(
    method: str,
    query: str,
    body: bytes | str,
    store: UnsubscribeStore,
    secret: bytes,
    *,
    now: Clock = utcnow,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Handle a request to the unsubscribe endpoint: ``query`` is the raw query string and
    ``body`` the (form-encoded, at most ``MAX_BODY`` bytes) POST body. Returns
    ``(status, headers, body)``; nothing here depends on a web framework."""
    method = method.upper()
    if isinstance(body, bytes):
        body = body[:MAX_BODY].decode("utf-8", "replace")
    args = parse_qs(query or "", max_num_fields=20)
    form = parse_qs(body[:MAX_BODY], max_num_fields=20) if method == "POST" else {}
    token = _field(args, "token") or _field(form, "token")
    recipient = _recipient(store, secret, token)
    if method not in ("GET", "HEAD", "POST"):
        status, headers, page = _page(405, "Method not allowed", "<p>Use GET or POST.</p>")
        return status, [*headers, ("Allow", "GET, HEAD, POST")], page
    if recipient is None:
        return _page(400, "Invalid link",
                     "<p>This unsubscribe link is not valid. Please use the link from the most "
                     "recent email.</p>")  # fmt: skip
    who = html.escape(recipient)
    if method in ("GET", "HEAD"):
        action = html.escape("?token=" + quote(token, safe=""))
        status, headers, page = _page(
            200,
            "Unsubscribe",
            f"<p>Stop sending the weekly digest to <strong>{who}</strong>?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit" style="font-size:16px;padding:8px 16px;">Unsubscribe</button>'
            "</form>",
        )
        return (status, headers, b"") if method == "HEAD" else (status, headers, page)
    store.unsubscribe(recipient, now(), "one-click")
    return _page(
        200, "Unsubscribed", f"<p><strong>{who}</strong> will not receive the digest any more.</p>"
    )


__all__ = [
    "handle",
    "make_expiring_token",
    "make_token",
    "redact",
    "secret_for",
    "sign",
    "unsubscribe_link",
    "verify_expiring_token",
    "verify_legacy_token",
    "verify_token",
]
