"""The mails of joining on the web: the confirmation a new address gets, and the welcome that
follows the confirmation.

Both are multipart/alternative (text, then HTML) from templates in the digest's folder
(``digest.templates`` first, then the packaged ones): ``subscribe_confirm.txt.j2`` /
``.html.j2`` and ``subscribe_welcome.txt.j2`` / ``.html.j2`` on ``_subscribe_mail.html.j2``.
They are written in the subscriber's language (the one of en, fr, ar they chose, else the
digest's locale; Arabic right to left), greet them by name when they gave a plausible one, and
carry the digest's header hygiene: Message-ID, Date, List-Id, ``Auto-Submitted:
auto-generated`` (no vacation replies), List-Unsubscribe with RFC 8058 one-click, DKIM when
configured and the VERP return path of ``digest.bounce_address``.

The confirmation carries the one-click header too, as listmonk's opt-in mail does by default
(``privacy.unsubscribe_header``): the owner of an address someone else typed gets their
client's "Unsubscribe" button rather than only "Report spam", and pressing it marks the
pending address unsubscribed (the link then says so). The welcome is sent only by the request
that moved the subscriber from pending to confirmed (``SubscribePages``), so replays and
second clicks send nothing.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import quote

import jinja2
import markupsafe

from ..clock import utcnow
from ..digest import dates, words
from ..digest.dkim import sign
from ..digest.hygiene import header_text
from ..digest.message import address_domain, list_id
from ..errors import ConfigError, DeliveryError
from ..mailer import Outbox, SmtpMailer, Transport, prepare
from ..models import Subscriber
from ..settings import Settings
from ..store import Store
from ..templating import environment
from ..text import one_line
from ..unsubscribe import make_token, secret_for, unsubscribe_link
from . import bounces
from . import subscriptions as subs

log = logging.getLogger("aggregator.subscribers")

CONFIRM_TEMPLATES = ("subscribe_confirm.txt.j2", "subscribe_confirm.html.j2")
WELCOME_TEMPLATES = ("subscribe_welcome.txt.j2", "subscribe_welcome.html.j2")
#: A name longer than this, or that looks like a link or an address, is not used in the
#: greeting: strangers fill the form, and a "name" is the classic way to put spam into the
#: confirmation mails others receive.
NAME_MAX = 60
_NOT_A_NAME = re.compile(r"[@/\\<>:]|www\.|\.[a-z]{2,}\b|https?", re.IGNORECASE)


def greeting_name(name: str | None) -> str:
    """The name to greet someone by, or "" (none given, too long, or looks like a link)."""
    name = one_line(name or "", NAME_MAX + 1)
    if not name or len(name) > NAME_MAX or _NOT_A_NAME.search(name):
        return ""
    return name


def mail_language(settings: Settings, subscriber: Subscriber) -> str:
    """The language of ``subscriber``'s joining mails: the one of en/fr/ar they chose when they
    chose exactly one of them, else the digest's locale (its language, when written; else en)."""
    chosen = {lang for lang in subscriber.languages if lang in words.MAIL_WORDS}
    if len(chosen) == 1:
        return chosen.pop()
    try:
        return words.mail_language(dates.locale(settings.digest.locale).language)
    except ConfigError:
        return "en"


def _next_issue(settings: Settings, now: datetime, lang: str) -> str:
    """The day of the next scheduled digest in ``lang`` ("14 December 2026"), or ""."""
    from .scheduler import digest_trigger

    try:
        fire = digest_trigger(settings.digest).get_next_fire_time(None, now)
    except (ValueError, ConfigError):
        return ""
    return dates.day(fire, settings.digest.timezone, lang) if fire else ""


