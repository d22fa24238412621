"""``discourse`` watches: a topic's posts, or the new topics of a category or of a whole site, on any Discourse.

Keys: ``url`` of a topic (``https://forum.example/t/slug/123``), a category (``…/c/slug/12``) or a site's
latest topics (``…/latest`` or the site's address); ``keywords`` (only posts whose title or text match are
news, case and accents folded) and, for a category or site, ``follow = true`` (each new matching topic
becomes a ``discourse`` watch of its own).

What a check asks:

* **a topic**: ``/t/{slug}/{id}.json`` (its first ~20 posts and the ids of all of them, ``post_stream.stream``),
  then ``/t/{id}/posts.json?post_ids[]=…`` for the ids the watch has not read, :data:`CHUNK` at a time and at
  most :data:`MAX_POST_REQUESTS` requests a check (the rest wait for the next check). The first check also
  reads the last chunk and records everything silently; posts between the first and the last chunk are
  history, never read. A quiet check is one request. A known post that left the stream (deleted, moved)
  is marked gone, without an event; a stream that shrinks by more than half at once is not read as
  deletions. Edits (``version`` > 1) are field history.
* **a category or a site**: the topic list newest-created first (``?order=created``, following
  ``more_topics_url`` while every topic on a page is new, at most :data:`MAX_LIST_PAGES`), then each new
  topic's first post (one request per topic, at most :data:`MAX_NEW_TOPICS` a check). Topics are new when
  their id is above the highest the watch has seen (Discourse ids grow), so an old topic bumped by a reply
  never looks new. The first check only records where the list stands.

Failures (a 404 for a deleted or private topic, a login-only site, a 429 asking for too long a wait, a
response that is not Discourse JSON) fail the check with the reason, never an empty topic or a wave of
deletions. Politeness comes from the one fetcher (``[http] per_host_rps``); Discourse answers too many
requests with 429 and ``Retry-After``, which the fetcher honours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit

from scrapers.discourse.posts import CHUNK, PostSet, TopicRow, parse, read_posts, read_topic_list
from scrapers.discourse.urls import DiscourseTarget, ascii_id, discourse_target
from scrapers.http.errors import FetchError
from scrapers.keywords import matches_keywords
from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.content import Response
    from scrapers.http.fetcher import Fetcher

__all__ = ["CHUNK", "MAX_LIST_PAGES", "MAX_NEW_TOPICS", "MAX_POST_REQUESTS", "OFF_LOOP_BYTES", "DiscourseSource",
           "discourse_keys"]

T = TypeVar("T")

#: posts.json requests per check of a topic (a topic far behind catches up over several checks)
MAX_POST_REQUESTS = 10
#: topic-list pages and new topics' first posts read per check of a category or site
MAX_LIST_PAGES = 3
MAX_NEW_TOPICS = 10
#: post ids a topic watch remembers (ids below the oldest remembered count as known)
MAX_REMEMBERED = 2000
#: an answer larger than this is decoded and read in a worker thread: a real topic answer (20 posts, ~40 kB)
#: reads in a couple of milliseconds, but a huge one must not stall the loop that serves Discord and other checks
OFF_LOOP_BYTES = 64_000

_KEYS = {"url", "keywords", "follow"}
_STATUS_HINTS = {
    403: "Discourse answers 403 when a site requires a login or a category is private",
    404: "Discourse answers 404 when a topic or category was deleted, or guests cannot see it",
}


@dataclass(frozen=True)
class Watched:
    target: DiscourseTarget
    keywords: tuple[str, ...]
    follow: bool


def discourse_keys(keys: dict[str, Any]) -> Watched:
    """A watch's keys → what it reads, or UnsupportedWatch naming the key."""
    unknown = sorted(set(keys) - _KEYS)
    if unknown:
        raise UnsupportedWatch(f"discourse watch has unknown key(s) {', '.join(map(repr, unknown))} "
                               f"(allowed: {', '.join(sorted(_KEYS))})")
    target = discourse_target(keys.get("url"))
    keywords = keys.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise UnsupportedWatch(f"discourse watch: keywords must be a list of words or phrases, got {keywords!r}")
    follow = keys.get("follow", False)
    if not isinstance(follow, bool):
        raise UnsupportedWatch(f"discourse watch: follow must be true or false, got {follow!r}")
    if follow and target.kind == "topic":
        raise UnsupportedWatch("discourse watch: follow only applies to a category or a site's latest topics")
    return Watched(target, tuple(k.strip() for k in keywords), follow)


