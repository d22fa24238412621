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

What this cannot stop on its own is a name that resolves differently later (DNS rebinding) or a public
URL that redirects to a private one. The fetcher closes both: a guarded request
(:class:`~scrapers.http.fetcher.GuardedFetcher`) resolves every hop once, vets every address with the
same rules (:mod:`scrapers.http.addresses`) and connects only to a vetted address
(:mod:`scrapers.http.pinning`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

# The address rules are shared with the fetcher, which applies them again at connect time (the
# fetcher is in the lower layer, so they live there); re-exported here under their old names.
from scrapers.http.addresses import (
    IPAddress,
    Resolver,
    embedded_ipv4,
    forbidden_reason,
    host_name_problem,
    parse_ip_literal,
    parse_ipv4_literal,
)
from scrapers.http.addresses import system_resolver as _lookup

__all__ = [
    "ALLOWED_SCHEMES", "IPAddress", "Resolver", "UnsafeURL", "check_addresses", "check_url", "embedded_ipv4",
    "forbidden_reason", "literal_verdict", "parse_ip_literal", "parse_ipv4_literal", "split_url", "system_resolver",
]

ALLOWED_SCHEMES = ("http", "https")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class UnsafeURL(ValueError):
    """The URL may not be fetched on a Discord user's behalf; the message says why, for that user."""


# --------------------------------------------------------------------------------- pure helpers


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
    if parse_ip_literal(host) is None:
        problem = host_name_problem(host)
        if problem:
            raise UnsafeURL(f"not a valid URL: {problem}")
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
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6); :class:`UnsafeURL`
    when it gives none or the name cannot be looked up at all (never a ``UnicodeError``)."""
    try:
        return sorted(await _lookup(host, port))
    except socket.gaierror as exc:
        raise UnsafeURL(f"{host} could not be resolved ({exc.strerror or exc})") from None
    except (OSError, ValueError) as exc:  # ValueError: over-long label, IDNA codec refusal
        raise UnsafeURL(f"{host} could not be resolved ({exc})") from None


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
