"""The ``mastodon`` watch: a hashtag timeline or an account's statuses on any instance, without an account.

Keys: ``url`` of an instance plus ``tag`` (``url = "https://mastodon.social"``, ``tag = "MECFS"``: the
instance's ``/api/v1/timelines/tag/MECFS``), or ``url`` of an account (``https://mastodon.social/@handle``:
looked up once with ``/api/v1/accounts/lookup?acct=handle``, then ``/api/v1/accounts/{id}/statuses``).

Incremental, forward from a cursor: the first check reads the newest page (40 statuses) and records it
silently; every later check asks only for what came after, ``min_id`` = the newest status seen, which
Mastodon answers with the statuses *immediately* newer, so nothing between two checks is skipped however
many there were. The ``Link`` header's ``rel="prev"`` carries the next cursor (``min_id`` = the newest of
the page); a full page means there may be more, so the walk goes on, at most :data:`MAX_PAGES` pages a
check (the rest come at the next one). A quiet check is one request answered with ``[]``.

Edits and deletions are not news and are not asked for: a status already seen never comes back through
``min_id``. An edited status seen again (an account boosting it later) is the same post, its edit kept in
field history. A timeline page is never the whole set (``complete = False``), so nothing is ever taken
for deleted. Politeness: Mastodon allows 300 API requests per 5 minutes per IP address by default (and 300
paging requests per 15 minutes); the fetcher's per-host spacing keeps well below that, a page whose
``X-RateLimit-Remaining`` is 0 ends the walk, and a 429 is waited out until ``X-RateLimit-Reset`` (or, if
that is further than ``[http] max_retry_after_s``, fails the check with its cursor kept).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from scrapers.http.errors import FetchError, site_name
from scrapers.mastodon.status import parse_statuses, status_id, status_order
from scrapers.typed import web_url
from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.content import Response
    from scrapers.http.fetcher import Fetcher

__all__ = ["MAX_PAGES", "PAGE_SIZE", "MastodonSource", "link_targets", "watch_target"]

#: statuses per page: Mastodon's maximum for timelines
PAGE_SIZE = 40
#: pages read in one check at most (160 statuses); the walk resumes from its cursor at the next check
MAX_PAGES = 4

_ACCOUNT_PATH = re.compile(r"^/@([A-Za-z0-9_]+(?:@[A-Za-z0-9.-]+)?)/?$")
_TAG_PATH = re.compile(r"^/tags/([^/?#]+)/?$")
_TAG = re.compile(r"^\w+$")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')

_STATUS_HINTS = {
    401: "this instance shows this timeline only to signed-in users; watch the hashtag on another instance",
    404: "no such account or hashtag on this instance",
}


def link_targets(header: str | None) -> dict[str, str]:
    """A ``Link`` header (``<https://…?max_id=1>; rel="next", <https://…?min_id=9>; rel="prev"``) → rel → URL."""
    return {rel.strip(): target for target, rel in _LINK.findall(header or "")}


def watch_target(keys: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """``(instance, tag, account handle)`` of a watch's keys (one of tag and handle), or UnsupportedWatch."""
    url = keys.get("url")
    checked = web_url(url.strip()) if isinstance(url, str) else None  # never raises, whatever the string
    parts = urlsplit(checked) if checked else None
    if parts is None:
        raise UnsupportedWatch(f"mastodon watch needs url = \"https://…\": an instance (with tag = \"…\") or an "
                               f"account such as https://mastodon.social/@handle, got {url!r}")
    instance = f"{parts.scheme}://{parts.netloc}"
    if "tag" in keys:
        tag = keys["tag"]
        tag = tag.strip().lstrip("#") if isinstance(tag, str) else ""
        if not _TAG.match(tag):
            raise UnsupportedWatch(f"mastodon watch: tag must be a hashtag's name such as \"MECFS\" (letters, digits, "
                                   f"underscores), got {keys['tag']!r}")
        if parts.path.strip("/"):
            raise UnsupportedWatch(f"mastodon watch: with tag = \"{tag}\", url is the instance only (\"{instance}\"), "
                                   f"got {url!r}")
        return instance, tag, None
    match = _ACCOUNT_PATH.match(parts.path)
    if not match:
        raise UnsupportedWatch(f"mastodon watch: url must be an account such as https://mastodon.social/@handle, "
                               f"or an instance with tag = \"…\" for a hashtag, got {url!r}")
    return instance, None, match.group(1)


class MastodonSource(Source):
    """A Mastodon hashtag timeline or account: its statuses are posts (``new_post``)."""

    kind = "mastodon"
    item_kind = "post"
    summary = "a Mastodon hashtag (url = instance, tag = …) or account (url = https://instance/@handle)"
    required_keys = ("url",)
    optional_keys = ("tag",)
    url_key = "url"
    target_key = "url"
    target_help = "an account's address (https://mastodon.social/@handle) or a hashtag's (https://mastodon.social/tags/MECFS)"

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        """A hashtag page's address (``https://instance/tags/NAME``) is the instance plus ``tag``."""
        text = target.strip()
        parts = urlsplit(text) if web_url(text) else None  # a malformed address is left to validate() to name
        match = _TAG_PATH.match(parts.path) if parts else None
        if parts and match:
            return {"url": f"{parts.scheme}://{parts.netloc}", "tag": unquote(match.group(1))}
        return {"url": text}

    def validate(self, keys: dict[str, Any]) -> None:
        watch_target(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse_statuses(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            instance, tag, handle = watch_target(watch.keys)
        except UnsupportedWatch:
            return None
        return f"{instance}/tags/{quote(tag)}" if tag else f"{instance}/@{handle}"

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        instance, tag, handle = watch_target(watch.keys)
        cursor = dict(state.cursor)
        walk = _Walk(fetcher)
        if tag:
            path = f"{instance}/api/v1/timelines/tag/{quote(tag, safe='')}"
        else:
            if cursor.get("account") != handle or not cursor.get("account_id"):
                cursor = {"account": handle, "account_id": await walk.lookup(instance, handle)}
            path = f"{instance}/api/v1/accounts/{quote(str(cursor['account_id']), safe='')}/statuses"
        result = await walk.timeline(path, cursor.get("min_id"))
        if walk.newest is not None:
            cursor["min_id"] = walk.newest
        return FetchOutcome(result=result, state=FetchState(dict(state.validators), cursor), requests=walk.requests,
                            bytes=walk.bytes, http_status=walk.status, notes=walk.notes)


class _Walk:
    """The requests of one check: counted, with what the pages say about where to go next."""

    def __init__(self, fetcher: "Fetcher") -> None:
        self.fetcher = fetcher
        self.requests = 0
        self.bytes = 0
        self.status: int | None = None
        self.newest: str | None = None
        self.notes: list[str] = []

    async def get(self, url: str, params: dict[str, str]) -> "Response":
        self.requests += 1
        try:
            resp = await self.fetcher.get(url, params=params)
        except FetchError as exc:
            raise exc.hinted(_STATUS_HINTS) from None
        self.bytes += len(resp.body)
        self.status = resp.status
        return resp

    async def lookup(self, instance: str, handle: str) -> str:
        """The account's id on the instance (``/api/v1/accounts/lookup``), asked once and kept in the cursor."""
        resp = await self.get(f"{instance}/api/v1/accounts/lookup", {"acct": handle})
        account = resp.json()
        account_id = status_id(account.get("id")) if isinstance(account, dict) else None
        if account_id is None:
            raise ParseError(f"{site_name(instance)} answered the lookup of @{handle} without an account id")
        return account_id

    async def timeline(self, path: str, min_id: str | None) -> ParseResult:
        """The statuses after ``min_id`` (all of them, up to :data:`MAX_PAGES` pages), or, on the first check
        (no ``min_id``), the newest page alone: one request, whatever the page holds."""
        items: dict[str, Item] = {}
        meta: dict[str, Any] = {}
        boosts = skipped = 0
        baseline = not min_id
        for page in range(MAX_PAGES):
            params = {"limit": str(PAGE_SIZE)}
            if min_id:
                params["min_id"] = min_id
            resp = await self.get(path, params)
            result = parse_statuses(resp.body, _request_url(path, params))
            meta = meta or result.meta
            boosts += result.meta.get("boosts", 0)
            skipped += result.meta.get("skipped", 0)
            for item in result.items:
                items.setdefault(item.key, item)
            page_newest = _newest(resp, result)
            advanced = page_newest is not None and (not min_id or status_order(page_newest) > status_order(min_id))
            if advanced:  # the cursor only moves forward, whatever a page says
                self.newest = page_newest
            if baseline:  # the first check: the newest page is the baseline
                break
            if not advanced:
                break  # nothing newer than what was asked for (a server that ignores min_id answers the same page)
            min_id = page_newest
            if result.meta.get("statuses", 0) < PAGE_SIZE:
                break  # a page that is not full is the end of what is new
            if resp.headers.get("x-ratelimit-remaining", "").strip() == "0":
                self.notes.append("the instance's rate limit is used up: the rest is read at the next check")
                break
            if page == MAX_PAGES - 1:
                self.notes.append(f"more than {MAX_PAGES * PAGE_SIZE} new statuses: the rest is read at the next check")
        if boosts:
            self.notes.append(f"{boosts} boost(s) read as the status boosted")
        if skipped:
            self.notes.append(f"{skipped} status(es) without a readable uri were skipped")
        ordered = sorted(items.values(), key=lambda i: i.fields.get("published") or "")
        return ParseResult(items=ordered, complete=False, meta={"thread": meta.get("thread", {})})


def _request_url(path: str, params: dict[str, str]) -> str:
    return path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def _newest(resp: "Response", result: ParseResult) -> str | None:
    """The cursor after this page: the ``min_id`` of the ``Link`` header's ``rel="prev"`` (the newest status of
    the page), else the largest id on the page; None for an empty page (the cursor stays)."""
    prev = link_targets(resp.headers.get("link")).get("prev")
    if prev:
        try:
            query = parse_qs(urlsplit(prev).query)
        except ValueError:  # a Link target that is no URL: read the ids instead
            query = {}
        value = status_id((query.get("min_id") or query.get("since_id") or [None])[0])
        if value:
            return value
    ids = [sid for sid in (status_id(s.get("id")) for s in _ids_of(resp)) if sid]
    return max(ids, key=status_order) if ids else None


def _ids_of(resp: "Response") -> list[dict[str, Any]]:
    try:
        data = resp.json()
    except ParseError:
        return []
    return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []
