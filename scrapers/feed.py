"""RSS and Atom feeds: a watch is one feed URL; its items are the feed's entries.

What it is for: a forum's RSS (XenForo ``/forums/{slug}.{id}/index.rss``, forums.md §RSS), CTIS's
``/rss/updates.rss`` (registries.md §2), a journal's or a patient organisation's news feed.

- Fetched through the one :class:`~scrapers.http.fetcher.Fetcher` with ``expect="xml"`` and the server's
  own ETag/Last-Modified (a 304 ends the check), then parsed from the **bytes** the fetcher got, so the
  XML declaration's encoding is honoured: a well-formed UTF-8 RSS 2.0 or Atom 1.0 document by lxml
  (:func:`_read_with_lxml`, feedparser's values for our fields at a tenth of its cost), anything else by
  feedparser, whose lenient reading and complaints the rules below rely on.
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
import html.entities
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _HTMLSanitizer, _sanitize_html
from feedparser.urls import _urljoin, resolve_relative_uris
from lxml import etree

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
    fast = _read_with_lxml(body, url)
    if fast is not None:
        doc: Mapping[str, Any] = fast
    else:
        doc = _read_with_feedparser(body, url, where)
    return _result(doc, url, where)


def _read_with_feedparser(body: bytes, url: str | None, where: str) -> Mapping[str, Any]:
    """feedparser's lenient reading: for what the lxml reading leaves to it (see :func:`_read_with_lxml`)."""
    headers = {"content-location": url} if url else None
    try:
        return feedparser.parse(body, response_headers=headers, sanitize_html=True)
    except Exception as exc:  # feedparser is lenient; anything it raises is a broken document
        raise ParseError(f"the feed{where} could not be read: {type(exc).__name__}: {exc}") from None


def _result(doc: Mapping[str, Any], url: str | None, where: str) -> ParseResult:
    """A feedparser-shaped document (feedparser's own, or :func:`_read_with_lxml`'s) → the parse result."""
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


# --------------------------------------------------------------------------- the lxml reading
#
# feedparser is pure Python (SAX events, a sgmllib sanitizer per HTML field): 15 ms for a 20-item forum feed.
# The reading below gives feedparser's own values for the fields we use, from one lxml parse, for the
# documents whose every element it understands. Anything else (not well-formed, a DOCTYPE, xml:base, another
# encoding, RSS 0.9x/1.0, XHTML content, an element it does not know, a field given twice) returns None and
# feedparser reads the document as before: a narrow fast path is safe, a wide one would have to re-implement
# feedparser's quirks. tests/test_feed_equivalence.py holds both readings to the same records.


class _NotModelled(Exception):
    """The document holds something the lxml reading does not reproduce: feedparser reads it."""


_ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: RSS 2.0 item children → what feedparser makes of them ("" = nothing we read)
_RSS_ITEM = {"title": "title", "link": "link", "guid": "id", "author": "author", _DC + "creator": "author",
             "pubDate": "published", _DC + "date": "updated", "description": "description",
             _CONTENT + "encoded": "content", "category": "", "comments": "", "enclosure": "",
             "{http://purl.org/rss/1.0/modules/slash/}comments": "", _ATOM + "link": "atom_link",
             "{http://wellformedweb.org/CommentAPI/}commentRss": ""}
#: RSS 2.0 channel children other than items; image and the rest hold nothing we read
_RSS_CHANNEL = {"title": "title", "link": "link", _ATOM + "link": "atom_link", "description": "", "pubDate": "",
                "lastBuildDate": "", "generator": "", "language": "", "copyright": "", "managingEditor": "",
                "webMaster": "", "category": "", "docs": "", "ttl": "", "image": "", "cloud": "", "skipHours": "",
                "skipDays": ""}
_ATOM_ENTRY = {"id", "title", "link", "updated", "published", "author", "summary", "content", "category",
               "contributor", "rights"}
_ATOM_FEED = {"id", "title", "link", "updated", "author", "subtitle", "generator", "icon", "logo", "rights",
              "category", "contributor", "entry"}
#: fields feedparser fills at most once per entry: a second one follows its order-dependent rules, not ours
_ONCE = frozenset({"title", "link", "id", "published", "updated", "description", "content", "summary"})
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY|xml:base", re.IGNORECASE)
_CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "text/plain": "text/plain", "html": "text/html",
                  "text/html": "text/html"}
