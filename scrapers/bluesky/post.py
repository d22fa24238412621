"""Bluesky posts (the AppView's ``app.bsky.feed.defs#postView``) → post items. Pure.

One post becomes one ``post`` item keyed by its ``at://`` URI:

* **text**: the record's ``text``, with each link facet (``app.bsky.richtext.facet#link``) turned back into
  its whole URL where the text shows a shortened one ("haukeland.no/nyheter/resetm..."). Facet offsets
  count **bytes of the UTF-8 text**, not characters: an emoji before a link moves it by four. A facet whose
  offsets fall outside the text or inside a character, or overlap the facet before it, is left alone;
* ``links``: the URL of every link facet applied and the external embed's (a link card), each once;
* ``reply_to``: the parent post's permalink (``record.reply.parent``); ``quote_of``: the quoted post's
  (an ``app.bsky.embed.record`` embed, or ``app.bsky.embed.recordWithMedia``, of a post);
* ``lang``: the record's ``langs`` (``"nb"``, or ``"en,nb"`` when it names several);
* ``url``: the permalink ``https://bsky.app/profile/{handle}/post/{rkey}`` made from the URI.

A field of the wrong JSON type (``langs: 5``, ``features: ["x"]``, ``external: "x"``) is read as absent, and only
http(s) addresses become links; a post without a usable ``at://`` URI or record is skipped (counted in
``meta["skipped"]``); a page of any other shape is a :class:`ParseError` saying so.

In an author feed a repost (``reason`` ``app.bsky.feed.defs#reasonRepost``) is never the actor's own post:
it is read as the post reposted, by its own author and URI, so it is one post, shown once however often
it is reposted. ``meta["sort_times"]`` gives each item's place in the feed (the repost's time for a
repost), which the fetch uses to tell the new from the already read.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapers import times
from scrapers.json_body import json_type_name, loads_json
from scrapers.typed import language_tag, web_url
from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_multiline, clean_text

__all__ = ["DID", "HANDLE", "apply_link_facets", "parse_posts", "permalink", "post_item"]

REPOST = "app.bsky.feed.defs#reasonRepost"
LINK_FEATURE = "app.bsky.richtext.facet#link"
_POST_COLLECTION = "app.bsky.feed.post"
#: a handle (``name.bsky.social``) and a DID (``did:plc:…``), as atproto defines them
HANDLE = re.compile(r"^(?=.{3,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2000}$")
#: ``at://{did or handle}/{collection}/{record key}``, in the characters atproto allows (ASCII)
_AT_URI = re.compile(r"^at://([a-zA-Z0-9._:%-]{1,2048})/([a-zA-Z0-9.-]{1,317})/([A-Za-z0-9._~:-]{1,512})$")
#: display text that is a URL as the app shortens it: no spaces, a dot in the host part
_SHORT_URL = re.compile(r"^(?:https?://)?[^\s/]+\.[^\s/]+(?:/\S*)?$")


def iso_utc(value: Any) -> str | None:
    """An atproto datetime (``2026-03-02T09:15:00.123Z``) → ``2026-03-02T09:15:00Z``; None when unreadable."""
    return times.iso_utc(value)


def sort_time(value: Any) -> str | None:
    """A datetime as a sortable UTC string with microseconds (comparing two of them compares the times)."""
    return times.iso_utc(value, micro=True)


def permalink(uri: Any, handle: Any = None) -> str | None:
    """``at://did/app.bsky.feed.post/rkey`` → ``https://bsky.app/profile/{handle or did}/post/{rkey}``."""
    match = _AT_URI.match(uri) if isinstance(uri, str) else None
    if not match or match.group(2) != _POST_COLLECTION:
        return None
    who = handle if _handle(handle) and handle != "handle.invalid" else match.group(1)
    return f"https://bsky.app/profile/{who}/post/{match.group(3)}"


def _looks_shortened(shown: str, uri: str) -> bool:
    """Whether ``shown`` is ``uri`` as the app displays it (scheme dropped, cut with "...")."""
    if not _SHORT_URL.match(shown):
        return False
    stem = _bare(shown).rstrip(".…")
    return bool(stem) and _bare(uri).startswith(stem)


def _bare(url: str) -> str:
    """A URL without its scheme and ``www.``, as the Bluesky app displays links."""
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", url)


def _handle(value: Any) -> str | None:
    """A handle as atproto defines it, else None (never a number, a space or a character that is none)."""
    return value if isinstance(value, str) and HANDLE.match(value) else None


