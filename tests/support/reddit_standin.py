"""A Reddit stand-in on the local replay server: a subreddit whose posts and comments change between checks,
answered in Reddit's real shapes (the samples in ``../shared/samples/reddit/`` and Reddit's API documentation).

Served: ``/r/{sub}/new``, ``/r/{sub}/search`` (``q`` with ``OR``, ``restrict_sr``, ``sort=new``), ``/comments/{id}``
(the two-Listing comment tree with nested ``replies`` and "load more comments" stubs) and ``/api/morechildren``
(``{"json": {"errors": [], "data": {"things": [...]}}}``), each both as ``….json`` on the public host and
without the extension under ``/oauth`` (the OAuth host, which wants ``Authorization: bearer …``), plus the
token endpoint ``POST /auth/api/v1/access_token`` (HTTP Basic, ``grant_type=client_credentials``). Listings
honour ``limit`` and ``after`` but never give more than ``page_size`` things (Reddit's pages are at most
100). Rendered HTML is escaped once unless ``raw_json=1`` is asked, as on Reddit. Every answer may carry
``X-Ratelimit-*`` headers.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from bot.demo.replay import Recorded, Reply, ReplayServer

EPOCH = 1_780_000_000.0  # 2026-05-28: the clock of the world


def markdown_html(text: str) -> str:
    """What Reddit renders a plain Markdown paragraph text to."""
    paras = "".join(f"<p>{html.escape(p, quote=False)}</p>\n" for p in text.split("\n\n") if p.strip())
    return f'<div class="md">{paras}</div>'


@dataclass
class Comment:
    id: str
    author: str
    body: str
    created: float
    parent: str  # fullname: t3_… or t1_…
    hidden: bool = False  # left out of the tree: behind a "load more comments" stub
    edited: float | bool = False
    deleted: bool = False
    replies: list["Comment"] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # fields served as given (damaged or hostile answers)

    def data(self, post: "Post", raw: bool) -> dict[str, Any]:
        body = "[deleted]" if self.deleted else self.body
        rendered = markdown_html(body)
        return {
            "id": self.id, "name": f"t1_{self.id}", "author": "[deleted]" if self.deleted else self.author,
            "body": body if raw else html.escape(body, quote=False),
            "body_html": rendered if raw else html.escape(rendered, quote=False),
            "created": self.created, "created_utc": self.created, "edited": self.edited, "parent_id": self.parent,
            "link_id": f"t3_{post.id}", "subreddit": post.subreddit, "subreddit_id": "t5_2r2oa",
            "permalink": f"/r/{post.subreddit}/comments/{post.id}/{post.slug}/{self.id}/",
            "score": 1, "ups": 1, "downs": 0, "stickied": False, "distinguished": None, "gilded": 0,
            "controversiality": 0, "score_hidden": False, "collapsed": False, "depth": 0, "replies": "",
            **self.overrides,
        }


@dataclass
class Post:
    id: str
    title: str
    author: str
    selftext: str
    created: float
    subreddit: str
    url: str | None = None  # a link post's target
    edited: float | bool = False
    deleted: bool = False
    comments: list[Comment] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # fields served as given (damaged or hostile answers)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.title.lower())[:50].strip("_") or "post"  # as Reddit makes them

    @property
    def permalink(self) -> str:
        return f"/r/{self.subreddit}/comments/{self.id}/{self.slug}/"

    def data(self, raw: bool) -> dict[str, Any]:
        text = "[deleted]" if self.deleted else self.selftext
        rendered = markdown_html(text) if text else None
        title = self.title if raw else html.escape(self.title, quote=False)
        return {
            "id": self.id, "name": f"t3_{self.id}", "title": title,
            "author": "[deleted]" if self.deleted else self.author,
            "selftext": text if raw else html.escape(text, quote=False),
            "selftext_html": (rendered if raw else html.escape(rendered, quote=False)) if rendered else None,
            "created": self.created, "created_utc": self.created, "edited": self.edited,
            "subreddit": self.subreddit, "subreddit_id": "t5_2r2oa", "permalink": self.permalink,
            "url": self.url or f"https://www.reddit.com{self.permalink}", "is_self": self.url is None,
            "domain": f"self.{self.subreddit}", "num_comments": len(list(walk(self.comments))), "score": 5,
            "ups": 5, "downs": 0, "upvote_ratio": 1.0, "stickied": False, "over_18": False, "locked": False,
            "link_flair_text": None, "removed_by_category": "deleted" if self.deleted else None, "thumbnail": "self",
            **self.overrides,
        }


def walk(comments: list[Comment]):
    for c in comments:
        yield c
        yield from walk(c.replies)


def listing(children: list[dict[str, Any]], after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children), "modhash": "",
                                        "geo_filter": "", "children": children}}


class RedditWorld:
    """One subreddit and its posts on a replay server; ``publish()`` (re)registers every route. Without a server
    (None) it only builds the documents Reddit would answer (:meth:`tree`, :meth:`more_children`)."""

    def __init__(self, server: ReplayServer | None, subreddit: str = "cfs", page_size: int = 100) -> None:
        self.server = server
        self.subreddit = subreddit
        self.page_size = page_size
        self.posts: list[Post] = []
        self._ids = itertools.count(1)
        self.clock = EPOCH
        self.ratelimit: dict[str, str] = {}  # X-Ratelimit-* headers on every answer
        self.failures: list[Reply] = []  # answers given (one each) before the next normal ones
        # OAuth: the app, the tokens handed out, and whether the API accepts them
        self.client_id = "tw-client-id-4711"
        self.client_secret = "tw-client-secret-s3cr3t-0815"
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.token_lifetime = 3600
        self.token_replies: list[Reply] = []  # answers of the token endpoint (one each) before the normal ones

    # --- the world --------------------------------------------------------------------------------
    def tick(self, seconds: float = 60.0) -> float:
        self.clock += seconds
        return self.clock

    def base36(self) -> str:
        n, digits, out = next(self._ids) + 46655, "0123456789abcdefghijklmnopqrstuvwxyz", ""
        while n:
            n, r = divmod(n, 36)
            out = digits[r] + out
        return out

    def post(self, title: str, text: str = "", *, author: str = "mecfs_reader", url: str | None = None,
             **overrides: Any) -> Post:
        p = Post(self.base36(), title, author, text, self.tick(), self.subreddit, url, overrides=overrides)
        self.posts.append(p)
        return p

    def comment(self, post: Post, body: str, *, parent: Comment | None = None, author: str = "commenter",
                hidden: bool = False) -> Comment:
        c = Comment(self.base36(), author, body, self.tick(), f"t1_{parent.id}" if parent else f"t3_{post.id}",
                    hidden=hidden)
        (parent.replies if parent else post.comments).append(c)
        return c

    def find(self, fullname: str) -> Post | Comment:
        for p in self.posts:
            if f"t3_{p.id}" == fullname:
                return p
            for c in walk(p.comments):
                if f"t1_{c.id}" == fullname:
                    return c
        raise KeyError(fullname)

    # --- serving ------------------------------------------------------------------------------------
    def publish(self) -> None:
        assert self.server is not None, "a world without a server only builds documents"
        sub = self.subreddit
        for prefix, ext in (("", ".json"), ("/oauth", "")):
            self.server.handle("GET", f"{prefix}/r/{sub}/new{ext}", self._guard(prefix, self._new))
            self.server.handle("GET", f"{prefix}/r/{sub}/search{ext}", self._guard(prefix, self._search))
            self.server.handle("GET", f"{prefix}/api/morechildren{ext}", self._guard(prefix, self._more))
            for p in self.posts:
                self.server.handle("GET", f"{prefix}/comments/{p.id}{ext}", self._guard(prefix, self._tree(p)))
        self.server.handle("POST", "/auth/api/v1/access_token", self._token)

    def _reply(self, body: Any, status: int = 200) -> Reply:
        return Reply(status=status, body=body, headers=dict(self.ratelimit))

    def _guard(self, prefix: str, respond):
        def answer(req: Recorded) -> Reply:
            if self.failures:
                return self.failures.pop(0)
            if prefix == "/oauth":
                auth = req.headers.get("authorization", "")
                token = auth.removeprefix("bearer ")
                if not auth.startswith("bearer ") or token not in self.tokens or token in self.revoked:
                    return Reply(401, {"message": "Unauthorized", "error": 401})
            return respond(req)
        return answer

    def _token(self, req: Recorded) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = parse_qs(req.body.decode())
        if req.headers.get("authorization") != f"Basic {expected}":
            return Reply(401, {"message": "Unauthorized", "error": 401})
        if self.token_replies:
            return self.token_replies.pop(0)
        if form.get("grant_type") != ["client_credentials"]:
            return Reply(200, {"error": "unsupported_grant_type"})
        token = f"tok-{len(self.tokens) + 1}-a9f3c2e7d1b4"
        self.tokens.append(token)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime,
                           "scope": "*"})

    def _page(self, posts: list[Post], req: Recorded) -> Reply:
        raw = req.query.get("raw_json") == ["1"]
        newest_first = sorted(posts, key=lambda p: p.created, reverse=True)
        start = 0
        after = (req.query.get("after") or [None])[0]
        if after:
            names = [f"t3_{p.id}" for p in newest_first]
            start = names.index(after) + 1 if after in names else len(names)
        limit = min(int((req.query.get("limit") or ["25"])[0]), self.page_size)
        chunk = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        children = [{"kind": "t3", "data": p.data(raw)} for p in chunk]
        return self._reply(listing(children, f"t3_{chunk[-1].id}" if chunk and more else None))

    def _new(self, req: Recorded) -> Reply:
        return self._page(self.posts, req)

    def _search(self, req: Recorded) -> Reply:
        q = (req.query.get("q") or [""])[0]
        terms = [t.strip().lower() for t in q.split(" OR ") if t.strip()]
        hits = [p for p in self.posts if any(t in f"{p.title} {p.selftext}".lower() for t in terms)]
        return self._page(hits, req)

    def tree(self, post: Post, raw: bool = True) -> list[dict[str, Any]]:
        """``/comments/{id}``'s answer: the submission's Listing and the comments' Listing."""
        return [listing([{"kind": "t3", "data": post.data(raw)}]),
                listing(self._level(post, post.comments, f"t3_{post.id}", 0, raw))]

    def _tree(self, post: Post):
        def answer(req: Recorded) -> Reply:
            return self._reply(self.tree(post, req.query.get("raw_json") == ["1"]))
        return answer

    def _level(self, post: Post, comments: list[Comment], parent: str, depth: int, raw: bool) -> list[dict[str, Any]]:
        """One level of the tree, newest first; hidden comments folded into one stub at its end."""
        shown = [c for c in sorted(comments, key=lambda c: c.created, reverse=True) if not c.hidden]
        hidden = [c for c in sorted(comments, key=lambda c: c.created, reverse=True) if c.hidden]
        out = []
        for c in shown:
            data = c.data(post, raw)
            data["depth"] = depth
            replies = self._level(post, c.replies, f"t1_{c.id}", depth + 1, raw)
            data["replies"] = listing(replies) if replies else ""
            out.append({"kind": "t1", "data": data})
        if hidden:
            out.append({"kind": "more", "data": {
                "count": sum(1 + len(list(walk(c.replies))) for c in hidden), "name": f"t1_{hidden[0].id}",
                "id": hidden[0].id, "parent_id": parent, "depth": depth, "children": [c.id for c in hidden]}})
        return out

    def _more(self, req: Recorded) -> Reply:
        raw = req.query.get("raw_json") == ["1"]
        link = (req.query.get("link_id") or [""])[0]
        wanted = (req.query.get("children") or [""])[0].split(",")
        if (req.query.get("api_type") or [""])[0] != "json" or not link.startswith("t3_"):
            return self._reply({"json": {"errors": [["BAD_REQUEST", "missing link_id or api_type", None]]}})
        return self._reply(self.more_children(link, wanted, raw))

    def more_children(self, link: str, wanted: list[str], raw: bool = True) -> dict[str, Any]:
        """``/api/morechildren``'s answer for the comment id36s ``wanted`` of post ``link`` (a fullname)."""
        post = self.find(link)
        things: list[dict[str, Any]] = []

        def flat(c: Comment, depth: int) -> None:  # pre-order, replies flattened, as morechildren answers
            data = c.data(post, raw)
            data["depth"] = depth
            things.append({"kind": "t1", "data": data})
            for r in sorted(c.replies, key=lambda r: r.created, reverse=True):
                flat(r, depth + 1)

        for cid in wanted:
            try:
                c = self.find(f"t1_{cid}")
            except KeyError:
                continue
            flat(c, 1)
        return {"json": {"errors": [], "data": {"things": things}}}


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]
