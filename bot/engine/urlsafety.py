"""Is a URL someone typed into Discord safe for trialwatch to fetch?

A watch added from Discord makes the *server* fetch a URL chosen by a chat user. Without a check,
``http://169.254.169.254/`` (cloud metadata), ``http://127.0.0.1:8080/admin`` or a LAN router would
be fetched and their answers diffed into a channel (server-side request forgery). The contract says
such URLs are refused unless ``[security] allow_private_urls = true``; URLs in the config file are
trusted and never pass through here.

Two layers, both needed:

- the pure helpers read the URL as written: scheme (http/https only), a host that is an IP literal
  in *any* spelling the C resolver accepts (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
  ``127.1``, ``[::ffff:127.0.0.1]``), and names that are loopback by definition (``localhost``);
- :func:`check_url` then resolves the host name and refuses it when ANY address it resolves to is
  not public (an attacker's DNS may answer with both a public and a private address).

What this cannot stop is a name that resolves differently later (DNS rebinding) or a public URL that
redirects to a private one; the fetcher follows redirects, so those remain for a fetch-time check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = ("http", "https")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


class UnsafeURL(ValueError):
    """The URL may not be fetched on a Discord user's behalf; the message says why, for that user."""


# --------------------------------------------------------------------------------- pure helpers


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
    """The IPv4 address an IPv6 address carries (mapped ``::ffff:a.b.c.d``, 6to4, Teredo client), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            if reason:
                return f"{reason} (inside the IPv6 address {ip})"
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


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or :class:`UnsafeURL` saying what is wrong with it."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise UnsafeURL(f"only http:// and https:// URLs can be watched (got {shown})")
    host = parts.hostname or ""
    if not host:
        raise UnsafeURL("the URL has no host name")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with a user name or password cannot be watched")
    return scheme, host, port or (443 if scheme == "https" else 80)


def literal_verdict(url: str) -> tuple[str, int, IPAddress | None]:
    """Check what can be checked without DNS; returns (host, port, literal address or None)."""
    _, host, port = split_url(url)
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        raise UnsafeURL(f"{host} is this machine (loopback)")
    literal = parse_ip_literal(host)
    if literal is not None:
        reason = forbidden_reason(literal)
        if reason:
            raise UnsafeURL(f"{reason}; only public addresses can be watched from Discord")
    return host, port, literal


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuse when ANY resolved address is not public (or when there is none)."""
    seen = list(addresses)
    if not seen:
        raise UnsafeURL(f"{host} does not resolve to any address")
    for text in seen:
        ip = parse_ip_literal(text)
        if ip is None:
            raise UnsafeURL(f"{host} resolved to something that is not an IP address: {text!r}")
        reason = forbidden_reason(ip)
        if reason:
            raise UnsafeURL(f"{host} resolves to {reason}; only public addresses can be watched from Discord")


# ------------------------------------------------------------------------------- the resolving check


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURL(f"{host} could not be resolved ({exc.strerror or exc})") from None
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, allow_private: bool = False, resolver: Resolver = system_resolver) -> str:
    """Return ``url`` (stripped) when it may be watched from Discord, else raise :class:`UnsafeURL`.

    ``allow_private`` (``[security] allow_private_urls``) lifts the address rules; the scheme rule
    stays (the sources speak HTTP only).
    """
    if allow_private:
        split_url(url)
        return url.strip()
    host, port, literal = literal_verdict(url)
    if literal is None:
        check_addresses(host, await resolver(host, port))
    return url.strip()
