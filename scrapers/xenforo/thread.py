"""One page of a XenForo 1 or 2 thread → its posts keyed by post id, plus the thread's facts. Pure.

Posts: XF2 ``article.message--post[data-content="post-N"]``, XF1 ``li.message[id="post-N"]``;
author from ``data-author``; the date from the post header only; the body from XF2
``article.message-body > .bbWrapper`` / XF1 ``blockquote.messageText`` (see
:mod:`scrapers.xenforo.body`); the stable permalink ``/posts/{id}/``. The thread's facts (title
without its prefix label, prefix, forum, page, last page, XF2 JSON-LD reply count) go in
``meta["thread"]``: the fetch side uses ``page``/``last_page``/``reply_count`` to decide which
pages to read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text
from scrapers.xenforo.body import render_body
from scrapers.xenforo.common import (
    Page,
    author_of,
    declared_urls,
    expect_template,
    load_page,
    own,
    own_first,
    page_nav,
    split_title,
    text_of,
    to_int,
)
from scrapers.xenforo.css import Scope, Selector, first_match
from scrapers.xenforo.dates import board_zone, xf1_time, xf2_time
from scrapers.xenforo.dom import Element, has_class, nearest_with_class
from scrapers.xenforo.urls import board_root, canonical_thread_url, thread_id_from_url

__all__ = ["parse_thread_page"]

_NAV_BASE = Selector("div.PageNav[data-baseurl]")
_LINKS = Selector("h1.p-title-value a[href], .message-attribution a[href], a.datePermalink[href]")


def _url_candidates(page: Page) -> Iterator[str | None]:
    """Where the thread's URL may be read, best first; generated lazily, so a page URL that names
    the thread costs no search of the page."""
    yield page.url
    yield from declared_urls(page.doc)
    nav = _NAV_BASE.first(page.doc)
    yield nav.get("data-baseurl") if nav is not None else None
    for a in _LINKS.all(page.doc)[:5]:
        yield a.get("href")


def _page_thread_url(page: Page, thread_id: str | None) -> str | None:
    """The thread's canonical URL: from the page URL, else the page's own canonical links."""
    for cand in _url_candidates(page):
        absolute = page.abs(cand)
        tid = thread_id_from_url(absolute)
        if tid and (thread_id is None or tid == thread_id):
            return canonical_thread_url(absolute)
    return None


_LD_SCRIPTS = etree.XPath("//script[@type = 'application/ld+json']")


def _json_ld_posting(page: Page) -> dict[str, Any] | None:
    """The DiscussionForumPosting object of the page's JSON-LD (XF ≥ 2.1), wherever it nests."""
    for script in _LD_SCRIPTS(page.doc):
        try:
            data = json.loads(script.text or "")
        except (ValueError, TypeError, RecursionError):
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                kind = node.get("@type")
                kinds = kind if isinstance(kind, list) else [kind]
                if "DiscussionForumPosting" in kinds:
                    return node
                stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
    return None


def _reply_count(posting: dict[str, Any] | None) -> int | None:
    if not posting:
        return None
    stats = posting.get("interactionStatistic")
    counters = stats if isinstance(stats, list) else [stats] if isinstance(stats, dict) else []
    counters = [c for c in counters if isinstance(c, dict)]
    replies = [c for c in counters if re.search(r"(Reply|Comment)Action", str(c.get("interactionType", "")))]
    for c in replies or counters:
        value = c.get("userInteractionCount")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
    value = posting.get("userInteractionCount") or posting.get("commentCount")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else None


_XF2_CRUMBS = Selector("ul.p-breadcrumbs:not(.p-breadcrumbs--bottom)")
_XF2_ANY_CRUMBS = Selector("ul.p-breadcrumbs")
_XF2_CRUMB_NAMES = Selector("[itemprop=name]")
_XF1_CRUMBS = Selector("fieldset.breadcrumb")
_XF1_ANY_CRUMBS = Selector(".breadcrumb")
_XF1_CRUMB_NAMES = Selector(".crust [itemprop=title]")
_XF1_FORUM_LINK = Selector("#pageDescription a[href*='forums/']")


