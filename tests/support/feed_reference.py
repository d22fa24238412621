"""The feed and markup reading as it was before the lxml rewrite: feedparser + one BeautifulSoup per fragment.

A test oracle, nothing else: tests/test_feed_equivalence.py checks that :func:`scrapers.feed.parse` and
:func:`scrapers.markup.html_to_text` give exactly what this gives, on every feed the tests and the shared
samples hold and on generated edge cases. It is a verbatim copy of the old ``scrapers/markup.py`` and the
pure part of the old ``scrapers/feed.py`` (parsing only; the watch keys and the source class did not
change), so a future change to the product cannot silently move the yardstick. Nothing shipped imports it.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser
from bs4 import BeautifulSoup, NavigableString, Tag

from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_multiline, clean_text


# --------------------------------------------------------------------------- markup (old scrapers/markup.py)

#: elements after which a line ends (what a browser would put on a new line)
_BLOCKS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote pre section article header footer "
    "dd dt dl figure figcaption hr".split()
)
_DROP = frozenset({"script", "style", "noscript", "template"})
#: table cells: their texts stay apart ("Space submitted", never "Spacesubmitted")
_CELLS = frozenset({"td", "th"})
#: an inline tag left in text that was decoded once: the markup was escaped twice
_ESCAPED_TAG = re.compile(r"</?(?:i|b|em|strong|sup|sub|u|sc|span|p|br|a|h[1-6])(?:\s[^<>]*)?/?>", re.IGNORECASE)
#: zero-width space and BOM: editors leave them in posts ("\u200bHello!"); they are not text
_INVISIBLE = {0x200B: None, 0xFEFF: None}


def html_to_text(fragment: str | None) -> str:
    """The readable text of an HTML fragment, one ``\\n`` between lines, cleaned. Plain text passes through.

    Markup that arrives escaped twice (a Europe PMC title ``&lt;i&gt;ATM&lt;/i&gt;``) would show its tags
    after one decoding; when the decoded text still holds inline tags, it is read once more.
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_multiline(fragment)
    text = _text_of(fragment)
    if _ESCAPED_TAG.search(text):
        text = _text_of(text)
    return clean_multiline(text.translate(_INVISIBLE))


def html_to_line(fragment: str | None) -> str:
    """Like :func:`html_to_text` but on one line (titles, names)."""
    return clean_text(html_to_text(fragment))


def _text_of(fragment: str) -> str:
    """The text of the markup, blocks on lines of their own and table cells apart.

    Iterative on purpose: a hostile feed summary can nest thousands of tags, which a recursive walk would
    answer with a RecursionError (and a watch that fails on the same entry at every check).
    """
    soup = BeautifulSoup(fragment, "lxml")
    parts: list[str] = []
    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)  # a separator pushed below
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a comment, doctype or CDATA marker
                parts.append(str(node))
            continue
        if not isinstance(node, Tag) or node.name in _DROP:
            continue
        if node.name == "img":
            alt = (node.get("alt") or "").strip()
            if alt and not _looks_like_file(alt):
                parts.append(alt)
            continue
        after = "\n" if node.name in _BLOCKS else " " if node.name in _CELLS else ""
        if after == "\n":
            parts.append("\n")
        stack.append(after)
        stack.extend(reversed(list(node.children)))
    return "".join(parts)


def _looks_like_file(text: str) -> bool:
    """XenForo puts the attachment's file name in ``alt`` ("cvc-update.png"): not text anyone wrote."""
    return "." in text and " " not in text and text.rsplit(".", 1)[-1].lower() in {
        "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp"}


# --------------------------------------------------------------------------- feeds (old scrapers/feed.py)

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
