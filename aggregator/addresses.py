"""Email addresses: the one parser and validator, for config, CLI, web forms and sending.

``Amina <amina@example.org>`` and ``amina@example.org`` name the same mailbox; both are accepted
wherever an address is. What is accepted is what the sender can put on the wire: the email
package's own header parser reads the value (so a name, quotes and comments work as in a To:
header), the domain is turned into ASCII (IDNA), and a local part that is not ASCII is refused,
because sending it would need SMTPUTF8 (the mailer writes 7-bit messages). ``check``, the
subscriber commands, the subscribe form and the digest all call ``parse``, so a value one of
them accepts cannot fail at send time for being malformed.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address

#: The longest address SMTP carries (RFC 5321: a 256-octet path, minus the brackets).
MAX_ADDRESS = 254
MAX_INPUT = 1000
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class InvalidAddress(ValueError):
    """``str(exc)`` says why, in words an operator or a subscriber can act on."""


@dataclass(frozen=True)
class Mailbox:
    """A parsed address: ``address`` is what goes in the SMTP envelope, ``key`` how two
    addresses are compared (lower case), ``name`` the display name (may be empty)."""

    address: str
    name: str = ""

    @property
    def key(self) -> str:
        return self.address.lower()

    def __str__(self) -> str:
        return str(Address(display_name=self.name, addr_spec=self.address))


def parse(text: str) -> Mailbox:
    """The mailbox in ``text`` (``a@b.org`` or ``Name <a@b.org>``); raise InvalidAddress."""
    if not isinstance(text, str):
        raise InvalidAddress("not text")
    value = text.strip()
    if not value:
        raise InvalidAddress("empty address")
    if len(value) > MAX_INPUT or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InvalidAddress("contains control characters or is too long")
    try:
        header = email.policy.default.header_factory("To", value)
        found = list(header.addresses)
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidAddress(f"cannot read {value!r} as an address: {exc}") from exc
    if len(found) != 1:
        raise InvalidAddress("give one address" if found else "no address found")
    if header.defects:
        raise InvalidAddress(f"malformed: {header.defects[0]}")
    addr = found[0]
    local, domain = addr.username, addr.domain
    if not local or not domain:
        raise InvalidAddress("an address needs a local part, an @ and a domain")
    if not local.isascii():
        raise InvalidAddress("the part before @ must be ASCII (non-ASCII needs SMTPUTF8)")
    if not _LOCAL.fullmatch(local):
        raise InvalidAddress("unusual characters before @ (quoted local parts are not accepted)")
    domain = _ascii_domain(domain)
    address = f"{local}@{domain}"
    if len(address) > MAX_ADDRESS or len(local) > 64:
        raise InvalidAddress("address too long")
    name = " ".join(addr.display_name.split())
    try:
        Address(display_name=name, addr_spec=address)  # what digest.compose will build
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidAddress(str(exc)) from exc
    return Mailbox(address, name)


def _ascii_domain(domain: str) -> str:
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidAddress(f"domain {domain!r} is not a valid name") from exc
    labels = domain.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddress(f"domain {domain!r} is not a valid host name")
    return domain


def valid(text: str) -> Mailbox | None:
    """``parse(text)``, or None when it is not an address."""
    try:
        return parse(text)
    except InvalidAddress:
        return None


def problem(text: str) -> str | None:
    """Why ``text`` is not an address, or None when it is one."""
    try:
        parse(text)
    except InvalidAddress as exc:
        return str(exc)
    return None


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` without a second entry for the same address (case-insensitive), in order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        box = valid(value)
        key = box.key if box else value.strip().lower()
        if key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def placeholder_domain(address: str) -> bool:
    """An address or host of the documentation domains, or a local host: mail there never
    reaches anyone (RFC 2606/6761)."""
    host = address.rpartition("@")[2].lower().rstrip(".")
    reserved = ("example.org", "example.com", "example.net", "localhost", "invalid", "test")
    return any(host == r or host.endswith("." + r) for r in reserved)


__all__ = [
    "InvalidAddress",
    "Mailbox",
    "parse",
    "placeholder_domain",
    "problem",
    "unique",
    "valid",
]
