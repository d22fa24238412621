"""Responses and what their bodies turn out to be: a complete, bounded answer, its charset and validators,
and the sniffers that recognise a Cloudflare challenge or HTML where JSON or a feed was expected (so a
parser never fails on them with a confusing message)."""

from __future__ import annotations

import codecs
import email.utils
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from scrapers.http.errors import redact_url
from scrapers.json_body import loads_json

#: How far into a body the sniffers look.
_SNIFF_BYTES = 128 * 1024


_CHALLENGE_MARKERS = (b"just a moment...", b"challenge-platform", b"attention required! | cloudflare")


_XML_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf:rdf")


@dataclass
class Response:
    """A complete, size-bounded answer. A 304 is a Response too (``not_modified``, empty body), and so is a
    redirect a request asked not to follow (``follow_redirects=False``: its status and ``Location``)."""

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


#: rate-limit reset headers a 429 may carry instead of Retry-After: Bluesky's ``ratelimit-reset`` (Unix time),
#: Mastodon's ``X-RateLimit-Reset`` (an ISO 8601 time), others' delta-seconds in either name
_RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset")
#: a reset value at least this large is a Unix time, not a number of seconds to wait (2001-09-09)
_EPOCH_FLOOR = 1_000_000_000


def parse_rate_limit_reset(headers: httpx.Headers | dict[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds until a rate limit resets, from the headers services send with a 429 instead of ``Retry-After``:
    an ISO 8601 time (Mastodon: ``X-RateLimit-Reset: 2026-11-26T05:00:00.000000Z``), a Unix time (Bluesky:
    ``ratelimit-reset: 1795669200``) or delta-seconds. None if absent or unreadable; a time in the past means 0."""
    lowered = {k.lower(): v for k, v in headers.items()}
    now = now or datetime.now(timezone.utc)
    for name in _RESET_HEADERS:
        text = (lowered.get(name) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - now).total_seconds()
        else:
            if not math.isfinite(number):
                continue
            seconds = number - now.timestamp() if number >= _EPOCH_FLOOR else number
        return max(0.0, seconds)
    return None


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


def is_challenge(status: int, headers: httpx.Headers, body: bytes, expect: str) -> bool:
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


def content_problem(expect: str, headers: httpx.Headers, body: bytes) -> str | None:
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
