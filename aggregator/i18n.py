"""Words and dates in the reader's language: the one owner for the digest and the published site.

Dates come from CLDR through Babel (month and weekday names, plural rules, writing direction),
so any locale Babel knows works. A span of days is phrased by hand for English ("7 to 13
December 2026") and French ("7 au 13 décembre 2026"), whose editors write it that way rather
than CLDR's "7–13"; other locales get CLDR's own interval.

The words around the stories are written here for English, French and Arabic (a few dozen
phrases do not call for a message catalogue); a word missing in a language falls back to the
English one. ``digest.words`` holds the digest's own phrases; ``SITE`` those of the published
pages and the subscribe pages; section titles and the built-in tags' names serve both.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_interval

from . import site
from .errors import ConfigError

#: How the span of two days is joined, for the languages whose editors do not write CLDR's dash.
_SPAN = {"en": "{a} to {b}", "fr": "{a} au {b}"}
#: A moment on the pages ("Sat 12 Dec 2026, 14:05"); Arabic joins with its own comma.
_MOMENT = {"ar": "EEE d MMM y، HH:mm"}
_MOMENT_DEFAULT = "EEE d MMM y, HH:mm"


@functools.cache
def locale(name: str) -> Locale:
    """The Babel locale of ``name`` ("en", "fr", "ar", "fr-MA"); a ConfigError if unknown."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"locale {name!r}: unknown locale (use a language code such as en, fr, ar)"
        ) from exc


def language(name: str) -> str:
    """The language part of a locale: "fr" for "fr-MA"."""
    return locale(name).language


def direction(name: str) -> str:
    """``rtl`` for a locale written right to left (Arabic), else ``ltr``."""
    return "rtl" if locale(name).character_order == "right-to-left" else "ltr"


# ---- dates --------------------------------------------------------------------------------------


def day(moment: datetime | date, timezone: str, loc: str, *, year: bool = True) -> str:
    """One day as a reader writes it: "5 December 2026", "5 décembre" (``year=False``)."""
    d = moment.astimezone(ZoneInfo(timezone)).date() if isinstance(moment, datetime) else moment
    return _day(d, locale(loc), year)


def date_range(start: datetime, end: datetime, timezone: str, loc: str = "en") -> str:
    """The days of [start, end) in ``timezone``: "7 to 13 December 2026", "30 November to 6
    December 2026", "29 December 2026 to 4 January 2027"; "7 au 13 décembre 2026" in French."""
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    last = (end.astimezone(zone) - timedelta(microseconds=1)).date()
    return days(first, last, loc)


def days(first: date, last: date, loc: str = "en") -> str:
    """The days ``first`` to ``last`` (both included), as ``date_range`` writes them."""
    lc = locale(loc)
    span = _SPAN.get(lc.language)
    if span is None:
        return format_interval(first, last, "yMMMMd", locale=lc)
    if first.year != last.year:
        head = _day(first, lc, True)
    elif first.month != last.month:
        head = _day(first, lc, False)
    else:
        head = _ordinal(first.day, lc)
    return span.format(a=head, b=_day(last, lc, True))


def short_days(first: date, last: date, loc: str = "en") -> str:
    """A compact span for lists of weeks: "7–13 Dec 2026", "30 Nov – 6 Dec 2026"."""
    lc = locale(loc)

    def f(d: date, pattern: str) -> str:
        return format_date(d, pattern, locale=lc)

    if first.year != last.year:
        return f"{f(first, 'd MMM y')} – {f(last, 'd MMM y')}"
    if first.month != last.month:
        return f"{f(first, 'd MMM')} – {f(last, 'd MMM y')}"
    return f"{f(first, 'd')}–{f(last, 'd MMM y')}"


def moment(when: datetime, timezone: str, loc: str = "en") -> str:
    """A date and time in ``timezone``: "Sat 12 Dec 2026, 14:05", "sam. 12 déc. 2026, 14:05"."""
    lc = locale(loc)
    pattern = _MOMENT.get(lc.language, _MOMENT_DEFAULT)
    return format_datetime(when.astimezone(ZoneInfo(timezone)), pattern, locale=lc)


def _day(d: date, lc: Locale, year: bool) -> str:
    text = format_date(d, "d MMMM y" if year else "d MMMM", locale=lc)
    if d.day == 1 and lc.language == "fr" and text.startswith("1 "):
        text = "1er" + text[1:]  # le 1er décembre
    return text


def _ordinal(n: int, lc: Locale) -> str:
    return "1er" if n == 1 and lc.language == "fr" else str(n)


# ---- section titles and the built-in tags' names -----------------------------------------------

#: Section titles (kept in the frozen issue, shown on the pages).
SECTION_TITLES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ai-africa": "AI & Africa",
        "ai": "AI",  # as on the site (tag pages, chips) and in "and 3 more in AI"
        "africa": "Africa",
        "other": "Other stories",
    },
    "fr": {
        "ai-africa": "IA & Afrique",
        "ai": "IA",
        "africa": "Afrique",
        "other": "Autres articles",
    },
    "ar": {
        "ai-africa": "الذكاء الاصطناعي وأفريقيا",
        "ai": "الذكاء الاصطناعي",
        "africa": "أفريقيا",
        "other": "أخبار أخرى",
    },
}
#: The built-in tags' names ("and 25 more in Africa", chips, tag pages).
SHORT_NAMES: Mapping[str, Mapping[str, str]] = {
    "en": {},
    "fr": {"ai": "IA", "africa": "Afrique", "ai-africa": "IA & Afrique"},
    "ar": {"ai": "الذكاء الاصطناعي", "africa": "أفريقيا", "ai-africa": "الذكاء الاصطناعي وأفريقيا"},
}


def section_title(key: str, loc: str = "en") -> str:
    """A section's heading: the built-in ones in ``loc``; a topic by its tag name."""
    table = SECTION_TITLES.get(language(loc), SECTION_TITLES["en"])
    return table.get(key) or site.tag_name(key)


def short_name(key: str, loc: str = "en") -> str:
    """What "and 25 more in Africa" calls the section: "AI", "Africa", "Afrique", a topic's name."""
    return SHORT_NAMES.get(language(loc), {}).get(key) or site.tag_name(key)


def tag_names(loc: str) -> dict[str, str]:
    """The built-in tags' names in ``loc`` (English ones when not written)."""
    return {**site.DEFAULT_TAG_NAMES, **SHORT_NAMES.get(language(loc), {})}


def country_name(code: str, loc: str) -> str | None:
    """A country's name in ``loc`` from CLDR ("MA" → "Maroc" in French), None when unknown."""
    return locale(loc).territories.get(code.upper())


# ---- the published site's words ----------------------------------------------------------------