def _forum_name(page: Page, posting: dict[str, Any] | None) -> str | None:
    doc = page.doc
    if page.engine == "xf2":
        crumbs = first_match(doc, _XF2_CRUMBS, _XF2_ANY_CRUMBS)
        names = [text_of(n) for n in _XF2_CRUMB_NAMES.all(crumbs)] if crumbs is not None else []
        if not names and crumbs is not None:
            names = [text_of(li) for li in crumbs.iterdescendants("li")]
    else:
        crumbs = first_match(doc, _XF1_CRUMBS, _XF1_ANY_CRUMBS)
        names = [text_of(n) for n in _XF1_CRUMB_NAMES.all(crumbs)] if crumbs is not None else []
        if not names:
            link = _XF1_FORUM_LINK.first(doc)
            names = [text_of(link)] if link is not None else []
    names = [n for n in names if n]
    if names:
        return names[-1]
    section = (posting or {}).get("articleSection")
    return clean_text(section) if isinstance(section, str) and section.strip() else None


def _post_fields(
    *, author: str | None, published: str, url: str, body: Element, page: Page, edited: str | None,
    position: int | None,
) -> dict[str, Any]:
    text, quotes = render_body(body, page)
    return {
        "author": author,
        "published": published,
        "url": url,
        "text": text,
        "quotes": quotes,
        "edited": edited,
        "position": position,
    }


def _permalink(root: str | None, post_id: str) -> str:
    return f"{root or '/'}posts/{post_id}/"


_XF2_POSTS = Selector("article.message--post, article.message[data-content^='post-']")
_XF2_ANCHOR = Selector("span.u-anchorTarget[id^='post-']")
_XF2_NAME = Selector(".message-name .username")
_XF2_TIMES = Selector(".message-attribution time")
_XF2_EDIT = Selector(".message-lastEdit time")
_XF2_BODY = Selector("article.message-body > div.bbWrapper")
_XF2_ANY_BODY = Selector(".message-body .bbWrapper, .message-userContent .bbWrapper")
_XF2_OPPOSITE = Selector(
    ".message-attribution-opposite a, .message-attribution-opposite span, .message-attribution-opposite li",
    look="down",
)


