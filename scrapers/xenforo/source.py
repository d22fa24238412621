"""XenForo 1 and 2 watches: a thread as a set of posts, a forum as a set of threads.

``xenforo_thread`` (keys: ``url``, optional ``board_tz``) reads only the end of a thread, and only
as much of it as changed (the rules are in :mod:`scrapers.xenforo.paging`):

* the first check reads the last page (asking for page 9999: XenForo answers a page past the end
  with a 303 to the last page) and the one before it, and records their posts silently. Posts
  before those two pages are history, not news, and are never read;
* a quiet check reads one page: the stored last page, which still ends the thread with the same
  posts (and, on XF2, the same JSON-LD reply count);
* otherwise the walk goes down from the last page until a page holds a post known from the last
  check, at least two pages: k new posts cost about k/20 + 2 requests, however long the thread;
* a known post missing from the pages read is marked gone (no event); an edit is stored in field
  history (no event); a post that only moved to another page is neither.

``xenforo_forum`` (keys: ``url`` of a forum page or a forum RSS feed, ``keywords``, ``follow``,
optional ``board_tz``) announces new threads whose title, prefix or first-post snippet match a
keyword (case and accents folded; no keywords = every thread), never sticky ones. With ``follow =
true`` each such new thread becomes a ``xenforo_thread`` watch of its own. Threads already there at
the first check are history: they are neither announced nor followed.

A Cloudflare challenge, a login wall or an error page fails the check with the reason (the
``source_error`` path), never an empty thread or a wave of deletions. Politeness comes from the one
fetcher: in production set ``[http] per_host_rps`` to about 0.3 (one request every three seconds
per forum) and check threads every 30-60 minutes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from scrapers.keywords import fold, matches_keywords
from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source
from scrapers.http.errors import FetchError
from scrapers.http.content import Response
from scrapers.xenforo.dates import board_zone
from scrapers.xenforo.forum import parse_forum
from scrapers.xenforo.paging import (
    ThreadCursor,
    can_stop,
    gone_posts,
    is_quiet,
    next_tail,
    ordered_posts,
    page_fingerprint,
)
from scrapers.xenforo.thread import parse_thread_page
from scrapers.xenforo.urls import canonical_thread_url, thread_id_from_url, thread_page_url

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

__all__ = ["FAR_PAGE", "MAX_PAGES_PER_CHECK", "XenforoForumSource", "XenforoThreadSource", "fold", "keyword_match"]

#: A page number past the end of any thread: XenForo redirects it (303) to the last page.
FAR_PAGE = 9999
#: A thread far behind (a watch paused for months) is caught up over several checks' worth of
#: pages at most; the posts in the gap beyond are recorded as history, not news.
MAX_PAGES_PER_CHECK = 40

_THREAD_KEYS = {"url", "board_tz"}
_FORUM_KEYS = {"url", "keywords", "follow", "board_tz"}

#: What XenForo's error statuses usually mean for a guest; the fetcher keeps no error body, so
#: the reason is named from the status.
_STATUS_HINTS = {
    403: "XenForo answers 403 with a login page when a thread or forum is members-only (a login wall)",
    404: "XenForo answers 404 with an error page when a thread or forum was deleted or is hidden from guests",
}


# --------------------------------------------------------------------------------------------
# keys


def _url_key(keys: dict[str, Any], kind: str) -> str:
    url = keys.get("url")
    if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
        raise UnsupportedWatch(f"{kind} watch needs url = \"https://…\" (a web address), got {url!r}")
    return url.strip()


def _board_tz(keys: dict[str, Any], kind: str) -> str:
    tz = keys.get("board_tz", "UTC")
    if not isinstance(tz, str):
        raise UnsupportedWatch(f"{kind} watch: board_tz must be a timezone name such as \"Europe/London\", got {tz!r}")
    try:
        board_zone(tz)
    except ValueError as exc:
        raise UnsupportedWatch(f"{kind} watch: {exc}") from None
    return tz


def _unknown(keys: dict[str, Any], allowed: set[str], kind: str) -> None:
    unknown = sorted(set(keys) - allowed)
    if unknown:
        raise UnsupportedWatch(
            f"{kind} watch has unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(allowed))})"
        )


def thread_keys(keys: dict[str, Any]) -> tuple[str, str, str]:
    """``(canonical thread URL, thread id, board timezone)`` of a thread watch, or UnsupportedWatch."""
    kind = "xenforo_thread"
    _unknown(keys, _THREAD_KEYS, kind)
    url = _url_key(keys, kind)
    thread_id = thread_id_from_url(url)
    if thread_id is None:
        raise UnsupportedWatch(
            f"{kind} watch: url must be a XenForo thread address like https://forum.example/threads/title.123/, "
            f"got {url!r}"
        )
    return canonical_thread_url(url), thread_id, _board_tz(keys, kind)


def forum_keys(keys: dict[str, Any]) -> tuple[str, list[str], bool, str]:
    """``(url, keywords, follow, board timezone)`` of a forum watch, or UnsupportedWatch."""
    kind = "xenforo_forum"
    _unknown(keys, _FORUM_KEYS, kind)
    url = _url_key(keys, kind)
    if thread_id_from_url(url):
        raise UnsupportedWatch(f"{kind} watch: {url!r} is a thread; watch it with kind = \"xenforo_thread\"")
    keywords = keys.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise UnsupportedWatch(f"{kind} watch: keywords must be a list of words or phrases, got {keywords!r}")
    follow = keys.get("follow", False)
    if not isinstance(follow, bool):
        raise UnsupportedWatch(f"{kind} watch: follow must be true or false, got {follow!r}")
    return url, [k.strip() for k in keywords], follow, _board_tz(keys, kind)


# --------------------------------------------------------------------------------------------
# keyword matching


def keyword_match(keywords: list[str], item: Item) -> bool:
    """Whether a thread's title, prefix or first-post snippet contains one of ``keywords``
    (as a substring, folded: :mod:`scrapers.keywords`); no keywords matches every thread."""
    f = item.fields
    return matches_keywords(keywords, (str(f.get(k) or "") for k in ("prefix", "title", "first_post_text")))


# --------------------------------------------------------------------------------------------
# reading pages


def _with_hint(exc: FetchError) -> FetchError:
    """The fetcher's error, with what the status usually means on a XenForo forum."""
    hint = _STATUS_HINTS.get(exc.status or 0) if exc.kind == "http_status" else None
    if not hint:
        return exc
    return FetchError(exc.kind, f"{exc.message} ({hint})", url=exc.url, status=exc.status)


