"""Joining on the web, double opt-in, and the preferences page: the dynamic pages of ``serve``.

``/subscribe`` shows a plain HTML form (email, topics, languages) and, on POST, records a
pending subscriber and sends one confirmation message whose link is signed and expires. The
link's page confirms with one button (a POST: mail scanners follow links with GET, and a GET
that confirmed would subscribe people who never clicked). ``/preferences`` is reached from the
signed link of every digest: topics, languages, pause, unsubscribe.

Abuse: a POST is refused without a fresh signed form token (issued with the form, valid
``FORM_TTL``), from another site (Origin, else Referer, when present, must be this site), or
beyond ``PER_CLIENT`` posts per ``PER_CLIENT_WINDOW`` from one client address; a filled hidden
honeypot field gets the usual answer and nothing else. Whatever the posts, an address gets at
most one confirmation message an hour (``Store.claim_confirmation`` decides, in the database).
The answer never says whether an address was already subscribed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

import jinja2

from .. import addresses, i18n
from ..clock import Clock, utcnow
from ..settings import Settings
from ..store import Store
from ..templating import environment
from ..unsubscribe import sign, verify_expiring_token, verify_token
from . import subscriber_mail
from . import subscriptions as subs

#: A form token is good this many seconds after the form was shown.
FORM_TTL = 2 * 3600
#: Posts accepted from one client address per window (seconds).
PER_CLIENT, PER_CLIENT_WINDOW = 5, 600.0
HONEYPOT = "website"
MAX_BODY = 16 * 1024
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a token in the URL never leaves in a Referer
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors {}"

Response = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Request:
    """What the pages need of an HTTP request (no web framework here)."""

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    client: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return ""


class RateLimit:
    """At most ``limit`` events per ``window`` seconds per key (in memory, per process)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._seen) > 10_000:  # forget idle clients
                self._seen = {
                    k: q for k, q in self._seen.items() if q and q[-1] > now - self.window
                }
            q = self._seen.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