#: The words of the published pages (front page, weeks, tags, issues, issues.xml) and of the
#: subscribe pages. ``{n}``, ``{name}``, ``{label}``... are filled with ``str.format``. A key
#: holding a mapping is counted: its forms by CLDR plural category (``one``, ``two``, ``few``,
#: ``many``, ``other``), see ``Words.count``.
SITE: Mapping[str, Mapping[str, object]] = {
    "en": {
        # header, navigation, side column, footer
        "feeds": "Feeds:",
        "issues_rss": "weekly issues (RSS)",
        "by_email": "Get the weekly digest by email",
        "tags": "Tags",
        "latest_week": "Latest week",
        "more_tags": "More tags",
        "archive": "Archive",
        "weekly_issues": "Weekly issues",
        "past_weeks": "Past weeks",
        "none_yet": "None yet.",
        "footer": "Published by {generator}. Times are {timezone} time. Each story links to one "
        "outlet; “also in” lists the others that ran it.",
        # front page and weeks
        "stories": {"one": "{n} story", "other": "{n} stories"},
        "comma": ", ",
        "newest_in_sections": "newest first in each section",
        "whole_week": "the whole week on one page",
        "updated": "updated",
        "week_of": "Week of {label}",
        "site_week_of": "{site} — week of {label}",
        "dates_in": "dates in {timezone} time",
        "no_stories_yet": "No stories yet.",
        "earlier": "Earlier: {label}",
        "weeks": "Weeks",
        "sections": "Sections",
        "newest_first": "Newest first",
        # a story
        "undated": "undated",
        "first_seen": "first seen",
        "also_in": "Also in:",
        "more_in": "and {n} more in {name}",
        # issues
        "issues": "Issues",
        "weekly_issue": "Weekly issue",
        "every_issue_rss": "every issue by RSS",
        "no_stories_week": "No stories this week.",
        "issues_title": "{site} — weekly issues",
        "issues_description": "{site}: each weekly digest issue, as sent",
        "read_on_web": "Read this issue on the web",
        "untitled": "Untitled",
        # the subscribe, confirm and preferences pages
        "subscribe": "Subscribe",
        "subscribe_heading": "Get the weekly digest by email",
        "subscribe_hint": "One email a week with the stories that mattered. Choose nothing "
        "below to get everything.",
        "leave_empty": "Leave this empty",
        "email_address": "Email address",
        "your_name": "Your name",
        "name_hint": "(optional, to greet you)",
        "topics": "Topics",
        "languages": "Languages",
        "none_all": "(none: all)",
        "confirm_hint": "We will send one message to confirm the address; nothing else until "
        "you follow its link.",
        "sub_footer": "A weekly digest of the stories on {site}. One click in any issue "
        "unsubscribes.",
        "preferences": "Preferences",
        "your_subscription": "Your subscription",
        "status_confirmed": "receiving the weekly digest",
        "status_paused": "paused",
        "status_unsubscribed": "unsubscribed",
        "save": "Save choices",
        "pause": "Pause",
        "resume": "Resume",
        "unsubscribe": "Unsubscribe",
        "method_not_allowed": "Method not allowed",
        "use_get_post": "Use GET or POST.",
        "not_found": "Not found",
        "no_such_page": "No such page.",
        "refused": "Refused",
        "own_page_only": "This form can only be sent from its own page.",
        "form_too_old": "The form was too old. Please send it again.",
        "too_many": "Too many requests",
        "wait_retry": "Please wait a few minutes and try again.",
        "check_address": "Please check the address: {problem}.",
        "check_inbox": "Check your inbox",
        "inbox_text": "If the address can receive mail, a message with a confirmation link is "
        "on its way. The subscription starts when you follow it; nothing is sent until then.",
        "invalid_link": "Invalid link",
        "confirm_invalid": "This confirmation link is not valid.",
        "link_expired": "Link expired",
        "expired_text": "This confirmation link has expired. Send the form again to get a new one.",
        "subscribe_again": "Subscribe again",
        "confirm_title": "Confirm your subscription",
        "confirm_text": "Send the weekly digest to {email}?",
        "confirm": "Confirm",
        "not_confirmed": "Not confirmed",
        "left_since": "This address left the list since. Send the form again to join.",
        "confirmed_title": "Subscription confirmed",
        "confirmed_text": "{email} will receive the next weekly digest.",
        "choose_topics": "Choose topics and languages",
        "link_not_valid": "This link is not valid. Please use the link from the most recent email.",
        "unsubscribed_notice": "You are unsubscribed. Nothing more will be sent.",
        "paused_notice": "Paused. Resume here whenever you like.",
        "resumed_notice": "Welcome back: the digest will come again.",
        "saved_notice": "Saved.",
    },
    "fr": {
        "feeds": "Flux :",
        "issues_rss": "lettres hebdomadaires (RSS)",
        "by_email": "Recevoir la lettre hebdomadaire par e-mail",
        "tags": "Thèmes",
        "latest_week": "Dernière semaine",
        "more_tags": "Autres thèmes",
        "archive": "Archives",
        "weekly_issues": "Lettres hebdomadaires",
        "past_weeks": "Semaines passées",
        "none_yet": "Aucune pour l’instant.",
        "footer": "Publié par {generator}. Heures de {timezone}. Chaque article renvoie à un "
        "média ; « aussi dans » cite les autres qui l’ont publié.",
        "stories": {"one": "{n} article", "other": "{n} articles"},
        "newest_in_sections": "les plus récents d’abord dans chaque rubrique",
        "whole_week": "toute la semaine sur une page",
        "updated": "mis à jour",
        "week_of": "Semaine du {label}",
        "site_week_of": "{site} — semaine du {label}",
        "dates_in": "heures de {timezone}",
        "no_stories_yet": "Aucun article pour l’instant.",
        "earlier": "Avant : {label}",
        "weeks": "Semaines",
        "sections": "Rubriques",
        "newest_first": "Les plus récents d’abord",
        "undated": "sans date",
        "first_seen": "repéré le",
        "also_in": "Aussi dans :",
        "more_in": "et {n} autres dans la rubrique {name}",
        "issues": "Lettres",
        "weekly_issue": "Lettre hebdomadaire",
        "every_issue_rss": "toutes les lettres en RSS",
        "no_stories_week": "Aucun article cette semaine.",
        "issues_title": "{site} — lettres hebdomadaires",
        "issues_description": "{site} : chaque lettre hebdomadaire, telle qu’envoyée",
        "read_on_web": "Lire cette lettre sur le web",
        "untitled": "Sans titre",
        "subscribe": "S’abonner",
        "subscribe_heading": "Recevoir la lettre hebdomadaire par e-mail",
        "subscribe_hint": "Un e-mail par semaine avec les articles qui ont compté. Ne cochez "
        "rien pour tout recevoir.",
        "leave_empty": "Laisser vide",
        "email_address": "Adresse e-mail",
        "your_name": "Votre nom",
        "name_hint": "(facultatif, pour vous saluer)",
        "topics": "Thèmes",
        "languages": "Langues",
        "none_all": "(aucun : tous)",
        "confirm_hint": "Nous enverrons un message pour confirmer l’adresse ; rien d’autre tant "
        "que vous n’aurez pas suivi son lien.",
        "sub_footer": "Une lettre hebdomadaire des articles de {site}. Un clic dans n’importe "
        "quelle lettre suffit pour se désabonner.",
        "preferences": "Préférences",
        "your_subscription": "Votre abonnement",
        "status_confirmed": "vous recevez la lettre hebdomadaire",
        "status_paused": "en pause",
        "status_unsubscribed": "désabonné",
        "save": "Enregistrer",
        "pause": "Mettre en pause",
        "resume": "Reprendre",
        "unsubscribe": "Se désabonner",
        "method_not_allowed": "Méthode non autorisée",
        "use_get_post": "Utilisez GET ou POST.",
        "not_found": "Page introuvable",
        "no_such_page": "Cette page n’existe pas.",
        "refused": "Refusé",
        "own_page_only": "Ce formulaire ne peut être envoyé que depuis sa propre page.",
        "form_too_old": "Le formulaire était trop ancien. Merci de l’envoyer à nouveau.",
        "too_many": "Trop de demandes",
        "wait_retry": "Merci de patienter quelques minutes avant de réessayer.",
        "check_address": "Vérifiez l’adresse : {problem}.",
        "check_inbox": "Consultez votre boîte de réception",
        "inbox_text": "Si l’adresse peut recevoir du courrier, un message avec un lien de "
        "confirmation est en route. L’abonnement commence quand vous le suivez ; rien n’est "
        "envoyé d’ici là.",
        "invalid_link": "Lien non valide",
        "confirm_invalid": "Ce lien de confirmation n’est pas valide.",
        "link_expired": "Lien expiré",
        "expired_text": "Ce lien de confirmation a expiré. Envoyez à nouveau le formulaire pour "
        "en recevoir un nouveau.",
        "subscribe_again": "S’abonner à nouveau",
        "confirm_title": "Confirmez votre abonnement",
        "confirm_text": "Envoyer la lettre hebdomadaire à {email} ?",
        "confirm": "Confirmer",
        "not_confirmed": "Non confirmé",
        "left_since": "Cette adresse a quitté la liste depuis. Envoyez à nouveau le formulaire "
        "pour la rejoindre.",
        "confirmed_title": "Abonnement confirmé",
        "confirmed_text": "{email} recevra la prochaine lettre hebdomadaire.",
        "choose_topics": "Choisir les thèmes et les langues",
        "link_not_valid": "Ce lien n’est pas valide. Utilisez le lien du dernier e-mail reçu.",
        "unsubscribed_notice": "Vous êtes désabonné. Plus rien ne vous sera envoyé.",
        "paused_notice": "En pause. Reprenez ici quand vous voulez.",
        "resumed_notice": "Bon retour : la lettre reviendra.",
        "saved_notice": "Enregistré.",
    },
    "ar": {
        "feeds": "الخلاصات:",
        "issues_rss": "الأعداد الأسبوعية (RSS)",
        "by_email": "النشرة الأسبوعية بالبريد الإلكتروني",
        "tags": "الوسوم",
        "latest_week": "الأسبوع الأخير",
        "more_tags": "وسوم أخرى",
        "archive": "الأرشيف",
        "weekly_issues": "الأعداد الأسبوعية",
        "past_weeks": "الأسابيع الماضية",
        "none_yet": "لا شيء بعد.",
        "footer": "نشره {generator}. الأوقات بتوقيت {timezone}. كل خبر يحيل إلى وسيلة إعلام "
        "واحدة؛ و«نُشر أيضًا في» يذكر الوسائل الأخرى التي نشرته.",
        "stories": {
            "zero": "{n} خبر",
            "one": "خبر واحد",
            "two": "خبران",
            "few": "{n} أخبار",
            "many": "{n} خبرًا",
            "other": "{n} خبر",
        },
        "comma": "، ",
        "newest_in_sections": "الأحدث أولًا في كل قسم",
        "whole_week": "الأسبوع كاملًا في صفحة واحدة",
        "updated": "حُدّث",
        "week_of": "أسبوع {label}",
        "site_week_of": "{site} — أسبوع {label}",
        "dates_in": "الأوقات بتوقيت {timezone}",
        "no_stories_yet": "لا أخبار بعد.",
        "earlier": "قبل ذلك: {label}",
        "weeks": "الأسابيع",
        "sections": "الأقسام",
        "newest_first": "الأحدث أولًا",
        "undated": "بلا تاريخ",
        "first_seen": "رُصد في",
        "also_in": "نُشر أيضًا في:",
        "more_in": "و{n} أخبار أخرى في {name}",
        "issues": "الأعداد",
        "weekly_issue": "العدد الأسبوعي",
        "every_issue_rss": "كل الأعداد عبر RSS",
        "no_stories_week": "لا أخبار هذا الأسبوع.",
        "issues_title": "{site} — الأعداد الأسبوعية",
        "issues_description": "{site}: كل عدد أسبوعي كما أُرسل",
        "read_on_web": "اقرأ هذا العدد على الويب",
        "untitled": "بلا عنوان",
        "subscribe": "اشترك",
        "subscribe_heading": "النشرة الأسبوعية بالبريد الإلكتروني",
        "subscribe_hint": "رسالة واحدة في الأسبوع بأهم الأخبار. لا تختر شيئًا لتصلك كلها.",
        "email_address": "البريد الإلكتروني",
        "your_name": "اسمك",
        "name_hint": "(اختياري، لنحيّيك به)",
        "topics": "المواضيع",
        "languages": "اللغات",
        "none_all": "(لا شيء: الكل)",
        "confirm_hint": "سنرسل رسالة واحدة لتأكيد العنوان، ولا شيء غيرها حتى تتبع رابطها.",
        "sub_footer": "نشرة أسبوعية لأخبار {site}. نقرة واحدة في أي عدد تلغي الاشتراك.",
        "preferences": "التفضيلات",
        "your_subscription": "اشتراكك",
        "status_confirmed": "تصلك النشرة الأسبوعية",
        "status_paused": "متوقف مؤقتًا",
        "status_unsubscribed": "أُلغي الاشتراك",
        "save": "حفظ",
        "pause": "إيقاف مؤقت",
        "resume": "استئناف",
        "unsubscribe": "إلغاء الاشتراك",
        "check_inbox": "تفقّد بريدك",
        "confirm_title": "أكّد اشتراكك",
        "confirm": "تأكيد",
        "confirmed_title": "تم تأكيد الاشتراك",
        "saved_notice": "تم الحفظ.",
    },
}