def _context(settings: Settings, store: Store, subscriber: Subscriber, lang: str) -> dict:
    """What both mails' templates see (see the templates' headers)."""
    d = settings.digest
    list_name, sender = parseaddr(d.sender)
    names = dict(subs.topic_choices(settings, store))
    builtin = words.MAIL_TOPICS.get(lang, {})
    languages = dict(subs.language_choices(settings))
    return {
        "lang": lang,
        "dir": "rtl" if lang == "ar" else "ltr",
        "start": "right" if lang == "ar" else "left",  # text-align of the HTML part
        "words": words.MAIL_WORDS[lang],
        "title": header_text(settings.output.title) or header_text(list_name),
        "list_name": header_text(list_name) or header_text(settings.output.title),
        "sender_address": sender,
        "site_url": settings.output.base_url,
        "contact": header_text(d.contact, limit=300),
        "subscribe_url": subs.page_url(settings, "subscribe"),
        "email": subscriber.email,
        "name": greeting_name(subscriber.name),
        "topics": [builtin.get(t) or names.get(t, t) for t in subscriber.topics],
        "languages": [languages.get(c, c) for c in subscriber.languages],
    }


def _bdi(value: object) -> markupsafe.Markup:
    """``value`` isolated from the text around it (``<bdi>``): an address, a URL or a Latin
    title keeps its own order inside an Arabic sentence, punctuation included."""
    return markupsafe.Markup("<bdi>{}</bdi>").format(value)


def _render(settings: Settings, templates: tuple[str, str], context: dict) -> tuple[str, str]:
    """(text, html): the HTML part sees the phrases as markup, so ``words.x.format(email=
    email|bdi)`` keeps the isolation and escapes the rest."""
    env = environment(settings.digest.templates)
    env.filters["bdi"] = _bdi
    html_words = {k: markupsafe.escape(v) for k, v in context["words"].items()}
    try:
        text = env.get_template(templates[0]).render(context)
        html = env.get_template(templates[1]).render({**context, "words": html_words})
    except jinja2.TemplateError as exc:
        raise ConfigError(f"subscription mail template: {exc}") from exc
    return text, html


def _message(settings: Settings, subscriber: Subscriber, subject: str, text: str, html: str,
             now: datetime, *, lang: str, mid: str, unsubscribe: tuple[str, str]
             ) -> EmailMessage:  # fmt: skip
    """One joining mail: the digest's header hygiene, its List-Id and one-click headers."""
    d = settings.digest
    name, sender = parseaddr(d.sender)
    https, mailto = unsubscribe
    msg = EmailMessage()
    msg["From"] = Address(display_name=header_text(name), addr_spec=sender)
    msg["To"] = Address(addr_spec=subscriber.email)
    subject = header_text(subject)
    msg["Subject"] = subject
    if str(msg["Subject"]) != subject:  # an "=?...?=" word in the title (as compose() does)
        del msg["Subject"]
        msg["Subject"] = subject.replace("=?", "= ?")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = mid
    msg["List-Id"] = list_id(d.sender, d.list_id)
    msg["List-Unsubscribe"] = f"<{mailto}>, <{https}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg["Content-Language"] = lang  # after the parts: set_content moves Content-* headers
    return msg


def _unsubscribe(settings: Settings, secret: bytes, subscriber: Subscriber) -> tuple[str, str]:
    """(https, mailto) of ``subscriber``'s one-click unsubscribe, as the digest writes them."""
    token = make_token(secret, subscriber.uid)
    sender = parseaddr(settings.digest.sender)[1]
    mailto = f"mailto:{sender}?subject={quote('unsubscribe ' + token)}"
    return unsubscribe_link(settings.digest.unsubscribe_url, token), mailto


