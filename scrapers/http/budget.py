"""A site's published request budget ("10 requests a minute"), shared by every watch one fetcher serves.

Why apart from the fetcher's per-host spacing: some APIs publish a budget per client rather than a pace
per host (Reddit: about 10 requests a minute without OAuth, about 100 with it) and report what is left
in response headers (``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset``). A source asks its budget before
each request (:meth:`RequestBudget.take`) and tells it what the site said afterwards
(:meth:`RequestBudget.observe`, :meth:`RequestBudget.hold`). Nothing here is Reddit-specific: a
Mastodon or Bluesky source reads its own headers and reports them the same way.

Waiting happens on the fetcher's clock (:meth:`Fetcher.now` / :meth:`Fetcher.pause`), so tests inject time
and never sleep. A wait longer than ``max_wait_s`` is not waited: the request fails at once as
``rate_limited`` (the watch keeps its state and is retried at its next check), so one budget spent never
holds the other watches' checks hostage.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from scrapers.http.errors import FetchError

__all__ = ["RequestBudget"]

#: the window a per-minute budget counts requests in
WINDOW_S = 60.0


class RequestBudget:
    """At most ``per_minute`` request starts in any minute, and none while the site says its window is spent."""

    def __init__(self, site: str, per_minute: float, *, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]], max_wait_s: float) -> None:
        self.site = site
        self.per_minute = max(1, int(per_minute))
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        #: no request before this time (the site's window reset, or a Retry-After that was too long to wait)
        self._blocked_until = float("-inf")
        self._why = ""
        self._lock: asyncio.Lock | None = None
        #: seconds waited so far (for ``check --explain``)
        self.waited_s = 0.0

    def _wait_needed(self, now: float) -> tuple[float, str]:
        while self._starts and self._starts[0] <= now - WINDOW_S:
            self._starts.popleft()
        wait, why = 0.0, ""
        if self._blocked_until > now:
            wait, why = self._blocked_until - now, self._why
        if len(self._starts) >= self.per_minute:
            window = self._starts[0] + WINDOW_S - now
            if window > wait:
                wait, why = window, f"{self.per_minute} requests a minute"
        return wait, why

    async def take(self) -> float:
        """Wait for room for one request and count it; the seconds waited. FetchError when the wait is too long."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one waiter at a time, so the requests that waited start in order
            waited = 0.0
            while True:
                wait, why = self._wait_needed(self._clock())
                if wait <= 0:
                    break
                if waited + wait > self.max_wait_s:
                    raise FetchError(
                        "rate_limited",
                        f"{self.site}'s request budget is spent ({why}); it frees up in {wait:.0f} s, longer than "
                        f"the {self.max_wait_s:g} s we wait: the next check reads it",
                        retry_after=wait,
                    )
                await self._sleep(wait)
                waited += wait
            self._starts.append(self._clock())
            self.waited_s += waited
            return waited

    def observe(self, remaining: float | None, reset_in_s: float | None) -> None:
        """What the site said about its window: requests ``remaining`` in it, reset in ``reset_in_s`` seconds.
        With less than one request left, nothing is sent before the reset."""
        if remaining is None or reset_in_s is None or reset_in_s < 0:
            return
        if remaining < 1:
            self.hold(reset_in_s, "the site reported its request window spent")

    def hold(self, seconds: float, why: str = "the site asked us to wait") -> None:
        """No request for ``seconds`` (a 429's Retry-After, a spent window)."""
        until = self._clock() + max(0.0, seconds)
        if until > self._blocked_until:
            self._blocked_until, self._why = until, why
