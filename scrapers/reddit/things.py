"""Reddit's JSON "things" → post items. Pure: bytes or decoded JSON in, items out.

The shapes read here (``../shared/reference/forums.md`` §3, Reddit's API documentation):

* a **Listing** — ``{"kind": "Listing", "data": {"after", "before", "children": [{"kind": "t3", "data"}]}}``
  — from ``/r/{sub}/new``, ``/r/{sub}/search`` (submissions, ``t3``) or ``/r/{sub}/comments`` (``t1``);
* a **comment tree** — ``/comments/{id}``: a two-element array, ``[0]`` a Listing holding the submission,
  ``[1]`` the comments, each ``t1`` with ``replies`` either ``""`` or a nested Listing, and ``more`` stubs
  (``{"count", "parent_id", "children": [id36, …]}``) standing for comments left out;
* a **morechildren** answer — ``{"json": {"errors": [], "data": {"things": [t1 and more, flat]}}}``.

Every submission and comment becomes a post item keyed by its fullname (``t3_…``, ``t1_…``) with
``author``, ``published`` (ISO UTC from ``created_utc``), ``url`` (the permalink on www.reddit.com),
``text`` (plain text from the rendered HTML, else the Markdown source), ``edited`` (Reddit's ``false`` or
epoch → None or ISO), ``platform`` ``"reddit"``, ``community`` (``r/cfs``), ``links``; a submission adds its
``title`` (and a link post its target among ``links``); a comment adds ``reply_to`` (its parent comment's
permalink). A comment shown as ``[deleted]`` / ``[removed]`` (a submission likewise, or one carrying
``removed_by_category``) is no text and no news: it is left out of the items and listed in ``gone``, so a
known one is marked gone without an event.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from scrapers.html_links import links_in_html
from scrapers.json_body import json_type_name, loads_json
from scrapers.markup import html_to_text
from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_multiline, clean_text

__all__ = ["SITE", "More", "Page", "parse", "parse_comment_tree", "parse_listing", "parse_more_children"]

#: where people read Reddit: event links point here whichever API host answered
SITE = "https://www.reddit.com"
PLATFORM = "reddit"
#: what Reddit shows in place of a deleted or removed comment or self-text
GONE_TEXTS = frozenset({"[deleted]", "[removed]"})
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass
class More:
    """A "load more comments" stub: ``count`` comments below ``parent_id``, whose direct children are ``children``."""

    parent_id: str
    count: int
    children: list[str]


@dataclass
class Page:
    """What one or more responses held: post items, fullnames shown as deleted, every fullname seen (each once,
    in document order), their creation times, "load more" stubs and the listing's ``after`` cursor."""

    items: list[Item] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    stubs: list[More] = field(default_factory=list)
    after: str | None = None
    submission: Item | None = None
    #: fullname → creation time (epoch seconds)
    created: dict[str, float] = field(default_factory=dict)
    _keys: set[str] = field(default_factory=set, repr=False)

    @property
    def oldest_utc(self) -> float | None:
        return min(self.created.values()) if self.created else None

    @property
    def newest_utc(self) -> float | None:
        return max(self.created.values()) if self.created else None

    def add(self, thing: tuple[Item | None, str, float | None]) -> None:
        """One thing: an item, or (None) one shown as deleted. A thing already held is skipped (a page
        that shifted while it was read shows a post twice)."""
        item, key, created = thing
        if key in self._keys:
            return
        self._keys.add(key)
        self.seen.append(key)
        if item is None:
            self.gone.append(key)
        else:
            self.items.append(item)
        if created is not None:
            self.created[key] = created

    def merge(self, other: Page) -> None:
        """Another response's things after these (a further page, an expanded stub)."""
        gone = set(other.gone)
        by_key = {i.key: i for i in other.items}
        for key in other.seen:
            self.add((None if key in gone else by_key[key], key, other.created.get(key)))
        self.stubs.extend(other.stubs)


# --------------------------------------------------------------------------- one thing


def _iso(epoch: Any) -> str | None:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _rendered(value: Any) -> str | None:
    """Reddit's rendered HTML (``body_html``, ``selftext_html``): escaped once unless ``raw_json=1`` was asked."""
    if not isinstance(value, str) or not value.strip():
        return None
    if "<" not in value and "&lt;" in value:
        value = html.unescape(value)
    return _COMMENT.sub("", value)  # <!-- SC_OFF --> markers: the text converter would keep comment text


