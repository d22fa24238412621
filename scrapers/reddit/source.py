"""``reddit`` watches: a subreddit's new posts, a subreddit search (newest first), or one post's comments.

Keys: ``subreddit = "cfs"`` (new posts, ``/r/cfs/new``; ``r/cfs``, ``/r/CFS/`` name the same subreddit:
Reddit's names are case-insensitive, so they are read without ``r/`` and in lower case), or ``subreddit`` + ``query = "daratumumab OR
ResetME"`` (``/r/cfs/search?q=…&restrict_sr=1&sort=new``), or ``url`` of a post (its comment tree,
``/comments/{id}``); ``keywords`` (only matching posts are news: title or text, case and accents folded)
and, for a subreddit, ``follow = true`` (each new matching post becomes a ``reddit`` watch of its comments,
``{watch id}-{post id}`` on ``https://www.reddit.com/comments/{post id}/``: both built from the post's id36,
checked to be base36 as Reddit's are, never copied from what the post says of itself).

What a check asks (the politeness Reddit asks for is in :mod:`scrapers.reddit.client`):

* **a subreddit or a search**: the newest page (100 posts), then older pages (``after=``) only while every
  post on the page is new to the watch, at most :data:`MAX_LISTING_PAGES`. Posts are remembered by
  fullname in the watch's cursor. Not ``before=``: a ``before`` anchored on a post that was since deleted
  answers with an empty page forever. The first check records the newest page silently (the baseline).
* **a post's comments**: the tree, newest first (``sort=new``, up to 500 comments), plus
  ``/api/morechildren`` for the "load more comments" stubs that hide something new: a stub is expanded
  when it names a comment the watch has not seen or stands for more comments (its ``count``) than at the
  last check, at most 100 ids per request and :data:`MAX_MORE_REQUESTS` requests per check (what is left
  waits for the next check). The first check expands nothing: hidden comments are history. Comments
  older than the newest one at that first check, found later in an expanded stub, are history too.
  "Continue this thread" stubs (beyond depth 10) are not followed.

Every result is incremental (``complete`` false): a post that leaves the page is not gone. A post or
comment shown as ``[deleted]`` / ``[removed]`` is marked gone (no event); an edit is field history (no event).
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from scrapers.keywords import matches_keywords
from scrapers.reddit.client import RedditAccess, RedditClient
from scrapers.reddit.things import SITE, More, Page, parse, parse_comment_tree, parse_listing, parse_more_children
from scrapers.records import FetchOutcome, FetchState, Item, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

__all__ = ["MAX_LISTING_PAGES", "MAX_MORE_REQUESTS", "RedditSource", "reddit_keys"]

#: posts a listing page asks for (Reddit's maximum)
PAGE_SIZE = 100
#: a subreddit far behind (a watch paused for weeks) is caught up over at most this many pages a check
MAX_LISTING_PAGES = 5
#: comments asked for in one comment-tree request (Reddit's maximum for most accounts)
TREE_LIMIT = 500
#: ids per morechildren request (Reddit's maximum) and morechildren requests per check
MORE_BATCH = 100
MAX_MORE_REQUESTS = 4
#: fullnames (posts) / id36s (comments) a watch remembers
MAX_REMEMBERED = 2000

_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}(\+[A-Za-z0-9][A-Za-z0-9_]{1,20})*$")
#: a post's fullname as Reddit writes it: what a followed watch's id and address are built from
_POST_FULLNAME = re.compile(r"t3_([0-9a-z]{1,13})")
_POST_PATH = re.compile(r"/comments/([a-z0-9]{2,12})(?:/|$)", re.IGNORECASE)
_SHORT_HOSTS = ("redd.it",)
_KEYS = {"subreddit", "query", "url", "keywords", "follow"}


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class RedditTarget:
    """What one watch reads: a subreddit (maybe searched) or one post's comments."""

    subreddit: str | None = None
    query: str | None = None
    post_id: str | None = None
    keywords: tuple[str, ...] = ()
    follow: bool = False

    @property
    def fingerprint(self) -> str:
        """Changes when the watch is pointed elsewhere: its cursor then starts over."""
        return f"post:{self.post_id}" if self.post_id else f"r/{self.subreddit}?{self.query or ''}"


