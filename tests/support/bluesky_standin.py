"""Bluesky as the tests need it: a local server answering the real XRPC methods with their real shapes and
semantics — ``app.bsky.feed.getAuthorFeed`` (newest first, ``cursor``), ``app.bsky.feed.searchPosts``
(``q``, ``sort=latest``, ``since``, ``cursor``; only with a session), ``com.atproto.server.createSession`` and
``refreshSession`` (tokens that expire on demand: 400 ``ExpiredToken``), and 429 with ``ratelimit-reset`` —
over posts made from the real-format fixtures in ``tests/fixtures/bluesky/``."""

from __future__ import annotations

import copy
import itertools
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.demo.replay import Recorded, ReplayServer, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
HANDLE = "trialwatch-bot.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"  # an app password's shape
BASE = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeBluesky:
    """One account's feed, the search index, and the sessions of one account (``HANDLE`` / ``PASSWORD``)."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        sample = fixture("author_feed.json")["feed"]
        self.template = sample[0]["post"]
        self.actor = self.template["author"]
        self.other = sample[1]["post"]["author"]
        self.feed: list[dict[str, Any]] = []  # feedViewPost entries, newest last
        self.index: list[dict[str, Any]] = []  # postViews the search finds
        self.failures: list[Reply] = []
        self.minutes = itertools.count(1)
        self.serial = itertools.count(1)
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.issued: list[str] = []  # every token handed out (tests look for them in logs and output)
        self.calls: list[str] = []  # which XRPC method each request called
        #: where createSession and refreshSession send the client instead of answering (a 307), if anywhere
        self.auth_redirect: str | None = None
        server.handle("GET", "/xrpc/app.bsky.feed.getAuthorFeed", self._author_feed)
        server.handle("GET", "/xrpc/app.bsky.feed.searchPosts", self._search)
        server.handle("POST", "/xrpc/com.atproto.server.createSession", self._create)
        server.handle("POST", "/xrpc/com.atproto.server.refreshSession", self._refresh)

    # --- the world ---------------------------------------------------------------------------
    def new_post(self, text: str, *, author: dict[str, Any] | None = None, langs: tuple[str, ...] = ("en",)) -> dict:
        post = copy.deepcopy(self.template)
        author = author or self.actor
        when = _stamp(BASE + timedelta(minutes=next(self.minutes)))
        rkey = f"3lm{next(self.serial):010d}"
        post.update(uri=f"at://{author['did']}/app.bsky.feed.post/{rkey}", cid=f"bafyrei{rkey}", author=author,
                    indexedAt=when)
        post["record"] = {"$type": "app.bsky.feed.post", "createdAt": when, "langs": list(langs), "text": text}
        post.pop("embed", None)
        return post

    def post(self, text: str, **kw: Any) -> dict[str, Any]:
        """The actor posts ``text``: in its feed and in the search index."""
        post = self.new_post(text, **kw)
        self.feed.append({"post": post})
        self.index.append(post)
        return post

    def repost(self, post: dict[str, Any]) -> None:
        when = _stamp(BASE + timedelta(minutes=next(self.minutes)))
        self.feed.append({"post": post, "reason": {
            "$type": "app.bsky.feed.defs#reasonRepost", "by": self.actor, "indexedAt": when,
            "uri": f"at://{self.actor['did']}/app.bsky.feed.repost/3lr{next(self.serial):010d}", "cid": "bafyreirepost"}})

    def edit(self, post: dict[str, Any], text: str) -> None:
        post["record"]["text"] = text
        post["cid"] = post["cid"] + "e"

    def delete(self, post: dict[str, Any]) -> None:
        self.feed = [e for e in self.feed if e["post"]["uri"] != post["uri"]]
        self.index = [p for p in self.index if p["uri"] != post["uri"]]

    def expire_access(self) -> None:
        self.valid_access.clear()

    def expire_all(self) -> None:
        self.valid_access.clear()
        self.valid_refresh.clear()

    def rate_limited(self, *, reset_in_s: float) -> None:
        reset = int(time.time() + reset_in_s)
        self.failures.append(Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers={
            "ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset),
            "ratelimit-policy": "3000;w=300"}))

    # --- answers -----------------------------------------------------------------------------
    def _tokens(self) -> dict[str, Any]:
        n = next(self.serial)
        access = f"eyJhbGciOiJFUzI1NksifQ.access{n:04d}x9Qm2.sigA{n:04d}"
        refresh = f"eyJhbGciOiJFUzI1NksifQ.refresh{n:04d}k7Lp4.sigR{n:04d}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        self.issued += [access, refresh]
        session = fixture("create_session.json")
        session.update(accessJwt=access, refreshJwt=refresh, handle=HANDLE)
        return session

    def _moved(self, method: str) -> Reply | None:
        """A 307 to :attr:`auth_redirect` (which keeps the method and the body: the password), when set."""
        if self.auth_redirect is None:
            return None
        return Reply(307, b"", content_type="text/plain", headers={"Location": f"{self.auth_redirect}/xrpc/{method}"})

    def _create(self, request: Recorded) -> Reply:
        self.calls.append("createSession")
        moved = self._moved("com.atproto.server.createSession")
        if moved:
            return moved
        body = request.json()
        if body.get("identifier") != HANDLE or body.get("password") != PASSWORD:
            return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
        return Reply(200, self._tokens())

    def _refresh(self, request: Recorded) -> Reply:
        self.calls.append("refreshSession")
        moved = self._moved("com.atproto.server.refreshSession")
        if moved:
            return moved
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_refresh:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        self.valid_refresh.discard(token)  # a refresh token is used once
        return Reply(200, self._tokens())

    def _author_feed(self, request: Recorded) -> Reply:
        self.calls.append("getAuthorFeed")
        if self.failures:
            return self.failures.pop(0)
        q = {k: v[0] for k, v in request.query.items()}
        entries = sorted(self.feed, key=self._sort_at, reverse=True)
        if q.get("cursor"):
            entries = [e for e in entries if self._sort_at(e) < q["cursor"]]
        limit = int(q.get("limit", "50"))
        page = entries[:limit]
        out: dict[str, Any] = {"feed": copy.deepcopy(page)}
        if len(entries) > limit:
            out["cursor"] = self._sort_at(page[-1])
        return Reply(200, out)

    @staticmethod
    def _sort_at(entry: dict[str, Any]) -> str:
        return (entry.get("reason") or {}).get("indexedAt") or entry["post"]["indexedAt"]

    def _search(self, request: Recorded) -> Reply:
        self.calls.append("searchPosts")
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token:
            return Reply(401, {"error": "AuthMissing", "message": "Authentication Required"})
        if token not in self.valid_access:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if self.failures:
            return self.failures.pop(0)
        q = {k: v[0] for k, v in request.query.items()}
        words = q["q"].lower().split()
        hits = [p for p in self.index if all(w in p["record"]["text"].lower() for w in words)]
        if q.get("since"):
            since = datetime.fromisoformat(q["since"].replace("Z", "+00:00"))
            hits = [p for p in hits if datetime.fromisoformat(p["indexedAt"].replace("Z", "+00:00")) >= since]
        hits.sort(key=lambda p: p["indexedAt"], reverse=True)
        offset, limit = int(q.get("cursor", "0")), int(q.get("limit", "25"))
        page = hits[offset:offset + limit]
        out: dict[str, Any] = {"posts": copy.deepcopy(page), "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            out["cursor"] = str(offset + limit)
        return Reply(200, out)