def _offset(value: Any) -> int | None:
    """A byte offset: an integer, not ``true`` (which Python counts as 1)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _link_span(facet: Any, size: int) -> tuple[int, int, str] | None:
    """``(byteStart, byteEnd, uri)`` of a link facet inside a text of ``size`` bytes, or None for anything else
    (another feature, offsets outside the text, an address that is not http(s), a part of the wrong type)."""
    index = facet.get("index") if isinstance(facet, dict) else None
    if not isinstance(index, dict):
        return None
    start, end = _offset(index.get("byteStart")), _offset(index.get("byteEnd"))
    if start is None or end is None or not 0 <= start < end <= size:
        return None
    features = facet.get("features")
    for feature in features if isinstance(features, list) else []:
        uri = web_url(feature.get("uri")) if isinstance(feature, dict) and feature.get("$type") == LINK_FEATURE else None
        if uri:
            return start, end, uri
    return None


def apply_link_facets(text: str, facets: Any) -> tuple[str, list[str]]:
    """The text with shortened link displays replaced by their whole URLs, and the URLs of the facets applied.

    Offsets are UTF-8 byte offsets (``index.byteStart``/``byteEnd``); overlapping facets after the first and
    facets that do not cut the text at character boundaries are skipped, and give no link either (what they
    point at is not what the text shows). A lone surrogate (``"\\ud800"`` in the JSON: no character, so no
    valid record holds one) is measured as the three bytes ``surrogatepass`` gives it and left for the text's
    cleaning, so the facets after it still land where they belong.
    """
    data = text.encode("utf-8", "surrogatepass")
    spans = [span for facet in (facets if isinstance(facets, list) else []) if (span := _link_span(facet, len(data)))]
    links: list[str] = []
    out: list[bytes] = []
    pos = 0
    for start, end, uri in sorted(spans):
        if start < pos:
            continue  # overlaps the facet before it
        try:
            shown = data[start:end].decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            continue  # offsets inside a character: the text is left as it is
        out.append(data[pos:start])
        out.append((uri if shown != uri and _looks_shortened(shown, uri) else shown).encode("utf-8", "surrogatepass"))
        pos = end
        links.append(uri)
    out.append(data[pos:])
    return b"".join(out).decode("utf-8", "surrogatepass"), list(dict.fromkeys(links))


def _embedded_post_uri(embed: Any) -> str | None:
    """The quoted post's URI in a record's embed (``app.bsky.embed.record``, or ``…recordWithMedia``)."""
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    ref = None
    if kind == "app.bsky.embed.record":
        ref = embed.get("record")
    elif kind == "app.bsky.embed.recordWithMedia":
        inner = embed.get("record")
        ref = inner.get("record") if isinstance(inner, dict) else None
    uri = ref.get("uri") if isinstance(ref, dict) else None
    return uri if isinstance(uri, str) and _AT_URI.match(uri) and _AT_URI.match(uri).group(2) == _POST_COLLECTION else None


def _quoted_handle(view: Any) -> str | None:
    """The quoted post's author handle from the embed's view (``app.bsky.embed.record#view``), if shown."""
    if not isinstance(view, dict):
        return None
    record = view.get("record")
    if isinstance(record, dict) and isinstance(record.get("record"), dict):  # recordWithMedia#view
        record = record["record"]
    author = record.get("author") if isinstance(record, dict) else None
    return author.get("handle") if isinstance(author, dict) else None


def _external_uri(embed: Any) -> str | None:
    """The link card's address (``app.bsky.embed.external``, or the media of ``…recordWithMedia``), if http(s)."""
    if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.recordWithMedia":
        embed = embed.get("media")
    if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.external":
        return None
    external = embed.get("external")
    return web_url(external.get("uri")) if isinstance(external, dict) else None


def _author(author: Any) -> tuple[str | None, str | None]:
    """(how people read the author, their handle)."""
    if not isinstance(author, dict):
        return None, None
    handle = _handle(author.get("handle"))
    name = clean_text(author.get("displayName")) if isinstance(author.get("displayName"), str) else ""
    if name and handle:
        return f"{name} (@{handle})", handle
    return name or (f"@{handle}" if handle else None), handle


def post_item(post: dict[str, Any], *, parent_handle: str | None = None) -> Item | None:
    """One ``postView`` → a post item; None when it is not a readable post (no URI or no record)."""
    uri = post.get("uri")
    record = post.get("record")
    if permalink(uri) is None or not isinstance(record, dict):
        return None  # not a post's at:// URI (the only thing a postView's uri is) or no record
    author, handle = _author(post.get("author"))
    raw_text = record.get("text") if isinstance(record.get("text"), str) else ""
    text, links = apply_link_facets(raw_text, record.get("facets"))
    external = _external_uri(record.get("embed"))
    if external:
        links = list(dict.fromkeys([*links, external]))
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    parent = reply.get("parent") if isinstance(reply.get("parent"), dict) else {}
    quoted = _embedded_post_uri(record.get("embed"))
    langs = [lang for lang in record.get("langs") if language_tag(lang)] if isinstance(record.get("langs"), list) else []
    fields = {
        "author": author,
        "published": iso_utc(record.get("createdAt")) or iso_utc(post.get("indexedAt")),
        "edited": None,
        "title": None,
        "text": clean_multiline(text) or None,
        "url": permalink(uri, handle),
        "platform": "bluesky",
        "community": None,
        "lang": ",".join(langs) or None,
        "reply_to": permalink(parent.get("uri"), parent_handle),
        "quote_of": permalink(quoted, _quoted_handle(post.get("embed"))) if quoted else None,
        "links": links,
    }
    return Item(key=uri, fields=fields)


def _entries(data: dict[str, Any]) -> list[tuple[dict[str, Any], str | None, str | None, bool]]:
    """(post, its time in the list, the parent's handle, whether a repost) for a feed or a search page."""
    out = []
    if isinstance(data.get("feed"), list):  # app.bsky.feed.getAuthorFeed: feedViewPost entries
        for entry in data["feed"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("post"), dict):
                continue
            post = entry["post"]
            reason = entry.get("reason") if isinstance(entry.get("reason"), dict) else {}
            repost = reason.get("$type") == REPOST
            when = sort_time(reason.get("indexedAt")) if repost else sort_time(post.get("indexedAt"))
            parent = ((entry.get("reply") or {}).get("parent") or {}) if isinstance(entry.get("reply"), dict) else {}
            parent_author = parent.get("author") if isinstance(parent, dict) else None
            handle = parent_author.get("handle") if isinstance(parent_author, dict) else None
            out.append((post, when, handle, repost))
    else:  # app.bsky.feed.searchPosts: postView entries
        for post in data["posts"]:
            if isinstance(post, dict):
                out.append((post, sort_time(post.get("indexedAt")), None, False))
    return out


def _page_meta(url: str | None, data: dict[str, Any]) -> dict[str, Any]:
    query = parse_qs(urlsplit(url).query) if url else {}
    if "q" in query:
        q = query["q"][0]
        return {"id": f"bluesky-search:{q}", "title": f"Bluesky search: {q}"}
    actor = (query.get("actor") or [None])[0]
    if actor:
        return {"id": f"bluesky:{actor}", "title": f"@{actor} on Bluesky"}
    return {}


def parse_posts(body: bytes, url: str | None = None) -> ParseResult:
    """A page of ``getAuthorFeed`` (``{"feed": [...], "cursor"}``) or ``searchPosts`` (``{"posts": [...],
    "cursor"}``) → post items, oldest first. An XRPC error (``{"error", "message"}``) or any other shape is a
    :class:`ParseError` saying so, never an empty page."""
    where = f"the response from {url}" if url else "the response"
    data = loads_json(body, where=where)
    if not isinstance(data, dict):
        raise ParseError(f"{where} is a JSON {json_type_name(data)} where Bluesky sends an object")
    if isinstance(data.get("error"), str):
        message = data.get("message") if isinstance(data.get("message"), str) else ""
        raise ParseError(f"Bluesky answered with an error instead of posts: {data['error']}"
                         + (f": {message[:200]}" if message else ""))
    if not isinstance(data.get("feed"), list) and not isinstance(data.get("posts"), list):
        raise ParseError(f"{where} has neither \"feed\" (getAuthorFeed) nor \"posts\" (searchPosts)")
    items: dict[str, Item] = {}
    sort_times: dict[str, str] = {}
    skipped = reposts = 0
    for post, when, parent_handle, repost in _entries(data):
        item = post_item(post, parent_handle=parent_handle)
        if item is None:
            skipped += 1
            continue
        reposts += repost
        items.setdefault(item.key, item)
        if when and when > sort_times.get(item.key, ""):
            sort_times[item.key] = when
    ordered = sorted(items.values(), key=lambda i: sort_times.get(i.key, ""))
    cursor = data.get("cursor") if isinstance(data.get("cursor"), str) and data.get("cursor") else None
    meta = {"thread": _page_meta(url, data), "cursor": cursor, "sort_times": sort_times, "reposts": reposts,
            "entries": len(data["feed"] if isinstance(data.get("feed"), list) else data["posts"]), "skipped": skipped}
    return ParseResult(items=ordered, complete=False, meta=meta)
