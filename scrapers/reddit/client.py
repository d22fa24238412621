"""Every request of a Reddit check: through the shared fetcher, within Reddit's request budget, with OAuth
when the app's credentials are configured.

Reddit's rules (its Data API terms and wiki): a unique, descriptive User-Agent; about 10 requests a minute
without OAuth, about 100 a minute per OAuth client; the ``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset``
headers say what is left of the current window. So each request first takes its turn from the budget
(:mod:`scrapers.http.budget`, shared by all Reddit watches of the fetcher and timed on its clock), and each
answer's headers are reported back to it: with nothing left, the next request waits for the reset (or,
if that is longer than ``[http] max_retry_after_s``, the check fails as ``rate_limited`` and keeps its
state). A 429 is retried by the fetcher as usual (honouring ``Retry-After``); one that asks for too long a
wait holds the budget for that long, so the other Reddit watches of the same run do not ask in vain.

Without OAuth the requests go to ``{base_url}{path}.json`` (``https://www.reddit.com``); with it to
``{oauth_base}{path}`` (``https://oauth.reddit.com``) carrying ``Authorization: bearer …``. Both bases,
and the token endpoint's (``auth_base``), are settings, so tests point them at 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from scrapers.http.budget import RequestBudget
from scrapers.http.errors import FetchError
from scrapers.reddit.auth import AppToken

__all__ = ["ANON_PER_MINUTE", "OAUTH_PER_MINUTE", "RedditAccess", "RedditClient"]

#: Reddit's published budgets, requests a minute: without OAuth, and per OAuth client
ANON_PER_MINUTE = 10
OAUTH_PER_MINUTE = 100
DEFAULT_OAUTH_BASE = "https://oauth.reddit.com"
DEFAULT_AUTH_BASE = "https://www.reddit.com"
#: Reddit's rate-limit window, seconds: a reset said to be further away is not Reddit's (nor believed)
WINDOW_S = 600.0

#: what Reddit's error statuses usually mean here (the fetcher keeps no error body)
_STATUS_HINTS = {
    403: "Reddit answers 403 for a private or quarantined subreddit, and often to unauthenticated requests from "
         "cloud addresses: configure [sources.reddit] client_id / client_secret",
    404: "Reddit answers 404 for a subreddit or post that does not exist (or was banned)",
}


@dataclass(frozen=True)
class RedditAccess:
    """How this run reads Reddit: the API base, and the app's credentials when OAuth is configured."""

    api_base: str
    client_id: str | None = None
    client_secret: str | None = None
    auth_base: str = DEFAULT_AUTH_BASE
    user_agent: str | None = None
    note: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"RedditAccess({self.api_base!r}, oauth={self.oauth})"

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_settings(cls, base_url: str, settings: dict[str, Any]) -> RedditAccess:
        """``[sources.reddit]``: OAuth when both credentials are set (after ``${NAME}`` expansion)."""
        def text(key: str) -> str | None:
            value = settings.get(key)
            return value.strip() if isinstance(value, str) and value.strip() else None

        client_id, secret = text("client_id"), text("client_secret")
        agent = text("user_agent")
        auth_base = (text("auth_base") or DEFAULT_AUTH_BASE).rstrip("/")
        if client_id and secret:
            return cls((text("oauth_base") or DEFAULT_OAUTH_BASE).rstrip("/"), client_id, secret, auth_base, agent)
        note = None
        if client_id or secret:
            missing = "client_secret" if client_id else "client_id"
            note = f"[sources.reddit] {missing} is not set: reading without OAuth (about 10 requests a minute)"
        return cls(base_url.rstrip("/"), auth_base=auth_base, user_agent=agent, note=note)


class RedditClient:
    """The requests of one watch's check (counted for ``--explain``), sharing budget and token with the others."""

    def __init__(self, fetcher: Any, access: RedditAccess) -> None:
        self.fetcher = fetcher
        self.access = access
        self.requests = 0
        self.bytes = 0
        self.status: int | None = None
        self.notes: list[str] = [access.note] if access.note else []
        per_minute = OAUTH_PER_MINUTE if access.oauth else ANON_PER_MINUTE
        budget_key = ("reddit-budget", access.client_id) if access.oauth else ("reddit-budget", access.api_base)
        self.budget: RequestBudget = fetcher.shared(budget_key, lambda: RequestBudget(
            "Reddit", per_minute, clock=fetcher.now, sleep=fetcher.pause,
            max_wait_s=fetcher.settings.max_retry_after_s))
        self.token: AppToken | None = None
        if access.oauth:
            self.token = fetcher.shared(
                ("reddit-token", access.auth_base, access.client_id),
                lambda: AppToken(f"{access.auth_base}/api/v1/access_token", access.client_id or "",
                                 access.client_secret or ""))
        #: Reddit serves one morechildren request per client at a time ("higher concurrency will result in an error")
        self.more_lock: asyncio.Lock = fetcher.shared(("reddit-morechildren", budget_key), asyncio.Lock)
        self._waited = 0.0

    def url(self, path: str) -> str:
        """``path`` on the API host: ``.json`` added for the public host (the OAuth host answers JSON anyway)."""
        return f"{self.access.api_base}{path}" + ("" if self.access.oauth else ".json")

    async def _turn(self) -> None:
        self._waited += await self.budget.take()

    async def get(self, path: str, params: dict[str, str]) -> Any:
        """One GET of ``path`` (no extension) → its decoded JSON; FetchError / ParseError as the fetcher says."""
        for attempt in (1, 2):
            headers = {"User-Agent": self.access.user_agent} if self.access.user_agent else {}
            if self.token is not None:
                value, fresh = await self.token.bearer(self.fetcher, self._turn, headers)
                if fresh:
                    self.requests += 1
                    self.notes.append("OAuth: asked Reddit for an app token")
                headers["Authorization"] = value
            await self._turn()
            self.requests += 1
            try:
                resp = await self.fetcher.get(self.url(path), params={**params, "raw_json": "1"}, headers=headers,
                                              expect="json")
            except FetchError as exc:
                if exc.status == 401 and self.token is not None and attempt == 1:
                    self.token.forget()  # expired early or revoked: one new token, one more try
                    self.notes.append("OAuth: the token was refused (401); asked for a new one")
                    continue
                if exc.kind == "rate_limited" and exc.retry_after:
                    self.budget.hold(exc.retry_after, "Reddit answered 429 Too Many Requests")
                raise exc.hinted(_STATUS_HINTS) from None
            self.bytes += len(resp.body)
            self.status = resp.status
            reset = _number(resp.headers.get("x-ratelimit-reset"))
            self.budget.observe(_number(resp.headers.get("x-ratelimit-remaining")),
                                None if reset is None else min(reset, WINDOW_S))
            return resp.json()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def finish_notes(self) -> list[str]:
        """The notes for ``--explain``: OAuth events, and how long the budget made this check wait."""
        notes = list(self.notes)
        if self._waited > 0:
            notes.append(f"waited {self._waited:.0f} s for Reddit's request budget")
        return notes


def _number(value: str | None) -> float | None:
    """A header's number of requests or seconds; None for anything else ("inf" and "nan" included: an
    infinite reset would hold every Reddit watch of a running service for good)."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
