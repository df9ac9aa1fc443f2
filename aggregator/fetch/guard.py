"""The private-network guard: no download reaches loopback, private or other non-global addresses
unless ``fetch.allow_private`` allows them.

The check is on the addresses actually connected to: the resolver drops disallowed answers before
aiohttp connects (a DNS answer cannot change between check and connect), and IP literals, which
aiohttp connects to without asking the resolver, are checked before the request, on every hop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(cidrs: Iterable[str]) -> tuple[_Network, ...]:
    """``["127.0.0.0/8", "::1"]`` → networks (host bits tolerated; config validates strictly)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def is_public_address(address: str | _Address) -> bool:
    """False for loopback, private, link-local, multicast, unspecified, reserved and any other
    non-global address, looking through IPv4-mapped, NAT64 and 6to4 IPv6 addresses to the IPv4
    address inside."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d reaches a.b.c.d
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:  # DNS64 on an IPv6-only network: the IPv4 address inside decides
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def address_allowed(address: str, allow: Iterable[_Network] = ()) -> bool:
    """May we connect to ``address``? Public addresses yes; others only inside ``allow``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if is_public_address(ip):
        return True
    candidates: list[_Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in allow)


class _Refused(Exception):
    """A disallowed address (deliberately not an OSError: nothing in aiohttp wraps or retries
    it)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(address)


def _check_literal(host: str, allow: tuple[_Network, ...]) -> None:
    """aiohttp connects to an IP literal without asking the resolver: check it here."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not address_allowed(host, allow):
        raise _Refused(host)


def _allowed(
    answers: list[T], address: Callable[[T], str], allow: tuple[_Network, ...], host: str
) -> list[T]:
    """The resolver's answers we may connect to; none left: refused, naming the first."""
    kept = [a for a in answers if address_allowed(address(a), allow)]
    if not kept:
        raise _Refused(address(answers[0]) if answers else host)
    return kept


def _guarded_resolver(allow: tuple[_Network, ...]) -> aiohttp.abc.AbstractResolver:
    """The system resolver (getaddrinfo in a thread), minus the addresses we may not reach.
    aiohttp connects only to what the resolver returns: the check is on the real target."""
    import aiohttp
    from aiohttp.abc import AbstractResolver

    class GuardedResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = aiohttp.ThreadedResolver()

        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
            answers = await self._inner.resolve(host, port, family)  # type: ignore[arg-type]
            return _allowed(answers, lambda a: a["host"], allow, host)

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver()
