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

Damaged answers: the structure (a Listing, its ``data.children``, a comment's ``replies``, morechildren's
``json.data.things``) must be there, else a ParseError names what is wrong. A field of a thing with the wrong
JSON type (or NaN, infinity, a number no date can hold) is ignored: the item keeps that field empty. A
thing whose fullname is not Reddit's (``t3_`` / ``t1_`` and base36; a ``name`` of any other string, or no
``name`` and no such ``id``) is not an item at all: its key would become a watch's id and an address, and
Reddit never sends one, so it is counted in ``skipped`` and left out. Addresses are built, never trusted: a
``permalink`` is used only when it is a plain relative path naming the thing's own id (else the address
is made from the id), and only absolute http(s) addresses become ``links``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

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
#: a thing's id (base36; Reddit's are at most 13 characters) and its fullname (``t3_1abc2d``)
_ID36 = re.compile(r"[0-9a-z]{1,13}")
_FULLNAME = re.compile(r"(t[1-6])_([0-9a-z]{1,13})")
#: a subreddit's name as a thing carries it (``u_name`` for a profile's posts)
_SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9_]{1,24}")
#: a permalink: a relative path of plain URL characters (not ``//host``, no spaces, no control or bidi marks)
_PERMALINK = re.compile(r"/(?!/)[A-Za-z0-9._~%!$&'()*+,;=:@/-]*")
#: what no web address holds: whitespace, control characters and bidi overrides
_NOT_IN_ADDRESS = re.compile(r"[\s\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: a "load more comments" count above this is not one Reddit gives: the stub's children are counted instead
_MAX_COUNT = 10_000_000

#: one thing read: (its item, or None when shown as deleted; its fullname; its creation time), or None
#: when it is not a Reddit thing at all (its fullname is not Reddit's)
Thing = tuple[Item | None, str, float | None]


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
    #: things left out because their fullname is not Reddit's
    skipped: int = 0
    _keys: set[str] = field(default_factory=set, repr=False)

    @property
    def oldest_utc(self) -> float | None:
        return min(self.created.values()) if self.created else None

    @property
    def newest_utc(self) -> float | None:
        return max(self.created.values()) if self.created else None

    def add(self, thing: Thing | None) -> None:
        """One thing: an item, or (None) one shown as deleted. A thing already held is skipped (a page
        that shifted while it was read shows a post twice); one that is not Reddit's (None) is counted."""
        if thing is None:
            self.skipped += 1
            return
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
        self.skipped += other.skipped


# --------------------------------------------------------------------------- one thing


def _epoch(value: Any) -> float | None:
    """Epoch seconds (``created_utc``, ``edited``), or None for anything else: not a number, ``false``, a
    boolean, NaN, infinity, or a number no date can hold (it would poison the cursor's newest time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
        datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return seconds


def _iso(value: Any) -> str | None:
    seconds = _epoch(value)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _web_address(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) address with a host, and nothing a link should not hold."""
    if not isinstance(value, str) or _NOT_IN_ADDRESS.search(value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # "http://[::1": no address
        return None
    return value if parts.scheme in ("http", "https") and host else None


def _links(rendered: str | None) -> list[str]:
    return [link for link in links_in_html(rendered, SITE) if _web_address(link)]


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


def _permalink(data: dict[str, Any], key: str) -> str | None:
    """The thing's address on the site from its ``permalink``, when that is a plain relative path naming the
    thing ``key`` itself (a post's ``…/comments/{id}/…``, a comment's ``…/comments/…/{id}/``); else None."""
    link = data.get("permalink")
    if not isinstance(link, str) or not _PERMALINK.fullmatch(link):
        return None
    kind, ident = key.split("_", 1)
    path = link.rstrip("/") + "/"
    names_itself = (f"/comments/{ident}/" in path if kind == "t3"
                    else "/comments/" in path and path.endswith(f"/{ident}/"))
    return SITE + link if names_itself else None


def _post_url(data: dict[str, Any], key: str) -> str:
    """A submission's address: its permalink, or ``/comments/{id}/`` (Reddit redirects it to the post)."""
    return _permalink(data, key) or f"{SITE}/comments/{key.removeprefix('t3_')}/"


def _is_gone(data: dict[str, Any], text_key: str) -> bool:
    text = data.get(text_key)
    if isinstance(text, str) and text.strip() in GONE_TEXTS:
        return True
    reason = data.get("removed_by_category")  # "deleted", "moderator", …: a string when the post is gone
    return isinstance(reason, str) and bool(reason.strip())


def _common(data: dict[str, Any], text: str, links: list[str]) -> dict[str, Any]:
    subreddit = data.get("subreddit")
    return {
        "author": data.get("author") if isinstance(data.get("author"), str) else None,
        "published": _iso(data.get("created_utc")),
        "text": text,
        "edited": _iso(data.get("edited")),
        "platform": PLATFORM,
        "community": f"r/{subreddit}" if isinstance(subreddit, str) and _SUBREDDIT_NAME.fullmatch(subreddit) else None,
        "links": links,
    }


def submission_thing(data: dict[str, Any]) -> Thing | None:
    """A ``t3``: (its item, or None when deleted or removed; its fullname; its creation time), or None when
    its fullname is not Reddit's."""
    key = _fullname(data, "t3")
    if key is None:
        return None
    created = _epoch(data.get("created_utc"))
    if _is_gone(data, "selftext"):
        return None, key, created
    rendered = data.get("selftext_html")
    links = _links(_rendered(rendered))
    target = _web_address(data.get("url"))
    url = _post_url(data, key)
    if target and target != url and target not in links:
        links.insert(0, target)  # a link post points somewhere: that is what it says
    title = data.get("title")
    fields = {**_common(data, _text(data.get("selftext"), rendered), links),
              "title": clean_text(html.unescape(title)) if isinstance(title, str) else "",
              "url": url}
    return Item(key, fields), key, created


def comment_thing(data: dict[str, Any], post_url: str | None = None) -> Thing | None:
    """A ``t1``: (its item, or None when shown as ``[deleted]``/``[removed]``; its fullname; its creation time),
    or None when its fullname is not Reddit's. ``post_url``: its submission's address, when known."""
    key = _fullname(data, "t1")
    if key is None:
        return None
    created = _epoch(data.get("created_utc"))
    if _is_gone(data, "body"):
        return None, key, created
    rendered = data.get("body_html")
    comment_id = key.removeprefix("t1_")
    if post_url is None and (link := _as_fullname(data.get("link_id"), "t3")):
        post_url = f"{SITE}/comments/{link.removeprefix('t3_')}/_/"  # Reddit's address of a comment by ids alone
    url = _permalink(data, key) or (f"{post_url.rstrip('/')}/{comment_id}/" if post_url else None)
    parent = _as_fullname(data.get("parent_id"), "t1")
    reply_to = None
    if parent and url:
        reply_to = f"{url.rstrip('/').rsplit('/', 1)[0]}/{parent.removeprefix('t1_')}/"
    fields = {**_common(data, _text(data.get("body"), rendered), _links(_rendered(rendered))),
              "url": url}
    if reply_to:
        fields["reply_to"] = reply_to
    return Item(key, fields), key, created


def _as_fullname(value: Any, *kinds: str) -> str | None:
    """``value`` when it is the fullname of a thing of one of ``kinds``, as Reddit writes them (``t3_1abc2d``)."""
    m = _FULLNAME.fullmatch(value) if isinstance(value, str) else None
    return value if m and m.group(1) in kinds else None


def _fullname(data: dict[str, Any], kind: str) -> str | None:
    """The thing's fullname (``t3_1abc2d``): its ``name``, or without one (a name that is not a string counts
    as none) its ``id`` after ``kind``; None when that is not a fullname of ``kind`` as Reddit writes them."""
    name = data.get("name")
    if isinstance(name, str):
        return _as_fullname(name, kind)
    ident = data.get("id")
    return f"{kind}_{ident}" if isinstance(ident, str) and _ID36.fullmatch(ident) else None


def _more(data: dict[str, Any]) -> More | None:
    """A "load more comments" stub; None for "continue this thread" (``id`` ``_``, no children) and for one
    too damaged to expand (no valid children or parent)."""
    listed = data.get("children")
    children = [c for c in listed if isinstance(c, str) and _ID36.fullmatch(c)] if isinstance(listed, list) else []
    parent = data.get("parent_id")
    if not children or _as_fullname(parent, "t1", "t3") is None:
        return None
    count = data.get("count")
    valid = isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= _MAX_COUNT
    return More(parent, count if valid else len(children), children)


# --------------------------------------------------------------------------- documents


def _listing_data(doc: Any, what: str) -> dict[str, Any]:
    """A Listing's ``data``, its ``children`` a list; else a ParseError naming ``what`` and the field."""
    if isinstance(doc, dict) and "error" in doc and "data" not in doc:
        message, error = doc.get("message"), doc.get("error")
        raise ParseError(f"Reddit answered with an error instead of {what}"
                         + (f": {message[:120]}" if isinstance(message, str) and message else "")
                         + (f" ({str(error)[:40]})" if isinstance(error, (str, int)) else ""))
    if not isinstance(doc, dict) or doc.get("kind") != "Listing":
        kind = doc.get("kind") if isinstance(doc, dict) else None
        raise ParseError(f"expected {what} (a Reddit Listing), got a JSON {json_type_name(doc)}"
                         + (f" of kind {kind[:40]!r}" if isinstance(kind, str) and kind else ""))
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ParseError(f"{what}: the Reddit Listing's data is a JSON {json_type_name(data)}, expected an object")
    children = data.get("children")
    if not isinstance(children, list):
        raise ParseError(f"{what}: the Reddit Listing's data.children is a JSON {json_type_name(children)}, "
                         "expected an array")
    return data


def _things(children: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c["kind"], c["data"]) for c in children
            if isinstance(c, dict) and isinstance(c.get("kind"), str) and isinstance(c.get("data"), dict)]


def parse_listing(doc: Any) -> Page:
    """A Listing of submissions or comments (``/new``, ``/search``, ``/comments`` of a subreddit)."""
    data = _listing_data(doc, "a listing of posts")
    page = Page(after=_as_fullname(data.get("after"), "t3", "t1"))
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
            thing = comment_thing(data, post_url)
            page.add(thing)
            replies = data.get("replies")
            if replies is None or replies == "":  # Reddit's "no replies"
                continue
            whose = f"comment {thing[1]}" if thing else "a comment"
            stack.extend(reversed(_things(_listing_data(replies, f"the replies of {whose}")["children"])))
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
    head_thing = submission_thing(posts[0])
    page.add(head_thing)
    page.submission = head_thing[0] if head_thing else None
    post_url = _post_url(posts[0], head_thing[1]) if head_thing else None
    _walk(tree["children"], page, post_url)
    return page


def parse_more_children(doc: Any, post_url: str | None = None) -> Page:
    """``/api/morechildren``: a flat list of comments and further stubs."""
    if not isinstance(doc, dict):
        raise ParseError(f"expected Reddit's morechildren answer ({{\"json\": …}}), got a JSON {json_type_name(doc)}")
    body = doc.get("json")
    if not isinstance(body, dict):
        raise ParseError(f"Reddit's morechildren answer: json is a JSON {json_type_name(body)}, expected an object")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        raise ParseError(f"Reddit's morechildren answered with errors: {errors!r:.200}")
    if errors is not None and errors != []:
        raise ParseError(f"Reddit's morechildren answer: json.errors is a JSON {json_type_name(errors)}, "
                         "expected an array")
    data = body.get("data")
    if not isinstance(data, dict):
        raise ParseError(f"Reddit's morechildren answer: json.data is a JSON {json_type_name(data)}, "
                         "expected an object")
    things = data.get("things")
    if not isinstance(things, list):
        raise ParseError(f"Reddit's morechildren answer: json.data.things is a JSON {json_type_name(things)}, "
                         "expected an array")
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
    if page.skipped:
        meta["skipped"] = page.skipped
    return ParseResult(items=page.items, complete=False, meta=meta)
