"""The ``bluesky`` watch: an account's posts (``actor``) or a search (``query``), read as posts.

* ``actor = "handle.bsky.social"`` (or a ``did:``): ``app.bsky.feed.getAuthorFeed`` at ``[sources.bluesky]
  base_url`` (default ``https://public.api.bsky.app``, Bluesky's public, cached AppView: no account needed).
  The feed has no "since": every check reads the newest page (:data:`FEED_PAGE` entries) and goes on with the
  page ``cursor`` only while the page is all newer than the last check's newest entry, at most
  :data:`MAX_PAGES` pages. Posts already known on the page are compared (a changed record is kept in field
  history, never news); a post that is gone is simply not seen (never news, never taken for deleted).
* ``query = "daratumumab ME/CFS"``: ``app.bsky.feed.searchPosts?q=…&sort=latest``, which Bluesky serves only
  to a signed-in account, so it goes to ``[sources.bluesky] auth_base`` (default ``https://bsky.social``, the
  account's host, which passes it on to the AppView) with a session (:mod:`scrapers.bluesky.session`) of
  ``handle`` and ``app_password`` (``${BLUESKY_HANDLE}``, ``${BLUESKY_APP_PASSWORD}``). After the first check
  only posts since the newest one seen are asked for (``since=``, less :data:`OVERLAP` for posts indexed late),
  following the ``cursor`` up to :data:`MAX_PAGES` pages.

Either way the first check records the newest page silently, and an entry older than what the last check
had already read (less :data:`OVERLAP`) that was not read then is history, never news: a post that only
moved up because another was deleted is not announced. Politeness: the fetcher's per-host spacing and
429 handling (Bluesky's ``ratelimit-reset`` says when to try again); Bluesky's hosts allow 3,000 requests
per 5 minutes per IP address, and ``createSession`` 30 per 5 minutes and 300 a day per account.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapers.bluesky.post import DID, HANDLE, parse_posts
from scrapers.bluesky.session import BlueskySession
from scrapers.records import FetchOutcome, FetchState, Item, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

__all__ = ["BlueskySource", "FEED_PAGE", "MAX_PAGES", "OVERLAP", "SEARCH_PAGE"]

FEED_PAGE = 30
SEARCH_PAGE = 50
MAX_PAGES = 4
#: how far before the newest post already read a later check still looks (posts indexed a little late)
OVERLAP = timedelta(minutes=10)
#: how many keys of the last check's window are remembered (to compare them again, never to announce)
REMEMBERED = 200

_PROFILE = re.compile(r"^/profile/([^/?#]+)/?$")

_CREDENTIALS_HELP = ("set [sources.bluesky] handle = \"${BLUESKY_HANDLE}\" and app_password = "
                     "\"${BLUESKY_APP_PASSWORD}\" and export BLUESKY_HANDLE and BLUESKY_APP_PASSWORD (an app "
                     "password from Bluesky's Settings → Privacy and security → App passwords)")


def actor_of(value: Any) -> str | None:
    """A handle (``name.bsky.social``, a leading ``@`` allowed) or a DID, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lstrip("@")
    return text if HANDLE.match(text) or DID.match(text) else None