#: HTML that feedparser's sanitizer passes through with the same text: known tags, quoted attributes without
#: entities, the entities lxml and sgmllib both read; anything else goes through the sanitizer itself
_SAFE_TAGS = frozenset(
    "a abbr acronym address b big blockquote br caption center cite code dd del dfn div dl dt em font h1 h2 h3 "
    "h4 h5 h6 hr i img ins kbd li ol p pre q s samp small span strike strong sub sup table tbody td tfoot th "
    "thead tr tt u ul".split()) & _HTMLSanitizer.acceptable_elements
_VOID = frozenset({"br", "hr", "img"})
_TAG = re.compile(r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*\s*=\s*(?:"[^"<>&]*"|'[^'<>&]*'))*)\s*(/?)>""")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z][a-zA-Z0-9]*));")
_NAMED = frozenset(html.entities.name2codepoint) | {"apos"}
_looks_like_html = _FeedParserMixin.looks_like_html
_C1 = re.compile("[\x80-\x9f]")


def _read_with_lxml(body: bytes, url: str | None) -> dict[str, Any] | None:
    """feedparser's reading of a well-formed RSS 2.0 / Atom 1.0 document, or None to let feedparser read it."""
    declared = _DECLARED.match(body[:512])
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None  # feedparser's encoding rules (and its latin-1 repair, which is for UTF-8 only) are its own
    if _DOCTYPE.search(body):
        return None  # feedparser rewrites DOCTYPEs and entity declarations; xml:base moves its base URI
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None  # not well-formed: feedparser's lenient reading and its complaint
    if len(parser.error_log):
        return None  # something libxml2 let pass (an unbound prefix) that expat may not
    reader = _Reader(url or "")
    try:
        if root.tag == "rss":
            return reader.rss(root)
        if root.tag == _ATOM + "feed":
            return reader.atom(root)
    except _NotModelled:
        return None
    return None  # RSS 0.9x/1.0 and anything else