class _ThreadReader:
    """Reads pages of one thread, counting requests and bytes; parses off the event loop."""

    def __init__(self, fetcher: "Fetcher", url: str, thread_id: str, board_tz: str) -> None:
        self.fetcher = fetcher
        self.url = url
        self.thread_id = thread_id
        self.board_tz = board_tz
        self.requests = 0
        self.bytes = 0
        self.status: int | None = None
        self.fingerprints: dict[int, str] = {}  # page number → page_fingerprint of what was read

    async def download(self, page: int) -> Response:
        """One page's raw answer (XenForo may redirect a page past the end to the last page)."""
        self.requests += 1
        try:
            resp = await self.fetcher.get(thread_page_url(self.url, page), expect="html")
        except FetchError as exc:
            raise _with_hint(exc) from None
        self.bytes += len(resp.body)
        self.status = resp.status
        return resp

    async def read(self, page: int, resp: Response | None = None) -> tuple[int, ParseResult]:
        """One page → (its number, posts); ``resp``: its answer, when already downloaded."""
        resp = resp or await self.download(page)
        # Big pages (200-300 kB with 20 posts) take tens of milliseconds to parse: off the loop.
        result = await asyncio.to_thread(parse_thread_page, resp.body, resp.url, board_tz=self.board_tz)
        self.fingerprints[int(result.meta["thread"].get("page") or 1)] = page_fingerprint(resp.body)
        thread = result.meta["thread"]
        if thread.get("id") and thread["id"] != self.thread_id:
            raise ParseError(
                f"asked for thread {self.thread_id}, got thread {thread['id']} ({thread.get('title')!r}): "
                "the thread was probably merged into another one; watch that thread instead"
            )
        return int(thread.get("page") or 1), result

    async def read_exact(self, page: int) -> ParseResult:
        number, result = await self.read(page)
        if number != page:
            raise ParseError(
                f"asked for page {page} of thread {self.thread_id}, got page {number}: "
                "the thread changed while it was being read; the next check reads it again"
            )
        return result