def _xf2_posts(page: Page, root: str | None, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for art in _XF2_POSTS.all(page.doc):
        if has_class(art, "message--deleted"):
            continue  # a placeholder only moderators see; guests never get it
        m = re.fullmatch(r"post-(\d+)", art.get("data-content") or "") or re.fullmatch(
            r"js-post-(\d+)", art.get("id") or ""
        )
        if not m:
            anchor = own_first(art, _XF2_ANCHOR, page)
            m = re.fullmatch(r"post-(\d+)", anchor.get("id") or "") if anchor is not None else None
        if not m:
            raise ParseError("XenForo 2 post without an id: expected article[data-content='post-N']")
        post_id = m.group(1)
        scope = Scope.of(art)
        author = author_of(art, own_first(art, _XF2_NAME, page, scope))
        header_times = [t for t in own(art, _XF2_TIMES, page, scope) if nearest_with_class(t, "message-lastEdit") is None]
        main_times = [t for t in header_times if nearest_with_class(t, "message-attribution-main") is not None]
        published = next((v for v in (xf2_time(t, tz) for t in main_times or header_times) if v), None)
        if published is None:
            raise ParseError(
                f"XenForo 2 post {post_id}: no post date in its header "
                "(expected time.u-dt[datetime] in .message-attribution)"
            )
        edit = own_first(art, _XF2_EDIT, page, scope)
        body = own_first(art, _XF2_BODY, page, scope)
        if body is None:
            body = next(
                (b for b in own(art, _XF2_ANY_BODY, page, scope) if nearest_with_class(b, "message-signature") is None),
                None,
            )
        if body is None:
            raise ParseError(f"XenForo 2 post {post_id}: no body (expected article.message-body > div.bbWrapper)")
        position = None
        for el in own(art, _XF2_OPPOSITE, page, scope):
            pm = re.fullmatch(r"#\s*(\d[\d.,\s]*)", text_of(el))
            if pm:
                position = to_int(pm.group(1))
                break
        if position is None and (art.get("data-position") or "").strip().isdigit():
            position = int(art.get("data-position", "")) + 1  # XF's stored position is 0-based; "#N" is position + 1
        items.append(Item(key=post_id, fields=_post_fields(
            author=author, published=published, url=_permalink(root, post_id), body=body, page=page,
            edited=xf2_time(edit, tz) if edit is not None else None, position=position,
        )))
    return items


_XF1_POSTS = Selector("li.message[id^='post-']")
_XF1_NAME = Selector(".messageUserBlock .username")
_XF1_PERMALINK_DATES = Selector("a.datePermalink .DateTime")
_XF1_META_DATES = Selector(".messageMeta .DateTime, .messageDetails .DateTime")
_XF1_EDIT = Selector(".editDate .DateTime")
_XF1_BODY = Selector("blockquote.messageText")
_XF1_NUMBER = Selector("a.postNumber")


def _xf1_posts(page: Page, root: str | None, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for li in _XF1_POSTS.all(page.doc):
        if has_class(li, "deleted"):
            continue  # "This message has been removed from public view" placeholder
        m = re.fullmatch(r"post-(\d+)", li.get("id") or "")
        if not m:
            continue
        post_id = m.group(1)
        scope = Scope.of(li)
        author = author_of(li, own_first(li, _XF1_NAME, page, scope))
        stamps = own(li, _XF1_PERMALINK_DATES, page, scope) or [
            d for d in own(li, _XF1_META_DATES, page, scope) if nearest_with_class(d, "editDate") is None
        ]
        published = next((v for v in (xf1_time(d, tz) for d in stamps) if v), None)
        if published is None:
            shown = stamps[0].get("title") or text_of(stamps[0]) if stamps else None
            raise ParseError(
                f"XenForo 1 post {post_id}: cannot read its date {shown!r} (expected abbr.DateTime[data-time] or "
                "span.DateTime[title] like 'Oct 19, 2014 at 8:27 PM' in .messageMeta)"
            )
        edit = own_first(li, _XF1_EDIT, page, scope)
        body = own_first(li, _XF1_BODY, page, scope)
        if body is None:
            raise ParseError(f"XenForo 1 post {post_id}: no body (expected blockquote.messageText)")
        number = own_first(li, _XF1_NUMBER, page, scope)
        pm = re.fullmatch(r"#\s*(\d[\d.,\s]*)", text_of(number)) if number is not None else None
        items.append(Item(key=post_id, fields=_post_fields(
            author=author, published=published, url=_permalink(root, post_id), body=body, page=page,
            edited=xf1_time(edit, tz) if edit is not None else None, position=to_int(pm.group(1)) if pm else None,
        )))
    return items


_XF2_TITLE = Selector("h1.p-title-value")
_XF1_TITLE = Selector(".titleBar h1")
_ANY_H1 = Selector("h1")


def parse_thread_page(html: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """One page of a XenForo 1 or 2 thread → its posts, keyed by post id, plus the thread's facts.

    ``meta["thread"]`` = ``{"id", "title", "prefix", "forum", "page", "last_page", "reply_count",
    "url"}``; ``reply_count`` comes from XF2 JSON-LD and is null elsewhere. ``board_tz`` (an IANA
    name) is how XF1 dates that carry no machine timestamp are read. ``complete`` is True only for a
    one-page thread: a page of a longer thread is not the whole set of posts.
    """
    tz = board_zone(board_tz)
    page = load_page(html, url)
    expect_template(page, "thread_view", "thread")
    doc = page.doc
    thread_id = None
    if page.engine == "xf2":
        key = page.root.get("data-content-key") or ""
        km = re.fullmatch(r"thread-(\d+)", key.strip())
        thread_id = km.group(1) if km else None
    thread_url = _page_thread_url(page, thread_id)
    thread_id = thread_id or thread_id_from_url(thread_url)
    root = board_root(thread_url)

    posting = _json_ld_posting(page) if page.engine == "xf2" else None
    if page.engine == "xf2":
        title, prefix = split_title(_XF2_TITLE.first(doc))
        posts = _xf2_posts(page, root, tz)
        expected = "article.message--post[data-content='post-N']"
    else:
        title, prefix = split_title(first_match(doc, _XF1_TITLE, _ANY_H1))
        posts = _xf1_posts(page, root, tz)
        expected = "li.message[id='post-N']"
    if not title and posting and isinstance(posting.get("headline"), str):
        title = clean_text(posting["headline"])
    if not posts:
        raise ParseError(f"thread page without posts: expected {expected} elements (the theme may hide them)")
    seen: set[str] = set()
    unique = [p for p in posts if not (p.key in seen or seen.add(p.key))]
    current, last = page_nav(page)
    thread = {
        "id": thread_id,
        "title": title or None,
        "prefix": prefix,
        "forum": _forum_name(page, posting),
        "page": current,
        "last_page": last,
        "reply_count": _reply_count(posting),
        "url": thread_url,
    }
    return ParseResult(items=unique, complete=last == 1, meta={"thread": thread})
