"""A XenForo forum → its threads, from a thread-list page (``forum_view``) or a forum RSS feed. Pure.

Thread lists: XF2 ``div.structItem--thread`` (sticky ones in ``structItemContainer-group--sticky``),
XF1 ``li.discussionListItem``. RSS (``/forums/-/index.rss``, ``/forums/{node}/index.rss``): items
keyed by ``<guid>`` (the thread id), with a first-post snippet. :func:`parse_forum` tells the two
apart by content, so a watch's URL may be either.
"""

from __future__ import annotations

import re
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from lxml import etree

from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text
from scrapers.xenforo.body import render_body
from scrapers.xenforo.common import (
    Page,
    author_of,
    expect_template,
    first_tag,
    load_page,
    page_nav,
    split_title,
    text_of,
)
from scrapers.xenforo.css import Selector, first_match
from scrapers.xenforo.dates import board_zone, iso_utc, xf1_time, xf2_time
from scrapers.xenforo.dom import (
    Element,
    classes,
    has_class,
    nearest_with_class,
    parse_html,
)
from scrapers.xenforo.urls import canonical_thread_url, thread_id_from_url

__all__ = ["FIRST_POST_CHARS", "is_feed", "parse_forum", "parse_forum_feed", "parse_forum_page"]

#: How much of the first post a forum feed item keeps (XenForo's own default snippet length).
FIRST_POST_CHARS = 500


def _short_number(text: str) -> int | None:
    """XenForo's ``number_short``: "15", "1,234", "1.234", "1.5K", "55K", "2M"; "–" → None."""
    s = re.sub(r"[\s\u00a0\u202f]", "", text or "")
    m = re.fullmatch(r"([\d.,]+)([KkMm]?)", s)
    if not m:
        return None
    number, suffix = m.groups()
    if suffix:
        try:
            value = float(number.replace(",", "."))
        except ValueError:
            return None
        return int(round(value * (1000 if suffix in "Kk" else 1_000_000)))
    return int(re.sub(r"[.,]", "", number))


def _links(container: Element) -> list[Element]:
    """``container.find_all("a", href=True)``."""
    return [a for a in container.iterdescendants("a") if a.get("href") is not None]


def _thread_link(container: Element, page: Page) -> Element | None:
    links = [
        a for a in _links(container)
        if not has_class(a, "labelLink", "prefixLink") and thread_id_from_url(page.abs(a.get("href")))
    ]
    primary = [a for a in links if a.get("data-tp-primary") or has_class(a, "PreviewTooltip")]
    return (primary or links or [None])[-1]


_XF2_ROWS = Selector("div.structItem--thread")
_XF2_TITLE_BOX = Selector(".structItem-title")
_XF2_LABEL = Selector(".label")
_XF2_REPLIES = Selector(".structItem-cell--meta dl dd")
_XF2_LATEST = Selector(".structItem-cell--latest time")
_XF2_STICKY = Selector(".structItem-status--sticky")
_XF2_STARTER = Selector(".structItem-minor .username")


