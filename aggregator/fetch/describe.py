"""One short, readable line for what went wrong (it ends up in ``aggregator status``), from
aiohttp's, http.client's and the socket layer's exceptions and their causes.
"""

from __future__ import annotations

import socket
import ssl
import zlib
from http.client import HTTPException, IncompleteRead
from typing import Any


def _causes(e: BaseException) -> list[BaseException]:
    """``e`` and what caused it (at most 10 deep), through aiohttp's ``os_error`` too."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None:
            os_error = getattr(cur, "os_error", None)
            if isinstance(os_error, BaseException):
                nxt = os_error
        cur = nxt
    return chain


def _parser_error(e: BaseException) -> Any:
    """The HttpProcessingError behind ``e`` when aiohttp's parser refused the response."""
    from aiohttp.http_exceptions import HttpProcessingError

    return next((c for c in _causes(e) if isinstance(c, HttpProcessingError)), None)


def _describe(e: BaseException) -> str:
    """A short, readable reason from aiohttp's and the socket layer's exceptions."""
    import aiohttp

    chain = _causes(e)

    def has(*types: type) -> bool:
        return any(isinstance(c, types) for c in chain)

    if has(aiohttp.InvalidURL):
        return f"invalid URL: {e}"
    if has(IncompleteRead):  # http.client (the lenient second try): the body was cut short
        return "connection broken while reading the body"
    if has(HTTPException) and not has(OSError):
        return f"malformed HTTP response: {type(e).__name__}"
    if has(aiohttp.ClientPayloadError):  # cut short, or its chunking/length is wrong
        return "connection broken while reading the body"
    refused = _parser_error(e)
    if refused is not None:  # "Invalid header token:\n\n  b'...'\n  ^"
        what = (refused.message or "").strip().split("\n", 1)[0].rstrip(": ")
        return f"malformed HTTP response: {what[:120] or type(refused).__name__}"
    if has(socket.gaierror, getattr(aiohttp, "ClientConnectorDNSError", socket.gaierror)):
        return "could not resolve host"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(aiohttp.ClientSSLError, ssl.SSLError, ssl.CertificateError):
        return f"TLS error: {e}"
    if has(TimeoutError):
        return "connect timed out"
    if has(zlib.error):
        return "could not decode compressed body"
    if has(aiohttp.ClientError, ConnectionError, OSError):
        return "connection failed"
    return f"{type(e).__name__}: {e}"
