"""The one HTTP fetcher every source goes through.

Why one: politeness (per-host spacing, a global cap on requests in flight), the size cap, retries
and the rules about secrets in logs only hold if no source opens its own client. Sources call
:meth:`Fetcher.get` / :meth:`Fetcher.post_json` and get back a :class:`Response` whose body is
already fully read (and bounded), or a :class:`FetchError` whose ``kind`` says what went wrong and
whose message a person can read.

What it does on every request:

* streams the body and refuses it as soon as it passes ``max_bytes`` (never buffers a huge body);
* retries 429, 5xx, connect errors and timeouts with exponential backoff, honouring ``Retry-After``;
* treats 304 as an answer (conditional GET with the server's own ETag / Last-Modified);
* recognises Cloudflare challenge pages and HTML where JSON/XML was expected, instead of handing
  them to a parser that would fail with a confusing message;
* keeps the ``httpx`` logger quiet (it logs full URLs at INFO, and a Discord webhook URL is a
  secret) and logs only :func:`redact_url` forms itself.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import json as _json
import logging
import math
import random
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from scrapers.json_body import loads_json
from scrapers.records import ParseError

# httpx logs "HTTP Request: GET <full URL>" at INFO; a webhook URL carries its token in the path.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

log = logging.getLogger("trialwatch.http")

__all__ = [
    "FETCH_ERROR_KINDS",
    "FetchError",
    "FetchStats",
    "Fetcher",
    "HttpSettings",
    "Response",
    "describe",
    "parse_retry_after",
    "redact_url",
    "site_name",
]

FETCH_ERROR_KINDS = frozenset(
    {"timeout", "connect", "http_status", "rate_limited", "too_large", "content_type", "challenge", "invalid_url"}
)

#: ``expect`` → the Accept header we send.
_ACCEPT = {
    "json": "application/json",
    "html": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "xml": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5",
    "any": "*/*",
}

#: Error bodies are only read to recognise challenge pages; no need to hold more than this.
_ERROR_BODY_LIMIT = 128 * 1024
#: How far into a body the sniffers look.
_SNIFF_BYTES = 128 * 1024
#: A whole attempt (connect + headers + body) may take at most this many ``timeout_s``: httpx's
#: timeouts are per read, so a server trickling one byte at a time would otherwise never time out.
_TOTAL_TIMEOUT_FACTOR = 3
#: Path segments longer than this are treated as tokens by :func:`redact_url`.
_MAX_SEGMENT = 30

_SITE_NAMES = {
    "clinicaltrials.gov": "ClinicalTrials.gov",
    "euclinicaltrials.eu": "CTIS (euclinicaltrials.eu)",
    "www.ebi.ac.uk": "Europe PMC",
    "eutils.ncbi.nlm.nih.gov": "PubMed",
    "www.isrctn.com": "ISRCTN",
    "api.crossref.org": "Crossref",
    "discord.com": "Discord",
}

_CHALLENGE_MARKERS = (b"just a moment...", b"challenge-platform", b"attention required! | cloudflare")
_XML_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf:rdf")
_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")


# --------------------------------------------------------------------------------------------
# settings, errors, responses


@dataclass
class HttpSettings:
    """The ``[http]`` table of the config, plus retry knobs with defaults that suit daily polling."""

    user_agent: str = "trialwatch/0.1 (+https://example.org/contact)"
    timeout_s: float = 20.0
    max_bytes: int = 10_000_000
    per_host_rps: float = 1.0  # 0 disables politeness
    max_concurrency: int = 8  # cap on requests in flight across all hosts
    max_retries: int = 3  # retries after the first attempt, for 429 / 5xx / connect errors / timeouts
    backoff_s: float = 1.0  # base of exponential backoff (backoff_s * 2**attempt, with small jitter)
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited for: kind "rate_limited"


class FetchError(Exception):
    """A request that produced no usable response.

    ``kind`` is one of :data:`FETCH_ERROR_KINDS` so callers can branch (e.g. back off longer on
    ``rate_limited``/``challenge``); ``message`` is the sentence shown to people and is what
    ``str(exc)`` returns. ``url`` is always stored redacted.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if kind not in FETCH_ERROR_KINDS:
            raise ValueError(f"unknown FetchError kind {kind!r}; expected one of {sorted(FETCH_ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.url = redact_url(url) if url else ""
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"FetchError(kind={self.kind!r}, status={self.status!r}, url={self.url!r}, message={self.message!r})"


@dataclass
class FetchStats:
    """Cumulative counters of one :class:`Fetcher` (for benchmarks and ``check --explain``)."""

    requests: int = 0  # attempts actually sent, retries included
    bytes: int = 0  # body bytes read (after content decoding)
    retries: int = 0


@dataclass
class Response:
    """A complete, size-bounded answer. A 304 is a Response too (``not_modified``, empty body)."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed_s: float
    attempts: int
    #: the validators the request sent; a 304 that omits them still reports them via validators()
    request_validators: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    def validators(self) -> dict[str, str]:
        """``{"etag", "last_modified"}`` (only the keys present) to store for the next conditional GET.

        On a 304 the server's new values win; a value it did not repeat is kept from the request,
        so callers can store this unconditionally.
        """
        out: dict[str, str] = {}
        if self.not_modified:
            out.update({k: v for k, v in self.request_validators.items() if k in ("etag", "last_modified") and v})
        if self.etag:
            out["etag"] = self.etag
        if self.last_modified:
            out["last_modified"] = self.last_modified
        return out

    def json(self) -> Any:
        """The body as JSON; a :class:`ParseError` saying where and how it broke otherwise."""
        return loads_json(self.body, where=f"the response from {redact_url(self.url)}")

    def text(self) -> str:
        """The body decoded with the declared charset, falling back to UTF-8 with replacement."""
        charset = _charset(self.headers)
        if charset:
            try:
                return self.body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                pass
        if self.body.startswith(codecs.BOM_UTF8):
            return self.body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
        return self.body.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# pure helpers (exported: parsers and the pipeline use them too)


def redact_url(url: str) -> str:
    """A URL safe for logs: scheme, host and path kept; long (token-like) path segments and every
    query value replaced by ``***``; user info and fragment dropped. Never raises."""
    try:
        parts = urlsplit(str(url))
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<unparseable URL>"
    path = "/".join("***" if len(seg) > _MAX_SEGMENT else seg for seg in parts.path.split("/"))
    query = "&".join(
        f"{'***' if len(k) > _MAX_SEGMENT else k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True)
    )
    out = f"{parts.scheme}://{netloc}{path}" if parts.scheme or netloc else path
    return f"{out}?{query}" if query else out


def site_name(url: str) -> str:
    """The name a person knows a host by ("ClinicalTrials.gov"), else the host itself."""
    try:
        parts = urlsplit(str(url))
        host = (parts.hostname or "").lower()
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "the server"
    for known, name in _SITE_NAMES.items():
        if host == known or host.endswith("." + known):
            return name
    return netloc or "the server"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if absent or
    unreadable. A date in the past means 0."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def describe(exc: BaseException) -> str:
    """One line a person can read for any failure of a check; URLs in it are redacted."""
    if isinstance(exc, (FetchError, ParseError)):
        text = str(exc)
    elif isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        text = f"{site_name(str(exc.request.url))} answered HTTP {resp.status_code} {resp.reason_phrase}"
    elif isinstance(exc, httpx.TimeoutException):
        text = f"timed out talking to {_request_site(exc)}"
    elif isinstance(exc, httpx.HTTPError):
        detail = str(exc) or type(exc).__name__
        text = f"network error talking to {_request_site(exc)}: {detail}"
    elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        text = "timed out"
    else:
        detail = str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _request_site(exc: httpx.HTTPError) -> str:
    try:
        return site_name(str(exc.request.url))
    except RuntimeError:  # an httpx error raised without a request attached
        return "the server"


def _media_type(headers: httpx.Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _charset(headers: httpx.Headers) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", headers.get("content-type", ""), re.IGNORECASE)
    return match.group(1) if match else None


def _head(body: bytes) -> bytes:
    """The start of a body, lower-cased, without BOM or leading whitespace, for sniffing."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    return body[:_SNIFF_BYTES].lstrip().lower()


def _is_html(media: str, head: bytes) -> bool:
    if head.startswith(_XML_STARTS):
        return False
    return "html" in media or head.startswith((b"<!doctype html", b"<html"))


def _is_challenge(status: int, headers: httpx.Headers, body: bytes, expect: str) -> bool:
    """Cloudflare's "Just a moment..." / "Attention Required!" pages, which must not be parsed or
    retried. On a 200 HTML page we want, only the challenge script *and* title count, so a forum
    post quoting "Just a moment..." is not mistaken for one."""
    if headers.get("cf-mitigated", "").strip().lower() == "challenge":
        return True
    head = _head(body)
    if status in (403, 429, 503):
        return any(marker in head for marker in _CHALLENGE_MARKERS)
    if 200 <= status < 300:
        if expect == "html":
            return b"/cdn-cgi/challenge-platform/" in head and b"<title>just a moment" in head
        return _is_html(_media_type(headers), head) and any(marker in head for marker in _CHALLENGE_MARKERS)
    return False


def _content_problem(expect: str, headers: httpx.Headers, body: bytes) -> str | None:
    """Why a 2xx body is not what ``expect`` asked for, or None when it is acceptable."""
    media = _media_type(headers)
    shown = media or "no Content-Type"
    head = _head(body)
    if expect == "json":
        if "html" in media or head.startswith(b"<"):
            what = "XML" if head.startswith(_XML_STARTS) or "xml" in media else "an HTML page"
            return f"got {what} where JSON was expected ({shown})"
        return None
    if expect == "xml":
        if head.startswith(_XML_STARTS) or not head:
            return None
        if head.startswith(b"<") and any(t in media for t in ("xml", "rss", "atom")):
            return None
        if _is_html(media, head):
            return f"got an HTML page where an XML/RSS/Atom feed was expected ({shown})"
        if "json" in media or head.startswith((b"{", b"[")):
            return f"got JSON where an XML/RSS/Atom feed was expected ({shown})"
        if head.startswith(b"<") and not media:
            return None
        return f"got {shown} where an XML/RSS/Atom feed was expected"
    if expect == "html":
        if media in ("text/html", "application/xhtml+xml") or (not media and head.startswith(b"<")):
            return None
        what = "JSON" if "json" in media else shown
        return f"got {what} where an HTML page was expected ({shown})"
    return None


def _size(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} kB"
    return f"{int(n)} bytes"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


_STATUS_WORDS = {
    400: "the server rejected the request as malformed",
    401: "authentication required",
    403: "access forbidden",
    404: "not found",
    405: "method not allowed",
    410: "gone (the resource was removed)",
    414: "the URL is too long for the server",
}


def _status_message(status: int, site: str) -> str:
    words = _STATUS_WORDS.get(status) or (httpx.codes.get_reason_phrase(status) or "unexpected answer").lower()
    return f"{words} (HTTP {status}) from {site}"


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


UrlGuard = Callable[[str], Awaitable[None]]
_GUARD = "trialwatch_url_guard"  # request extension: httpx carries extensions over to redirect hops


async def _check_guard(request: httpx.Request) -> None:
    """httpx request hook: run the request's URL guard, if any, on every hop before it is sent."""
    guard = request.extensions.get(_GUARD)
    if guard is not None:
        await guard(str(request.url))


class GuardedFetcher:
    """The shared :class:`Fetcher` with a URL guard on every request and redirect hop.

    For watches added from Discord: their URLs (and wherever those redirect) may not reach private
    addresses. Sources use it exactly like a Fetcher.
    """

    def __init__(self, fetcher: "Fetcher", guard: UrlGuard) -> None:
        self._fetcher = fetcher
        self._guard = guard
        self.settings = fetcher.settings
        self.stats = fetcher.stats

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self._fetcher.request("GET", url, url_guard=self._guard, **kwargs)

    async def post_json(self, url: str, body: Any, **kwargs: Any) -> Response:
        return await self._fetcher.request("POST", url, json=body, url_guard=self._guard, **kwargs)

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        return await self._fetcher.request(method, url, url_guard=self._guard, **kwargs)


class Fetcher:
    """One shared ``httpx.AsyncClient`` with politeness, size cap, retries and conditional GET.

    Use it as ``async with Fetcher(settings) as fetcher:``; pass ``transport=`` to run it against
    a stand-in. ``post_json`` is retried like GET: it is meant for read-only query endpoints
    (CTIS search), not for actions that must not happen twice.
    """

    def __init__(self, settings: HttpSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings or HttpSettings()
        self.stats = FetchStats()
        self._client = httpx.AsyncClient(
            follow_redirects=True,
            event_hooks={"request": [_check_guard]},
            timeout=httpx.Timeout(self.settings.timeout_s),
            headers={"User-Agent": self.settings.user_agent},
            transport=transport or _LazyTransport(),
        )
        self._semaphore = asyncio.Semaphore(max(1, self.settings.max_concurrency))
        self._gates: dict[str, _HostGate] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

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
        self, url: str, body: Any, *, expect: str = "json", headers: Mapping[str, str] | None = None
    ) -> Response:
        return await self.request("POST", url, json=body, expect=expect, headers=headers)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        validators: Mapping[str, str] | None = None,
        expect: str = "json",
        headers: Mapping[str, str] | None = None,
        url_guard: UrlGuard | None = None,
    ) -> Response:
        """Send one logical request (retrying as configured) and return the complete response.

        ``url_guard`` is awaited with every URL the request reaches, redirect hops included, before
        it is sent; it raises :class:`FetchError` to refuse one (see :class:`GuardedFetcher`).
        """
        if expect not in _ACCEPT:
            raise ValueError(f"expect must be one of {sorted(_ACCEPT)}, not {expect!r}")
        host = _host_of(url)
        safe = redact_url(url)
        send_headers, sent_validators = _request_headers(expect, validators, headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = await self._attempt(method, url, host, params=params, json=json, headers=send_headers,
                                          guard=url_guard)
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
            if retryable and not _is_challenge(raw.status, raw.headers, raw.body, expect):
                delay = self._retry_delay(raw, url, attempt)  # raises when we should stop
                why = f"{method} {safe}: {raw.status} {httpx.codes.get_reason_phrase(raw.status)}"
                await self._pause(delay, why, attempt)
                continue
            return self._final(raw, url, expect, attempt, sent_validators)

    def _retry_delay(self, raw: _Raw, url: str, attempt: int) -> float:
        """How long to wait before repeating a 429/5xx, or the FetchError that ends the request."""
        status, site = raw.status, site_name(url)
        reason = httpx.codes.get_reason_phrase(status)
        retry_after = parse_retry_after(raw.headers.get("retry-after"))
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
                f"{site} answered {status} {reason} {_times(attempt)} ({gave_up})",
                url=url,
                status=status,
                retry_after=retry_after,
            )
        return retry_after if retry_after is not None else self._backoff(attempt)

    @staticmethod
    def _final(raw: _Raw, url: str, expect: str, attempt: int, sent_validators: dict[str, str]) -> Response:
        """A non-retried answer: the Response (2xx, 304) or the FetchError that explains it."""
        status, site = raw.status, site_name(url)
        if _is_challenge(status, raw.headers, raw.body, expect):
            message = f"blocked by a Cloudflare challenge page (HTTP {status}) at {site}"
            raise FetchError("challenge", message, url=url, status=status)
        if status == 304:
            return Response(raw.url, status, raw.headers, b"", raw.elapsed_s, attempt, dict(sent_validators))
        if 200 <= status < 300:
            problem = _content_problem(expect, raw.headers, raw.body)
            if problem:
                raise FetchError("content_type", problem, url=url, status=status)
            return Response(raw.url, status, raw.headers, raw.body, raw.elapsed_s, attempt, dict(sent_validators))
        if 300 <= status < 400:
            message = f"{site} redirected (HTTP {status}) without a usable Location"
            raise FetchError("http_status", message, url=url, status=status)
        raise FetchError("http_status", _status_message(status, site), url=url, status=status)

    # -- one attempt ----------------------------------------------------------------------------

    async def _attempt(
        self, method: str, url: str, host: str, *, params: Any, json: Any, headers: dict[str, str],
        guard: UrlGuard | None = None,
    ) -> _Raw:
        """Wait for our turn at the host, send, and read the (bounded) body."""
        timeout_s = self.settings.timeout_s
        async with self._slot(host):
            started = time.monotonic()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(timeout_s * _TOTAL_TIMEOUT_FACTOR):
                    async with self._client.stream(method, url, params=params, json=json, headers=headers,
                                                   extensions={_GUARD: guard} if guard else None) as resp:
                        body = await self._read_body(resp, url)
                        return _Raw(str(resp.url), resp.status_code, resp.headers, body, time.monotonic() - started)
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
        """Read at most ``max_bytes`` of a wanted body (refusing beyond), or a sniffable prefix of
        an error body; never the whole of an oversized one."""
        wanted = 200 <= resp.status_code < 300
        limit = self.settings.max_bytes
        if wanted:
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(
                    "too_large",
                    f"response is larger than the {_size(limit)} limit "
                    f"(Content-Length says {_size(int(declared))}; refused before reading)",
                    url=url,
                    status=resp.status_code,
                )
        else:
            limit = min(limit, _ERROR_BODY_LIMIT)
        chunks: list[bytes] = []
        count = 0
        async for chunk in resp.aiter_bytes():
            count += len(chunk)
            self.stats.bytes += len(chunk)
            if count > limit:
                if not wanted:  # an error page: its start is all we need
                    chunks.append(chunk[: len(chunk) - (count - limit)])
                    break
                raise FetchError(
                    "too_large",
                    f"response is larger than the {_size(limit)} limit (refused while streaming)",
                    url=url,
                    status=resp.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """Per-host spacing, then a global slot. The host lock is held while waiting for the
        global slot, so the start time recorded is the real one and a host's queued requests
        never occupy global slots while they sleep."""
        rps = self.settings.per_host_rps
        loop = asyncio.get_running_loop()
        if rps > 0:
            gate = self._gates.setdefault(host, _HostGate())
            async with gate.lock:
                delay = gate.last_start + 1.0 / rps - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._semaphore.acquire()
                gate.last_start = loop.time()
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
            await asyncio.sleep(delay)

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