class _Reader:
    """The requests of one check (counted for ``--explain``), with what Discourse's statuses usually mean."""

    def __init__(self, fetcher: Any) -> None:
        self.fetcher = fetcher
        self.requests = 0
        self.bytes = 0
        self.status: int | None = None

    async def read(self, url: str, params: dict[str, Any] | None, reader: Callable[[Any], T]) -> T:
        """The JSON answer to ``GET url`` read by ``reader`` (off the event loop when the answer is large)."""
        resp = await self._get(url, params)

        def decode_and_read() -> T:
            return reader(resp.json())

        if len(resp.body) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(decode_and_read)
        return decode_and_read()

    async def _get(self, url: str, params: dict[str, Any] | None) -> Response:
        self.requests += 1
        try:
            resp = await self.fetcher.get(url, params=params, expect="json")
        except FetchError as exc:
            hint = _STATUS_HINTS.get(exc.status or 0) if exc.kind == "http_status" else None
            if not hint:
                raise
            raise FetchError(exc.kind, f"{exc.message} ({hint})", url=exc.url, status=exc.status) from None
        self.bytes += len(resp.body)
        self.status = resp.status
        return resp


# --------------------------------------------------------------------------- the source


class DiscourseSource(Source):
    """A Discourse topic post by post, or a category's / site's new topics, read through Discourse's JSON."""

    kind = "discourse"
    item_kind = "post"
    summary = "Discourse: a topic post by post, or a category's or site's new topics (url = …)"
    required_keys = ("url",)
    optional_keys = ("keywords", "follow")
    url_key = "url"
    target_key = "url"
    target_help = "a topic's, category's or site's URL"
    #: a new topic's first post is read when it is news, so a category is not followed blindly
    follow_existing: ClassVar[bool] = False

    def validate(self, keys: dict[str, Any]) -> None:
        discourse_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            return discourse_keys(watch.keys).target.human_url()
        except UnsupportedWatch:
            return None

    def is_news(self, item: Item, watch: WatchSpec) -> bool:
        keywords = [k for k in watch.keys.get("keywords") or [] if isinstance(k, str)]
        return matches_keywords(keywords, (item.fields.get("title"), item.fields.get("text")))

    def follow_spec(self, item: Item, watch: WatchSpec) -> WatchSpec | None:
        """A new matching topic of a category or site watch becomes a watch of that topic (silent baseline)."""
        if not watch.keys.get("follow") or not self.is_news(item, watch):
            return None
        url = item.fields.get("url")
        try:
            target = discourse_target(url)
        except UnsupportedWatch:
            return None
        if target.kind != "topic":
            return None
        suffix = f"-t{target.topic_id}"
        return WatchSpec(id=watch.id[: 64 - len(suffix)] + suffix, kind=self.kind, keys={"url": target.human_url()},
                         interval_s=watch.interval_s, labels=list(watch.labels))

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        target = discourse_keys(watch.keys).target
        reader = _Reader(fetcher)
        if target.kind == "topic":
            result, cursor, notes = await _read_topic(reader, target, _TopicCursor.load(state.cursor, target))
        else:
            result, cursor, notes = await _read_listing(reader, target, _ListCursor.load(state.cursor, target))
        return FetchOutcome(result=result, state=FetchState(validators={}, cursor=cursor.save()),
                            requests=reader.requests, bytes=reader.bytes, http_status=reader.status, notes=notes)


