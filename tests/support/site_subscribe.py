"""``aggregator serve``'s dynamic routes on 127.0.0.1 over a real store, mail to an aiosmtpd
sink: the subscribe, confirm and preferences pages as a browser (or a robot) meets them."""

from __future__ import annotations

import dataclasses
import http.client
import re
import socket
import threading
from urllib.parse import urlencode

from aggregator.config import load
from aggregator.service.web import dynamic_routes, make_server
from aggregator.store import Store

from .corpus import write_config
from .smtpserver import Sink


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """``serve``'s routes on 127.0.0.1 over a store, mail to an aiosmtpd sink."""

    def __init__(self, tmp_path, sink: Sink, **digest: object):
        """``digest``: DigestSettings fields to change (welcome, locale, dkim...)."""
        self.port = _free_port()
        config = write_config(tmp_path, [("x", "http://127.0.0.1:9/feed.xml")],
                              "topics:\n  diplomacy:\n    en: [diplomacy]\n")  # fmt: skip
        s = load(config)
        digest = dataclasses.replace(
            s.digest, unsubscribe_url=f"http://127.0.0.1:{self.port}/unsubscribe",
            sender="Digest <digest@news.test>",
            smtp=dataclasses.replace(s.digest.smtp, host="127.0.0.1", port=sink.port,
                                     security="none"),
            **digest,  # type: ignore[arg-type]
        )  # fmt: skip
        self.settings = dataclasses.replace(s, digest=digest)
        self.store = Store(self.settings.database)
        self.server = make_server(s.output.dir, "127.0.0.1", self.port,
                                  dynamic_routes(self.settings, self.store))  # fmt: skip
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)  # fmt: skip
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.store.close()

    def request(self, method: str, path: str, body: dict | list | None = None, *,
                client: str = "127.0.0.1", headers: dict | None = None):  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                          source_address=(client, 0))  # fmt: skip
        data = urlencode(body, doseq=True).encode() if body is not None else None
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        out = resp.status, dict(resp.getheaders()), resp.read().decode("utf-8")
        conn.close()
        return out

    def form_token(self, client: str = "127.0.0.1") -> str:
        status, _, page = self.request("GET", "/subscribe", client=client)
        assert status == 200
        found = re.search(r'name="form_token" value="([^"]+)"', page)
        assert found
        return found.group(1)

    def join(self, email: str, *, client: str = "127.0.0.1", extra: dict | None = None,
             headers: dict | None = None):  # fmt: skip
        body = {"form_token": self.form_token(client), "email": email, "website": "",
                **(extra or {})}  # fmt: skip
        return self.request("POST", "/subscribe", body, client=client,
                            headers={"Origin": self.origin, **(headers or {})})  # fmt: skip


__all__ = ["Site"]
