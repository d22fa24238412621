"""Which network addresses a guarded request may reach, and how a host name becomes addresses.

These rules live here, under the one HTTP client, because they have to be applied at two moments: when
a URL is added from Discord (:mod:`bot.engine.urlsafety` reads the URL as written) and when a guarded
request actually connects (:mod:`scrapers.http.pinning` vets the addresses it is about to use, so a
name that resolves differently the second time — DNS rebinding — cannot slip through). Both must use
exactly the same rules, and the lower layer (``scrapers``) may not import the upper one (``bot``).

Everything here is pure except :func:`system_resolver`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> addresses``: the one lookup a guarded request makes (injectable, for tests).
Resolver = Callable[[str, int], Awaitable[list[str]]]
#: ``address -> why it may not be reached`` (None: it may).
AddressPolicy = Callable[[IPAddress], str | None]

_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
#: NAT64 (RFC 6052 well-known and local-use prefixes): the last 32 bits are an IPv4 address the
#: translator will connect to, so 64:ff9b::7f00:1 is 127.0.0.1 in disguise.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
#: IPv6 site-local (RFC 3879 deprecated it, but stacks still route it inside a site) — Python's
#: ``ipaddress`` neither calls it private nor non-global, so it has to be named.
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host string *means* to ``inet_aton`` (and thus to most HTTP clients).

    Accepts 1 to 4 dot-separated parts, each decimal, octal (leading 0) or hex (``0x``); the last
    part fills the remaining bytes: ``127.1`` → 127.0.0.1, ``2130706433`` → 127.0.0.1,
    ``0177.0.0.1`` → 127.0.0.1, ``0x7f.1`` → 127.0.0.1. Returns None for anything else (a name).
    """
    text = host.strip().rstrip(".")
    parts = text.split(".")
    if not text or len(parts) > 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for p in parts:
        if p[:2].lower() == "0x":
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            if any(c in "89" for c in p):
                return None  # not valid octal: inet_aton refuses it, so it is a (strange) name
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP address written as a host (IPv6 with or without brackets, any IPv4 spelling), else None."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])  # a zone id (fe80::1%eth0) is link-local anyway
        except ValueError:
            return None
    return parse_ipv4_literal(text)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped ``::ffff:a.b.c.d``, 6to4, Teredo client,
    NAT64), if any: the packet ends up there, so that is the address to judge."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            if reason:
                return f"{reason} (inside the IPv6 address {ip})"
        if ip in _SITE_LOCAL:
            return f"{ip} is a site-local (private) address"
    for attribute, label in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attribute):
            return f"{ip} is a {label} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def host_name_problem(host: str) -> str | None:
    """Why ``host`` cannot be a DNS name (None when it can): an empty or over-long label, or a name
    over 253 characters. Checked before any lookup, because the IDNA codec that ``getaddrinfo``
    applies raises ``UnicodeError`` on them instead of a resolver error."""
    name = host.rstrip(".")
    if len(name) > 253:
        return "the host name is longer than 253 characters"
    for label in name.split("."):
        if not label:
            return "the host name has an empty label"
        if len(label) > 63:
            return f"the host name has a label longer than 63 characters ({len(label)})"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6), in the order given.

    Raises ``OSError`` (``socket.gaierror``) when the name does not resolve and ``ValueError``
    when it cannot be a name at all (see :func:`host_name_problem`).
    """
    problem = host_name_problem(host)
    if problem:
        raise ValueError(problem)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # the IDNA codec refused the name (it is not a resolver error)
        raise ValueError(f"the host name is not valid ({exc})") from None
    out: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    return out
