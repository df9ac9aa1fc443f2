"""Cookies along a redirect chain: set on one hop, sent on the next ones (some sites redirect to
themselves with a cookie), forgotten after the fetch. Rare: the standard library's cookie
machinery loads on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from http.cookiejar import CookieJar


class _CookieResponse:
    """What ``CookieJar.extract_cookies`` needs of a response."""

    def __init__(self, headers: Any):
        self._headers = headers

    def info(self) -> _CookieResponse:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._headers.getall(name, None) or default


def _store_cookies(jar: CookieJar | None, url: str, headers: Any) -> CookieJar:
    from http.cookiejar import CookieJar
    from urllib.request import Request

    if jar is None:
        jar = CookieJar()
    jar.extract_cookies(_CookieResponse(headers), Request(url))  # type: ignore[arg-type]
    return jar


def _cookie_header(jar: CookieJar, url: str, headers: dict[str, str]) -> None:
    from urllib.request import Request

    req = Request(url)
    jar.add_cookie_header(req)
    cookie = req.get_header("Cookie")
    if cookie:
        headers["Cookie"] = cookie
    else:
        headers.pop("Cookie", None)


def _cookie_items(jar: CookieJar | None) -> tuple:
    return () if jar is None else tuple(sorted((c.name, c.value or "") for c in jar))
