"""Guarded requests connect only to addresses that were vetted, resolved once (no DNS rebinding).

Why: checking a URL's host and then handing the name to httpx means two lookups. A name whose DNS
answers a public address to the check and 127.0.0.1 to the connection (a short TTL is all it takes)
passes the check and reaches an internal service. Here the one lookup that matters is the one the
connection uses: :class:`PinnedBackend` (an ``httpcore`` network backend, the layer below the
connection pool) resolves the host with an injectable resolver, refuses the connection when ANY
address is not allowed, and opens the TCP connection to a vetted address itself.

httpcore still builds the ``Host`` header from the URL and passes the URL's host name as the TLS
server name (SNI) and for certificate verification; only the TCP destination is pinned. Every
redirect hop is a new request through the same transport, so it is resolved, vetted and pinned the
same way. (httpx 0.28 has no resolver hook; the ``sni_hostname`` request extension would only help
if the URL were rewritten to the IP, which breaks the connection pool's per-host keying.)
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore
import httpx

from scrapers.http.addresses import (
    AddressPolicy,
    Resolver,
    forbidden_reason,
    parse_ip_literal,
    system_resolver,
)

__all__ = ["AddressRefused", "Pin", "PinnedBackend", "PinnedTransport"]

#: httpx's defaults (``httpx._config.DEFAULT_LIMITS``), repeated because the pool is built here.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class AddressRefused(Exception):
    """A guarded request would have connected to an address that is not allowed.

    Deliberately not an ``OSError``/httpx error: it must never be retried or reported as a network
    failure (that would tell a Discord user which internal ports are open). ``reason`` is for logs;
    what people see says only that the address is not allowed.
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class Pin:
    """How a guarded request resolves names and which addresses it may reach.

    ``resolver`` is the one lookup per connection (default: the system resolver); ``policy`` says
    why an address is refused (default: anything not public unicast). Hashable, so one transport
    (and connection pool) serves every request with the same rules.
    """

    resolver: Resolver = field(default=system_resolver)
    policy: AddressPolicy = field(default=forbidden_reason)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """``connect_tcp`` that resolves once, vets every address, and connects to a vetted one."""

    def __init__(self, pin: Pin, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._pin = pin
        self._inner = inner or httpcore.AnyIOBackend()

    async def vetted_addresses(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses ``host`` resolves to (one lookup), or :class:`AddressRefused` if ANY is not
        allowed. A failed lookup is an ``httpcore.ConnectError`` (a network failure, retried)."""
        literal = parse_ip_literal(host)
        if literal is not None:
            answers: list[str] = [str(literal)]
        else:
            try:
                with anyio.fail_after(timeout):
                    answers = list(await self._pin.resolver(host, port))
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"looking up {host} took too long") from exc
            except OSError as exc:
                raise httpcore.ConnectError(f"{host} could not be resolved ({exc})") from exc
            except ValueError as exc:  # not a name that can be looked up (over-long label, IDNA)
                raise AddressRefused(host, str(exc)) from None
        if not answers:
            raise AddressRefused(host, "it resolves to no address")
        vetted: list[str] = []
        for text in answers:
            ip = parse_ip_literal(str(text))
            reason = f"{text!r} is not an IP address" if ip is None else self._pin.policy(ip)
            if reason:
                raise AddressRefused(host, reason)
            assert ip is not None
            if str(ip) not in vetted:
                vetted.append(str(ip))
        return vetted

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.vetted_addresses(host, port, timeout)
        last: Exception | None = None
        for address in addresses:  # the resolver's order; the next one only when a connect fails
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(path, "a Unix socket is not a public address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, errors) over a pool whose connections are
    opened by :class:`PinnedBackend`.

    httpx 0.28's ``AsyncHTTPTransport`` does not take a network backend, so the pool it built is
    replaced by one made with httpcore's public constructor (same settings, plus the backend); the
    transport only ever uses ``self._pool``. Proxies are not supported here on purpose: a proxy
    resolves names itself, which is exactly what pinning must prevent.
    """

    def __init__(self, pin: Pin, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=_LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=PinnedBackend(pin),
        )