class SubscribePages:
    """The subscribe, confirm and preferences pages over one store (calls are serialised)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        secret: bytes,
        *,
        now: Clock = utcnow,
        send: Callable[..., bool] | None = None,
        welcome: Callable[..., bool] | None = None,
    ):
        self.settings, self.store, self.secret, self.now = settings, store, secret, now
        self.send = send or subscriber_mail.send_confirmation
        self.welcome = welcome or subscriber_mail.send_welcome
        self.env = environment(settings.digest.templates, settings.output.templates)
        self.limit = RateLimit(PER_CLIENT, PER_CLIENT_WINDOW)
        self.lock = threading.Lock()
        base = urlsplit(subs.page_url(settings, "subscribe")).path
        self.paths = {
            "subscribe": base,
            "confirm": base.rstrip("/") + "/confirm",
            "preferences": urlsplit(subs.page_url(settings, "preferences")).path,
        }
        self.origins = {_origin(settings.digest.unsubscribe_url), _origin(settings.output.base_url)}
        # The published site's header, tag chips, style and language (base.html.j2).
        self.words = i18n.wording(settings.site_locale)
        self.chrome = self._chrome()

    # ---- dispatch --------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        w = self.words
        with self.lock:
            if req.method not in ("GET", "HEAD", "POST"):
                return self._page(405, "message", title=w.method_not_allowed, text=w.use_get_post)
            path = req.path.rstrip("/") or "/"
            if path == self.paths["confirm"]:
                return self._confirm(req)
            if path == self.paths["preferences"]:
                return self._preferences(req)
            if path == self.paths["subscribe"]:
                return self._subscribe(req) if req.method == "POST" else self._form(req)
            return self._page(404, "message", title=w.not_found, text=w.no_such_page)

    # ---- the form -------------------------------------------------------------------------

    def form_token(self) -> str:
        stamp = str(int(self.now().timestamp()))
        return f"{stamp}.{sign(self.secret, 'form', stamp)}"

    def _form_token_ok(self, token: str) -> bool:
        stamp, _, mac = token.partition(".")
        if not stamp.isdigit() or len(stamp) > 12 or mac != sign(self.secret, "form", stamp):
            return False
        age = self.now().timestamp() - int(stamp)
        return -60 <= age <= FORM_TTL

    def _form(
        self,
        req: Request,
        *,
        status: int = 200,
        error: str = "",
        values: Mapping[str, list[str]] | None = None,
    ) -> Response:
        embed = "embed" in parse_qs(req.query, keep_blank_values=True)
        values = values or {}
        return self._page(
            status,
            "form",
            embed=embed,
            error=error,
            token=self.form_token(),
            action=self.paths["subscribe"],
            honeypot=HONEYPOT,
            email=(values.get("email") or [""])[0],
            name=(values.get("name") or [""])[0],
            topics=self._options(subs.topic_choices(self.settings, self.store), values, "topics"),
            languages=self._options(subs.language_choices(self.settings), values, "languages"),
        )

    @staticmethod
    def _options(choices, values: Mapping[str, list[str]], name: str) -> list[dict]:
        chosen = set(values.get(name) or [])
        return [{"value": v, "label": label, "checked": v in chosen} for v, label in choices]

    def _same_site(self, req: Request) -> bool:
        host = req.header("Host")
        allowed = self.origins | ({f"http://{host}", f"https://{host}"} if host else set())
        origin = req.header("Origin")
        if origin:
            return origin.rstrip("/") in allowed
        referer = req.header("Referer")
        return not referer or _origin(referer) in allowed

    def _subscribe(self, req: Request) -> Response:
        form = parse_qs(req.body[:MAX_BODY].decode("utf-8", "replace"), max_num_fields=200)
        if not self._same_site(req):
            return self._page(
                403,
                "message",
                title=self.words.refused,
                text=self.words.own_page_only,
            )
        if not self._form_token_ok((form.get("form_token") or [""])[0]):
            return self._form(req, status=400, values=form, error=self.words.form_too_old)
        if not self.limit.allow(req.client or "?"):
            return self._page(
                429,
                "message",
                title=self.words.too_many,
                text=self.words.wait_retry,
            )
        if (form.get(HONEYPOT) or [""])[0].strip():
            return self._inbox()  # a robot: the same answer, nothing done
        value = (form.get("email") or [""])[0]
        box = addresses.valid(value)
        if box is None:
            return self._form(
                req,
                status=400,
                values=form,
                error=self.words.say("check_address", problem=addresses.problem(value)),
            )
        try:
            topics, langs = subs.chosen(
                self.settings, self.store, form.get("topics") or [], form.get("languages") or []
            )
        except subs.SubscriberError as exc:
            return self._form(req, status=400, values=form, error=str(exc))
        now = self.now()
        name = subscriber_mail.greeting_name((form.get("name") or [""])[0] or box.name)
        subscriber = self.store.set_subscriber_status(
            box.address,
            "pending",
            "form",
            now,
            name=name or None,
            topics=topics,
            languages=langs,
            only_from=("pending", "unsubscribed", "bounced"),
        )
        if subscriber is not None and subscriber.status == "pending":
            self.send(self.settings, self.store, subscriber, now)
        return self._inbox()

    def _inbox(self) -> Response:
        return self._page(
            200,
            "message",
            title=self.words.check_inbox,
            text=self.words.inbox_text,
        )

    # ---- confirmation ---------------------------------------------------------------------

    def _confirm(self, req: Request) -> Response:
        w = self.words
        token = _param(req, "token")
        found = verify_expiring_token(self.secret, token, "confirm", self.now())
        subscriber = self.store.subscriber_by_uid(found[0]) if found else None
        if found is None or subscriber is None:
            return self._page(
                400,
                "message",
                title=w.invalid_link,
                text=w.confirm_invalid,
                link=self.paths["subscribe"],
                link_text=w.subscribe,
            )
        if found[1]:
            return self._page(
                410,
                "message",
                title=w.link_expired,
                text=w.expired_text,
                link=self.paths["subscribe"],
                link_text=w.subscribe_again,
            )
        if req.method != "POST" and subscriber.status != "confirmed":
            return self._page(
                200,
                "message",
                title=w.confirm_title,
                text=w.say("confirm_text", email=subscriber.email),
                button=w.confirm,
                action=f"{self.paths['confirm']}?token={quote(token, safe='')}",
            )
        if subscriber.status == "pending":
            # only the request that made the change welcomes them: a replay finds "confirmed"
            done = self.store.set_subscriber_status(
                subscriber.email, "confirmed", "form", self.now(), only_from=("pending",)
            )
            if done is not None and done.status == "confirmed":
                self.welcome(self.settings, self.store, done, self.now())
        elif subscriber.status != "confirmed":
            return self._page(
                409,
                "message",
                title=w.not_confirmed,
                text=w.left_since,
                link=self.paths["subscribe"],
                link_text=w.subscribe,
            )
        return self._page(
            200,
            "message",
            title=w.confirmed_title,
            text=w.say("confirmed_text", email=subscriber.email),
            link=subs.preferences_url(self.settings, self.secret, subscriber),
            link_text=w.choose_topics,
        )

    # ---- preferences ----------------------------------------------------------------------

    def _preferences(self, req: Request) -> Response:
        form = (
            parse_qs(req.body[:MAX_BODY].decode("utf-8", "replace"), max_num_fields=200)
            if req.method == "POST"
            else {}
        )
        token = _param(req, "token") or (form.get("token") or [""])[0]
        uid = verify_token(self.secret, token, "preferences")
        subscriber = self.store.subscriber_by_uid(uid) if uid else None
        if subscriber is None:
            return self._page(
                400,
                "message",
                title=self.words.invalid_link,
                text=self.words.link_not_valid,
            )
        notice = ""
        if req.method == "POST":
            if not self._same_site(req):
                return self._page(
                    403,
                    "message",
                    title=self.words.refused,
                    text=self.words.own_page_only,
                )
            action = (form.get("action") or ["save"])[0]
            now, email = self.now(), subscriber.email
            topics: list[str] | None
            langs: list[str] | None
            try:
                topics, langs = subs.chosen(
                    self.settings, self.store, form.get("topics") or [], form.get("languages") or []
                )
            except subs.SubscriberError as exc:
                topics = langs = None
                notice = str(exc)
            if action == "unsubscribe":
                self.store.unsubscribe(email, now, "preferences")
                notice = self.words.unsubscribed_notice
            elif action == "pause" and subscriber.status == "confirmed":
                self.store.set_subscriber_status(
                    email, "paused", "preferences", now, reason="paused on the preferences page"
                )
                notice = self.words.paused_notice
            elif action == "resume" and subscriber.status in ("paused", "unsubscribed"):
                self.store.set_subscriber_status(email, "confirmed", "preferences", now)
                notice = self.words.resumed_notice
            elif action == "save" and topics is not None:
                self.store.set_subscriber_choices(email, topics, langs)
                notice = self.words.saved_notice
            subscriber = self.store.subscriber_by_uid(subscriber.uid) or subscriber
        values = {"topics": list(subscriber.topics), "languages": list(subscriber.languages)}
        return self._page(
            200,
            "preferences",
            subscriber=subscriber,
            notice=notice,
            token=token,
            action=self.paths["preferences"],
            topics=self._options(subs.topic_choices(self.settings, self.store), values, "topics"),
            languages=self._options(subs.language_choices(self.settings), values, "languages"),
        )

    # ---- pages ----------------------------------------------------------------------------

    def _chrome(self) -> dict:
        """What base.html.j2 needs, linking back to the published site: its title, feeds and
        the chips of the built-in tags and the operator's topics, in the site's language."""
        from .. import publish
        from ..tagging import COUNTRY_NAMES
        from .pipeline import tag_display_names

        names = tag_display_names(self.settings, COUNTRY_NAMES)
        keys = dict.fromkeys([*publish.CORE_TAGS, *self.settings.topics])
        return publish.chrome(
            self.settings.output.title,
            self.settings.output.base_url,
            self.settings.site_locale,
            [(t, names.get(t, t)) for t in keys],
            subs.page_url(self.settings, "subscribe"),
        )

    def _page(self, status: int, kind: str, *, embed: bool = False, **context: object) -> Response:
        template = {
            "form": "subscribe.html.j2",
            "message": "subscribe_message.html.j2",
            "preferences": "subscribe_preferences.html.j2",
        }[kind]
        defaults = {
            **self.chrome,
            "embed": embed,
            "link": "",
            "link_text": "",
            "button": "",
            "action": "",
            "text": "",
            "title": "",
        }
        try:
            body = self.env.get_template(template).render({**defaults, **context}).encode("utf-8")
        except jinja2.TemplateError as exc:  # an operator's template: say which, answer 500
            body = f"template {template}: {exc}".encode()
            return 500, [("Content-Type", "text/plain; charset=utf-8")], body
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            *_HEADERS.items(),
            ("Content-Security-Policy", _CSP.format("*" if embed else "'none'")),
        ]
        return status, headers, body


def _param(req: Request, name: str) -> str:
    return (parse_qs(req.query, max_num_fields=20).get(name) or [""])[0]


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""
    except ValueError:
        return ""


def embed_snippet(settings: Settings) -> str:
    """The HTML an operator pastes into another page to show the form (an iframe of
    ``/subscribe?embed``, so the form is posted from its own site, as the checks require)."""
    url = subs.page_url(settings, "subscribe") + "?embed"
    style = "border:0;width:100%;max-width:28rem;height:32rem"
    return (
        f'<iframe src="{url}" title="Subscribe to the weekly digest" style="{style}" '
        'loading="lazy"></iframe>'
    )


__all__ = [
    "FORM_TTL",
    "HONEYPOT",
    "PER_CLIENT",
    "RateLimit",
    "Request",
    "SubscribePages",
    "embed_snippet",
]