# --------------------------------------------------------------------------- a topic


def _ints(values: Any) -> list[int]:
    return [i for i in values or [] if isinstance(i, int) and not isinstance(i, bool)]


@dataclass
class _TopicCursor:
    target: str = ""
    known: list[int] = field(default_factory=list)  # the topic's post ids at the last check, in stream order
    floor: int = 0  # ids at or below this count as known (older than what is remembered)
    read: list[int] = field(default_factory=list)  # ids whose posts the watch has read (and stored)

    @classmethod
    def load(cls, cursor: dict[str, Any], target: DiscourseTarget) -> _TopicCursor:
        key = f"{target.site}/t/{target.topic_id}"
        if cursor.get("target") != key:
            return cls(target=key)
        floor = cursor.get("floor")
        return cls(key, _ints(cursor.get("known")), floor if isinstance(floor, int) and not isinstance(floor, bool)
                   else 0, _ints(cursor.get("read")))

    @property
    def baseline(self) -> bool:
        return not self.known and not self.floor

    def save(self) -> dict[str, Any]:
        return {"target": self.target, "known": self.known, "floor": self.floor, "read": self.read}


def _remembered(ids: list[int], floor: int) -> tuple[list[int], int]:
    if len(ids) <= MAX_REMEMBERED:
        return ids, floor
    dropped = ids[:-MAX_REMEMBERED]
    return ids[-MAX_REMEMBERED:], max(floor, max(dropped))


