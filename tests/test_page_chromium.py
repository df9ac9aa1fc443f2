"""The published pages in a real browser (Debian's ``chromium``, headless, DevTools protocol):
no horizontal scrolling on a 360 px phone, the side column beside the stories at 1,280 px.
Skipped when Chromium is missing (``.ci/run`` installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.service.pipeline import publish as pipeline_publish

from support.chromium import OVERFLOW_JS, Browser, find_chromium
from support.site import NOW, site_settings, site_store

pytestmark = pytest.mark.slow  # ~6 s: one Chromium, eight page loads

PAGES = ["index.html", "archive/2026-W51.html", "issues/2026-W50.html", "tags/africa.html"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    with Browser(exe) as b:
        yield b


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    settings = site_settings(root)
    store = site_store(settings.database)
    pipeline_publish(settings, store, NOW)
    store.close()
    return settings.output.dir


def test_no_horizontal_scrolling_at_360px(browser: Browser, public: Path) -> None:
    for name in PAGES:
        got = browser.evaluate(public / name, 360, OVERFLOW_JS)
        assert got["inner"] == 360, got  # the phone's width really applied
        assert got["scroll"] <= got["client"] and got["body"] <= got["client"], (name, got)
        assert got["wide"] == [], (name, got)


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
    from aggregator.templating import environment

    page = environment().get_template("subscribe.html.j2").render(
        site_title="AI & Africa", home_href="https://news.example.net/", embed=False, action="",
        token="t", honeypot="website", email="", error="", topics=[], languages=[], link="",
        link_text="", button="", text="", title="",
    )  # fmt: skip
    path = tmp_path / "subscribe.html"
    path.write_text(page, "utf-8")
    for width in (360, 1280):
        assert browser.evaluate(path, width, GAP_JS) >= 8, width