def _text(source: Any, rendered: Any) -> str:
    """The plain text of a comment or self-text: from the rendered HTML, else the Markdown source."""
    markup = _rendered(rendered)
    if markup is not None:
        return html_to_text(markup)
    if isinstance(source, str) and source.strip():
        return clean_multiline(html.unescape(source))  # without raw_json=1 Reddit escapes &, < and >
    return ""


def _permalink(data: dict[str, Any], fallback: str | None) -> str | None:
    link = data.get("permalink")
    if isinstance(link, str) and link.startswith("/"):
        return SITE + link
    return fallback


def _is_gone(data: dict[str, Any], text_key: str) -> bool:
    text = data.get(text_key)
    if isinstance(text, str) and text.strip() in GONE_TEXTS:
        return True
    return bool(data.get("removed_by_category"))


def _common(data: dict[str, Any], text: str, links: list[str]) -> dict[str, Any]:
    subreddit = data.get("subreddit")
    return {
        "author": data.get("author") if isinstance(data.get("author"), str) else None,
        "published": _iso(data.get("created_utc")),
        "text": text,
        "edited": _iso(data.get("edited")),
        "platform": PLATFORM,
        "community": f"r/{subreddit}" if isinstance(subreddit, str) and subreddit else None,
        "links": links,
    }


def submission_thing(data: dict[str, Any]) -> tuple[Item | None, str, float | None]:
    """A ``t3``: (its item, or None when deleted or removed; its fullname; its creation time)."""
    key = _fullname(data, "t3")
    created = _epoch(data.get("created_utc"))
    if _is_gone(data, "selftext"):
        return None, key, created
    rendered = data.get("selftext_html")
    links = links_in_html(_rendered(rendered), SITE)
    target = data.get("url")
    url = _permalink(data, None)
    if isinstance(target, str) and target.startswith(("http://", "https://")) and target != url and target not in links:
        links.insert(0, target)  # a link post points somewhere: that is what it says
    fields = {**_common(data, _text(data.get("selftext"), rendered), links),
              "title": clean_text(html.unescape(str(data.get("title") or ""))),
              "url": url}
    return Item(key, fields), key, created


def comment_thing(data: dict[str, Any], post_url: str | None = None) -> tuple[Item | None, str, float | None]:
    """A ``t1``: (its item, or None when shown as ``[deleted]``/``[removed]``; its fullname; its creation time)."""
    key = _fullname(data, "t1")
    created = _epoch(data.get("created_utc"))
    if _is_gone(data, "body"):
        return None, key, created
    rendered = data.get("body_html")
    comment_id = key.removeprefix("t1_")
    fallback = f"{post_url.rstrip('/')}/{comment_id}/" if post_url else None
    url = _permalink(data, fallback)
    parent = data.get("parent_id")
    reply_to = None
    if isinstance(parent, str) and parent.startswith("t1_") and url:
        reply_to = f"{url.rstrip('/').rsplit('/', 1)[0]}/{parent.removeprefix('t1_')}/"
    fields = {**_common(data, _text(data.get("body"), rendered), links_in_html(_rendered(rendered), SITE)),
              "url": url}
    if reply_to:
        fields["reply_to"] = reply_to
    return Item(key, fields), key, created


def _fullname(data: dict[str, Any], kind: str) -> str:
    name = data.get("name")
    if isinstance(name, str) and name.startswith(f"{kind}_"):
        return name
    ident = data.get("id")
    if isinstance(ident, str) and ident:
        return f"{kind}_{ident}"
    raise ParseError(f"a Reddit {kind} without an id or name (keys: {', '.join(sorted(data)[:12])})")


