"""RSS and Atom feeds: a watch is one feed URL; its items are the feed's entries.

What it is for: a forum's RSS (XenForo ``/forums/{slug}.{id}/index.rss``, forums.md §RSS), CTIS's
``/rss/updates.rss`` (registries.md §2), a journal's or a patient organisation's news feed.

- Fetched through the one :class:`~scrapers.http.fetcher.Fetcher` with ``expect="xml"`` and the server's
  own ETag/Last-Modified (a 304 ends the check), then parsed by feedparser from the **bytes** the
  fetcher got, so the XML declaration's encoding is honoured.
- Entries are keyed by their guid/id, else their link; an entry with neither cannot be tracked and
  is counted in ``meta["skipped"]``.
- Fields: ``title``, ``url``, ``author``, ``published`` (ISO 8601 UTC), ``summary`` (the entry's
  HTML as clean text, lines kept, at most :data:`SUMMARY_CHARS` characters) and ``feed_title``.
  A new entry becomes a ``new_entry`` event (an extension of the contract's event kinds).
- A response that is not a feed (an HTML page, an empty body, XML feedparser cannot read and
  that yields no entries) is a :class:`ParseError`, never "every entry disappeared". A feed that
  is malformed but still yields entries is used, marked incomplete (no entry is taken for gone)
  with the parser's complaint in ``meta["warning"]``.

XenForo specifics (forums.md): the guid is the thread id, ``pubDate`` is the *last post* date (so
``published`` moves with every reply; only the title is diffed, so that is never news), the
author is the thread starter, and the first-post snippet is in ``content:encoded``.
"""

from __future__ import annotations

import asyncio

import calendar
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import feedparser

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source
from scrapers.markup import html_to_line, html_to_text

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

SUMMARY_CHARS = 1000
_HTML_STARTS = (b"<!doctype html", b"<html")
#: what feedparser flags as "bozo" although the document is well-formed
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


# --------------------------------------------------------------------------- parsing (pure)


#: the closing tags of the three feed roots, lower-cased (RSS 2.0, Atom 1.0, RSS 1.0)
_ROOT_ENDS = (b"</rss", b"</feed", b"</rdf:rdf")


def _is_whole(body: bytes) -> bool:
    """Whether the document ends with its root's closing tag (comments and whitespace may follow)."""
    tail = body[-4096:].lower()
    return any(end in tail for end in _ROOT_ENDS)


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """The bytes of one RSS/Atom document → entry items (see the module docstring for the rules)."""
    where = f" from {url}" if url else ""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if not head:
        raise ParseError(f"the response{where} is empty where an RSS/Atom feed was expected")
    if head.startswith(_HTML_STARTS):
        raise ParseError(f"the response{where} is an HTML page, not an RSS/Atom feed (is the URL the page "
                         "rather than its feed?)")
    if any(start in head for start in (b"<rss", b"<feed", b"<rdf:rdf")) and not _is_whole(body):
        # A feed counts only when it is whole: one cut inside an item would give a phantom entry.
        raise ParseError(f"the feed{where} is cut off (its root element never closes): an incomplete download "
                         "is not read; it is retried at the next check")
    headers = {"content-location": url} if url else None
    try:
        doc = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    except Exception as exc:  # feedparser is lenient; anything it raises is a broken document
        raise ParseError(f"the feed{where} could not be read: {type(exc).__name__}: {exc}") from None
    entries = doc.get("entries") or []
    version = doc.get("version") or ""
    problem = doc.get("bozo_exception") if doc.get("bozo") else None
    if isinstance(problem, _HARMLESS):
        problem = None  # no Content-Type passed in, or a charset the XML declaration corrects: the XML is fine
    if not entries and not version:
        raise ParseError(f"the response{where} is not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> root)")
    feed = doc.get("feed") or {}
    feed_title = html_to_line(feed.get("title")) or None
    items: dict[str, Item] = {}
    skipped = 0
    for entry in entries:
        item = normalise_entry(entry, feed_title, url)
        if item is None:
            skipped += 1
        else:
            items.setdefault(item.key, item)
    if problem is not None and not items:
        raise ParseError(f"the feed{where} is not well-formed and has no readable entries: {_why(problem)}")
    meta: dict[str, Any] = {"feed": {"title": feed_title, "link": feed.get("link"), "format": version or None},
                            "skipped": skipped}
    if problem is not None:
        meta["warning"] = f"the feed is not well-formed ({_why(problem)}); its entries were read leniently"
    return ParseResult(items=list(items.values()), complete=problem is None, meta=meta)


