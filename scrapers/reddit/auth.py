"""Reddit's application-only OAuth ("client_credentials" grant): one bearer token, reused until it expires.

Why: unauthenticated ``.json`` reading is throttled to about 10 requests a minute (and often refused from
cloud addresses); a registered app reads ``https://oauth.reddit.com`` at about 100 a minute. The app's
``client_id`` / ``client_secret`` come from the environment (``[sources.reddit] client_id =
"${REDDIT_CLIENT_ID}"``). The token request is ``POST {auth_base}/api/v1/access_token`` with HTTP Basic
credentials and ``grant_type=client_credentials``; the answer is ``{"access_token", "token_type": "bearer",
"expires_in", "scope"}``.

One :class:`AppToken` lives per fetcher and app (see :meth:`Fetcher.shared`), so every Reddit watch of a
``check`` or of the running service shares it: asked for once, renewed a minute before it expires or when
the API answers 401. Neither the secret nor the token is ever logged, put in an error message or stored in
the database; ``repr`` shows neither.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from scrapers.http.errors import FetchError
from scrapers.records import ParseError

__all__ = ["AppToken"]

#: renew this long before the token's stated expiry, so a request never carries one that just ran out
RENEW_EARLY_S = 60.0
#: when the answer does not say how long the token lasts (Reddit's tokens last a day)
DEFAULT_LIFETIME_S = 3600.0


class AppToken:
    """The bearer token of one Reddit app, fetched on first use and renewed when due."""

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = token_url
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._token: str | None = None
        self._expires_at = float("-inf")
        self._lock: asyncio.Lock | None = None
        #: token requests made (``check --explain`` says when one was made)
        self.requests = 0

    def __repr__(self) -> str:  # never the credentials or the token
        return f"AppToken({self.token_url!r}, {'a token' if self._token else 'no token yet'})"

    def forget(self) -> None:
        """The API refused the token (401): the next request asks for a new one."""
        self._token, self._expires_at = None, float("-inf")

    async def bearer(self, fetcher: Any, before_request: Callable[[], Awaitable[Any]],
                     headers: dict[str, str]) -> tuple[str, bool]:
        """``(the Authorization header value, whether a token was requested now)``.

        ``before_request`` is awaited before the token request (the Reddit request budget); ``headers``
        are sent with it (the User-Agent Reddit asks for). Concurrent callers wait for one request."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is not None and fetcher.now() < self._expires_at:
                return f"bearer {self._token}", False
            await before_request()
            self.requests += 1
            try:
                resp = await fetcher.request(
                    "POST", self.token_url, data={"grant_type": "client_credentials"}, expect="json",
                    headers={**headers, "Authorization": f"Basic {self._basic}"})
            except FetchError as exc:
                if exc.status in (400, 401, 403):
                    raise FetchError(exc.kind, f"Reddit refused the app credentials ([sources.reddit] client_id / "
                                     f"client_secret): {exc.message}", url=exc.url, status=exc.status) from None
                raise
            doc = resp.json()
            token = doc.get("access_token") if isinstance(doc, dict) else None
            if not isinstance(token, str) or not token:
                error = doc.get("error") if isinstance(doc, dict) else None
                raise ParseError("Reddit's token endpoint answered without an access_token"
                                 + (f" (error: {str(error)[:80]})" if error else ""))
            lifetime = doc.get("expires_in")
            if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
                lifetime = DEFAULT_LIFETIME_S
            self._token = token
            self._expires_at = fetcher.now() + max(0.0, float(lifetime) - RENEW_EARLY_S)
            return f"bearer {token}", True
