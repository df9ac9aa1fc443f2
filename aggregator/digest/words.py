"""The few words of the digest around the stories, in the digest's language (``digest.locale``).

English and French are written here (a dozen phrases do not call for a message catalogue); any
other locale gets the English words, with its own dates and month names from CLDR. Operators
who want other words override the templates (``digest.templates``). Section titles and the
built-in tags' names are ``aggregator.i18n``'s, shared with the published site.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import i18n

#: Phrases the default templates use; ``{n}``, ``{date}``, ``{language}``, ``{name}`` are filled
#: in the templates with ``str.format``.
LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "story": "story",
        "stories": "stories",
        "first_seen": "first seen {date}",
        "in_language": "in {language}",
        "outlets": "{n} outlets",
        "also_in": "Also in:",
        "more_in": "and {n} more in {name}",
        "more": "and {n} more",
        "empty": "No stories were collected this week.",
        "receive": "You receive this weekly digest at",
        "unsubscribe": "Unsubscribe",
        "preferences": "Choose topics and languages, or pause",
    },
    "fr": {
        "story": "article",
        "stories": "articles",
        "first_seen": "repéré le {date}",
        "in_language": "en {language}",
        "outlets": "{n} médias",
        "also_in": "Aussi dans :",
        "more_in": "et {n} autres dans la rubrique {name}",
        "more": "et {n} autres",
        "empty": "Aucun article n’a été collecté cette semaine.",
        "receive": "Vous recevez cette lettre hebdomadaire à l’adresse",
        "unsubscribe": "Se désabonner",
        "preferences": "Choisir les rubriques et les langues, ou faire une pause",
    },
}


def language(locale_language: str) -> str:
    """The language whose words the digest uses: the locale's, when written here, else "en"."""
    return locale_language if locale_language in LABELS else "en"


def section_title(key: str, lang: str = "en") -> str:
    """A section's heading: the built-in ones in ``lang``; a topic by its tag name."""
    return i18n.section_title(key, language(lang))


def short_name(key: str, lang: str = "en") -> str:
    """What "and 25 more in Africa" calls the section: "AI", "Africa", "Afrique", a topic's name."""
    return i18n.short_name(key, language(lang))


# ---- the mails of joining: the confirmation and the welcome (service/subscriber_mail.py) -----
# A block of its own (not part of the digest's LABELS), so it can move with the other words
# without touching them. English, French and Arabic: the three languages a subscriber can
# choose on the form. ``{title}``, ``{email}``, ``{name}``, ``{hours}``, ``{url}``, ``{date}``
# are filled by the templates with ``str.format``.

MAIL_WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "colon": ":",  # after a label: "Topics: AI"
        "confirm_subject": "Confirm your subscription to {title}",
        "welcome_subject": "Welcome to {title}",
        "hello": "Hello,",
        "hello_name": "Hello {name},",
        "confirm_intro": "Someone, hopefully you, asked for the weekly email digest of {title} "
        "at {email}.",
        "asked_for": "What was asked for:",
        "chosen": "What you chose:",
        "topics": "Topics",
        "languages": "Languages",
        "all_topics": "all topics",
        "all_languages": "all languages",
        "confirm_button": "Confirm my subscription",
        "confirm_valid": "The link works for {hours} hours. It opens a page with one button; "
        "nothing is confirmed until you press it.",
        "copy_link": "If the button does not work, copy this address into your browser:",
        "ignore": "If you did not ask for this, ignore this email: you will get nothing else "
        "from us, and the address will not be used.",
        "why_confirm": "This email was sent because the address {email} was entered in the "
        "form at {url}.",
        "welcome_intro": "Your subscription is confirmed: {title} will reach you once a week "
        "at {email}.",
        "next_issue": "The next issue is due on {date}.",
        "archive": "Past issues and this week’s stories are on the site:",
        "preferences": "Change topics and languages, or pause",
        "unsubscribe": "Unsubscribe",
        "why_welcome": "You receive this email because you confirmed your subscription to {title}.",
    },
    "fr": {
        "colon": " :",  # after a label: "Topics: AI"
        "confirm_subject": "Confirmez votre abonnement à {title}",
        "welcome_subject": "Votre abonnement à {title} est confirmé",
        "hello": "Bonjour,",
        "hello_name": "Bonjour {name},",
        "confirm_intro": "Quelqu’un, vous sans doute, a demandé à recevoir la lettre "
        "hebdomadaire de {title} à l’adresse {email}.",
        "asked_for": "Ce qui a été demandé :",
        "chosen": "Vos choix :",
        "topics": "Rubriques",
        "languages": "Langues",
        "all_topics": "toutes les rubriques",
        "all_languages": "toutes les langues",
        "confirm_button": "Confirmer mon abonnement",
        "confirm_valid": "Le lien est valable {hours} heures. Il ouvre une page avec un seul "
        "bouton : rien n’est confirmé tant que vous ne l’avez pas pressé.",
        "copy_link": "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :",
        "ignore": "Si vous n’avez rien demandé, ignorez ce message : vous ne recevrez rien "
        "d’autre de notre part et l’adresse ne sera pas utilisée.",
        "why_confirm": "Ce message a été envoyé parce que l’adresse {email} a été saisie dans "
        "le formulaire de {url}.",
        "welcome_intro": "Votre abonnement est confirmé : {title} vous parviendra une fois par "
        "semaine à l’adresse {email}.",
        "next_issue": "Prochaine lettre : le {date}.",
        "archive": "Les lettres passées et les articles de la semaine sont sur le site :",
        "preferences": "Choisir les rubriques et les langues, ou faire une pause",
        "unsubscribe": "Se désabonner",
        "why_welcome": "Vous recevez ce message parce que vous avez confirmé votre abonnement "
        "à {title}.",
    },
    "ar": {
        "colon": ":",  # after a label: "Topics: AI"
        "confirm_subject": "أكِّد اشتراكك في {title}",
        "welcome_subject": "تمّ تأكيد اشتراكك في {title}",
        "hello": "مرحبًا،",
        "hello_name": "مرحبًا {name}،",
        "confirm_intro": "طلب شخصٌ ما، ونرجو أن تكون أنت، تلقّي النشرة الأسبوعية «{title}» "
        "على العنوان {email}.",
        "asked_for": "ما طُلب:",
        "chosen": "اختياراتك:",
        "topics": "المواضيع",
        "languages": "اللغات",
        "all_topics": "كل المواضيع",
        "all_languages": "كل اللغات",
        "confirm_button": "تأكيد اشتراكي",
        "confirm_valid": "يبقى الرابط صالحًا مدة {hours} ساعة. يفتح صفحة فيها زر واحد، "
        "ولا يُؤكَّد شيء قبل الضغط عليه.",
        "copy_link": "إن لم يعمل الزر، انسخ هذا العنوان في متصفحك:",
        "ignore": "إن لم تطلب ذلك، فتجاهل هذه الرسالة: لن يصلك منا أي شيء آخر، ولن يُستخدم العنوان.",
        "why_confirm": "أُرسلت هذه الرسالة لأن العنوان {email} أُدخل في النموذج على {url}.",
        "welcome_intro": "تمّ تأكيد اشتراكك: ستصلك «{title}» مرة في الأسبوع على العنوان {email}.",
        "next_issue": "العدد القادم يوم {date}.",
        "archive": "الأعداد السابقة وأخبار هذا الأسبوع على الموقع:",
        "preferences": "تغيير المواضيع واللغات، أو التوقف مؤقتًا",
        "unsubscribe": "إلغاء الاشتراك",
        "why_welcome": "تصلك هذه الرسالة لأنك أكّدت اشتراكك في «{title}».",
    },
}
#: The built-in topics by name in the mails' languages (others keep their tag names).
MAIL_TOPICS: Mapping[str, Mapping[str, str]] = {
    "en": {"ai": "AI", "africa": "Africa"},
    "fr": {"ai": "IA", "africa": "Afrique"},
    "ar": {"ai": "الذكاء الاصطناعي", "africa": "أفريقيا"},
}


def mail_language(lang: str) -> str:
    """The language of the joining mails: ``lang`` when its words are written here, else "en"."""
    return lang if lang in MAIL_WORDS else "en"
