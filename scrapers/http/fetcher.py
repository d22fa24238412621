"""The one HTTP fetcher every source goes through (its errors: errors.py; responses and sniffing: content.py).

Why one: politeness (per-host spacing, a global cap on requests in flight), the size cap, retries
and the rules about secrets in logs only hold if no source opens its own client. Sources call
:meth:`Fetcher.get` / :meth:`Fetcher.post_json` and get back a :class:`Response` whose body is
already fully read (and bounded), or a :class:`FetchError` whose ``kind`` says what went wrong and
whose message a person can read.

What it does on every request:

* streams the body and refuses it as soon as its DECODED size passes ``max_bytes`` (never buffers a
  huge body, never inflates a compressed one past the cap: decoding.py, one content coding at most);
* lets at most ``per_host_concurrency`` requests per host wait for or hold a global slot, so one
  slow host cannot occupy every slot, and gives the requests of one watch's check a common deadline
  (``watch_deadline_s``, see :func:`check_deadline`);
* for guarded requests (watches added from Discord), resolves each hop once, vets every address and
  connects only to a vetted one (pinning.py), so DNS rebinding cannot reach an internal address;
* retries 429, 5xx, connect errors and timeouts with exponential backoff, honouring ``Retry-After``;
* treats 304 as an answer (conditional GET with the server's own ETag / Last-Modified);
* recognises Cloudflare challenge pages and HTML where JSON/XML was expected, instead of handing
  them to a parser that would fail with a confusing message;
* keeps the ``httpx`` logger quiet (it logs full URLs at INFO, and a Discord webhook URL is a
  secret) and logs only :func:`redact_url` forms itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from scrapers.http.addresses import (
    AddressPolicy,
    Resolver,
    forbidden_reason,
    system_resolver,
)
from scrapers.http.content import (
    Response,
    content_problem,
    is_challenge,
    parse_rate_limit_reset,
    parse_retry_after,
)
from scrapers.http.decoding import UnsupportedCoding, accept_encoding, decoder_for
from scrapers.http.settings import HttpSettings
from scrapers.http.errors import (
    FetchError,
    human_size,
    redact_url,
    site_name,
    status_message,
    times_word,
)
from scrapers.http.pinning import AddressRefused, Pin, PinnedTransport

# httpx logs "HTTP Request: GET <full URL>" at INFO; a webhook URL carries its token in the path.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

log = logging.getLogger("trialwatch.http")

T = TypeVar("T")

__all__ = ["FetchStats", "Fetcher", "GuardedFetcher", "HttpSettings", "check_deadline"]


#: ``expect`` → the Accept header we send.
_ACCEPT = {
    "json": "application/json",
    "html": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "xml": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5",
    "any": "*/*",
}

#: Error bodies are only read to recognise challenge pages; no need to hold more than this.
_ERROR_BODY_LIMIT = 128 * 1024
#: How much of an error body a FetchError keeps for the caller (an API's error code: XRPC's ``ExpiredToken``).
_ERROR_DETAIL_BYTES = 4096
#: A whole attempt (connect + headers + body) may take at most this many ``timeout_s``: httpx's
#: timeouts are per read, so a server trickling one byte at a time would otherwise never time out.
_TOTAL_TIMEOUT_FACTOR = 3
#: Decoding a compressed body is CPU work on the event loop: yield to other tasks after this much.
_DECODE_YIELD_BYTES = 1024 * 1024




# --------------------------------------------------------------------------------------------
# settings, errors, responses






@dataclass
class FetchStats:
    """Cumulative counters of one :class:`Fetcher` (for benchmarks and ``check --explain``)."""

    requests: int = 0  # attempts actually sent, retries included
    bytes: int = 0  # body bytes read (after content decoding)
    retries: int = 0




# --------------------------------------------------------------------------------------------
# pure helpers (exported: parsers and the pipeline use them too)
































# --------------------------------------------------------------------------------------------
# the fetcher


class _Retryable(Exception):
    """An attempt that failed in a way worth repeating (network error or timeout)."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


@dataclass
class _Raw:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed_s: float


