"""A Discourse stand-in on the local replay server: a forum (under a folder, as patient organisations often run
it) whose topics change between checks, answered in Discourse's real shapes (the samples in
``../shared/samples/discourse/`` and Discourse's API documentation).

Served: ``/t/{slug}/{id}.json`` and ``/t/{id}.json`` (the first 20 posts and ``post_stream.stream``),
``/t/{id}/posts.json?post_ids[]=…`` (those posts), ``/latest.json`` and ``/c/{slug}/{id}.json`` (``topic_list``,
bumped first or newest-created first with ``order=created``, ``page``, ``more_topics_url``). As for a guest:
deleted posts are neither in the stream nor among the posts; a post its author deleted stays, marked
``user_deleted``; small-action posts ("closed this topic") are in the stream like any other.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.demo.replay import Recorded, Reply, ReplayServer

START = datetime(2026, 5, 28, 9, 0, tzinfo=timezone.utc)
CHUNK = 20


def cooked(text: str) -> str:
    """Discourse's rendering of plain paragraphs."""
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in text.split("\n\n") if p.strip())


def quote_of(post: "DPost", topic: "DTopic", text: str) -> str:
    """A reply quoting ``post``, as Discourse cooks ``[quote]``."""
    return (f'<aside class="quote no-group" data-username="{post.author}" data-post="{post.number}" '
            f'data-topic="{topic.id}">\n<div class="title">\n<div class="quote-controls"></div>\n'
            f'<img loading="lazy" alt="" width="24" height="24" src="/letter_avatar/{post.author}/48/5.png" '
            f'class="avatar"> {post.author}:</div>\n<blockquote>\n{post.cooked}\n</blockquote>\n</aside>\n'
            + cooked(text))


@dataclass
class DPost:
    id: int
    number: int
    author: str
    cooked: str
    created: datetime
    post_type: int = 1
    version: int = 1
    updated: datetime | None = None
    deleted: bool = False
    user_deleted: bool = False
    reply_to: int | None = None

    def data(self, topic: "DTopic") -> dict[str, Any]:
        iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        return {
            "id": self.id, "name": self.author.title(), "username": self.author,
            "avatar_template": f"/letter_avatar_proxy/v4/letter/{self.author[0]}/e9a140/{{size}}.png",
            "created_at": iso(self.created),
            "cooked": "<p>(post deleted by author)</p>" if self.user_deleted else self.cooked,
            "post_number": self.number, "post_type": self.post_type, "updated_at": iso(self.updated or self.created),
            "reply_count": 0, "reply_to_post_number": self.reply_to, "quote_count": 0, "incoming_link_count": 0,
            "reads": 3, "readers_count": 2, "score": 0.6, "yours": False, "topic_id": topic.id,
            "topic_slug": topic.slug, "display_username": self.author.title(), "primary_group_name": None,
            "flair_name": None, "version": self.version, "can_edit": False, "can_delete": False,
            "can_recover": False, "can_wiki": False, "read": True, "user_title": None, "bookmarked": False,
            "actions_summary": [], "moderator": False, "admin": False, "staff": False, "user_id": 100 + self.id,
            "hidden": False, "trust_level": 1, "deleted_at": None, "user_deleted": self.user_deleted,
            "edit_reason": None, "can_view_edit_history": True, "wiki": False,
        }


@dataclass
class DTopic:
    id: int
    title: str
    slug: str
    category: tuple[str, int]
    created: datetime
    posts: list[DPost] = field(default_factory=list)
    pinned: bool = False

    def visible(self) -> list[DPost]:
        return [p for p in self.posts if not p.deleted]

    @property
    def bumped(self) -> datetime:
        return max(p.created for p in self.posts)