def normalise_entry(entry: Mapping[str, Any], feed_title: str | None, base: str | None = None) -> Item | None:
    """One feedparser entry → an ``entry`` item, or None when it has neither an id nor a link."""
    link = entry.get("link")
    link = urljoin(base, link) if base and isinstance(link, str) and link else (link or None)
    ident = entry.get("id")
    key = ident.strip() if isinstance(ident, str) and ident.strip() else link
    if not key:
        return None
    fields = {
        "title": html_to_line(entry.get("title")) or None,
        "url": link,
        "author": html_to_line(entry.get("author")) or None,
        "published": iso_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        "summary": truncate(_without_read_more(html_to_text(_summary_html(entry))), SUMMARY_CHARS) or None,
        "feed_title": feed_title,
    }
    return Item(key=key, fields=fields)


def _without_read_more(text: str) -> str:
    """XenForo ends every feed item with a "Read more" link to the thread: not something anyone wrote."""
    lines = text.split("\n")
    while lines and lines[-1].strip().lower() in {"read more", "read more…", "read more..."}:
        lines.pop()
    return "\n".join(lines)


def _summary_html(entry: Mapping[str, Any]) -> str:
    """The entry's description/summary, else its content (XenForo only sends ``content:encoded``)."""
    summary = entry.get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary
    for content in entry.get("content") or []:
        value = content.get("value") if isinstance(content, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value
    return ""


def iso_time(parsed: time.struct_time | None) -> str | None:
    """feedparser's UTC struct_time → ``2022-03-24T03:42:20Z``."""
    if not parsed:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(parsed)))
    except (TypeError, ValueError, OverflowError):
        return None


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with "…" when anything was cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _why(problem: Any) -> str:
    text = " ".join(str(problem).split()) or type(problem).__name__
    return text if len(text) <= 160 else text[:159] + "…"


# --------------------------------------------------------------------------- watch keys


def feed_url(keys: Mapping[str, Any]) -> str:
    unknown = sorted(set(keys) - {"url"})
    if unknown:
        raise UnsupportedWatch(f"feed watch has unknown key(s) {', '.join(map(repr, unknown))}: it takes url = \"…\"")
    url = keys.get("url")
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UnsupportedWatch(f"feed watch needs url = \"https://…\" (an RSS or Atom feed), got {url!r}")
    return url.strip()


# --------------------------------------------------------------------------- the source


class FeedSource(Source):
    """An RSS/Atom feed: a watch is one URL; items are its entries."""

    kind = "feed"
    item_kind = "entry"
    summary = "an RSS or Atom feed (url = …)"
    required_keys = ("url",)
    url_key = "url"
    target_key = "url"
    target_help = "the feed's URL"

    def validate(self, keys: dict[str, Any]) -> None:
        feed_url(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            return feed_url(watch.keys)
        except UnsupportedWatch:
            return None

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        url = feed_url(watch.keys)
        resp = await fetcher.get(url, validators=state.validators.get(url), expect="xml")
        validators = {url: resp.validators()} if resp.validators() else {}
        new_state = FetchState(validators, dict(state.cursor))
        if resp.not_modified:
            return FetchOutcome.unchanged(new_state)
        # a big feed takes seconds to parse (feedparser is pure Python): off the event loop
        result = await asyncio.to_thread(parse, resp.body, resp.url)
        notes = [result.meta["warning"]] if result.meta.get("warning") else []
        if result.meta.get("skipped"):
            notes.append(f"{result.meta['skipped']} entr(y/ies) without an id or link were skipped")
        return FetchOutcome(result=result, state=new_state, requests=1, bytes=len(resp.body),
                            http_status=resp.status, notes=notes)
