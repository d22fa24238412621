"""A Mastodon instance as the tests need it: a local server answering the real API's paths with the real
query semantics (``min_id`` / ``since_id`` / ``max_id`` / ``limit``, newest first), ``Link`` headers and
``X-RateLimit-*`` headers as Mastodon sends them, over statuses made from the real-format fixtures in
``tests/fixtures/mastodon/``. Statuses can be added, edited and deleted between checks."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.demo.replay import Recorded, ReplayServer, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mastodon"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _order(status_id: str) -> tuple[int, str]:
    return (len(status_id), status_id)


class FakeMastodon:
    """Statuses of one hashtag timeline and one account's statuses, served by ``server``."""

    def __init__(self, server: ReplayServer, tag: str = "MECFS") -> None:
        self.server = server
        self.tag = tag
        self.account = fixture("account_lookup.json")
        self.timeline: list[dict[str, Any]] = []  # the hashtag's statuses
        self.own: list[dict[str, Any]] = []  # the account's statuses (boosts included)
        self.failures: list[Reply] = []  # answers given (once each) before the next real one
        #: answer as a server that does not know ``min_id`` (an old or non-Mastodon implementation of the API):
        #: always the newest page
        self.ignores_min_id = False
        self.template = fixture("tag_MECFS.json")[0]
        self._next = 113600000000000000
        server.handle("GET", f"/api/v1/timelines/tag/{tag}", lambda r: self._page(r, self.timeline))
        server.handle("GET", "/api/v1/accounts/lookup", self._lookup)
        server.handle("GET", f"/api/v1/accounts/{self.account['id']}/statuses", lambda r: self._page(r, self.own))

    # --- the world ---------------------------------------------------------------------------
    def new_status(self, text: str, *, language: str = "en", minutes: int = 0) -> dict[str, Any]:
        """A status by the fixture's account, newer than every one before it."""
        self._next += 1
        sid = str(self._next)
        status = copy.deepcopy(self.template)
        created = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=self._next % 100000 + minutes)
        status.update(id=sid, created_at=created.strftime("%Y-%m-%dT%H:%M:%S.000Z"), language=language,
                      content=f"<p>{text}</p>", uri=f"https://mastodon.social/users/kari/statuses/{sid}",
                      url=f"https://mastodon.social/@kari/{sid}")
        return status

    def post(self, text: str, **kw: Any) -> dict[str, Any]:
        status = self.new_status(text, **kw)
        self.timeline.append(status)
        self.own.append(status)
        return status

    def boost(self, original: dict[str, Any]) -> dict[str, Any]:
        """The account boosts ``original`` (a new entry in its statuses, with a new id)."""
        wrapper = self.new_status("")
        wrapper.update(content="", reblog=copy.deepcopy(original), language=None,
                       uri=f"https://mastodon.social/users/kari/statuses/{wrapper['id']}/activity")
        self.own.append(wrapper)
        return wrapper

    def edit(self, status: dict[str, Any], text: str) -> None:
        status.update(content=f"<p>{text}</p>", edited_at="2026-03-04T12:00:00.000Z")

    def delete(self, status: dict[str, Any]) -> None:
        self.timeline = [s for s in self.timeline if s["id"] != status["id"]]
        self.own = [s for s in self.own if s["id"] != status["id"]]

    def rate_limited(self, *, reset_in_s: float) -> None:
        """The next request is answered as Mastodon's rack-attack answers a throttled one."""
        reset = datetime.now(timezone.utc) + timedelta(seconds=reset_in_s)
        self.failures.append(Reply(429, {"error": "Too many requests"}, headers={
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}))

    # --- answers -----------------------------------------------------------------------------
    def _lookup(self, request: Recorded) -> Reply:
        if request.query.get("acct", [""])[0].lower() != self.account["acct"].lower():
            return Reply(404, {"error": "Record not found"})
        return Reply(200, self.account, headers=self._limits())

    def _limits(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299",
                "X-RateLimit-Reset": "2026-03-03T09:05:00.000000Z"}

    def _page(self, request: Recorded, statuses: list[dict[str, Any]]) -> Reply:
        if self.failures:
            return self.failures.pop(0)
        q = {k: v[0] for k, v in request.query.items()}
        limit = min(int(q.get("limit", "20")), 40)
        ordered = sorted(statuses, key=lambda s: _order(s["id"]))
        if q.get("max_id"):
            ordered = [s for s in ordered if _order(s["id"]) < _order(q["max_id"])]
        if q.get("min_id") and not self.ignores_min_id:  # the statuses immediately newer than min_id, newest first
            page = [s for s in ordered if _order(s["id"]) > _order(q["min_id"])][:limit][::-1]
        else:
            if q.get("since_id"):
                ordered = [s for s in ordered if _order(s["id"]) > _order(q["since_id"])]
            page = ordered[::-1][:limit]
        links = []
        base = f"{self.server.url}{request.path}"
        if len(page) == limit:
            links.append(f'<{base}?limit={limit}&max_id={page[-1]["id"]}>; rel="next"')
        if page:
            links.append(f'<{base}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"')
        headers = self._limits()
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(200, page, headers=headers)