class DiscourseWorld:
    """A Discourse forum at ``{server}{prefix}``; ``publish()`` (re)registers every route."""

    def __init__(self, server: ReplayServer | None, prefix: str = "/forum", page_size: int = 30) -> None:
        """``server`` None: a forum whose answers are only built (``topic_body`` …), for pure parser tests."""
        self.server = server
        self.prefix = prefix
        self.page_size = page_size
        self.topics: list[DTopic] = []
        self._topic_ids = itertools.count(40)
        self._post_ids = itertools.count(1000)
        self.now = START
        self.failures: list[Reply] = []
        self.categories: dict[str, tuple[str, int]] = {"research": ("research", 12), "chat": ("chat", 7)}

    @property
    def site(self) -> str:
        return f"{self.server.url if self.server else 'https://forum.example.org'}{self.prefix}"

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    def topic(self, title: str, text: str, *, category: str = "research", author: str = "kari") -> DTopic:
        slug = "-".join("".join(c for c in w.lower() if c.isalnum()) for w in title.split()).strip("-") or "topic"
        t = DTopic(next(self._topic_ids), title, slug, self.categories[category], self.tick())
        self.topics.append(t)
        self.reply(t, text, author=author)
        return t

    def reply(self, topic: DTopic, text: str, *, author: str = "ola", raw_cooked: str | None = None,
              post_type: int = 1, reply_to: int | None = None) -> DPost:
        number = max((p.number for p in topic.posts), default=0) + 1
        p = DPost(next(self._post_ids), number, author, raw_cooked if raw_cooked is not None else cooked(text),
                  self.tick(), post_type=post_type, reply_to=reply_to)
        topic.posts.append(p)
        return p

    def edit(self, post: DPost, text: str) -> None:
        post.cooked, post.version, post.updated = cooked(text), post.version + 1, self.tick()

    # --- serving ------------------------------------------------------------------------------------
    def publish(self) -> None:
        assert self.server is not None, "a forum without a server has nothing to publish to"
        p = self.prefix
        for t in self.topics:
            self.server.handle("GET", f"{p}/t/{t.slug}/{t.id}.json", self._guard(self._topic(t)))
            self.server.handle("GET", f"{p}/t/{t.id}.json", self._guard(self._topic(t)))
            self.server.handle("GET", f"{p}/t/{t.id}/posts.json", self._guard(self._posts(t)))
        self.server.handle("GET", f"{p}/latest.json", self._guard(self._list(None)))
        for slug, cid in self.categories.values():
            self.server.handle("GET", f"{p}/c/{slug}/{cid}.json", self._guard(self._list((slug, cid))))

    def _guard(self, respond):
        def answer(req: Recorded) -> Reply:
            return self.failures.pop(0) if self.failures else respond(req)
        return answer

    def _topic(self, t: DTopic):
        def answer(req: Recorded) -> Reply:
            return Reply(body=self.topic_body(t))
        return answer

    def topic_body(self, t: DTopic) -> dict[str, Any]:
        """``/t/{slug}/{id}.json`` as a guest gets it: the first 20 posts and every post id."""
        visible = t.visible()
        iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        return {
            "post_stream": {"posts": [p.data(t) for p in visible[:CHUNK]], "stream": [p.id for p in visible]},
            "timeline_lookup": [[1, 0]], "suggested_topics": [], "tags": [], "id": t.id, "title": t.title,
            "fancy_title": html.escape(t.title, quote=False), "posts_count": len(visible),
            "created_at": iso(t.created), "views": 40, "reply_count": len(visible) - 1, "like_count": 2,
            "last_posted_at": iso(t.bumped), "visible": True, "closed": False, "archived": False,
            "has_summary": False, "archetype": "regular", "slug": t.slug, "category_id": t.category[1],
            "word_count": 300, "deleted_at": None, "user_id": 101, "featured_link": None, "pinned_globally": False,
            "pinned_at": None, "pinned_until": None, "image_url": None, "slow_mode_seconds": 0, "draft": None,
            "draft_key": f"topic_{t.id}", "draft_sequence": None, "unpinned": None, "pinned": t.pinned,
            "current_post_number": 1, "highest_post_number": max(p.number for p in t.posts),
            "deleted_by": None, "actions_summary": [], "chunk_size": CHUNK, "bookmarked": False,
            "details": {"can_edit": False, "notification_level": 1, "participants": [],
                        "created_by": {"id": 101, "username": t.posts[0].author}},
        }

    def _posts(self, t: DTopic):
        def answer(req: Recorded) -> Reply:
            wanted = {int(i) for i in req.query.get("post_ids[]", []) if i.isascii() and i.isdigit()}
            return Reply(body=self.posts_body(t, wanted))
        return answer

    def posts_body(self, t: DTopic, wanted: set[int]) -> dict[str, Any]:
        """``/t/{id}/posts.json?post_ids[]=…``: the visible posts among ``wanted``."""
        return {"post_stream": {"posts": [p.data(t) for p in t.visible() if p.id in wanted]}, "id": t.id}

    def _list(self, category: tuple[str, int] | None):
        def answer(req: Recorded) -> Reply:
            page = (req.query.get("page") or ["0"])[0]
            return Reply(body=self.list_body(category, created=req.query.get("order") == ["created"],
                                             page=int(page) if page.isascii() and page.isdigit() else 0))
        return answer

    def list_body(self, category: tuple[str, int] | None, *, created: bool = True, page: int = 0) -> dict[str, Any]:
        """``/latest.json`` or ``/c/{slug}/{id}.json``: one page of topics, bumped or (``created``) newest first."""
        topics = [t for t in self.topics if category is None or t.category == category]
        topics.sort(key=lambda t: (t.pinned, t.created if created else t.bumped), reverse=True)
        chunk = topics[page * self.page_size:(page + 1) * self.page_size]
        path = f"{self.prefix}/c/{category[0]}/{category[1]}" if category else f"{self.prefix}/latest"
        more = (f"{path}?{'order=created&' if created else ''}page={page + 1}"
                if (page + 1) * self.page_size < len(topics) else None)
        iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        return {"users": [{"id": 101, "username": "kari", "name": "Kari"}], "primary_groups": [],
                "topic_list": {"can_create_topic": False, "per_page": self.page_size,
                               **({"more_topics_url": more} if more else {}), "topics": [{
                "id": t.id, "title": t.title, "fancy_title": html.escape(t.title, quote=False), "slug": t.slug,
                "posts_count": len(t.visible()), "reply_count": len(t.visible()) - 1,
                "highest_post_number": max(p.number for p in t.posts), "image_url": None,
                "created_at": iso(t.created), "last_posted_at": iso(t.bumped), "bumped": True,
                "bumped_at": iso(t.bumped), "archetype": "regular", "unseen": False, "pinned": t.pinned,
                "unpinned": None, "visible": True, "closed": False, "archived": False, "bookmarked": None,
                "liked": None, "views": 10, "like_count": 0, "has_summary": False,
                "last_poster_username": t.posts[-1].author, "category_id": t.category[1], "pinned_globally": False,
                "featured_link": None, "posters": [{"extras": "latest single", "description": "Original Poster",
                                                    "user_id": 101, "primary_group_id": None}]}
                for t in chunk]}}
