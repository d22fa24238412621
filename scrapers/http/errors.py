"""Failures of a request, said so a person can read them, with every URL in them redacted.

:class:`FetchError` is what every source raises for a request that gave no usable answer; its ``kind``
lets callers branch and its message is what ``check --explain`` and ``source_error`` events show.
:func:`redact_url` is the one rule for URLs in logs and messages (a Discord webhook URL is a secret).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import httpx

from scrapers.records import ParseError, UnsupportedWatch

FETCH_ERROR_KINDS = frozenset(
    {"timeout", "connect", "http_status", "rate_limited", "too_large", "content_type", "challenge", "invalid_url"}
)


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


#: a URL inside a sentence: punctuation that ends the sentence or clause (``…?limit=40: 127.0.0.1 is…``) is not
#: part of it, so redacting the URL keeps the words around it
URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+?(?=[.,:;!?)\]]*(?:[\s'\"<>]|$))")


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
        body: bytes = b"",
    ) -> None:
        if kind not in FETCH_ERROR_KINDS:
            raise ValueError(f"unknown FetchError kind {kind!r}; expected one of {sorted(FETCH_ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.url = redact_url(url) if url else ""
        self.status = status
        self.retry_after = retry_after
        #: the start of an error response's body (never part of the message): an API's own error code
        self.body = body

    def __str__(self) -> str:
        return self.message

    def hinted(self, hints: Mapping[int, str]) -> "FetchError":
        """This error with a site's own explanation of its HTTP status appended ("(this instance shows this
        timeline only to signed-in users)"), or itself when the site gives none for it."""
        hint = hints.get(self.status or 0) if self.kind == "http_status" else None
        if not hint:
            return self
        return FetchError(self.kind, f"{self.message} ({hint})", url=self.url, status=self.status)

    def __repr__(self) -> str:
        return f"FetchError(kind={self.kind!r}, status={self.status!r}, url={self.url!r}, message={self.message!r})"


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


def describe(exc: BaseException) -> str:
    """One line a person can read for any failure of a check; URLs in it are redacted."""
    if isinstance(exc, (FetchError, ParseError, UnsupportedWatch)):
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
    text = URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _request_site(exc: httpx.HTTPError) -> str:
    try:
        return site_name(str(exc.request.url))
    except RuntimeError:  # an httpx error raised without a request attached
        return "the server"


def human_size(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} kB"
    return f"{int(n)} bytes"


def times_word(n: int) -> str:
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


def status_message(status: int, site: str) -> str:
    words = _STATUS_WORDS.get(status) or (httpx.codes.get_reason_phrase(status) or "unexpected answer").lower()
    return f"{words} (HTTP {status}) from {site}"