class _LazyTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, built on the first request, and a TLS one only for the first https://.

    Why: a client's default transport loads the CA bundle when it is created (about 50 ms, a tenth
    of a whole quiet ``trialwatch check``), even for a run that only talks plain HTTP (a local
    stand-in) or never sends a request (every watch skipped). Certificates are verified exactly
    as before for every https:// request.
    """

    def __init__(self) -> None:
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.AsyncHTTPTransport()
            return await self._tls.handle_async_request(request)
        if self._plain is None:
            # no certificate is ever checked on plain http://; an empty context avoids loading the bundle
            self._plain = httpx.AsyncHTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        return await self._plain.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()


@dataclass
class _HostGate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = float("-inf")


class _PinnedRouter(httpx.AsyncBaseTransport):
    """The transport of guarded requests: one :class:`PinnedTransport` (and connection pool) per
    pinning rule and scheme, built on first use. The rule travels as a request extension, which
    httpx copies to every redirect hop, so each hop is resolved, vetted and pinned the same way."""

    def __init__(self) -> None:
        self._transports: dict[tuple[Pin, bool], PinnedTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pin = request.extensions.get(_PIN) or Pin()
        tls = request.url.scheme == "https"
        transport = self._transports.get((pin, tls))
        if transport is None:
            # certificates are verified exactly as for other requests (same defaults, SSL_CERT_FILE)
            context = httpx.create_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            transport = self._transports[(pin, tls)] = PinnedTransport(pin, context)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.aclose()


UrlGuard = Callable[[str], Awaitable[None]]
_GUARD = "trialwatch_url_guard"  # request extension: httpx carries extensions over to redirect hops
_PIN = "trialwatch_pin"  # request extension: how a guarded request resolves and which addresses it may reach

#: When the current watch check started (event-loop time), for ``watch_deadline_s``, and the task whose
#: first request started the clock (None: an explicit :func:`check_deadline`, valid in sub-tasks too).
#: A clock started implicitly by another task (an ancestor whose context was copied) does not count.
_CHECK_STARTED: contextvars.ContextVar[tuple[asyncio.Task[Any] | None, float] | None] = contextvars.ContextVar(
    "trialwatch_check_started", default=None)


@contextmanager
def check_deadline() -> Iterator[None]:
    """Start the deadline clock of one watch's check now (``[http] watch_deadline_s`` from here on).

    Without it, the clock starts at the first request made by the current asyncio task: the
    pipeline runs every watch's check in a task of its own (``check_all``'s gather, the service's one
    task per check), so that is one clock per watch check. Code that checks several watches one after
    the other in ONE task should wrap each check in this, or they share one clock.
    """
    loop = asyncio.get_running_loop()
    token = _CHECK_STARTED.set((None, loop.time()))
    try:
        yield
    finally:
        _CHECK_STARTED.reset(token)


async def _check_guard(request: httpx.Request) -> None:
    """httpx request hook: run the request's URL guard, if any, on every hop before it is sent."""
    guard = request.extensions.get(_GUARD)
    if guard is not None:
        await guard(str(request.url))