def _post_item(item: Item) -> Item:
    """A post as stored: without its ``#N`` position, which shifts whenever an earlier post is
    deleted and would rewrite every later post for nothing."""
    return Item(item.key, {k: v for k, v in item.fields.items() if k != "position"})


# --------------------------------------------------------------------------------------------
# the sources


class XenforoThreadSource(Source):
    """One XenForo 1 or 2 thread, post by post, reading only the pages that can hold news."""

    kind = "xenforo_thread"
    item_kind = "post"
    summary = "a XenForo 1 or 2 thread, post by post (url = the thread's URL)"
    required_keys = ("url",)
    optional_keys = ("board_tz",)
    url_key = "url"
    target_key = "url"
    target_help = "the thread's URL"

    def validate(self, keys: dict[str, Any]) -> None:
        thread_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse_thread_page(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            return thread_keys(watch.keys)[0]
        except UnsupportedWatch:
            return None

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        url, thread_id, board_tz = thread_keys(watch.keys)
        cursor = ThreadCursor.from_state(state.cursor)
        if cursor.thread_id not in (None, thread_id):
            cursor = ThreadCursor()  # the watch now points at another thread: start over
        reader = _ThreadReader(fetcher, url, thread_id, board_tz)
        notes: list[str] = []

        asked = cursor.last_page or FAR_PAGE
        try:
            resp = await reader.download(asked)
        except FetchError as exc:
            if exc.status != 404 or asked == 1:
                raise
            # XenForo answers a page past the end with a 303 to the last page; a board (or a proxy) that says
            # 404 instead is read from page 1, whose page navigation names the last page.
            notes.append(f"page {asked} answered 404: read page 1 and its page navigation instead")
            asked, resp = 1, await reader.download(1)
        if cursor.tail and cursor.fingerprint and page_fingerprint(resp.body) == cursor.fingerprint:
            # The last page shows the same posts, times and navigation as last time: nothing to parse.
            return FetchOutcome.unchanged(FetchState(validators={}, cursor=cursor.to_state()),
                                          requests=reader.requests, bytes=reader.bytes, http_status=reader.status,
                                          notes=[f"quiet: page {cursor.last_page} is unchanged (not parsed)"])
        number, first = await reader.read(asked, resp)
        pages = {number: first}
        if cursor.tail and is_quiet(cursor, first):
            top = lowest = number
            notes.append(f"quiet: page {number} still ends the thread with the same posts")
        else:
            top = int(first.meta["thread"].get("last_page") or number)
            if top != number:  # the thread grew past the stored last page
                pages[top] = await reader.read_exact(top)
            lowest = top
            while not can_stop(top - lowest + 1, lowest, pages[lowest], cursor.tail):
                if reader.requests >= MAX_PAGES_PER_CHECK:
                    notes.append(f"stopped after {reader.requests} pages: posts before page {lowest} "
                                 "are recorded as history, not news")
                    break
                lowest -= 1
                if lowest not in pages:
                    pages[lowest] = await reader.read_exact(lowest)
            notes.append(f"read pages {lowest}-{top} of {top}")

        in_range = {n: r for n, r in pages.items() if lowest <= n <= top}
        posts = ordered_posts(in_range)
        ids = [p.key for p in posts]
        complete = lowest == 1  # every page read: a missing post is gone, the diff sees it
        gone = [] if complete else gone_posts(cursor.tail, ids)
        if gone:
            notes.append(f"{len(gone)} known post(s) no longer on the pages read: marked gone, not news")
        last_page = in_range[top]
        thread = dict(last_page.meta["thread"])
        result = ParseResult(items=[_post_item(p) for p in posts], complete=complete,
                             meta={"thread": thread, "gone": gone})
        new_cursor = ThreadCursor(
            thread_id=thread_id,
            last_page=top,
            last_ids=[i.key for i in last_page.items],
            reply_count=thread.get("reply_count"),
            tail=next_tail(cursor.tail, ids),
            fingerprint=reader.fingerprints.get(top),
        )
        return FetchOutcome(
            result=result,
            state=FetchState(validators={}, cursor=new_cursor.to_state()),
            requests=reader.requests,
            bytes=reader.bytes,
            http_status=reader.status,
            notes=notes,
        )


class XenforoForumSource(Source):
    """A XenForo forum page or forum RSS feed: new threads matching keywords, optionally followed."""

    kind = "xenforo_forum"
    item_kind = "thread"
    summary = "a XenForo forum page or forum RSS feed: new threads, with keywords and follow"
    required_keys = ("url",)
    optional_keys = ("keywords", "follow", "board_tz")
    url_key = "url"
    target_key = "url"
    target_help = "the forum's URL or its RSS feed"
    #: a thread already in the forum at the first check is history: follow only threads that are news
    follow_existing: ClassVar[bool] = False

    def validate(self, keys: dict[str, Any]) -> None:
        forum_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse_forum(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        """The forum page of a node's feed; the board's front page for the site-wide feed (``/forums/-/``)."""
        try:
            url = forum_keys(watch.keys)[0]
        except UnsupportedWatch:
            return None
        page = url.removesuffix("index.rss")
        return page.removesuffix("forums/-/") if page.endswith("forums/-/") else page

    def is_news(self, item: Item, watch: WatchSpec) -> bool:
        """Sticky threads never look new (they sit on every page 1); others only when they match."""
        if item.fields.get("sticky"):
            return False
        keywords = watch.keys.get("keywords") or []
        return keyword_match([k for k in keywords if isinstance(k, str)], item)

    def follow_spec(self, item: Item, watch: WatchSpec) -> WatchSpec | None:
        """A new matching thread becomes a ``xenforo_thread`` watch (silent baseline, then its posts)."""
        url = item.fields.get("url")
        if not watch.keys.get("follow") or not url or not self.is_news(item, watch):
            return None
        if urlsplit(url).hostname != urlsplit(str(watch.keys.get("url") or "")).hostname:
            return None  # a feed may link anywhere; only the forum's own threads are followed
        keys: dict[str, Any] = {"url": url}
        if watch.keys.get("board_tz"):
            keys["board_tz"] = watch.keys["board_tz"]
        suffix = f"-{item.key}"
        return WatchSpec(id=watch.id[: 64 - len(suffix)] + suffix, kind="xenforo_thread", keys=keys,
                         interval_s=watch.interval_s, labels=list(watch.labels))

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        url, _keywords, _follow, board_tz = forum_keys(watch.keys)
        try:
            resp = await fetcher.get(url, expect="any", validators=state.validators.get(url))
        except FetchError as exc:
            raise _with_hint(exc) from None
        validators = resp.validators()
        new_state = FetchState(validators={url: validators} if validators else {}, cursor=dict(state.cursor))
        if resp.not_modified:
            return FetchOutcome.unchanged(new_state, http_status=resp.status)
        result = await asyncio.to_thread(parse_forum, resp.body, resp.url, board_tz=board_tz)
        return FetchOutcome(result=result, state=new_state, requests=1, bytes=len(resp.body), http_status=resp.status)
