"""DKIM signatures (RFC 6376, dkimpy) on the digest's messages, for relays that do not sign.

RFC 8058 asks that the signature cover List-Unsubscribe and List-Unsubscribe-Post, so a receiver
can trust the one-click link; ``h=`` lists those, the headers a reader sees (From, To, Subject,
Date, Message-ID), List-Id and the MIME structure. Each of them is named twice in ``h=``
("oversigning"): an instance added on the way breaks the signature instead of slipping in.
Canonicalisation is relaxed/relaxed, which survives the header refolding and whitespace changes
of relays. The key is read once per file (and again when the file changes).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from ..settings import DkimSettings, Settings

#: The headers ``h=`` covers when present, in this order (each named twice: oversigned).
SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
)  # fmt: skip
_SELECTOR = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*")
_DOMAIN = re.compile(r"((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+[A-Za-z][A-Za-z0-9-]{0,62}(?<!-)")


class DkimError(ValueError):
    """The key or the message cannot be signed; ``str(exc)`` says why."""


def selector_problem(selector: str) -> str | None:
    """Why ``selector`` cannot be a DKIM selector (DNS labels), or None."""
    return (
        None
        if _SELECTOR.fullmatch(selector)
        else f"{selector!r} is not a DKIM selector (DNS labels)"
    )


def domain_problem(domain: str) -> str | None:
    """Why ``domain`` cannot be a signing domain (d=), or None."""
    if not domain.isascii():
        return f"{domain!r}: write the domain in ASCII (its xn-- form)"
    return None if _DOMAIN.fullmatch(domain) else f"{domain!r} is not a domain name"


def key_problem(path: Path) -> str | None:
    """Why ``path`` is no usable private key (unreadable, not PEM, not a private key), or None."""
    try:
        _key(Path(path), Path(path).stat().st_mtime_ns)
    except DkimError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


@functools.lru_cache(maxsize=4)
def _key(path: Path, mtime: int) -> tuple[bytes, bytes]:
    """(PEM bytes, algorithm) of the key file; ``mtime`` makes a changed file read again."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DkimError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"PRIVATE KEY-----" not in data:
        raise DkimError(f"{path}: not a PEM private key (-----BEGIN PRIVATE KEY-----)")
    if b"BEGIN ENCRYPTED PRIVATE KEY" in data:
        raise DkimError(f"{path}: an encrypted key; DKIM signing needs it without a passphrase")
    try:
        parse_pem_private_key(data)
    except UnparsableKeyError as exc:
        raise DkimError(f"{path}: not an RSA private key dkimpy can read ({exc})") from exc
    return data, b"rsa-sha256"


def sign(message: bytes, settings: DkimSettings | Settings) -> bytes:
    """``message`` (CRLF bytes, as the mailer sends them) with a DKIM-Signature header in front,
    or unchanged when DKIM is not configured. Raise DkimError when it cannot be signed."""
    d = settings.digest.dkim if isinstance(settings, Settings) else settings
    if not d.enabled:
        return message
    assert d.key_file is not None  # enabled
    try:
        pem, algorithm = _key(d.key_file, d.key_file.stat().st_mtime_ns)
    except OSError as exc:
        raise DkimError(f"cannot read {d.key_file}: {exc.strerror or exc}") from exc
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    present = [h.encode() for h in SIGNED_HEADERS
               if head.startswith(h.lower().encode() + b":")
               or b"\r\n" + h.lower().encode() + b":" in head]  # fmt: skip
    if b"From" not in present:
        raise DkimError("the message has no From header to sign")
    try:
        signature = dkim.sign(
            message, d.selector.encode("ascii"), d.domain.encode("ascii"), pem,
            canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm,
            include_headers=present + present, linesep=b"\r\n",
        )  # fmt: skip
    except dkim.DKIMException as exc:
        raise DkimError(f"DKIM signing failed: {exc}") from exc
    return signature + message


__all__ = ["SIGNED_HEADERS", "DkimError", "domain_problem", "key_problem", "selector_problem",
           "sign"]  # fmt: skip