def watch_target(keys: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(actor, query)`` of a watch (exactly one), or UnsupportedWatch naming the key."""
    if "actor" in keys and "query" in keys:
        raise UnsupportedWatch("bluesky watch has both 'actor' and 'query': use one (an account, or a search)")
    if "actor" in keys:
        actor = actor_of(keys["actor"])
        if actor is None:
            raise UnsupportedWatch(f"bluesky watch: actor must be a handle such as \"name.bsky.social\" or a "
                                   f"did:plc:…, got {keys['actor']!r}")
        return actor, None
    if "query" in keys:
        query = keys["query"]
        if not isinstance(query, str) or not query.strip() or len(query) > 300:
            raise UnsupportedWatch(f"bluesky watch: query must be the words to search for (at most 300 "
                                   f"characters), got {query!r}")
        return None, query.strip()
    raise UnsupportedWatch("bluesky watch needs actor = \"name.bsky.social\" (an account's posts) or "
                           "query = \"…\" (a search)")


def _minus_overlap(stamp: str | None) -> str | None:
    """A stored watermark less :data:`OVERLAP`, in the sortable form of :func:`scrapers.bluesky.post.sort_time`."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - OVERLAP
    except ValueError:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BlueskySource(Source):
    """A Bluesky account's posts or a Bluesky search: its posts are posts (``new_post``)."""

    kind = "bluesky"
    item_kind = "post"
    summary = "a Bluesky account's posts (actor = …) or a search (query = …; needs an app password)"
    required_keys = (("actor", "query"),)
    target_key = "query"
    target_help = "a handle (name.bsky.social), a profile address (https://bsky.app/profile/…) or words to search for"
    default_base_url = "https://public.api.bsky.app"
    settings_keys = ("auth_base", "handle", "app_password")

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        """A handle, a DID or a profile address is an account; anything else is a search."""
        text = target.strip()
        parts = urlsplit(text)
        match = _PROFILE.match(parts.path) if parts.netloc else None
        if match:
            return {"actor": match.group(1)}
        return {"actor": text.lstrip("@")} if actor_of(text) and " " not in text else {"query": text}

    @classmethod
    def check_settings(cls, keys: dict[str, Any], settings: dict[str, Any]) -> None:
        if "query" not in keys:
            return
        missing = [k for k in ("handle", "app_password") if not settings.get(k)]
        if missing:
            raise UnsupportedWatch(f"a bluesky search (query = …) needs a Bluesky account, and [sources.bluesky] "
                                   f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                                   + _CREDENTIALS_HELP)

    def validate(self, keys: dict[str, Any]) -> None:
        watch_target(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse_posts(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            actor, query = watch_target(watch.keys)
        except UnsupportedWatch:
            return None
        if actor:
            return f"https://bsky.app/profile/{actor}"
        from urllib.parse import quote

        return f"https://bsky.app/search?q={quote(query or '')}"

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        actor, query = watch_target(watch.keys)
        cursor = dict(state.cursor)
        if (cursor.get("actor"), cursor.get("query")) != (actor, query):
            cursor = {"actor": actor, "query": query}  # the watch now follows something else: start over
        reader = _Reader(self, fetcher, query)
        since = _minus_overlap(cursor.get("newest"))
        pages: list[ParseResult] = []
        page_cursor: str | None = None
        for page in range(MAX_PAGES):
            result = await reader.page(actor, query, since if query else None, page_cursor)
            pages.append(result)
            page_cursor = result.meta.get("cursor")
            times = result.meta.get("sort_times", {}).values()
            if since is None or not page_cursor or not times or min(times) < since:
                break  # the first check reads one page; later ones stop where the last one had read
            if page == MAX_PAGES - 1:
                reader.notes.append(f"more than {MAX_PAGES} pages of new posts: the rest is read at the next check")
        result, newest = _window(pages, since, set(cursor.get("seen") or []))
        if newest and newest > (cursor.get("newest") or ""):
            cursor["newest"] = newest
        cursor["seen"] = [i.key for i in reversed(result.items)][:REMEMBERED]
        if reader.reposts:
            reader.notes.append(f"{reader.reposts} repost(s) read as the post reposted")
        if reader.skipped:
            reader.notes.append(f"{reader.skipped} entr(y/ies) without a post's at:// URI and record were skipped")
        if reader.session is not None and reader.session.renewed:
            reader.notes.append("the Bluesky session had expired and was renewed")
        return FetchOutcome(result=result, state=FetchState(dict(state.validators), cursor),
                            requests=reader.requests, bytes=reader.bytes, http_status=reader.status, notes=reader.notes)


def _window(pages: list[ParseResult], since: str | None, seen: set[str]) -> tuple[ParseResult, str | None]:
    """The items of the pages read that belong to this check: on the first check all of them; later, those
    at or after ``since`` and those the last check read (to compare them again). Older ones are history."""
    items: dict[str, Item] = {}
    times: dict[str, str] = {}
    for result in pages:
        for item in result.items:
            when = result.meta.get("sort_times", {}).get(item.key, "")
            if since is None or when >= since or item.key in seen:
                items.setdefault(item.key, item)
                times[item.key] = max(when, times.get(item.key, ""))
    newest = max((t for r in pages for t in r.meta.get("sort_times", {}).values()), default=None)
    ordered = sorted(items.values(), key=lambda i: times.get(i.key, ""))
    return ParseResult(items=ordered, complete=False, meta={"thread": pages[0].meta.get("thread", {})}), newest


class _Reader:
    """The requests of one check, counted: public author-feed pages, or search pages through a session."""

    def __init__(self, source: BlueskySource, fetcher: "Fetcher", query: str | None) -> None:
        self.source = source
        self.fetcher = fetcher
        self.requests = 0
        self.bytes = 0
        self.status: int | None = None
        self.reposts = 0
        self.skipped = 0
        self.notes: list[str] = []
        self.session: BlueskySession | None = None
        if query is not None:
            settings = source.settings
            source.check_settings({"query": query}, settings)
            auth_base = str(settings.get("auth_base") or "https://bsky.social")
            self.session = BlueskySession(auth_base, str(settings["handle"]), str(settings["app_password"]))

    async def page(self, actor: str | None, query: str | None, since: str | None, cursor: str | None) -> ParseResult:
        if query is not None and self.session is not None:
            url = f"{self.session.auth_base}/xrpc/app.bsky.feed.searchPosts"
            params = {"q": query, "sort": "latest", "limit": str(SEARCH_PAGE)}
            if since:
                params["since"] = since[:23] + "Z"  # the sortable form, to milliseconds: 2026-03-03T09:05:00.000Z
        else:
            url = f"{self.source.base_url}/xrpc/app.bsky.feed.getAuthorFeed"
            params = {"actor": str(actor), "limit": str(FEED_PAGE)}
        if cursor:
            params["cursor"] = cursor
        if self.session is not None:
            before = (self.session.requests, self.session.bytes)
            try:
                resp = await self.session.get(self.fetcher, url, params)
            finally:
                self.requests += self.session.requests - before[0]
                self.bytes += self.session.bytes - before[1]
        else:
            self.requests += 1
            resp = await self.fetcher.get(url, params=params)
            self.bytes += len(resp.body)
        self.status = resp.status
        from urllib.parse import urlencode

        result = parse_posts(resp.body, f"{url}?{urlencode(params)}")
        self.reposts += result.meta.get("reposts", 0)
        self.skipped += result.meta.get("skipped", 0)
        return result



