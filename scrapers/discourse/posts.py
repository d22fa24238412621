"""Discourse JSON → post items and topic facts. Pure.

The documents read (``../shared/reference/forums.md`` §2, Discourse's API documentation):

* a topic, ``/t/{slug}/{id}.json``: ``{"id", "title", "slug", "posts_count", "post_stream": {"posts": [first
  chunk, ~20], "stream": [every post id, in order]}, …}``;
* posts of a topic by id, ``/t/{id}/posts.json?post_ids[]=…``: ``{"post_stream": {"posts": […]}, "id"}``;
* a topic list, ``/latest.json`` or ``/c/{slug}/{id}.json``: ``{"topic_list": {"topics": […],
  "more_topics_url"}}``;
* the site's latest posts, ``/posts.json``: ``{"latest_posts": […]}``.

A post becomes an item keyed by its (global) ``id`` with ``author`` (username), ``published`` (ISO UTC),
``url`` (``{site}/t/{slug}/{topic}/{post_number}``), ``text`` / ``quotes`` / ``links`` from ``cooked``
(:mod:`scrapers.discourse.cooked`), ``edited`` (``updated_at`` when ``version`` > 1, else None),
``platform`` ``"discourse"``, ``community`` (the site's host), ``reply_to`` (the URL of the post it answers)
and, for a topic's first post, the topic's ``title``. A small-action post (``post_type`` 3: "closed the
topic", "pinned globally") is not a post at all; a deleted, author-deleted or hidden post is no text and
no news: it is listed in ``gone`` instead.

An answer is read in time linear in its size and contributes at most what Discourse sends: a topic answer's
``post_stream.posts`` is its first :data:`CHUNK` posts, a ``posts.json`` answer the ids asked for; entries
beyond that are not read (a hostile 40,000-entry answer costs no more than a real one). A field of the wrong
JSON type is ignored when it is optional (a list for a slug, a number for a name) and a :class:`ParseError`
naming it when it is not (a post's ``id``, the topic's ``post_stream``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scrapers.times import iso_utc
from scrapers.discourse.cooked import render_cooked
from scrapers.discourse.urls import site_root
from scrapers.json_body import json_type_name, loads_json
from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text

__all__ = ["CHUNK", "PostSet", "TopicRow", "parse", "read_posts", "read_topic_list"]

PLATFORM = "discourse"
SMALL_ACTION = 3
#: posts in one answer: a topic's first chunk (Discourse's ``chunk_size``) and the ids of one posts.json request
CHUNK = 20


@dataclass
class PostSet:
    """Posts read from one or more responses of one topic (or of a site's latest posts)."""

    items: list[Item] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    #: every post id shown (items, gone and small actions), in order
    ids: list[int] = field(default_factory=list)
    topic: dict[str, Any] = field(default_factory=dict)  # id, title, slug, posts_count
    stream: list[int] | None = None
    #: ``ids`` as a set: asking "shown already?" of a list made reading n posts cost n² steps
    _shown: set[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._shown = set(self.ids)

    def shown(self, pid: int) -> bool:
        return pid in self._shown

    def add(self, pid: int, item: Item | None, gone: bool) -> None:
        """Record post ``pid`` (an item, gone, or a small action when neither); the first showing wins."""
        if pid in self._shown:
            return
        self._shown.add(pid)
        self.ids.append(pid)
        if item is not None:
            self.items.append(item)
        elif gone:
            self.gone.append(str(pid))

    def merge(self, other: PostSet) -> None:
        by_key = {i.key: i for i in other.items}
        gone = set(other.gone)
        for pid in other.ids:
            self.add(pid, by_key.get(str(pid)), str(pid) in gone)


@dataclass(frozen=True)
class TopicRow:
    """One topic of a topic list."""

    id: int
    slug: str | None
    title: str | None
    created_at: str | None
    pinned: bool


def _iso(value: Any) -> str | None:
    return iso_utc(value)


def _int(value: Any) -> int | None:
    """An integer field, or None for anything else (JSON's true/false are not numbers)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    """A text field, or None for anything else (a list, a number, null, blank)."""
    return value if isinstance(value, str) and value.strip() else None


def post_url(site: str, slug: str | None, topic_id: Any, number: Any) -> str:
    return f"{site}/t/{slug + '/' if slug else ''}{topic_id}/{number}"


def _post_id(post: dict[str, Any]) -> int:
    pid = _int(post.get("id"))
    if pid is None:
        raise ParseError(f"a Discourse post without a numeric id (id: {json_type_name(post.get('id'))}; keys: "
                         f"{', '.join(sorted(map(str, post))[:12])})")
    return pid


def _post(post: dict[str, Any], pid: int, site: str, topic: dict[str, Any]) -> tuple[Item | None, bool]:
    """Post ``pid`` → ``(item or None, whether it is gone)``; a small action is neither item nor gone."""
    if post.get("post_type") == SMALL_ACTION:
        return None, False
    if post.get("deleted_at") or post.get("user_deleted") is True or post.get("hidden") is True:
        return None, True
    number = _int(post.get("post_number"))
    topic_id = _int(post.get("topic_id")) or topic.get("id")
    slug = _str(post.get("topic_slug")) or topic.get("slug")
    text, quotes, links = render_cooked(post.get("cooked"), site)
    version = _int(post.get("version")) or 1
    username = _str(post.get("username"))
    fields: dict[str, Any] = {
        "author": (clean_text(username) or None) if username else None,
        "published": _iso(post.get("created_at")),
        "url": post_url(site, slug, topic_id, number) if number and topic_id else None,
        "text": text,
        "quotes": quotes,
        "edited": _iso(post.get("updated_at")) if version > 1 else None,
        "platform": PLATFORM,
        "community": urlsplit(site).hostname if site else None,
        "links": links,
    }
    title = topic.get("title") or _str(post.get("topic_title"))
    if number == 1 and title:
        fields["title"] = clean_text(title)
    answered = _int(post.get("reply_to_post_number"))
    if answered and topic_id:
        fields["reply_to"] = post_url(site, slug, topic_id, answered)
    return Item(str(pid), fields), False


def _shape(doc: Any) -> str:
    """What arrived instead, for a message: "a JSON object with keys errors, error_type"."""
    keys = f" with keys {', '.join(sorted(doc)[:8])}" if isinstance(doc, dict) else ""
    return f"a JSON {json_type_name(doc)}{keys}"


def _topic_facts(doc: dict[str, Any]) -> dict[str, Any]:
    title = _str(doc.get("title"))
    return {"id": _int(doc.get("id")), "title": clean_text(title) if title else None, "slug": _str(doc.get("slug")),
            "posts_count": _int(doc.get("posts_count"))}


def _stream(value: Any) -> list[int] | None:
    """``post_stream.stream``: every post id of the topic, in order; None when absent. It decides what is new
    and what is gone, so an entry that is not an id makes the whole list unreadable, not shorter."""
    if value is None:
        return None
    if not isinstance(value, list) or any(_int(i) is None for i in value):
        bad = value if not isinstance(value, list) else next(i for i in value if _int(i) is None)
        raise ParseError(f"post_stream.stream must list post ids (numbers); it holds a JSON {json_type_name(bad)}")
    return value


def read_posts(doc: Any, site: str, topic: dict[str, Any] | None = None,
               asked: Collection[int] | None = None) -> PostSet:
    """A topic (``/t/…json``) or posts of a topic (``/t/{id}/posts.json``) → its posts (and the stream, if any).

    At most :data:`CHUNK` posts are read: a topic answer's first chunk, or, given ``asked`` (the ids of a
    posts.json request), only those posts, whatever else the answer lists."""
    stream_doc = doc.get("post_stream") if isinstance(doc, dict) else None
    posts = stream_doc.get("posts") if isinstance(stream_doc, dict) else None
    if not isinstance(posts, list):
        raise ParseError(f"expected a Discourse topic or its posts ({{\"post_stream\": {{\"posts\": […]}}}}), "
                         f"got {_shape(doc)}")
    facts = {**(topic or {}), **{k: v for k, v in _topic_facts(doc).items() if v is not None}}
    out = PostSet(topic=facts, stream=_stream(stream_doc.get("stream")))
    _add_posts(out, posts, site, facts, limit=CHUNK, asked=set(asked) if asked is not None else None)
    return out


def _add_posts(out: PostSet, posts: list[Any], site: str, topic: dict[str, Any], *, limit: int | None = None,
               asked: set[int] | None = None) -> None:
    """Read ``posts`` into ``out``: the first ``limit`` posts (those in ``asked``, if given), each id once."""
    taken = 0
    for post in posts:
        if limit is not None and taken >= limit:
            break
        if not isinstance(post, dict):
            continue
        pid = _post_id(post)
        if (asked is not None and pid not in asked) or out.shown(pid):
            continue
        taken += 1
        item, gone = _post(post, pid, site, topic)
        out.add(pid, item, gone)


def read_topic_list(doc: Any) -> tuple[list[TopicRow], str | None]:
    """``/latest.json`` or ``/c/…json`` → its topics (each once) and ``more_topics_url``."""
    listing = doc.get("topic_list") if isinstance(doc, dict) else None
    topics = listing.get("topics") if isinstance(listing, dict) else None
    if not isinstance(topics, list):
        raise ParseError(f"expected a Discourse topic list ({{\"topic_list\": {{\"topics\": […]}}}}), "
                         f"got {_shape(doc)}")
    rows: dict[int, TopicRow] = {}
    for t in topics:
        tid = _int(t.get("id")) if isinstance(t, dict) else None
        if tid is None or tid in rows:
            continue
        title = _str(t.get("title"))
        rows[tid] = TopicRow(tid, _str(t.get("slug")), clean_text(title) if title else None,
                             _iso(t.get("created_at")), t.get("pinned") is True)
    more = listing.get("more_topics_url")
    return list(rows.values()), more if isinstance(more, str) and more else None


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """One saved Discourse response → its posts (``trialwatch parse discourse``); a topic list → its topics in
    ``meta["topics"]`` (a list holds topics, not posts: a watch reads each new topic's first post)."""
    doc = loads_json(body, where=f"the response from {url}" if url else "the response")
    site = site_root(url)
    if isinstance(doc, dict) and "topic_list" in doc:
        rows, more = read_topic_list(doc)
        return ParseResult(items=[], complete=False, meta={"topics": [vars(r) for r in rows], "more_topics_url": more})
    if isinstance(doc, dict) and isinstance(doc.get("latest_posts"), list):
        out = PostSet()
        _add_posts(out, doc["latest_posts"], site, {})
        return ParseResult(items=out.items, complete=False, meta={"gone": out.gone})
    posts = read_posts(doc, site)
    thread = {"id": str(posts.topic["id"]) if posts.topic.get("id") else None, "title": posts.topic.get("title")}
    meta: dict[str, Any] = {"thread": thread, "gone": posts.gone}
    if posts.stream is not None:
        meta["stream"] = posts.stream
    return ParseResult(items=posts.items, complete=False, meta=meta)