def confirmation_message(settings: Settings, store: Store, subscriber: Subscriber, link: str,
                         now: datetime, secret: bytes) -> EmailMessage:  # fmt: skip
    """The one message a person who joined on the web gets before anything else."""
    lang = mail_language(settings, subscriber)
    https, mailto = _unsubscribe(settings, secret, subscriber)
    ctx = _context(settings, store, subscriber, lang)
    hours = int(subs.CONFIRM_TTL.total_seconds() // 3600)
    ctx |= {"link": link, "hours": hours, "unsubscribe_url": https}
    subject = ctx["subject"] = ctx["words"]["confirm_subject"].format(title=ctx["title"])
    text, html = _render(settings, CONFIRM_TEMPLATES, ctx)
    mid = make_msgid(domain=address_domain(settings.digest.sender))
    return _message(settings, subscriber, subject, text, html, now, lang=lang, mid=mid,
                    unsubscribe=(https, mailto))  # fmt: skip


def welcome_message(settings: Settings, store: Store, subscriber: Subscriber, now: datetime,
                    secret: bytes) -> EmailMessage:  # fmt: skip
    """The short note that follows a confirmation: what comes, when, and how to change it."""
    lang = mail_language(settings, subscriber)
    https, mailto = _unsubscribe(settings, secret, subscriber)
    ctx = _context(settings, store, subscriber, lang)
    ctx |= {
        "preferences_url": subs.preferences_url(settings, secret, subscriber),
        "unsubscribe_url": https,
        "next_issue": _next_issue(settings, now, lang),
    }
    subject = ctx["subject"] = ctx["words"]["welcome_subject"].format(title=ctx["title"])
    text, html = _render(settings, WELCOME_TEMPLATES, ctx)
    mid = make_msgid(domain=address_domain(settings.digest.sender))
    return _message(settings, subscriber, subject, text, html, now, lang=lang, mid=mid,
                    unsubscribe=(https, mailto))  # fmt: skip


def _transport(settings: Settings, folder: str) -> Transport:
    """SMTP, or the outbox's ``folder`` when ``smtp.host`` is empty."""
    d = settings.digest
    if d.smtp.host:
        return SmtpMailer(d.smtp, os.environ.get(d.smtp.password_env) or None, retries=1,
                          backoff=0.5)  # fmt: skip
    return Outbox(d.outbox / folder)


def _deliver(settings: Settings, subscriber: Subscriber, msg: EmailMessage, folder: str,
             what: str) -> bool:  # fmt: skip
    """Sign (DKIM, when configured) and send ``msg`` from the subscriber's VERP return path."""
    transport = _transport(settings, folder)
    try:
        wire = prepare(msg)
        if settings.digest.dkim.enabled:
            wire = prepare(sign(wire.data, settings))
        transport.send(wire, sender=bounces.envelope_sender(settings, subscriber))
    except (DeliveryError, ValueError) as exc:  # DkimError is a ValueError
        log.warning("%s for subscriber %s failed: %s", what, subscriber.uid, exc)
        return False
    finally:
        transport.close()
    return True


def send_confirmation(settings: Settings, store: Store, subscriber: Subscriber,
                      now: datetime | None = None) -> bool:  # fmt: skip
    """Send ``subscriber`` their confirmation link, unless one went out less than an hour ago
    (the store decides, atomically). Through SMTP, or the outbox's ``confirm/`` folder when
    ``smtp.host`` is empty. False when it was not sent (too soon, or delivery failed)."""
    now = now or utcnow()
    if not store.claim_confirmation(subscriber.email, now, subs.CONFIRM_EVERY):
        log.info("confirmation for subscriber %s not sent: one went out within the hour",
                 subscriber.uid)  # fmt: skip
        return False
    secret = secret_for(settings.secret_env, store)
    link = subs.confirm_url(settings, secret, subscriber, now)
    try:
        msg = confirmation_message(settings, store, subscriber, link, now, secret)
    except ConfigError as exc:  # an operator's template: the page still answers
        log.error("confirmation for subscriber %s not sent: %s", subscriber.uid, exc)
        return False
    return _deliver(settings, subscriber, msg, "confirm", "confirmation")


def send_welcome(settings: Settings, store: Store, subscriber: Subscriber,
                 now: datetime | None = None) -> bool:  # fmt: skip
    """Send the welcome to ``subscriber``, who has just been confirmed (the caller made that
    change: one welcome per confirmation). Nothing when ``digest.welcome`` is off. Through SMTP,
    or the outbox's ``welcome/`` folder. False when nothing was sent."""
    if not settings.digest.welcome or subscriber.status != "confirmed":
        return False
    now = now or utcnow()
    secret = secret_for(settings.secret_env, store)
    try:
        msg = welcome_message(settings, store, subscriber, now, secret)
    except ConfigError as exc:  # an operator's template: the confirmation still stands
        log.error("welcome for subscriber %s not sent: %s", subscriber.uid, exc)
        return False
    return _deliver(settings, subscriber, msg, "welcome", "welcome")


__all__ = [
    "CONFIRM_TEMPLATES",
    "NAME_MAX",
    "WELCOME_TEMPLATES",
    "confirmation_message",
    "greeting_name",
    "mail_language",
    "send_confirmation",
    "send_welcome",
    "welcome_message",
]