class _Reader:
    """What feedparser's ``pop()`` does to each value, per field, for one document."""

    def __init__(self, base: str) -> None:
        self.base = base  # feedparser's base URI: the content-location we hand it

    # ----- values

    @staticmethod
    def _text(el: etree._Element) -> str:
        """An element's text; one with child elements (or comments) is feedparser's to read."""
        if len(el):
            raise _NotModelled
        return el.text or ""

    @staticmethod
    def _finish(value: str) -> str:
        """The last steps of feedparser's ``pop()``: its UTF-8-read-as-Latin-1 repair and cp1252 mapping."""
        if not value.isascii():
            try:
                value = value.encode("iso-8859-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
            if _C1.search(value):  # translate with a dict table is slow: only when there is something to map
                value = value.translate(_cp1252)
        return value

    def plain(self, el: etree._Element, *, uri: bool = False) -> str:
        value = self._text(el).strip()
        if uri and value:
            value = _urljoin(self.base, value)
        return self._finish(value)

    def content(self, el: etree._Element, default: str, *, guess: bool = False) -> str:
        """A title/summary/content value: HTML is sanitized as feedparser does (or skipped when provably a no-op)."""
        kind = el.get("type")
        ctype = default if kind is None else _CONTENT_TYPES.get(kind.lower())
        if ctype is None or el.get("mode") is not None or el.get("src") is not None:
            raise _NotModelled
        value = self._text(el).strip()
        if guess and ctype == "text/plain" and _looks_like_html(value):
            ctype = "text/html"
        if ctype == "text/html" and value and not _sanitizer_is_a_no_op(value):
            value = _sanitize_html(resolve_relative_uris(value, self.base, "utf-8", "text/html"), "utf-8",
                                   "text/html")
        return self._finish(value)

    @staticmethod
    def _lower_attrs(el: etree._Element) -> dict[str, str]:
        attrs = {}
        for key, value in el.attrib.items():
            if key.startswith("{") and key != _XML_LANG:
                raise _NotModelled
            attrs[key.lower()] = value
        return attrs

    def alternate(self, el: etree._Element) -> str | None:
        """An Atom ``<link>``: its resolved href when feedparser takes it as the link (rel alternate, HTML)."""
        if len(el):
            raise _NotModelled
        attrs = self._lower_attrs(el)
        if "href" not in attrs or "url" in attrs or "uri" in attrs:
            raise _NotModelled
        rel = attrs.get("rel", "alternate")
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and _FeedParserMixin.map_content_type(kind) in _FeedParserMixin.html_types:
            return _urljoin(self.base, attrs["href"])
        return None

    @staticmethod
    def once(seen: set[str], field: str) -> None:
        if field in _ONCE:
            if field in seen:
                raise _NotModelled
            seen.add(field)

    # ----- RSS 2.0

    def rss(self, root: etree._Element) -> dict[str, Any]:
        version = root.get("version", "")
        if not version.startswith("2.") or version in ("0.91", "0.92", "0.93", "0.94") or len(root) != 1:
            raise _NotModelled
        channel = root[0]
        if channel.tag != "channel":
            raise _NotModelled
        feed: dict[str, Any] = {}
        entries = []
        seen: set[str] = set()
        for child in channel:
            tag = child.tag
            if tag == "item":
                entries.append(self.rss_item(child))
                continue
            field = _RSS_CHANNEL.get(tag) if isinstance(tag, str) else ""
            if field is None:
                raise _NotModelled
            self.once(seen, field)
            if field == "title":
                feed["title"] = self.content(child, "text/plain", guess=True)
            elif field == "link":
                if child.attrib:
                    raise _NotModelled
                feed["link"] = re.sub(r"&([A-Za-z0-9_]+);", r"&\g<1>", self.plain(child, uri=True))
            elif field == "atom_link":
                href = self.alternate(child)
                if href is not None:
                    feed["link"] = href
        return {"feed": feed, "entries": entries, "version": "rss20"}

    def rss_item(self, item: etree._Element) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        seen: set[str] = set()
        guid: str | None = None
        link: str | None = None
        for child in item:
            tag = child.tag
            field = _RSS_ITEM.get(tag) if isinstance(tag, str) else ""
            if field is None:
                raise _NotModelled
            self.once(seen, field)
            if field in ("title", "description", "content"):
                if field == "title" and child.attrib:
                    raise _NotModelled
                entry[field] = self.content(child, "text/plain" if field == "title" else "text/html",
                                            guess=field == "title")
            elif field == "link":
                if child.attrib:
                    raise _NotModelled
                value = self.plain(child, uri=True).replace("&amp;", "&")
                link = re.sub(r"&([A-Za-z0-9_]+);", r"&\g<1>", value)
            elif field == "atom_link":
                href = self.alternate(child)
                if href is not None:
                    link = href
            elif field == "id":
                permalink = "true"
                for key, value in child.attrib.items():
                    if key.startswith("{"):
                        raise _NotModelled
                    if key.lower() == "ispermalink":
                        permalink = value
                guid = self.plain(child, uri=permalink == "true")
                entry["id"] = guid
                if permalink == "true" and "guid_link" not in entry:
                    entry["guid_link"] = guid
            elif field == "author":
                entry["author"] = self.plain(child)
            elif field in ("published", "updated"):
                entry[field + "_parsed"] = _parse_date(self.plain(child))
        guid_link = entry.pop("guid_link", None)
        if link is not None:  # the last <link> or alternate atom:link, even an empty one
            entry["link"] = link
        elif guid_link is not None:
            entry["link"] = guid_link
        description = entry.pop("description", None)
        content = entry.pop("content", None)
        if content is not None:
            entry["content"] = [{"value": content}]
        # feedparser's summary: the description when there is one, else the content
        if description is not None:
            entry["summary"] = description
        elif content is not None:
            entry["summary"] = content
        return entry

    # ----- Atom 1.0

    def atom(self, root: etree._Element) -> dict[str, Any]:
        feed: dict[str, Any] = {}
        entries = []
        seen: set[str] = set()
        for child in root:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if not tag.startswith(_ATOM) or tag[len(_ATOM):] not in _ATOM_FEED:
                raise _NotModelled
            name = tag[len(_ATOM):]
            if name == "entry":
                entries.append(self.atom_entry(child))
            elif name == "title":
                self.once(seen, "title")
                feed["title"] = self.content(child, "text/plain")
            elif name == "link":
                href = self.alternate(child)
                if href is not None:
                    feed["link"] = href
        return {"feed": feed, "entries": entries, "version": "atom10"}

    def atom_entry(self, node: etree._Element) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        seen: set[str] = set()
        link: str | None = None
        authors = 0
        for child in node:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if not tag.startswith(_ATOM) or tag[len(_ATOM):] not in _ATOM_ENTRY:
                raise _NotModelled
            name = tag[len(_ATOM):]
            self.once(seen, name)
            if name == "id":
                if child.attrib:
                    raise _NotModelled
                entry["id"] = self.plain(child, uri=True)
            elif name == "link":
                href = self.alternate(child)
                if href is not None:
                    link = href
            elif name == "title":
                entry["title"] = self.content(child, "text/plain")
            elif name in ("summary", "content"):
                entry[name] = self.content(child, "text/plain")
            elif name in ("published", "updated"):
                entry[name + "_parsed"] = _parse_date(self.plain(child))
            elif name == "author":
                authors += 1
                if authors > 1:
                    raise _NotModelled
                entry["author"] = self.atom_author(child)
        # feedparser: an alternate link wins, else the id stands in for the link (Atom ids are "permalinks")
        if link is not None:
            entry["link"] = link
        elif "id" in entry:
            entry["link"] = entry["id"]
        content = entry.pop("content", None)
        if content is not None:
            entry["content"] = [{"value": content}]
            entry.setdefault("summary", content)
        return entry

    @staticmethod
    def atom_author(node: etree._Element) -> str:
        """``name (email)``, ``name`` or ``email``, as feedparser's ``_sync_author_detail`` writes it."""
        if (node.text or "").strip() or node.attrib:
            raise _NotModelled
        parts: dict[str, str] = {}
        for child in node:
            if not isinstance(child.tag, str):
                raise _NotModelled
            name = child.tag[len(_ATOM):] if child.tag.startswith(_ATOM) else None
            if name not in ("name", "email", "uri") or name in parts or len(child) or (child.tail or "").strip():
                raise _NotModelled
            parts[name] = (child.text or "").strip()  # feedparser only strips these (no repair, no mapping)
        name, email = parts.get("name"), parts.get("email")
        if name and email:
            return f"{name} ({email})"
        return name or email or ""


def _sanitizer_is_a_no_op(fragment: str) -> bool:
    """Whether feedparser's sanitizer (and relative-URI pass) would leave the fragment's text as it is.

    True only for plain, well-quoted markup of known tags with entities both parsers read alike: then the
    sanitizer's output differs from its input only in attributes, which carry no text (``alt`` is kept).
    Anything odder (comments, CDATA, scripts, unknown tags, ``<p/>``, stray ``<``, ``&#150;``, bare ``&``, CR)
    is sanitized for real, as before.
    """
    if "\r" in fragment or "<!" in fragment or "<?" in fragment:
        return False
    if "<" in fragment:
        tags = _TAG.findall(fragment)
        if len(tags) != fragment.count("<"):  # a "<" that starts no tag we know the shape of
            return False
        for closing, name, _, slash in tags:
            name = name.lower()
            if name not in _SAFE_TAGS or (slash and (closing or name not in _VOID)):
                return False
    if "&" in fragment:  # attribute values hold no "&" (see _TAG): every one is in the text
        entities = _ENTITY.findall(fragment)
        if len(entities) != fragment.count("&"):
            return False
        for decimal, hexadecimal, name in entities:
            if name:
                if name not in _NAMED:
                    return False
            else:
                code = int(decimal) if decimal else int(hexadecimal, 16)
                if 0x80 <= code <= 0x9F or code > 0x10FFFF or code == 0:
                    return False
    return True


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
        # a big feed takes a while to parse (seconds when feedparser reads it): off the event loop
        result = await asyncio.to_thread(parse, resp.body, resp.url)
        notes = [result.meta["warning"]] if result.meta.get("warning") else []
        if result.meta.get("skipped"):
            notes.append(f"{result.meta['skipped']} entr(y/ies) without an id or link were skipped")
        return FetchOutcome(result=result, state=new_state, requests=1, bytes=len(resp.body),
                            http_status=resp.status, notes=notes)
