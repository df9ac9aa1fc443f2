"""The prebuilt edition (``MessageFactory.prebuilt``): the whole message encoded once, filled per
recipient in its encoded form, must give byte for byte what filling the text and building the
message per recipient gives, whatever the sender's name, the edition's language and the
recipient's address; what it cannot take verbatim it declines (None), for the long way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator import digest as dg
from aggregator.mailer import prepare

from support.digest import W48, week_store

SENDERS = [
    "AI & Africa <digest@news.example.org>",
    "Actualités « IA & Afrique » <lettre@actualites.example.fr>",
    "نشرة الذكاء الاصطناعي في أفريقيا <digest@news.example.org>",
]
RECIPIENTS = ["ana@example.org", "o'k+tag&x@example.org", "Zoe.Ndiaye-Sarr@mail.example.sn"]
MAILTO = "mailto:digest@news.example.org?subject=unsubscribe%20a1b2.c3"
HTTPS = "https://news.example.org/unsubscribe?token=a1b2c3d4.MAC_-x&lang=fr"
PREFS = "https://news.example.org/preferences?token=a1b2c3d4.MAC2"
EVERYTHING = dg.Choice()
SUBJECT = "Afrique & IA — {dates} : l'essentiel"


def _edition(tmp_path, *, locale="en", sender=SENDERS[0], choice=EVERYTHING, templates=None):
    store = week_store(tmp_path)
    start, end = W48 - timedelta(days=2), W48 + timedelta(days=5)
    digest = dg.build_digest("2026-W48", start, end, store.stories_between(start, end),
                             subject=SUBJECT, topics=["diplomacy"], locale=locale)  # fmt: skip
    if choice != EVERYTHING:
        digest = dg.edition(digest, choice, subject=SUBJECT, locale=locale)
    renderer = dg.Renderer(templates, "Africa/Casablanca", title="AI & Africa", locale=locale)
    personaliser = renderer.personaliser(renderer.context(digest))
    factory = dg.MessageFactory(digest, sender=sender, date=W48, list_ident="weekly.example.org")
    return factory, personaliser


def _long_way(factory, personaliser, rcpt, https=HTTPS, prefs=PREFS):
    text, html = personaliser(rcpt, https, prefs)
    return factory.build(rcpt, text, html, unsubscribe_https=https, unsubscribe_mailto=MAILTO)


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize(
    "choice", [dg.Choice(), dg.choice([], ["fr"]), dg.choice(["africa"], ["ar"])]
)
def test_prebuilt_bytes_equal_the_message_built_per_recipient(tmp_path, sender, locale, choice):
    factory, personaliser = _edition(tmp_path, locale=locale, sender=sender, choice=choice)
    prebuilt = factory.prebuilt(personaliser)
    assert prebuilt is not None
    for rcpt in RECIPIENTS:
        got = prebuilt.build(rcpt, unsubscribe_https=HTTPS, unsubscribe_mailto=MAILTO,
                             preferences=PREFS)  # fmt: skip
        want = _long_way(factory, personaliser, rcpt)
        assert isinstance(want, bytes) and got == want
        wire = prepare(got, body_checked=True)  # and the mailer takes it as it is
        assert (wire.recipient, wire.data) == (rcpt, want)
        assert wire.message_id == dg.message_id("2026-W48", rcpt, dg.address_domain(sender))
    if choice == dg.choice(["africa"], ["ar"]):  # the Arabic story's title, UTF-8 in QP
        assert "المغرب".encode().hex("=").upper().encode() in got


def test_prebuilt_equals_when_the_personal_lines_are_long_and_soft_broken(tmp_path):
    """Quoted-printable breaks lines at 76 characters: a recipient's line is encoded whole
    after filling, so the breaks fall where encoding the filled body puts them."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text(
        "{{ subject }}\n" + "é" * 70 + " {{ recipient }} " + "à" * 50 + "\n"
        "x{{ unsubscribe_url }}{{ recipient }}{{ preferences_url }}=end  \n"
        "{% for s in sections %}{% for e in s.entries %}{{ e.title }}\n{% endfor %}{% endfor %}"
        ". \n.\nlast line without a newline {{ recipient }}",
        encoding="utf-8",
    )
    factory, personaliser = _edition(tmp_path, templates=folder)
    prebuilt = factory.prebuilt(personaliser)
    assert prebuilt is not None
    long_url = HTTPS + "&pad=" + "z" * 300
    for rcpt in RECIPIENTS:
        got = prebuilt.build(rcpt, unsubscribe_https=long_url, unsubscribe_mailto=MAILTO,
                             preferences=PREFS)  # fmt: skip
        assert got == _long_way(factory, personaliser, rcpt, https=long_url)
        assert max(map(len, got.split(b"\r\n"))) <= 998


def test_prebuilt_declines_what_it_cannot_take_verbatim(tmp_path):
    factory, personaliser = _edition(tmp_path)
    prebuilt = factory.prebuilt(personaliser)
    assert prebuilt is not None
    kw = {"unsubscribe_https": HTTPS, "unsubscribe_mailto": MAILTO, "preferences": PREFS}
    # internationalised addresses (French, Arabic) go through the email package, which
    # refuses them (the sending loop records "cannot build message")
    for rcpt in ("zoé@exemple.fr", "قارئ@مثال.example"):
        assert prebuilt.build(rcpt, **kw) is None
        with pytest.raises(ValueError):
            _long_way(factory, personaliser, rcpt)
    # a quoted local part: the email package builds it
    assert prebuilt.build('"ana b"@example.org', **kw) is None
    assert not isinstance(_long_way(factory, personaliser, '"ana b"@example.org'), bytes)
    assert prebuilt.build("ana@example.org", **{**kw, "preferences": ""}) is None
    assert prebuilt.build("ana@example.org", **{**kw, "unsubscribe_https": "https://x/a b"}) is None


def test_no_prebuilt_edition_when_the_template_transforms_the_recipient(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("To {{ recipient | upper }}: {{ unsubscribe_url }}\n")
    factory, personaliser = _edition(tmp_path, templates=folder)
    assert not personaliser.substitutes and factory.prebuilt(personaliser) is None
    text, _ = personaliser("ana@example.org", HTTPS, PREFS)
    assert text.startswith("To ANA@EXAMPLE.ORG: ")