def normalise_subreddit(text: str) -> str:
    """A subreddit as Reddit reads it: ``cfs`` for ``cfs``, ``r/cfs``, ``/r/CFS/`` (its names are
    case-insensitive), so each way of writing one names one watch target, one cursor and one address."""
    return re.sub(r"^/?r/", "", text.strip(), flags=re.IGNORECASE).strip("/").lower()


def _subreddit(value: Any) -> str:
    name = normalise_subreddit(value) if isinstance(value, str) else ""
    if not _SUBREDDIT.match(name):
        raise UnsupportedWatch(f"reddit watch: subreddit must be a subreddit's name such as \"cfs\" (or \"r/cfs\"), "
                               f"got {value!r}")
    return name


def post_id_from_url(url: Any) -> str | None:
    """The id36 of a Reddit post address (``…/comments/{id}/…`` on any reddit.com host, or ``redd.it/{id}``)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        return None
    if host in _SHORT_HOSTS:
        ident = parts.path.strip("/")
        return ident.lower() if re.fullmatch(r"[a-z0-9]{2,12}", ident, re.IGNORECASE) else None
    if host != "reddit.com" and not host.endswith(".reddit.com"):
        return None
    m = _POST_PATH.search(parts.path)
    return m.group(1).lower() if m else None


def reddit_keys(keys: dict[str, Any]) -> RedditTarget:
    """A watch's keys → what it reads, or UnsupportedWatch naming the key."""
    unknown = sorted(set(keys) - _KEYS)
    if unknown:
        raise UnsupportedWatch(f"reddit watch has unknown key(s) {', '.join(map(repr, unknown))} "
                               f"(allowed: {', '.join(sorted(_KEYS))})")
    keywords = keys.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise UnsupportedWatch(f"reddit watch: keywords must be a list of words or phrases, got {keywords!r}")
    follow = keys.get("follow", False)
    if not isinstance(follow, bool):
        raise UnsupportedWatch(f"reddit watch: follow must be true or false, got {follow!r}")
    if ("url" in keys) == ("subreddit" in keys):
        raise UnsupportedWatch("reddit watch needs either subreddit = \"cfs\" (new posts, or a search with query) "
                               "or url = \"https://www.reddit.com/r/…/comments/…\" (a post's comments), not both")
    words = tuple(k.strip() for k in keywords)
    if "url" in keys:
        for key in ("query", "follow"):
            if key in keys:
                raise UnsupportedWatch(f"reddit watch: {key} only applies to a subreddit (subreddit = \"…\")")
        post_id = post_id_from_url(keys["url"])
        if post_id is None:
            raise UnsupportedWatch("reddit watch: url must be a Reddit post's address like "
                                   f"https://www.reddit.com/r/cfs/comments/abc123/title/, got {keys['url']!r}")
        return RedditTarget(post_id=post_id, keywords=words)
    query = keys.get("query")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise UnsupportedWatch(f"reddit watch: query must be a search such as \"daratumumab OR ResetME\", "
                               f"got {query!r}")
    return RedditTarget(subreddit=_subreddit(keys["subreddit"]), query=query.strip() if query else None,
                        keywords=words, follow=follow)


# --------------------------------------------------------------------------- cursors