def _xf2_threads(page: Page, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for row in _XF2_ROWS.all(page.doc):
        title_box = _XF2_TITLE_BOX.first(row)
        if title_box is None:
            continue
        link = _thread_link(title_box, page)
        cm = next(filter(None, (re.fullmatch(r"js-threadListItem-(\d+)", c) for c in classes(row))), None)
        href = page.abs(link.get("href")) if link is not None else None
        thread_id = cm.group(1) if cm else thread_id_from_url(href)
        if not thread_id or href is None:
            continue
        label = _XF2_LABEL.first(title_box)
        meta = _XF2_REPLIES.first(row)
        latest = _XF2_LATEST.first(row)
        sticky = nearest_with_class(row, "structItemContainer-group--sticky") is not None or (
            _XF2_STICKY.first(row) is not None
        )
        items.append(Item(key=thread_id, fields={
            "title": text_of(link) or None,
            "prefix": text_of(label) or None,
            "author": author_of(row, _XF2_STARTER.first(row)),
            "url": canonical_thread_url(href),
            "replies": _short_number(text_of(meta)) if meta is not None else None,
            "last_post_at": xf2_time(latest, tz) if latest is not None else None,
            "sticky": sticky,
        }))
    return items


_XF1_ROWS = Selector("li.discussionListItem[id^='thread-']")
_XF1_TITLE_BOX = Selector("h3.title")
_XF1_TITLE_TEXT = Selector(".titleText")
_XF1_PREFIX = Selector(".prefix")
_XF1_MAJOR = Selector(".stats dl.major dd")
_XF1_STATS = Selector(".stats dd")
_XF1_LAST = Selector(".lastPostInfo .DateTime")
_XF1_LAST_POST = Selector(".lastPost .DateTime")
_XF1_STARTER = Selector(".posterDate .username")
_XF1_STICKY_ICON = Selector(".iconKey .sticky")


def _xf1_threads(page: Page, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for row in _XF1_ROWS.all(page.doc):
        m = re.fullmatch(r"thread-(\d+)", row.get("id") or "")
        title_box = first_match(row, _XF1_TITLE_BOX, _XF1_TITLE_TEXT)
        link = _thread_link(title_box, page) if title_box is not None else None
        if not m or link is None or title_box is None:
            continue
        label = _XF1_PREFIX.first(title_box)
        replies = first_match(row, _XF1_MAJOR, _XF1_STATS)
        latest = first_match(row, _XF1_LAST, _XF1_LAST_POST)
        href = link.get("href", "")
        items.append(Item(key=m.group(1), fields={
            "title": text_of(link) or None,
            "prefix": text_of(label) or None,
            "author": author_of(row, _XF1_STARTER.first(row)),
            "url": canonical_thread_url(page.abs(href) or href),
            "replies": _short_number(text_of(replies)) if replies is not None else None,
            "last_post_at": xf1_time(latest, tz) if latest is not None else None,
            "sticky": has_class(row, "sticky") or _XF1_STICKY_ICON.first(row) is not None,
        }))
    return items


_XF2_TITLE = Selector("h1.p-title-value")
_XF1_TITLE = Selector(".titleBar h1")
_ANY_H1 = Selector("h1")


def parse_forum_page(html: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """A forum's thread list (``forum_view``) → threads keyed by thread id, sticky ones flagged.

    ``meta["forum"]`` = ``{"title", "page", "last_page"}``. ``complete`` is True only for a
    one-page forum (threads that fall off page 1 are not gone). ``board_tz`` reads XF1 dates.
    """
    tz = board_zone(board_tz)
    page = load_page(html, url)
    expect_template(page, "forum_view", "forum (thread list)")
    if page.engine == "xf2":
        threads = _xf2_threads(page, tz)
        title, _ = split_title(_XF2_TITLE.first(page.doc))
    else:
        threads = _xf1_threads(page, tz)
        title, _ = split_title(first_match(page.doc, _XF1_TITLE, _ANY_H1))
    if not threads and not page.template:
        raise ParseError("no thread list found: expected div.structItem--thread (XF2) or li.discussionListItem (XF1)")
    seen: set[str] = set()
    unique = [t for t in threads if not (t.key in seen or seen.add(t.key))]
    current, last = page_nav(page)
    return ParseResult(
        items=unique, complete=last == 1, meta={"forum": {"title": title or None, "page": current, "last_page": last}}
    )


_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
}


def _feed_bytes(xml: bytes | str) -> bytes:
    if isinstance(xml, bytes):
        return xml
    if isinstance(xml, str):
        # A str is already decoded: drop any encoding declaration so it cannot contradict UTF-8.
        return re.sub(r"^\s*<\?xml[^>]*\?>", "", xml, count=1).encode("utf-8")
    raise TypeError(f"expected bytes or str, got {type(xml).__name__}")


def _child_text(el: Any, path: str) -> str:
    found = el.find(path, _NS)
    return (found.text or "").strip() if found is not None else ""


_BB_WRAPPER = Selector(".bbWrapper")


def _snippet(html: str, link: str | None) -> str:
    """Clean text of a feed item's first-post snippet, without its trailing "Read more" link."""
    if not html.strip():
        return ""
    top = parse_html(html)
    if top is None:
        return ""
    doc = top.getroottree()
    root = _BB_WRAPPER.first(doc)
    if root is None:
        root = first_tag(doc, "body")
    if root is None:
        root = top
    thread_id = thread_id_from_url(link)
    anchors = _links(root)
    if anchors and thread_id and thread_id_from_url(anchors[-1].get("href")) == thread_id:
        _drop(anchors[-1])
    text, _ = render_body(root, None)
    return text[:FIRST_POST_CHARS]


def _drop(el: Element) -> None:
    """Remove ``el`` and its content but keep the text that follows it (``Tag.decompose``)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def parse_forum_feed(xml: bytes | str, url: str | None = None) -> ParseResult:
    """A XenForo forum RSS feed (``/forums/-/index.rss``, ``/forums/{node}/index.rss``) → threads.

    Items are keyed by ``<guid>`` (the thread id) with the forum-page fields plus
    ``first_post_text``. ``pubDate`` is the thread's last post date (XenForo's default order) and
    ``<slash:comments>`` its reply count, so the two together say which threads changed. The feed
    lists at most ~20 threads, so ``complete`` is False. The feed carries no prefix markup, so
    ``prefix`` is null; ``sticky`` is always False (feeds do not mark it).
    """
    data = _feed_bytes(xml)
    head = data[:2048].lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not head:
        raise ParseError("expected a XenForo forum RSS feed, got an empty response")
    if head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head and b"<rss" not in head):
        try:
            load_page(data, url)  # raises with the reason when it is a challenge, a wall or an error page
        except ParseError as exc:
            if not str(exc).startswith("not a XenForo page"):
                raise
        raise ParseError("expected a XenForo forum RSS feed, got an HTML page")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        reason = str(exc.msg or exc).splitlines()[0]
        raise ParseError(f"malformed forum RSS feed (line {exc.lineno}): {reason}") from None
    channel = root.find("channel") if root.tag == "rss" else None
    if channel is None:
        raise ParseError(f"expected an RSS 2.0 feed (<rss><channel>), got <{etree.QName(root).localname}>")
    items: list[Item] = []
    seen: set[str] = set()
    for entry in channel.findall("item"):
        title = clean_text(_child_text(entry, "title")) or None
        link = _child_text(entry, "link") or None
        if link and url:
            try:
                link = urljoin(url, link)
            except ValueError:  # a malformed <link>: keep it as written (the guid still names the thread)
                pass
        guid = _child_text(entry, "guid")
        key = guid if guid.isdigit() else thread_id_from_url(link)
        if not key:
            raise ParseError(f"feed item {title!r} has neither a numeric <guid> nor a thread link")
        if key in seen:
            continue
        seen.add(key)
        author = clean_text(_child_text(entry, "dc:creator")) or None
        if author is None:
            am = re.search(r"\((.+)\)\s*$", _child_text(entry, "author"))
            author = clean_text(am.group(1)) if am else None
        published = None
        pub = _child_text(entry, "pubDate")
        if pub:
            try:
                dt = parsedate_to_datetime(pub)
                published = iso_utc(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc))
            except (TypeError, ValueError, IndexError):
                published = None
        comments = _child_text(entry, "slash:comments")
        try:
            thread_url = canonical_thread_url(link) if link else None
        except ValueError:
            thread_url = link
        items.append(Item(key=key, fields={
            "title": title,
            "prefix": None,
            "author": author,
            "url": thread_url,
            "replies": int(comments) if comments.isdigit() else None,
            "last_post_at": published,
            "sticky": False,
            "first_post_text": _snippet(_child_text(entry, "content:encoded"), link),
        }))
    forum = {"title": clean_text(_child_text(channel, "title")) or None, "page": 1, "last_page": 1}
    return ParseResult(items=items, complete=False, meta={"forum": forum})


def is_feed(body: bytes | str) -> bool:
    """Whether a response is XML (an RSS feed) rather than an HTML page: by content, not by URL."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = data[:2048].lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith((b"<?xml", b"<rss")) and b"<html" not in head


def parse_forum(body: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """A forum page or a forum RSS feed, told apart by content, → threads keyed by thread id."""
    if is_feed(body):
        return parse_forum_feed(body, url)
    return parse_forum_page(body, url, board_tz=board_tz)