async def _read_topic(reader: _Reader, target: DiscourseTarget,
                      cursor: _TopicCursor) -> tuple[ParseResult, _TopicCursor, list[str]]:
    read = await reader.read(target.json_url(), None, partial(read_posts, site=target.site))
    if read.topic.get("id") not in (None, target.topic_id):
        raise ParseError(f"asked for topic {target.topic_id}, got topic {read.topic.get('id')} "
                         f"({read.topic.get('title')!r}): the topic was probably merged; watch that one instead")
    if read.stream is None:
        raise ParseError("the Discourse topic has no post_stream.stream (the list of its post ids): not a topic "
                         "document, so nothing is read as new or gone")
    stream = read.stream
    known = set(cursor.known)
    notes: list[str] = []
    if cursor.baseline:
        wanted = [i for i in stream[-CHUNK:] if not read.shown(i)]
    else:
        wanted = [i for i in stream if i not in known and i > cursor.floor and not read.shown(i)]
    left: list[int] = []
    for start in range(0, len(wanted), CHUNK):
        if start // CHUNK >= MAX_POST_REQUESTS:
            left = wanted[start:]
            notes.append(f"{len(left)} post(s) left for the next check (at most {MAX_POST_REQUESTS} requests a check)")
            break
        chunk = wanted[start:start + CHUNK]
        more = await reader.read(f"{target.site}/t/{target.topic_id}/posts.json",
                                 {"post_ids[]": [str(i) for i in chunk]},
                                 partial(read_posts, site=target.site, topic=read.topic, asked=chunk))
        read.merge(more)
    in_stream = set(stream)
    gone = [str(i) for i in cursor.known if i not in in_stream]
    if len(gone) > max(5, len(cursor.known) // 2):
        notes.append(f"{len(gone)} of {len(cursor.known)} known posts are missing from the topic's post list: "
                     "not read as deletions")
        gone = []
    elif gone:
        notes.append(f"{len(gone)} known post(s) left the topic (deleted or moved): marked gone, not news")
    fresh = {i for i in read.ids if i not in known and i > cursor.floor}
    items = read.items
    if not cursor.baseline:
        # A known post never read (history between the first and the last chunk at the first check) that comes
        # into view because earlier posts were deleted is neither new nor an edit: it is left out.
        was_read = set(cursor.read)
        items = [i for i in items if int(i.key) in fresh or int(i.key) in was_read]
    notes.append("baseline: the first and the last posts, the rest recorded as history" if cursor.baseline else
                 f"{len(fresh)} post(s) not read before")
    waiting = set(left)  # not read yet: they stay unknown, so the next check asks for them
    ids, floor = _remembered([i for i in stream if i not in waiting], cursor.floor)
    now_read = list(dict.fromkeys([*cursor.read, *(int(i.key) for i in items)]))[-MAX_REMEMBERED:]
    thread = {"id": str(target.topic_id), "title": read.topic.get("title"), "url": target.human_url()}
    result = ParseResult(items=items, complete=False, meta={"thread": thread, "gone": [*read.gone, *gone]})
    return result, _TopicCursor(cursor.target, ids, floor, now_read), notes


# --------------------------------------------------------------------------- a category or a site


@dataclass
class _ListCursor:
    target: str = ""
    highest: int | None = None  # the highest topic id seen: topics above it are new

    @classmethod
    def load(cls, cursor: dict[str, Any], target: DiscourseTarget) -> _ListCursor:
        key = target.human_url()
        highest = cursor.get("highest")
        if cursor.get("target") != key or not isinstance(highest, int) or isinstance(highest, bool):
            return cls(target=key)
        return cls(key, highest)

    def save(self) -> dict[str, Any]:
        return {"target": self.target, **({"highest": self.highest} if self.highest is not None else {})}


def _next_page(more: str | None) -> str | None:
    """The ``page`` number of ``more_topics_url`` (``/latest.json?page=1``), if any."""
    if not more:
        return None
    page = parse_qs(urlsplit(more).query).get("page")
    return page[0] if page and ascii_id(page[0]) is not None else None


async def _read_listing(reader: _Reader, target: DiscourseTarget,
                        cursor: _ListCursor) -> tuple[ParseResult, _ListCursor, list[str]]:
    rows: dict[int, TopicRow] = {}
    params: dict[str, Any] = {"order": "created"}
    pages = 0
    while True:
        page_rows, more = await reader.read(target.json_url(), params, read_topic_list)
        pages += 1
        for row in page_rows:
            rows.setdefault(row.id, row)
        page = _next_page(more)
        everything_new = cursor.highest is not None and all(r.id > cursor.highest for r in page_rows)
        if not page_rows or not everything_new or page is None or pages >= MAX_LIST_PAGES:
            break
        params = {"order": "created", "page": page}
    meta: dict[str, Any] = {"listing": target.human_url()}
    if cursor.highest is None:
        highest = max(rows, default=0)
        note = f"baseline: {len(rows)} topic(s) already there (history); new ones are those above topic {highest}"
        return ParseResult(items=[], complete=False, meta=meta), _ListCursor(cursor.target, highest), [note]
    new = sorted(r for r in rows if r > cursor.highest)
    notes = [f"{len(new)} new topic(s)"]
    items: list[Item] = []
    highest = cursor.highest
    for tid in new[:MAX_NEW_TOPICS]:
        row = rows[tid]
        topic = DiscourseTarget(target.site, "topic", topic_id=tid, slug=row.slug)
        try:
            posts = await reader.read(topic.json_url(), None, partial(
                read_posts, site=target.site, topic={"id": tid, "slug": row.slug, "title": row.title}))
        except FetchError as exc:
            if exc.status not in (403, 404):
                raise
            notes.append(f"topic {tid} could not be read ({exc.status}): deleted or private since it was listed")
            posts = PostSet()
        first = str(posts.stream[0]) if posts.stream else None  # the stream starts with the topic's own post
        items.extend(i for i in posts.items if i.key == first)
        highest = max(highest, tid)
    if len(new) > MAX_NEW_TOPICS:
        notes.append(f"{len(new) - MAX_NEW_TOPICS} new topic(s) left for the next check")
    return ParseResult(items=items, complete=False, meta=meta), _ListCursor(cursor.target, highest), notes