@dataclass
class _Cursor:
    """What a watch remembers between checks (stored with its health; never a token)."""

    target: str = ""
    seen: list[str] = field(default_factory=list)  # newest first
    newest_utc: float | None = None  # the newest post or comment seen
    since_utc: float | None = None  # comments: the newest comment at the first check (older ones are history)
    stubs: dict[str, int] = field(default_factory=dict)  # comments: parent fullname → count of the stub below it
    hidden: list[str] = field(default_factory=list)  # comments: id36s behind "load more" at the first check
    edge_utc: float | None = None  # listings: the oldest post of the first check's page (older ones are history)

    @classmethod
    def load(cls, cursor: dict[str, Any], target: str) -> _Cursor:
        if not isinstance(cursor, dict) or cursor.get("target") != target:
            return cls(target=target)

        def names(key: str) -> list[str]:
            value = cursor.get(key)
            return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []

        def number(key: str) -> float | None:
            value = cursor.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            try:
                return float(value) if math.isfinite(value) else None
            except OverflowError:  # an int too large for a float
                return None

        counts = cursor.get("stubs")
        stubs = {k: v for k, v in counts.items() if isinstance(k, str) and isinstance(v, int)
                 and not isinstance(v, bool)} if isinstance(counts, dict) else {}
        seen, hidden = names("seen"), names("hidden")
        return cls(target, seen, number("newest_utc"), number("since_utc"), stubs, hidden, number("edge_utc"))

    def save(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "seen": self.seen[:MAX_REMEMBERED]}
        if self.hidden:
            out["hidden"] = self.hidden[:MAX_REMEMBERED]
        for key in ("newest_utc", "since_utc", "edge_utc"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.stubs:
            out["stubs"] = self.stubs
        return out


def _remember(new: list[str], old: list[str]) -> list[str]:
    """``new`` first, then ``old``, each once, at most :data:`MAX_REMEMBERED`."""
    out = list(dict.fromkeys([*new, *old]))
    return out[:MAX_REMEMBERED]


def _newest(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


# --------------------------------------------------------------------------- the source


class RedditSource(Source):
    """Reddit posts and comments, read through Reddit's JSON API within its published request budget."""

    kind = "reddit"
    item_kind = "post"
    summary = "Reddit: a subreddit's new posts, a subreddit search, or a post's comments"
    required_keys = (("subreddit", "url"),)
    optional_keys = ("query", "keywords", "follow")
    url_key = None  # a post's URL only names its id: requests go to the configured API host
    target_key = "subreddit"
    target_help = "a subreddit (cfs or r/cfs) or a post's URL"
    #: Reddit asks for politeness: about 10 requests a minute without OAuth, shared by every Reddit watch
    min_interval_s = 10 * 60
    default_base_url = SITE
    follow_existing: ClassVar[bool] = False
    settings_keys = ("client_id", "client_secret", "oauth_base", "auth_base", "user_agent")

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        text = target.strip()
        if text.lower().startswith(("http://", "https://")):
            return {"url": text}
        return {"subreddit": normalise_subreddit(text)}

    def validate(self, keys: dict[str, Any]) -> None:
        reddit_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            target = reddit_keys(watch.keys)
        except UnsupportedWatch:
            return None
        if target.post_id:
            return f"{SITE}/comments/{target.post_id}/"
        if target.query:
            return f"{SITE}/r/{target.subreddit}/search/?" + urlencode(
                {"q": target.query, "restrict_sr": "1", "sort": "new"})
        return f"{SITE}/r/{target.subreddit}/new/"

    def is_news(self, item: Item, watch: WatchSpec) -> bool:
        keywords = [k for k in watch.keys.get("keywords") or [] if isinstance(k, str)]
        return matches_keywords(keywords, (item.fields.get("title"), item.fields.get("text")))

    def follow_spec(self, item: Item, watch: WatchSpec) -> WatchSpec | None:
        """A new matching post of a subreddit watch becomes a watch of its comments (silent baseline first).

        Its id and address come from the post's fullname, followed only when it is Reddit's (``t3_`` and a
        base36 id36): never from the post's ``name`` or ``permalink`` as sent, which could make an id with a
        mention, spaces or ``../`` in it, or an address that is no post's."""
        fullname = _POST_FULLNAME.fullmatch(item.key)
        if (fullname is None or not watch.keys.get("follow") or "subreddit" not in watch.keys
                or not self.is_news(item, watch)):
            return None
        post_id = fullname.group(1)
        suffix = f"-{post_id}"  # at most 14 characters: the start of the (valid) watch id stays, so the id is valid
        return WatchSpec(id=watch.id[: 64 - len(suffix)] + suffix, kind=self.kind,
                         keys={"url": f"{SITE}/comments/{post_id}/"},
                         interval_s=watch.interval_s, labels=list(watch.labels))

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        target = reddit_keys(watch.keys)
        client = RedditClient(fetcher, RedditAccess.from_settings(self.base_url, self.settings))
        cursor = _Cursor.load(state.cursor, target.fingerprint)
        if target.post_id:
            result, new_cursor, notes = await _read_comments(client, target.post_id, cursor)
        else:
            result, new_cursor, notes = await _read_listing(client, target, cursor)
        return FetchOutcome(result=result, state=FetchState(validators={}, cursor=new_cursor.save()),
                            requests=client.requests, bytes=client.bytes, http_status=client.status,
                            notes=notes + client.finish_notes())


def _skipped_note(read: Page) -> list[str]:
    """What ``--explain`` says of things left out as damaged (see :mod:`scrapers.reddit.things`)."""
    if not read.skipped:
        return []
    return [f"left out {read.skipped} post(s) or comment(s) whose id is not Reddit's (t3_/t1_ and base36): "
            "damaged, neither an item nor news"]


# --------------------------------------------------------------------------- reading a listing


async def _read_listing(client: RedditClient, target: RedditTarget,
                        cursor: _Cursor) -> tuple[ParseResult, _Cursor, list[str]]:
    sub = quote(target.subreddit or "", safe="+")
    if target.query:
        path = f"/r/{sub}/search"
        params = {"q": target.query, "restrict_sr": "1", "sort": "new", "limit": str(PAGE_SIZE)}
    else:
        path, params = f"/r/{sub}/new", {"limit": str(PAGE_SIZE)}
    known = set(cursor.seen)
    baseline = not cursor.seen and cursor.newest_utc is None
    read = Page()
    notes: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        doc = await client.get(path, {**params, **({"after": after} if after else {})})
        page = await asyncio.to_thread(parse_listing, doc)  # 100 posts' HTML to text: off the event loop
        pages += 1
        read.merge(page)
        if baseline or not page.seen or known.intersection(page.seen) or not page.after:
            break
        oldest = page.oldest_utc
        if cursor.newest_utc is not None and oldest is not None and oldest <= cursor.newest_utc:
            break  # reached posts older than the newest one known: the rest is history
        if pages >= MAX_LISTING_PAGES:
            notes.append(f"stopped after {pages} pages: older posts are recorded as history, not news")
            break
        after = page.after
    edge = read.oldest_utc if baseline else cursor.edge_utc
    items = read.items
    if not baseline and edge is not None:
        # never seen, yet older than the first check's page: it came into view because newer posts were removed
        slid = {i.key for i in items if i.key not in known and read.created.get(i.key, edge + 1) <= edge}
        if slid:
            notes.append(f"{len(slid)} older post(s) came into view (newer ones were removed): history, not news")
            items = [i for i in items if i.key not in slid]
    notes += _skipped_note(read)
    fresh = sum(1 for i in items if i.key not in known)
    notes.append("baseline: the newest page" if baseline else f"read {pages} page(s): {fresh} post(s) not seen before")
    result = ParseResult(items=items, complete=False,
                         meta={"gone": read.gone, "listing": {"subreddit": target.subreddit, "query": target.query}})
    newest = _newest(cursor.newest_utc, read.newest_utc)
    return result, _Cursor(cursor.target, _remember(read.seen, cursor.seen), newest, edge_utc=edge), notes


# --------------------------------------------------------------------------- reading a comment tree


def _may_hide_news(stub: More, cursor: _Cursor, known: set[str]) -> bool:
    """Whether a stub may hide something new: a comment not seen, or more comments than at the last check."""
    return any(c not in known for c in stub.children) or cursor.stubs.get(stub.parent_id) != stub.count


async def _read_comments(client: RedditClient, post_id: str,
                         cursor: _Cursor) -> tuple[ParseResult, _Cursor, list[str]]:
    doc = await client.get(f"/comments/{post_id}", {"sort": "new", "limit": str(TREE_LIMIT)})
    read = await asyncio.to_thread(parse_comment_tree, doc)  # up to 500 comments (~50 ms): off the event loop
    baseline = not cursor.seen and cursor.since_utc is None
    history_ids = set(cursor.hidden)  # hidden at the first check: never read, never news
    known = set(cursor.seen) | history_ids  # id36s of comments
    post_url = read.submission.fields.get("url") if read.submission else None
    notes: list[str] = []
    queue: list[str] = []
    asked: set[str] = set()
    checked = 0  # stubs of ``read.stubs`` already looked at
    requests = 0
    while True:
        for stub in read.stubs[checked:]:
            if baseline:
                history_ids.update(stub.children)  # hidden at the first check: history
            elif _may_hide_news(stub, cursor, known):
                queue.extend(c for c in stub.children if c not in queue and c not in asked)
        checked = len(read.stubs)
        if not queue:
            break
        if requests >= MAX_MORE_REQUESTS:
            notes.append(f"{len(queue)} hidden comment(s) left for the next check (at most "
                         f"{MAX_MORE_REQUESTS} morechildren requests a check)")
            break
        batch, queue = queue[:MORE_BATCH], queue[MORE_BATCH:]
        asked.update(batch)
        async with client.more_lock:
            doc = await client.get("/api/morechildren", {"api_type": "json", "link_id": f"t3_{post_id}",
                                                          "children": ",".join(batch), "sort": "new"})
        requests += 1
        read.merge(await asyncio.to_thread(parse_more_children, doc, post_url))
    stubs: dict[str, int] = {}
    for stub in read.stubs:
        if not any(c in queue for c in stub.children):  # one left unexpanded stays "changed": asked again next time
            stubs[stub.parent_id] = max(stubs.get(stub.parent_id, 0), stub.count)
    newest = _newest(cursor.newest_utc, read.newest_utc)
    since = cursor.since_utc if cursor.since_utc is not None else newest
    items = read.items
    if not baseline and since is not None:
        # hidden at the watch's first check, or found in an expanded stub but older than that check: history
        # (remembered, never announced)
        history = {i.key for i in items if i.key.startswith("t1_") and (
            i.key.removeprefix("t1_") in history_ids
            or (i.key.removeprefix("t1_") not in known and read.created.get(i.key, since + 1) <= since))}
        if history:
            notes.append(f"{len(history)} comment(s) older than the watch's first check: recorded as history")
            items = [i for i in items if i.key not in history]
    notes += _skipped_note(read)
    if baseline:
        notes.append(f"baseline: {len(items)} post(s) and comment(s); {len(history_ids)} hidden behind "
                     "'load more comments' left as history")
    elif requests:
        notes.append(f"expanded 'load more comments' with {requests} morechildren request(s)")
    sub = read.submission
    thread = {"id": post_id, "title": sub.fields.get("title") if sub else None, "url": post_url}
    result = ParseResult(items=items, complete=False, meta={"thread": thread, "gone": read.gone})
    kept = {i.key for i in items}
    read_now = [k.removeprefix("t1_") for k in read.seen if k.startswith("t1_") and (k in kept or k in read.gone)]
    history_now = [k.removeprefix("t1_") for k in read.seen if k.startswith("t1_") and k not in kept
                   and k not in read.gone]
    hidden = _remember(sorted(history_ids - set(read_now)) if baseline else history_now, cursor.hidden)
    return result, _Cursor(cursor.target, _remember(read_now, cursor.seen), newest, since, stubs,
                           [h for h in hidden if h not in read_now]), notes