class Words:
    """The site's words in one locale, for the templates (``w.more_tags``, ``w.count(...)``)
    and the code (``w.say("more_in", n=3, name="IA")``); a missing word is the English one."""

    def __init__(self, loc: str = "en"):
        self.locale = loc
        self.lang = language(loc)
        self.dir = direction(loc)
        self._table = SITE.get(self.lang, {})

    def __getitem__(self, key: str) -> str:
        value = self._table.get(key, SITE["en"][key])
        return value if isinstance(value, str) else str(value)

    def __getattr__(self, key: str) -> str:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def say(self, key: str, **values: object) -> str:
        """``key``'s phrase with ``values`` filled in."""
        return self[key].format(**values)

    def count(self, key: str, n: int) -> str:
        """A counted phrase ("3 stories", "1 article", "خبران") by the locale's plural rule."""
        forms = self._table.get(key) or SITE["en"][key]
        if not isinstance(forms, Mapping):
            return str(forms).format(n=n)
        form = locale(self.locale).plural_form(n) if self._table.get(key) else _en_plural(n)
        return str(forms.get(form) or forms["other"]).format(n=n)


def _en_plural(n: int) -> str:
    return "one" if n == 1 else "other"


@functools.cache
def wording(loc: str = "en") -> Words:
    """The site's words in ``loc`` (one object per locale)."""
    return Words(loc)


__all__ = [
    "SECTION_TITLES",
    "SHORT_NAMES",
    "SITE",
    "Words",
    "country_name",
    "date_range",
    "day",
    "days",
    "direction",
    "language",
    "locale",
    "moment",
    "section_title",
    "short_days",
    "short_name",
    "tag_names",
    "wording",
]