class GuardedFetcher:
    """The shared :class:`Fetcher` with a URL guard on every request and redirect hop, whose
    connections go only to vetted addresses.

    For watches added from Discord: their URLs (and wherever those redirect) may not reach private
    addresses. ``guard`` reads each hop's URL before it is sent (scheme, literal addresses, names);
    then the connection itself resolves the host ONCE with ``resolver``, refuses it if any address
    fails ``policy`` (default: public unicast only) and connects to a vetted address, keeping the
    host name for the Host header, SNI and certificate checks. Sources use it exactly like a Fetcher.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        guard: UrlGuard,
        *,
        resolver: Resolver = system_resolver,
        policy: AddressPolicy = forbidden_reason,
    ) -> None:
        self._fetcher = fetcher
        self._guard = guard
        self._pin = Pin(resolver, policy)
        self.settings = fetcher.settings
        self.stats = fetcher.stats
        self.shared, self.now, self.pause = fetcher.shared, fetcher.now, fetcher.pause

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self._fetcher.request("GET", url, url_guard=self._guard, pin=self._pin, **kwargs)

    async def post_json(self, url: str, body: Any, **kwargs: Any) -> Response:
        return await self._fetcher.request("POST", url, json=body, url_guard=self._guard, pin=self._pin, **kwargs)

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        return await self._fetcher.request(method, url, url_guard=self._guard, pin=self._pin, **kwargs)


class Fetcher:
    """One shared ``httpx.AsyncClient`` with politeness, size cap, retries and conditional GET.

    Use it as ``async with Fetcher(settings) as fetcher:``; pass ``transport=`` to run it against
    a stand-in. ``post_json`` is retried like GET: it is meant for read-only query endpoints
    (CTIS search), not for actions that must not happen twice.
    """

    def __init__(self, settings: HttpSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.settings = settings or HttpSettings()
        #: the politeness clock and its sleep, used for spacing and for retry waits (the event loop's by default;
        #: tests inject their own, so a spacing or a wait is checked exactly instead of on a busy machine's clock)
        self._now = clock or (lambda: asyncio.get_running_loop().time())
        self._sleep = sleep or asyncio.sleep
        self.stats = FetchStats()
        self._stand_in = transport
        self._client = self._make_client(transport or _LazyTransport())
        #: guarded requests: their own client, built on first use, which never uses proxies from the
        #: environment (a proxy would resolve the name itself, past the vetting)
        self._guarded: httpx.AsyncClient | None = None
        self._semaphore = asyncio.Semaphore(max(1, self.settings.max_concurrency))
        self._gates: dict[str, _HostGate] = {}
        self._host_caps: dict[str, asyncio.Semaphore] = {}
        self._shared: dict[Hashable, Any] = {}

    def _make_client(self, transport: httpx.AsyncBaseTransport, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=True,
            event_hooks={"request": [_check_guard]},
            timeout=httpx.Timeout(self.settings.timeout_s),
            # we decode bodies ourselves, with a limit (decoding.py): advertise only what that handles
            headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": accept_encoding()},
            transport=transport,
            **options,
        )

    def _client_for(self, guarded: bool) -> httpx.AsyncClient:
        if not guarded:
            return self._client
        if self._guarded is None:
            # a stand-in transport (tests) replaces the network, pinning included
            self._guarded = self._make_client(self._stand_in or _PinnedRouter(), trust_env=False)
        return self._guarded

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """State that outlives one source instance and is shared by every watch this fetcher serves (a site's
        request budget, an access token), made by ``make`` on first use. Sources are made per check; the
        fetcher lives as long as ``check`` or ``run``, so this is where such state lasts exactly that long."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def now(self) -> float:
        """The fetcher's clock (event-loop time unless a test injected one), for budgets kept by sources."""
        return self._now()

    async def pause(self, seconds: float) -> None:
        """Wait on the fetcher's clock (the injected sleep in tests: no real waiting)."""
        await self._sleep(seconds)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._guarded is not None:
            await self._guarded.aclose()

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        validators: Mapping[str, str] | None = None,
        expect: str = "json",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return await self.request("GET", url, params=params, validators=validators, expect=expect, headers=headers)

    async def post_json(
        self, url: str, body: Any, *, expect: str = "json", headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        return await self.request("POST", url, json=body, expect=expect, headers=headers,
                                  follow_redirects=follow_redirects)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        validators: Mapping[str, str] | None = None,
        expect: str = "json",
        headers: Mapping[str, str] | None = None,
        url_guard: UrlGuard | None = None,
        pin: Pin | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Send one logical request (retrying as configured) and return the complete response.

        ``follow_redirects=False`` is for requests whose body or headers must reach only the host asked (a
        login with a password): a redirect is then not followed but returned as it is (a 3xx Response with
        its ``Location``), for the caller to refuse in its own words.

        ``url_guard`` is awaited with every URL the request reaches, redirect hops included, before
        it is sent; it raises :class:`FetchError` to refuse one (see :class:`GuardedFetcher`). A
        guarded request also connects only to addresses vetted by ``pin`` (default: :class:`Pin`).
        Everything, retries and waits included, ends at the watch check's deadline.
        """
        if expect not in _ACCEPT:
            raise ValueError(f"expect must be one of {sorted(_ACCEPT)}, not {expect!r}")
        host = _host_of(url)
        if url_guard is not None and pin is None:
            pin = Pin()
        deadline = self._deadline()
        try:
            async with asyncio.timeout_at(deadline) as scope:
                return await self._request(method, url, host, params=params, json=json, data=data,
                                           validators=validators, expect=expect, headers=headers,
                                           url_guard=url_guard, pin=pin, follow_redirects=follow_redirects)
        except TimeoutError:
            if not scope.expired():
                raise
            limit = self.settings.watch_deadline_s
            raise FetchError(
                "timeout",
                f"gave up on {site_name(url)}: this watch's check passed its {limit:g} s deadline "
                "([check] watch_deadline_s)",
                url=url,
            ) from None

    def _deadline(self) -> float | None:
        """When the current watch check must be over (event-loop time), or None for no deadline.
        The clock starts with :func:`check_deadline` or, failing that, at the first request made in
        this task's context (each watch is checked in a task of its own)."""
        limit = self.settings.watch_deadline_s
        if not limit or limit <= 0:
            return None
        task = asyncio.current_task()
        clock = _CHECK_STARTED.get()
        if clock is None or (clock[0] is not None and clock[0] is not task):
            clock = (task, asyncio.get_running_loop().time())
            _CHECK_STARTED.set(clock)
        return clock[1] + limit

    async def _request(
        self, method: str, url: str, host: str, *, params: Mapping[str, str] | None, json: Any,
        data: Mapping[str, str] | None,
        validators: Mapping[str, str] | None, expect: str, headers: Mapping[str, str] | None,
        url_guard: UrlGuard | None, pin: Pin | None, follow_redirects: bool = True,
    ) -> Response:
        safe = redact_url(url)
        send_headers, sent_validators = _request_headers(expect, validators, headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = await self._attempt(method, url, host, params=params, json=json, data=data, headers=send_headers,
                                          guard=url_guard, pin=pin, follow_redirects=follow_redirects)
            except _Retryable as exc:
                if attempt > self.settings.max_retries:
                    raise self._gave_up(exc, url, attempt) from None
                await self._pause(self._backoff(attempt), f"{method} {safe}: {exc.why}", attempt)
                continue
            log.debug(
                "%s %s -> %s in %.2f s (%d bytes, attempt %d)",
                method, safe, raw.status, raw.elapsed_s, len(raw.body), attempt,
            )
            retryable = raw.status == 429 or raw.status >= 500
            if retryable and not is_challenge(raw.status, raw.headers, raw.body, expect):
                delay = self._retry_delay(raw, url, attempt)  # raises when we should stop
                why = f"{method} {safe}: {raw.status} {httpx.codes.get_reason_phrase(raw.status)}"
                await self._pause(delay, why, attempt)
                continue
            if not follow_redirects and 300 <= raw.status < 400 and raw.status != 304:
                return Response(raw.url, raw.status, raw.headers, raw.body, raw.elapsed_s, attempt)
            return self._final(raw, url, expect, attempt, sent_validators)

    def _retry_delay(self, raw: _Raw, url: str, attempt: int) -> float:
        """How long to wait before repeating a 429/5xx, or the FetchError that ends the request."""
        status, site = raw.status, site_name(url)
        reason = httpx.codes.get_reason_phrase(status)
        retry_after = parse_retry_after(raw.headers.get("retry-after"))
        if retry_after is None and status == 429:  # Mastodon and Bluesky say when their limit resets instead
            retry_after = parse_rate_limit_reset(raw.headers)
        limit = self.settings.max_retry_after_s
        if retry_after is not None and retry_after > limit:
            raise FetchError(
                "rate_limited",
                f"{site} answered {status} {reason} and asked us to wait {retry_after:g} s, "
                f"longer than the {limit:g} s we wait; try again later",
                url=url,
                status=status,
                retry_after=retry_after,
            )
        retries = self.settings.max_retries
        if attempt > retries:
            gave_up = f"gave up after {retries} retries" if retries else "retries are turned off"
            raise FetchError(
                "rate_limited" if status == 429 else "http_status",
                f"{site} answered {status} {reason} {times_word(attempt)} ({gave_up})",
                url=url,
                status=status,
                retry_after=retry_after,
            )
        return retry_after if retry_after is not None else self._backoff(attempt)

    @staticmethod
    def _final(raw: _Raw, url: str, expect: str, attempt: int, sent_validators: dict[str, str]) -> Response:
        """A non-retried answer: the Response (2xx, 304) or the FetchError that explains it."""
        status, site = raw.status, site_name(url)
        if is_challenge(status, raw.headers, raw.body, expect):
            message = f"blocked by a Cloudflare challenge page (HTTP {status}) at {site}"
            raise FetchError("challenge", message, url=url, status=status)
        if status == 304:
            return Response(raw.url, status, raw.headers, b"", raw.elapsed_s, attempt, dict(sent_validators))
        if 200 <= status < 300:
            problem = content_problem(expect, raw.headers, raw.body)
            if problem:
                raise FetchError("content_type", problem, url=url, status=status)
            return Response(raw.url, status, raw.headers, raw.body, raw.elapsed_s, attempt, dict(sent_validators))
        if 300 <= status < 400:
            message = f"{site} redirected (HTTP {status}) without a usable Location"
            raise FetchError("http_status", message, url=url, status=status)
        raise FetchError("http_status", status_message(status, site), url=url, status=status,
                         body=raw.body[:_ERROR_DETAIL_BYTES])

    # -- one attempt ----------------------------------------------------------------------------

    async def _attempt(
        self, method: str, url: str, host: str, *, params: Any, json: Any, headers: dict[str, str],
        data: Mapping[str, str] | None = None,
        guard: UrlGuard | None = None, pin: Pin | None = None, follow_redirects: bool = True,
    ) -> _Raw:
        """Wait for our turn at the host, send, and read the (bounded) body."""
        timeout_s = self.settings.timeout_s
        extensions: dict[str, Any] = {}
        if guard is not None:
            extensions[_GUARD] = guard
        if pin is not None:
            extensions[_PIN] = pin
        client = self._client_for(bool(extensions))
        async with self._slot(host):
            started = time.monotonic()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(timeout_s * _TOTAL_TIMEOUT_FACTOR):
                    async with client.stream(method, url, params=params, json=json, data=data, headers=headers,
                                             extensions=extensions or None, follow_redirects=follow_redirects) as resp:
                        body = await self._read_body(resp, url)
                        return _Raw(str(resp.url), resp.status_code, resp.headers, body, time.monotonic() - started)
            except AddressRefused as exc:
                # Says only that the address is not allowed: no address, no port, no connection
                # outcome (a Discord user must not learn which internal ports answer).
                log.info("guarded request to %s refused: %s", redact_url(url), exc)
                raise FetchError(
                    "invalid_url",
                    f"refused to fetch {redact_url(url)}: the address of {exc.host} is not allowed "
                    "(watches added from Discord may only reach public addresses)",
                    url=url,
                ) from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FetchError("invalid_url", f"cannot fetch {redact_url(url)}: {exc}", url=url) from None
            except httpx.TooManyRedirects:
                raise FetchError("http_status", f"{site_name(url)} redirected too many times", url=url) from None
            except httpx.DecodingError as exc:
                message = f"the response from {site_name(url)} could not be decoded: {exc}"
                raise FetchError("content_type", message, url=url) from None
            except httpx.TimeoutException:
                raise _Retryable("timeout", f"no answer within {timeout_s:g} s") from None
            except TimeoutError:
                raise _Retryable("timeout", f"no complete answer within {timeout_s * _TOTAL_TIMEOUT_FACTOR:g} s") from None
            except httpx.TransportError as exc:
                raise _Retryable("connect", _network_detail(exc)) from None

    async def _read_body(self, resp: httpx.Response, url: str) -> bytes:
        """Read at most ``max_bytes`` of a wanted body, DECODED (refusing beyond), or a sniffable
        prefix of an error body; never the whole of an oversized one.

        The raw bytes are decoded here, incrementally and with the limit applied to the output
        (decoding.py), not by httpx: its decoders inflate a whole network chunk at once, and apply
        any number of stacked codings, which is how a 2 kB body became 2 GB of memory.
        """
        wanted = 200 <= resp.status_code < 300
        limit = self.settings.max_bytes
        site = site_name(url)
        if wanted:
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(
                    "too_large",
                    f"response is larger than the {human_size(limit)} limit "
                    f"(Content-Length says {human_size(int(declared))}; refused before reading)",
                    url=url,
                    status=resp.status_code,
                )
        else:
            limit = min(limit, _ERROR_BODY_LIMIT)
        try:
            decoder = decoder_for(resp.headers.get("content-encoding"))
        except UnsupportedCoding as exc:
            if not wanted:
                return b""  # an error page we cannot read safely: its status says enough
            raise FetchError("content_type", f"refused the response from {site}: {exc}", url=url,
                             status=resp.status_code) from None
        chunks: list[bytes] = []
        count = 0
        since_yield = 0
        async for raw in resp.aiter_raw():
            try:
                pieces = decoder.pieces(raw) if decoder is not None else iter((raw,))
                for piece in pieces:
                    count += len(piece)
                    self.stats.bytes += len(piece)
                    if count > limit:
                        if not wanted:  # an error page: its start is all we need
                            chunks.append(piece[: len(piece) - (count - limit)])
                            return b"".join(chunks)
                        coded = f" (decoded from {resp.headers.get('content-encoding', '').strip()})" if decoder else ""
                        raise FetchError(
                            "too_large",
                            f"response is larger than the {human_size(limit)} limit{coded} (refused while streaming)",
                            url=url,
                            status=resp.status_code,
                        )
                    chunks.append(piece)
                    since_yield += len(piece)
                    if since_yield >= _DECODE_YIELD_BYTES:  # decoding is CPU work: let the other tasks run
                        since_yield = 0
                        await asyncio.sleep(0)
            except (zlib.error, ValueError) as exc:  # corrupt compressed data (decoding.py raises these)
                message = f"the response from {site} could not be decoded: {exc}"
                raise FetchError("content_type", message, url=url, status=resp.status_code) from None
        return b"".join(chunks)

    @asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """A place among the host's ``per_host_concurrency``, then per-host spacing, then a global
        slot. Requests beyond a host's cap wait without holding a global slot, so a host that answers
        slowly cannot take all of them. The host lock is held while waiting for the global slot, so
        the start time recorded is the real one and a host's queued requests never occupy global
        slots while they sleep."""
        cap = self.settings.per_host_concurrency
        if cap and cap > 0:
            host_cap = self._host_caps.setdefault(host, asyncio.Semaphore(cap))
            async with host_cap, self._global_slot(host):
                yield
        else:
            async with self._global_slot(host):
                yield

    @asynccontextmanager
    async def _global_slot(self, host: str) -> AsyncIterator[None]:
        rps = self.settings.per_host_rps
        if rps > 0:
            gate = self._gates.setdefault(host, _HostGate())
            async with gate.lock:
                delay = gate.last_start + 1.0 / rps - self._now()
                if delay > 0:
                    await self._sleep(delay)
                await self._semaphore.acquire()
                gate.last_start = self._now()
        else:
            await self._semaphore.acquire()
        try:
            yield
        finally:
            self._semaphore.release()

    # -- retry helpers --------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """``backoff_s * 2**(n-1)`` after the n-th failed attempt, plus up to 10 % jitter."""
        return self.settings.backoff_s * 2 ** (attempt - 1) * (1 + random.uniform(0, 0.1))

    async def _pause(self, delay: float, why: str, attempt: int) -> None:
        self.stats.retries += 1
        log.warning("%s; retry %d of %d in %.1f s", why, attempt, self.settings.max_retries, delay)
        if delay > 0:
            await self._sleep(delay)  # the injected sleep: a test checks a wait (Retry-After, a reset) exactly

    @staticmethod
    def _gave_up(exc: _Retryable, url: str, attempts: int) -> FetchError:
        site = site_name(url)
        tries = f"{attempts} attempts" if attempts > 1 else "1 attempt, retries are turned off"
        if exc.kind == "timeout":
            return FetchError("timeout", f"{site} did not answer in time: {exc.why} ({tries})", url=url)
        return FetchError("connect", f"could not reach {site}: {exc.why} ({tries})", url=url)


def _request_headers(
    expect: str, validators: Mapping[str, str] | None, extra: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Accept from ``expect``, conditional-GET headers from the server's own validators, then the
    caller's headers (which win). Also returns the validators actually sent."""
    headers = {"Accept": _ACCEPT[expect]}
    sent: dict[str, str] = {}
    for key, header in (("etag", "If-None-Match"), ("last_modified", "If-Modified-Since")):
        value = (validators or {}).get(key)
        if value:
            headers[header] = sent[key] = value
    headers.update(extra or {})
    return headers, sent


def _host_of(url: str) -> str:
    """The politeness key of a URL (its host name); an unusable URL is an ``invalid_url`` error."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        message = f"not a usable web address: {redact_url(str(url))!r} ({exc})"
        raise FetchError("invalid_url", message, url=str(url)) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(
            "invalid_url", f"not a web address: {redact_url(url)!r} (expected http:// or https://)", url=url
        )
    return parsed.host.lower()


def _network_detail(exc: httpx.TransportError) -> str:
    """Words for a network failure; httpx's own text is often just "All connection attempts failed"."""
    text = str(exc)
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # anyio hides the OS error a few causes deep
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"the host name could not be resolved ({cause.strerror or cause})"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection ({text or 'no details'})"
    return text or type(exc).__name__
