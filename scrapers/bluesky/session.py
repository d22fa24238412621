"""A Bluesky session for the requests that need one (``app.bsky.feed.searchPosts``): created from a handle and
an app password, kept in memory, renewed when the server says it expired.

* ``com.atproto.server.createSession`` (POST ``{identifier, password}`` to ``auth_base``, default
  ``https://bsky.social``) gives an ``accessJwt`` (sent as ``Authorization: Bearer …``, valid for a couple
  of hours) and a ``refreshJwt`` (valid for weeks);
* when a request answers 400 ``{"error": "ExpiredToken"}`` (or ``InvalidToken``) or 401, the session is
  renewed with ``com.atproto.server.refreshSession`` (the ``refreshJwt`` as Bearer) and the request is
  sent once more; if the refresh itself is refused, a new session is created.

The tokens live in this process only, in one table keyed by ``(auth_base, handle)``: never in the database,
a log line, an error message, an event or ``--explain``. Why a process-wide table: ``trialwatch run``
makes new source objects every cycle, and Bluesky allows only 30 ``createSession`` per 5 minutes and 300 a
day per account, so every search of every cycle logging in anew would soon be refused. The password is
only ever sent in the body of ``createSession``, and only to ``auth_base`` itself: ``createSession`` and
``refreshSession`` never follow a redirect (httpx would send a 307's body, the password, on to wherever it
points), and a redirect answer is an error naming where it pointed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from scrapers.http.errors import FetchError, site_name
from scrapers.json_body import loads_json
from scrapers.records import ParseError

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.content import Response
    from scrapers.http.fetcher import Fetcher

__all__ = ["BlueskySession", "forget_sessions", "is_expired"]

CREATE = "/xrpc/com.atproto.server.createSession"
REFRESH = "/xrpc/com.atproto.server.refreshSession"
#: XRPC error codes that mean "this token is no good any more": renew and try again
_EXPIRED_CODES = frozenset({"ExpiredToken", "InvalidToken"})


@dataclass(frozen=True)
class _Tokens:
    access: str = field(repr=False)
    refresh: str = field(repr=False)


_SESSIONS: dict[tuple[str, str], _Tokens] = {}


def forget_sessions() -> None:
    """Drop every session this process holds (the next request logs in anew)."""
    _SESSIONS.clear()


def xrpc_error(exc: FetchError) -> str | None:
    """The XRPC error code of a failed request's body (``{"error": "ExpiredToken", …}``), if any."""
    try:
        data = loads_json(exc.body) if exc.body else None
    except ParseError:
        return None
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


def is_expired(exc: FetchError) -> bool:
    """Whether a failed request means the session must be renewed (400 ExpiredToken/InvalidToken, or 401)."""
    if exc.kind != "http_status":
        return False
    return exc.status == 401 or (exc.status == 400 and xrpc_error(exc) in _EXPIRED_CODES)


class BlueskySession:
    """The session of one handle at one ``auth_base``; counts the requests and bytes it makes."""

    def __init__(self, auth_base: str, handle: str, password: str) -> None:
        self.auth_base = auth_base.rstrip("/")
        self.handle = handle
        self._password = password
        self.requests = 0
        self.bytes = 0
        self.renewed = False

    def __repr__(self) -> str:  # never the password or a token
        return f"BlueskySession({self.auth_base!r}, {self.handle!r})"

    @property
    def _key(self) -> tuple[str, str]:
        return (self.auth_base, self.handle)

    async def get(self, fetcher: "Fetcher", url: str, params: dict[str, str]) -> "Response":
        """GET ``url`` with the session's access token, renewing the session once if it expired."""
        tokens = _SESSIONS.get(self._key) or await self._create(fetcher)
        try:
            return await self._send(fetcher, url, params, tokens)
        except FetchError as exc:
            if not is_expired(exc):
                raise
        tokens = await self._renew(fetcher, tokens)
        return await self._send(fetcher, url, params, tokens)

    async def _send(self, fetcher: "Fetcher", url: str, params: dict[str, str], tokens: _Tokens) -> "Response":
        self.requests += 1
        resp = await fetcher.get(url, params=params, headers={"Authorization": f"Bearer {tokens.access}"})
        self.bytes += len(resp.body)
        return resp

    async def _renew(self, fetcher: "Fetcher", tokens: _Tokens) -> _Tokens:
        """refreshSession with the refresh token; a refused refresh (expired too) falls back to createSession."""
        self.renewed = True
        _SESSIONS.pop(self._key, None)
        self.requests += 1
        try:
            resp = await fetcher.request("POST", self.auth_base + REFRESH, expect="json", follow_redirects=False,
                                         headers={"Authorization": f"Bearer {tokens.refresh}"})
        except FetchError as exc:
            if exc.kind != "http_status" or exc.status not in (400, 401):
                raise
            return await self._create(fetcher)
        return self._keep(self._not_redirected(resp, "session refresh", "the refresh token"), "refreshSession")

    async def _create(self, fetcher: "Fetcher") -> _Tokens:
        self.requests += 1
        try:
            resp = await fetcher.post_json(self.auth_base + CREATE,
                                           {"identifier": self.handle, "password": self._password},
                                           follow_redirects=False)
        except FetchError as exc:
            if exc.kind == "http_status" and exc.status in (400, 401):
                code = xrpc_error(exc)
                raise FetchError(
                    "http_status",
                    f"{site_name(self.auth_base)} refused to log in as {self.handle}"
                    + (f" ({code})" if code else "")
                    + ": check [sources.bluesky] handle and app_password (BLUESKY_HANDLE, BLUESKY_APP_PASSWORD; "
                      "an app password from Settings → Privacy and security → App passwords)",
                    url=exc.url, status=exc.status) from None
            raise
        return self._keep(self._not_redirected(resp, "login", "the password"), "createSession")

    def _not_redirected(self, resp: "Response", what: str, secret: str) -> "Response":
        """``resp``, unless it is a redirect: then the FetchError saying where it pointed (the secret stays here)."""
        if not 300 <= resp.status < 400:
            return resp
        location = resp.headers.get("location", "").strip()
        try:
            target = site_name(urljoin(resp.url, location)) if location else "nowhere (no Location)"
        except ValueError:  # a Location that is no URL
            target = "an address that is no URL"
        raise FetchError("http_status", f"Bluesky's {what} at {site_name(self.auth_base)} answered a redirect "
                         f"(HTTP {resp.status}) to {target}; not following it with {secret} "
                         "(check [sources.bluesky] auth_base)", url=resp.url, status=resp.status)

    def _keep(self, resp: "Response", method: str) -> _Tokens:
        """The tokens of a createSession/refreshSession answer, remembered; a message without them otherwise."""
        self.bytes += len(resp.body)
        try:
            data: Any = loads_json(resp.body)
        except ParseError:
            data = None  # the decoder's message may quote the body, and the body holds tokens: say less
        access = data.get("accessJwt") if isinstance(data, dict) else None
        refresh = data.get("refreshJwt") if isinstance(data, dict) else None
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise ParseError(f"{site_name(self.auth_base)} answered {method} without a usable accessJwt and refreshJwt")
        tokens = _Tokens(access, refresh)
        _SESSIONS[self._key] = tokens
        return tokens
