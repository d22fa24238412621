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
the database; ``repr`` shows neither. So an answer of the token endpoint that cannot be used (not JSON, no
``access_token``, one that is no bearer token) is an error naming the host and the problem that quotes no
byte of it: whatever is wrong with it, it may hold a token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from scrapers.http.errors import FetchError
from scrapers.json_body import json_type_name
from scrapers.records import ParseError

__all__ = ["AppToken"]

#: renew this long before the token's stated expiry, so a request never carries one that just ran out
RENEW_EARLY_S = 60.0
#: when the answer does not say how long the token lasts (Reddit's tokens last a day)
DEFAULT_LIFETIME_S = 3600.0
#: a stated lifetime longer than this is not believed (a day: Reddit's)
MAX_LIFETIME_S = 86400.0
#: what a bearer token is made of (RFC 6750 "b64token"): anything else would break or inject the header
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]{1,4096}=*")
#: an OAuth error code ("invalid_grant", "unsupported_grant_type"): quoted only when it looks like one
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


class AppToken:
    """The bearer token of one Reddit app, fetched on first use and renewed when due."""

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = token_url
        #: what errors name: the endpoint's host (and port), never its answer
        self.where = f"Reddit's token endpoint ({urlsplit(token_url).netloc.rpartition('@')[2] or token_url})"
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
            token, lifetime = self._read(resp.body)
            self._token = token
            self._expires_at = fetcher.now() + max(0.0, lifetime - RENEW_EARLY_S)
            return f"bearer {token}", True

    def _read(self, body: bytes) -> tuple[str, float]:
        """The token endpoint's answer → (the token, its lifetime in seconds); a ParseError that quotes none of
        it otherwise (not the shared JSON reader: its messages quote the bytes near the fault)."""
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # also bad UTF-8 and numbers too long to read
            raise ParseError(f"{self.where} answered {len(body)} bytes that are not JSON (not shown: they may "
                             "hold a token)") from None
        if not isinstance(doc, dict):
            raise ParseError(f"{self.where} answered a JSON {json_type_name(doc)} instead of an object with an "
                             "access_token")
        token = doc.get("access_token")
        if token is None:
            error = doc.get("error")
            code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
            raise ParseError(f"{self.where} answered without an access_token" + (f" (error: {code})" if code else ""))
        if not isinstance(token, str) or not _BEARER.fullmatch(token):
            raise ParseError(f"{self.where} answered an access_token that is not a bearer token (not shown)")
        lifetime = doc.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not lifetime > 0:
            return token, DEFAULT_LIFETIME_S  # also NaN
        return token, float(min(lifetime, MAX_LIFETIME_S))  # min first: an int too large for a float
