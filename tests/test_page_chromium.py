"""The published pages in a real browser (Debian's ``chromium``, headless, DevTools protocol):
no horizontal scrolling on a 360 px phone, the side column beside the stories at 1,280 px.
Skipped when Chromium is missing (``.ci/run`` installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.service.pipeline import publish as pipeline_publish

from support.chromium import OVERFLOW_JS, Browser, find_chromium
from support.site import NOW, site_settings, site_store

pytestmark = pytest.mark.slow  # ~6 s: one Chromium, eight page loads

PAGES = ["index.html", "archive/2026-W51.html", "issues/2026-W50.html", "tags/africa.html"]
LOCALES = ["en", "fr", "ar"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    with Browser(exe) as b:
        yield b


def _publish(root: Path, locale: str) -> Path:
    settings = site_settings(root)
    settings = replace(settings, output=replace(settings.output, locale=locale))
    store = site_store(settings.database)
    pipeline_publish(settings, store, NOW)
    store.close()
    return settings.output.dir


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _publish(tmp_path_factory.mktemp("site"), "en")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, public: Path) -> dict[str, Path]:
    """The same site in each locale (French words are longer; Arabic is right to left)."""
    out = {"en": public}
    for loc in LOCALES[1:]:
        out[loc] = _publish(tmp_path_factory.mktemp(f"site-{loc}"), loc)
    return out


def _subscribe_page(tmp_path: Path, locale: str) -> Path:
    """/subscribe as ``serve`` answers it, in ``locale``, as a file."""
    from aggregator.service.subscribe import Request, SubscribePages
    from aggregator.store import Store

    root = tmp_path / f"sub-{locale}"
    root.mkdir()
    settings = site_settings(root)
    settings = replace(settings, output=replace(settings.output, locale=locale))
    store = Store(settings.database)
    try:
        pages = SubscribePages(settings, store, b"k" * 32)
        status, _, body = pages.handle(Request("GET", "/subscribe"))
    finally:
        store.close()
    assert status == 200
    path = root / "subscribe.html"
    path.write_bytes(body)
    return path


def test_no_horizontal_scrolling_at_360px(
    browser: Browser, sites: dict[str, Path], tmp_path: Path
) -> None:
    for loc, public in sites.items():
        pages = [public / name for name in PAGES] + [_subscribe_page(tmp_path, loc)]
        for path in pages:
            got = browser.evaluate(path, 360, OVERFLOW_JS)
            assert got["inner"] == 360, got  # the phone's width really applied
            assert got["scroll"] <= got["client"] and got["body"] <= got["client"], (path, got)
            assert got["wide"] == [], (path, got)


def test_the_check_sees_an_overflowing_page(browser: Browser, public: Path) -> None:
    """The same front page with one unbreakable 2,000-character word: the check must fail."""
    html = (public / "index.html").read_text("utf-8")
    wide = public / "wide.html"
    wide.write_text(html.replace("<main>", f"<main><pre>{'x' * 2000}</pre>", 1), "utf-8")
    got = browser.evaluate(wide, 360, OVERFLOW_JS)
    assert got["scroll"] > got["client"]


SIDE_BY_SIDE_JS = """(() => {
  const main = document.querySelector('main').getBoundingClientRect();
  const side = document.querySelector('aside.side').getBoundingClientRect();
  return {main_right: main.right, side_left: side.left, side_top: side.top, main_top: main.top,
          main_width: main.width, scroll: document.documentElement.scrollWidth};
})()"""


def test_wide_screen_puts_weeks_and_issues_beside_the_stories(
    browser: Browser, public: Path
) -> None:
    wide = browser.evaluate(public / "index.html", 1280, SIDE_BY_SIDE_JS)
    assert wide["side_left"] >= wide["main_right"] and wide["side_top"] < wide["main_top"] + 50
    assert 600 <= wide["main_width"] <= 860 and wide["scroll"] <= 1280  # a readable measure
    narrow = browser.evaluate(public / "index.html", 360, SIDE_BY_SIDE_JS)
    assert narrow["side_top"] > narrow["main_top"]  # on a phone: below the stories


GAP_JS = """(() => {
  const button = document.querySelector('.actions').getBoundingClientRect();
  const hint = document.querySelector('.actions + .hint').getBoundingClientRect();
  return hint.top - button.bottom;
})()"""


def test_the_subscribe_hint_is_not_glued_to_the_button(browser: Browser, tmp_path: Path) -> None:
    """The line under Subscribe ("We will send one message...") sat flush against it."""
    path = _subscribe_page(tmp_path, "en")
    for width in (360, 1280):
        assert browser.evaluate(path, width, GAP_JS) >= 8, width


MORE_TAGS_JS = """(() => {
  const a = document.querySelector('li.moretags a');
  const rects = a.getClientRects();
  const nav = document.querySelector('nav.tags ul').getBoundingClientRect();
  return {lines: rects.length, height: a.getBoundingClientRect().height, navh: nav.height};
})()"""


def test_more_tags_link_stays_on_one_line(browser: Browser, sites: dict[str, Path]) -> None:
    """ "More tags ↓" broke before its arrow, on a line of its own under the chips, at 1,280."""
    for loc, public in sites.items():
        for width in (360, 1280):
            got = browser.evaluate(public / "index.html", width, MORE_TAGS_JS)
            assert got["lines"] == 1 and got["height"] < 40, (loc, width, got)
        wide = browser.evaluate(public / "index.html", 1280, MORE_TAGS_JS)
        assert wide["navh"] < 40, (loc, wide)  # chips and the link: one row at 1,280 px


HEADER_JS = """(() => ({
  brand: document.querySelector('header.site .brand').textContent.trim(),
  nav: [...document.querySelectorAll('nav.tags a')].map(a => a.textContent.trim()),
  font: getComputedStyle(document.body).fontFamily,
  top: document.querySelector('nav.tags').getBoundingClientRect().top,
  lang: document.documentElement.lang,
}))()"""


def test_subscribe_page_has_the_front_pages_header(
    browser: Browser, sites: dict[str, Path], tmp_path: Path
) -> None:
    for loc in ("en", "fr"):
        front = browser.evaluate(sites[loc] / "index.html", 1280, HEADER_JS)
        form = browser.evaluate(_subscribe_page(tmp_path, loc), 1280, HEADER_JS)
        assert form["brand"] == front["brand"] and form["font"] == front["font"], loc
        assert form["lang"] == front["lang"] == loc and abs(form["top"] - front["top"]) < 2
        # the same chips (the front page's carry counts and the "more tags" link)
        assert [n.rstrip("0123456789") for n in front["nav"][:4]] == form["nav"][:4], loc
