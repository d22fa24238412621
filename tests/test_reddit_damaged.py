"""Damaged Reddit answers never crash the parser (review finding 1).

Every field :mod:`scrapers.reddit.things` reads, given a JSON value of the wrong type (a list, an object, a
number, a string, null, a boolean), NaN, infinity, a number too large for a float or a hostile string, is
either ignored — the item stays, that field empty or built from what is valid — or a ParseError naming the
field. Never a TypeError, never a NaN reaching the watch's cursor, never an address that is not http(s) in
``url`` or ``links``, never a fullname that is not Reddit's (``t3_`` / ``t1_`` and base36).

The documents are the stand-in's, which answers in Reddit's real shapes (``tests/support/reddit_standin.py``).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from scrapers.json_body import loads_json
from scrapers.records import ParseError, ParseResult
from scrapers.reddit.things import SITE, parse, parse_comment_tree, parse_listing, parse_more_children
from tests.support.reddit_standin import RedditWorld, listing

NAN, INF, HUGE = float("nan"), float("inf"), 10**400
NOT_STRINGS = [None, True, 0, 1.5, NAN, [], ["x"], {}, {"a": 1}]
NOT_EPOCHS = [None, True, "1780000000", [], [1], {}, NAN, INF, -INF, HUGE, -HUGE, 1e300]
HOSTILE = "<@&1> ../x\u202e"
NOT_ADDRESSES = ["javascript:alert(1)", "//evil.example/x", "ftp://example.org/x", "data:text/html,x", "/r/cfs/a b/",
                 "/r/cfs/\u202e/", "http://[::1", "https://", "https://exa mple.org/", HOSTILE, "", " "]

WORLD = RedditWorld(None)
POST = WORLD.post("ResetME update", "Dosing news from Bergen.")
TOP = WORLD.comment(POST, "Thanks for posting.")
REPLY = WORLD.comment(POST, "Agreed.", parent=TOP)
HIDDEN = WORLD.comment(POST, "An older one.", hidden=True)
T3, T1, T1_REPLY = f"t3_{POST.id}", f"t1_{TOP.id}", f"t1_{REPLY.id}"
POST_URL = f"{SITE}{POST.permalink}"


def tree() -> list[Any]:
    return WORLD.tree(POST)


def a_listing() -> dict[str, Any]:
    return listing([{"kind": "t3", "data": POST.data(True)}], after="t3_zzzzz")


def more() -> dict[str, Any]:
    return WORLD.more_children(T3, [HIDDEN.id])


DOCS: dict[str, Callable[[], Any]] = {"tree": tree, "listing": a_listing, "more": more}
PAGE_PARSERS = {"tree": parse_comment_tree, "listing": parse_listing, "more": parse_more_children}


# ------------------------------------------------------------------ where a value goes


def post_of(doc: list[Any]) -> dict[str, Any]:
    return doc[0]["data"]["children"][0]["data"]


def top_of(doc: list[Any]) -> dict[str, Any]:
    return doc[1]["data"]["children"][0]["data"]


def reply_of(doc: list[Any]) -> dict[str, Any]:
    return top_of(doc)["replies"]["data"]["children"][0]["data"]


def stub_of(doc: list[Any]) -> dict[str, Any]:
    return doc[1]["data"]["children"][1]["data"]


def put(where: Callable[[Any], dict[str, Any]], key: str, *, drop: str | None = None) -> Callable[[Any, Any], Any]:
    """A mutation: ``where(doc)[key] = value`` (and ``drop`` removed first)."""
    def mutate(doc: Any, value: Any) -> Any:
        target = where(doc)
        if drop:
            target.pop(drop, None)
        target[key] = value
        return doc
    return mutate


def whole(doc: Any, value: Any) -> Any:
    return value


# ------------------------------------------------------------------ what must hold


def is_address(value: Any) -> bool:
    """An absolute http(s) address with a host and no whitespace or control characters."""
    if not isinstance(value, str) or re.search(r"[\s\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]", value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def assert_sane(result: ParseResult, doc: Any, which: str) -> None:
    """Whatever arrived, what comes out is well-formed."""
    for item in result.items:
        f = item.fields
        assert re.fullmatch(r"t[13]_[0-9a-z]{1,13}", item.key), item.key
        assert f["url"] is None or (is_address(f["url"]) and f["url"].startswith(SITE + "/")), f["url"]
        assert isinstance(f["links"], list) and all(is_address(link) for link in f["links"]), f["links"]
        assert all(f[k] is None or ISO.match(f[k]) for k in ("published", "edited")), (f["published"], f["edited"])
        assert f["author"] is None or isinstance(f["author"], str)
        assert isinstance(f["text"], str)
        assert f["community"] is None or re.fullmatch(r"r/[A-Za-z0-9_]{1,24}", f["community"]), f["community"]
        assert "reply_to" not in f or (is_address(f["reply_to"]) and f["reply_to"].startswith(SITE + "/"))
        if item.key.startswith("t3_"):
            assert isinstance(f["title"], str)
    json.dumps([i.fields for i in result.items], allow_nan=False)
    json.dumps(result.meta, allow_nan=False)  # the meta reaches the cursor: no NaN, no object that is not JSON
    for stub in result.meta.get("more", []):
        assert re.fullmatch(r"t[13]_[0-9a-z]{1,13}", stub["parent_id"]) and isinstance(stub["count"], int)
        assert stub["children"] and all(re.fullmatch(r"[0-9a-z]{1,13}", c) for c in stub["children"])
    page = PAGE_PARSERS[which](doc)
    assert all(isinstance(t, float) and math.isfinite(t) for t in page.created.values()), page.created


def fields(result: ParseResult) -> dict[str, dict[str, Any]]:
    return {i.key: i.fields for i in result.items}


def field_is(key: str, name: str, expected: Any) -> Callable[[ParseResult], None]:
    def check(result: ParseResult) -> None:
        got = fields(result)[key]
        assert (got.get(name) if name == "reply_to" else got[name]) == expected, (key, name, got.get(name))
    return check


def keys_are(*keys: str) -> Callable[[ParseResult], None]:
    def check(result: ParseResult) -> None:
        assert sorted(fields(result)) == sorted(keys)
    return check


def meta_is(name: str, expected: Any) -> Callable[[ParseResult], None]:
    def check(result: ParseResult) -> None:
        assert result.meta[name] == expected
    return check


@dataclass
class Case:
    name: str
    doc: str  # "tree", "listing" or "more"
    mutate: Callable[[Any, Any], Any]
    values: list[Any]
    #: what must hold of the result (the field was ignored), or the word the ParseError must name
    expect: Callable[[ParseResult], None] | str


EVERYONE = (T3, T1, T1_REPLY)
STUB = [{"parent_id": T3, "count": 1, "children": [HIDDEN.id]}]

CASES = [
    # a submission's fields: ignored, the post stays
    Case("t3.title", "tree", put(post_of, "title"), NOT_STRINGS, field_is(T3, "title", "")),
    Case("t3.author", "tree", put(post_of, "author"), NOT_STRINGS, field_is(T3, "author", None)),
    Case("t3.selftext_html", "tree", put(post_of, "selftext_html"), NOT_STRINGS,
         field_is(T3, "text", POST.selftext)),
    Case("t3.selftext", "tree", put(post_of, "selftext"), NOT_STRINGS, field_is(T3, "text", POST.selftext)),
    Case("t3.selftext and selftext_html", "tree", put(post_of, "selftext", drop="selftext_html"), NOT_STRINGS,
         field_is(T3, "text", "")),
    Case("t3.created_utc", "tree", put(post_of, "created_utc"), NOT_EPOCHS, field_is(T3, "published", None)),
    Case("t3.edited", "tree", put(post_of, "edited"), NOT_EPOCHS, field_is(T3, "edited", None)),
    Case("t3.subreddit", "tree", put(post_of, "subreddit"), NOT_STRINGS + ["", HOSTILE, "a b", "x" * 40],
         field_is(T3, "community", None)),
    Case("t3.permalink", "tree", put(post_of, "permalink"), NOT_STRINGS + NOT_ADDRESSES + ["/r/cfs/nocomments/"],
         field_is(T3, "url", f"{SITE}/comments/{POST.id}/")),
    Case("t3.url", "tree", put(post_of, "url"), NOT_STRINGS + NOT_ADDRESSES, field_is(T3, "links", [])),
    Case("t3.removed_by_category", "tree", put(post_of, "removed_by_category"), [True, 1, 1.5, [1], {"a": 1}],
         keys_are(*EVERYONE)),
    Case("t3.name", "tree", put(post_of, "name"), NOT_STRINGS, keys_are(*EVERYONE)),  # the id says it
    Case("t3.id", "tree", put(post_of, "id"), NOT_STRINGS + [HOSTILE], keys_are(*EVERYONE)),  # the name says it
    # a fullname that is not Reddit's: not an item (its comments are)
    Case("t3.name (not Reddit's)", "tree", put(post_of, "name"),
         [f"t3_{HOSTILE}", "t3_", "t3_ABC", f"t1_{POST.id}", "t3_a/../b", "t3_" + "a" * 40], keys_are(T1, T1_REPLY)),
    Case("t3.id without a name", "tree", put(post_of, "id", drop="name"), NOT_STRINGS + [HOSTILE, "ABC", ""],
         keys_are(T1, T1_REPLY)),
    # a comment's fields
    Case("t1.body_html", "tree", put(top_of, "body_html"), NOT_STRINGS, field_is(T1, "text", TOP.body)),
    Case("t1.body", "tree", put(top_of, "body"), NOT_STRINGS, field_is(T1, "text", TOP.body)),
    Case("t1.author", "tree", put(top_of, "author"), NOT_STRINGS, field_is(T1, "author", None)),
    Case("t1.created_utc", "tree", put(top_of, "created_utc"), NOT_EPOCHS, field_is(T1, "published", None)),
    Case("t1.edited", "tree", put(top_of, "edited"), NOT_EPOCHS, field_is(T1, "edited", None)),
    Case("t1.subreddit", "tree", put(top_of, "subreddit"), NOT_STRINGS + [HOSTILE], field_is(T1, "community", None)),
    Case("t1.permalink", "tree", put(top_of, "permalink"), NOT_STRINGS + NOT_ADDRESSES + ["/r/cfs/nocomments/"],
         field_is(T1, "url", f"{POST_URL}{TOP.id}/")),
    Case("t1.parent_id", "tree", put(reply_of, "parent_id"), NOT_STRINGS + [f"t1_{HOSTILE}", "t1_", "t1_A B"],
         field_is(T1_REPLY, "reply_to", None)),
    Case("t1.name (not Reddit's)", "tree", put(top_of, "name"), [f"t1_{HOSTILE}", "t1_", f"t3_{TOP.id}"],
         keys_are(T3, T1_REPLY)),
    Case("t1.replies (none)", "tree", put(top_of, "replies"), [None, ""], keys_are(T3, T1)),
    Case("t1.replies", "tree", put(top_of, "replies"),
         [5, True, "x", [], [1], {}, {"kind": "Listing"}, {"kind": "Listing", "data": 5}, {"kind": "t1", "data": {}}],
         "replies"),
    Case("t1.replies.data.children", "tree", put(lambda d: top_of(d)["replies"]["data"], "children"),
         [5, "x", None, {}, 1.5, True], "children"),
    # a "load more comments" stub: ignored (or its count read from its children)
    Case("more.count", "tree", put(stub_of, "count"), [None, True, "3", 1.5, NAN, INF, -1, HUGE, [], {}],
         meta_is("more", STUB)),
    Case("more.children", "tree", put(stub_of, "children"), [5, "abc", None, {}, [5, None], [HOSTILE], [""], [HUGE]],
         meta_is("more", [])),
    Case("more.parent_id", "tree", put(stub_of, "parent_id"), NOT_STRINGS + [f"t1_{HOSTILE}", "", "t5_abc"],
         meta_is("more", [])),
    # the documents' structure: a ParseError naming what is wrong
    Case("tree", "tree", whole, [[], [1], [1, 2], [1, 2, 3]], "comment tree"),
    Case("tree[1].data.children", "tree", put(lambda d: d[1]["data"], "children"), [5, "x", None, {}], "children"),
    Case("listing.after", "listing", put(lambda d: d["data"], "after"), NOT_STRINGS + [f"t3_{HOSTILE}", ""],
         meta_is("after", None)),
    Case("listing.kind", "listing", put(lambda d: d, "kind"), NOT_STRINGS + ["t3"], "Listing"),
    Case("listing.data", "listing", put(lambda d: d, "data"), [None, True, 0, 1.5, NAN, [], ["x"], "x"], "data"),
    Case("listing.data.children", "listing", put(lambda d: d["data"], "children"), [None, True, 5, "x", {}, 1.5],
         "children"),
    Case("listing.data.children[0]", "listing", put(lambda d: d["data"], "children"),
         [[5], ["x"], [None], [[]], [{"kind": 5, "data": {}}], [{"kind": "t3", "data": 5}], [{"kind": "t3"}]],
         keys_are()),
    Case("morechildren.json", "more", put(lambda d: d, "json"), [None, True, 5, "x", [], [1]], "json"),
    Case("morechildren.json.errors", "more", put(lambda d: d["json"], "errors"),
         [5, "x", True, {"a": 1}, [["RATELIMIT", "you are doing that too much", None]]], "errors"),
    Case("morechildren.json.errors (none)", "more", put(lambda d: d["json"], "errors"), [None, []],
         keys_are(f"t1_{HIDDEN.id}")),
    Case("morechildren.json.data", "more", put(lambda d: d["json"], "data"), [[1], 5, "x", None, True, []], "data"),
    Case("morechildren.json.data.things", "more", put(lambda d: d["json"]["data"], "things"),
         [5, "x", None, {}, True], "things"),
]


def run(case_doc: str, mutate: Callable[[Any, Any], Any], value: Any) -> tuple[bytes, Any]:
    doc = mutate(copy.deepcopy(DOCS[case_doc]()), value)
    body = json.dumps(doc).encode()  # NaN and Infinity as Python's json writes them (and reads them back)
    return body, loads_json(body)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_field_of_the_wrong_type_is_ignored_or_a_parse_error_naming_it(case: Case) -> None:
    for value in case.values:
        body, doc = run(case.doc, case.mutate, value)
        if isinstance(case.expect, str):
            with pytest.raises(ParseError, match=re.escape(case.expect)):
                parse(body)
            continue
        result = parse(body)
        assert_sane(result, doc, case.doc)
        case.expect(result)


def test_the_undamaged_documents_read_whole() -> None:
    """The cases above change one thing each: unchanged, every post, comment and stub is there."""
    result = parse(json.dumps(tree()).encode())
    assert sorted(fields(result)) == sorted(EVERYONE) and result.meta["more"] == STUB
    assert fields(result)[T3]["url"] == POST_URL and fields(result)[T1_REPLY]["reply_to"] == f"{POST_URL}{TOP.id}/"
    assert parse(json.dumps(a_listing()).encode()).meta["after"] == "t3_zzzzz"
    assert sorted(fields(parse(json.dumps(more()).encode()))) == [f"t1_{HIDDEN.id}"]


def the_places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in a document, objects' and arrays' alike."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from the_places(child, (*path, key))


def replace_at(path: tuple[Any, ...]) -> Callable[[Any, Any], Any]:
    def mutate(doc: Any, value: Any) -> Any:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc
    return mutate


SWEEP = [None, True, 5, 1.5, NAN, HUGE, "x", HOSTILE, [], [5], {}]


@pytest.mark.parametrize("which", sorted(DOCS))
def test_any_value_anywhere_is_a_parse_error_or_sane_items(which: str) -> None:
    """Beyond the fields the parser is known to read: every value of every document, replaced by each of
    :data:`SWEEP`, gives a ParseError or well-formed items — never another exception."""
    places = list(the_places(DOCS[which]()))
    assert len(places) > 25
    for path in places:
        for value in SWEEP:
            body, doc = run(which, replace_at(path), value)
            try:
                result = parse(body)
            except ParseError:
                continue
            assert_sane(result, doc, which)
