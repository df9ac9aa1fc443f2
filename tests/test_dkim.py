"""DKIM signing of the digest (digest.dkim): a real issue's message signed and verified by dkimpy
against a DNS-less key lookup, h= covering what RFC 8058 asks (and oversigned), tampering
detected, the signed bytes through the loopback SMTP server, and `check` on the settings."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aggregator.cli.main import main
from aggregator.digest.dkim import DkimError, key_problem, sign
from aggregator.mailer import SmtpMailer, prepare
from aggregator.service.sending import send_digest
from aggregator.settings import DkimSettings

from support.corpus import write_config
from support.digest import AFTER_W48, settings_for, week_store
from support.smtpserver import Sink

DOMAIN = "news.example.org"


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[Path, bytes]:
    """(private key file, the DNS TXT record of its public key)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _dns(record: bytes, selector: str = "news2026"):
    """A DNS-less lookup: only ``selector._domainkey.DOMAIN`` has a TXT record."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{selector}._domainkey.{DOMAIN}.".encode() else None

    return lookup


@pytest.fixture(scope="module")
def issue_message(tmp_path_factory) -> bytes:
    """The bytes of a real issue's message, as the mailer writes them (the outbox)."""
    tmp = tmp_path_factory.mktemp("issue")
    settings = settings_for(tmp, recipients=("ana@example.org",))
    with week_store(tmp) as store:
        report = send_digest(settings, store, now=AFTER_W48)
    assert report.sent == 1
    (eml,) = (tmp / "outbox").rglob("*.eml")
    return eml.read_bytes()


def _h(signed: bytes) -> list[str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    sig = re.search(r"DKIM-Signature:(.*?)\r\n(?![ \t])", header, re.S).group(1)
    h = re.search(r"\bh=([^;]*)", sig).group(1)
    return [x.strip() for x in re.sub(r"\s+", " ", h).split(":")]


def test_a_real_issue_is_signed_and_verifies(key, issue_message):
    path, record = key
    settings = DkimSettings(selector="news2026", domain=DOMAIN, key_file=path)
    signed = sign(issue_message, settings)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert signed.endswith(issue_message)
    assert dkim.verify(signed, dnsfunc=_dns(record))
    h = _h(signed)
    for name in ("from", "subject", "date", "message-id", "list-unsubscribe",
                 "list-unsubscribe-post", "list-id", "to"):  # fmt: skip
        assert h.count(name) == 2, name  # signed, and oversigned: no second one can be added
    prepare(signed)  # the mailer's checks accept the signed bytes


def test_tampering_with_the_signed_headers_or_body_fails(key, issue_message):
    path, record = key
    signed = sign(issue_message, DkimSettings("news2026", DOMAIN, path))
    dns = _dns(record)
    changed = re.sub(rb"List-Unsubscribe: <[^>]*>", b"List-Unsubscribe: <https://evil.test/u>",
                     signed, count=1)  # fmt: skip
    assert changed != signed and not dkim.verify(changed, dnsfunc=dns)
    head, body = signed.split(b"\r\n\r\n", 1)
    added = head + b"\r\nList-Unsubscribe: <https://evil.test/u>\r\n\r\n" + body
    assert not dkim.verify(added, dnsfunc=dns)
    assert not dkim.verify(head + b"\r\n\r\n" + body.replace(b"Rabat", b"Paris"), dnsfunc=dns)
    assert not dkim.verify(signed, dnsfunc=_dns(record, selector="other"))  # no key published


def test_signed_message_through_the_loopback_server_still_verifies(key, issue_message):
    path, record = key
    signed = sign(issue_message, DkimSettings("news2026", DOMAIN, path))
    with Sink() as sink:
        from aggregator.settings import SmtpSettings

        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=sink.port, security="none"))
        mailer.send(signed)
        mailer.close()
        (got,) = sink.messages
    assert dkim.verify(got.data, dnsfunc=_dns(record))


def test_unset_dkim_leaves_the_message_alone_and_bad_keys_are_refused(tmp_path, issue_message):
    assert sign(issue_message, DkimSettings()) is issue_message
    not_key = tmp_path / "cert.pem"
    not_key.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    assert "not a PEM private key" in key_problem(not_key)
    assert "not an RSA private key" in key_problem(junk)
    assert "cannot read" in key_problem(tmp_path / "missing.pem")
    with pytest.raises(DkimError):
        sign(issue_message, DkimSettings("news2026", DOMAIN, junk))


def _config(tmp_path: Path, dkim_yaml: str, sender: str = "digest@news.example.org") -> Path:
    config = write_config(tmp_path, [("Feed", "http://127.0.0.1:9/feed")])
    text = config.read_text().replace(
        "digest: {outbox: outbox,", f"digest: {{from: {sender}, dkim: {dkim_yaml}, outbox: outbox,"
    )
    config.write_text(text)
    return config


def test_check_validates_the_dkim_settings(key, tmp_path, capsys):
    path, _ = key
    good = f"{{selector: news2026, domain: {DOMAIN}, key_file: {path}}}"
    assert main(["--config", str(_config(tmp_path, good)), "check"]) == 0
    assert "digest.dkim" not in capsys.readouterr().err

    config = _config(tmp_path, good, sender="digest@lettre.ma")
    assert main(["--config", str(config), "check"]) == 0
    err = capsys.readouterr().err
    assert "digest.dkim.domain" in err and "does not match the From domain lettre.ma" in err

    config = _config(tmp_path, f"{{selector: news2026, domain: {DOMAIN}}}")
    assert main(["--config", str(config), "check"]) == 2
    assert "missing key_file" in capsys.readouterr().err

    (tmp_path / "cert.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    )
    bad = f"{{selector: 'bad selector', domain: 'not a domain', key_file: {tmp_path / 'cert.pem'}}}"
    assert main(["--config", str(_config(tmp_path, bad)), "check"]) == 2
    err = capsys.readouterr().err
    assert "is not a DKIM selector" in err and "is not a domain name" in err
    assert "not a PEM private key" in err and "config.yaml:" in err


def test_the_digest_sender_signs_each_message(key, tmp_path):
    """With digest.dkim set, what the SMTP server receives from send_digest verifies."""
    path, record = key
    with Sink() as sink:
        from aggregator.settings import SmtpSettings

        settings = settings_for(
            tmp_path, recipients=("ana@example.org", "ben@example.org"),
            smtp=SmtpSettings(host="127.0.0.1", port=sink.port, security="none"),
            dkim=DkimSettings(selector="news2026", domain=DOMAIN, key_file=path),
        )  # fmt: skip
        with week_store(tmp_path) as store:
            report = send_digest(settings, store, now=AFTER_W48)
        assert report.sent == 2, report.failures
        for got in sink.messages:
            assert got.data.startswith(b"DKIM-Signature:")
            assert dkim.verify(got.data, dnsfunc=_dns(record))