def _epoch(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _more(data: dict[str, Any]) -> More | None:
    """A "load more comments" stub; None for "continue this thread" (``id`` ``_``, no children)."""
    children = [c for c in data.get("children") or [] if isinstance(c, str) and c]
    parent = data.get("parent_id")
    if not children or not isinstance(parent, str):
        return None
    count = data.get("count")
    return More(parent, count if isinstance(count, int) else len(children), children)


# --------------------------------------------------------------------------- documents


def _listing_data(doc: Any, what: str) -> dict[str, Any]:
    if isinstance(doc, dict) and "error" in doc and "data" not in doc:
        raise ParseError(f"Reddit answered with an error instead of {what}: {doc.get('message') or ''} "
                         f"({doc.get('error')})".replace("  ", " "))
    if not isinstance(doc, dict) or doc.get("kind") != "Listing" or not isinstance(doc.get("data"), dict):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        raise ParseError(f"expected {what} (a Reddit Listing), got a JSON {json_type_name(doc)}"
                         + (f" of kind {kind!r}" if kind else ""))
    children = doc["data"].get("children")
    if not isinstance(children, list):
        raise ParseError(f"{what}: the Reddit Listing has no children list")
    return doc["data"]


def _things(children: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c["kind"], c["data"]) for c in children
            if isinstance(c, dict) and isinstance(c.get("kind"), str) and isinstance(c.get("data"), dict)]


def parse_listing(doc: Any) -> Page:
    """A Listing of submissions or comments (``/new``, ``/search``, ``/comments`` of a subreddit)."""
    data = _listing_data(doc, "a listing of posts")
    page = Page(after=data.get("after") if isinstance(data.get("after"), str) else None)
    for kind, thing in _things(data["children"]):
        if kind == "t3":
            page.add(submission_thing(thing))
        elif kind == "t1":
            page.add(comment_thing(thing))
    return page


def _walk(children: list[Any], page: Page, post_url: str | None) -> None:
    """Comments in document order, replies after their parent; iterative, so no depth can overflow the stack."""
    stack: list[tuple[str, dict[str, Any]]] = list(reversed(_things(children)))
    while stack:
        kind, data = stack.pop()
        if kind == "t1":
            page.add(comment_thing(data, post_url))
            replies = data.get("replies")
            if isinstance(replies, dict) and isinstance(replies.get("data"), dict):
                stack.extend(reversed(_things(replies["data"].get("children") or [])))
        elif kind == "more":
            stub = _more(data)
            if stub is not None:
                page.stubs.append(stub)


def parse_comment_tree(doc: Any) -> Page:
    """``/comments/{id}``: the submission (``page.submission``, also among the items) and its comments."""
    if not (isinstance(doc, list) and len(doc) == 2):
        raise ParseError(f"expected a Reddit comment tree (an array of two Listings), got a JSON {json_type_name(doc)}"
                         + (f" of {len(doc)} element(s)" if isinstance(doc, list) else ""))
    head = _listing_data(doc[0], "the submission of a comment tree")
    tree = _listing_data(doc[1], "the comments of a comment tree")
    posts = [d for k, d in _things(head["children"]) if k == "t3"]
    if not posts:
        raise ParseError("the Reddit comment tree holds no submission (t3) in its first Listing")
    page = Page()
    page.add(submission_thing(posts[0]))
    page.submission = page.items[0] if page.items else None
    _walk(tree["children"], page, _permalink(posts[0], None))
    return page


def parse_more_children(doc: Any, post_url: str | None = None) -> Page:
    """``/api/morechildren``: a flat list of comments and further stubs."""
    body = doc.get("json") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        raise ParseError(f"expected Reddit's morechildren answer ({{\"json\": …}}), got a JSON {json_type_name(doc)}")
    errors = body.get("errors") or []
    if errors:
        raise ParseError(f"Reddit's morechildren answered with errors: {errors!r:.200}")
    things = (body.get("data") or {}).get("things")
    if not isinstance(things, list):
        raise ParseError("Reddit's morechildren answer has no data.things list")
    page = Page()
    _walk(things, page, post_url)
    return page


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """One saved Reddit response of any of the three shapes → its post items (``trialwatch parse reddit``)."""
    doc = loads_json(body, where=f"the response from {url}" if url else "the response")
    if isinstance(doc, list):
        page = parse_comment_tree(doc)
        sub = page.submission
        thread = {"id": sub.key.removeprefix("t3_"), "title": sub.fields.get("title"), "url": sub.fields.get("url"),
                  "community": sub.fields.get("community")} if sub else None
        meta: dict[str, Any] = {"thread": thread, "more": [vars(s) for s in page.stubs]}
    elif isinstance(doc, dict) and "json" in doc:
        page = parse_more_children(doc)
        meta = {"more": [vars(s) for s in page.stubs]}
    else:
        page = parse_listing(doc)
        meta = {"after": page.after}
    meta["gone"] = page.gone
    return ParseResult(items=page.items, complete=False, meta=meta)
