"""The ``bluesky`` watch kind against answers it must not trust: every field of a feed or search entry with a wrong
JSON type (a ParseError or a sane post, never a TypeError), link facets that are not applied giving no link, a lone
surrogate before a facet, and entries that are no posts skipped and said so (the login's redirects:
``tests/test_bluesky_login.py``)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from scrapers.bluesky.post import (
    LINK_FEATURE,
    apply_link_facets,
    parse_posts,
    post_item,
)
from scrapers.bluesky.session import forget_sessions
from scrapers.bluesky.source import BlueskySource
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.records import FetchState, ParseError, WatchSpec
from tests.support.bluesky_standin import FIXTURES, FakeBluesky
from tests.support.check_helpers import module_server, server  # noqa: F401
from tests.test_mastodon_hostile import sane_post_problems, sweep

FEED_URL = "https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=ida-mecfs.bsky.social&limit=30"
CARD = "https://www.helse-bergen.no/nyheter/resetme-daratumumab-status"


@pytest.fixture(autouse=True)
def no_session_left():
    """Sessions live for the process: each test starts logged out."""
    forget_sessions()
    yield
    forget_sessions()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def first_post() -> dict[str, Any]:
    """The fixture's post with an emoji, a shortened link facet and a link card."""
    return copy.deepcopy(fixture("author_feed.json")["feed"][0]["post"])


def quote_with_media() -> dict[str, Any]:
    """A feed entry quoting a post with a link card beside it (``app.bsky.embed.recordWithMedia``), as the
    lexicon shapes it; the fixtures have none."""
    post = first_post()
    quoted = "at://did:plc:3jpt2mvvsumjpmpxnqzqcpwe/app.bsky.feed.post/3lkxbbbbbbb2d"
    post["record"]["embed"] = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"$type": "app.bsky.embed.record", "record": {"uri": quoted, "cid": "bafyreiquoted"}},
        "media": {"$type": "app.bsky.embed.external", "external": {"uri": CARD, "title": "ResetME", "description": ""}}}
    post["embed"] = {"$type": "app.bsky.embed.recordWithMedia#view",
                     "record": {"record": {"$type": "app.bsky.embed.record#viewRecord", "uri": quoted,
                                           "author": {"handle": "mecfs-research.bsky.social"}}}}
    return {"post": post}


# ------------------------------------------------------------------ parse (pure)


def test_every_field_of_an_entry_given_a_wrong_type_is_a_parse_error_or_a_sane_post() -> None:
    """Each entry of the real-format author feed and search page on a page of its own (a post, a repost, a reply,
    a quote, a quote with a card), every key and element in it given a number, a boolean, null, a string, an
    array, an object and a lone surrogate."""
    feed, search = fixture("author_feed.json"), fixture("search_posts.json")
    pages = [{"feed": [entry], "cursor": feed["cursor"]} for entry in [*feed["feed"], quote_with_media()]]
    pages += [{"posts": [post], "cursor": search["cursor"], "hitsTotal": 3} for post in search["posts"]]
    tried, failures = sweep(pages, parse_posts, FEED_URL)
    assert tried > 3000  # every place of every entry, not a sample
    assert failures == []


@pytest.mark.parametrize("record_change, expected", [
    # the reviewer's crashes
    ({"langs": 5}, {"lang": None}),
    ({"facets": [{"index": {"byteStart": 82, "byteEnd": 115}, "features": 5}]}, {"links": [CARD]}),
    ({"facets": [{"index": {"byteStart": 82, "byteEnd": 115}, "features": ["x"]}]}, {"links": [CARD]}),
    ({"embed": {"$type": "app.bsky.embed.external", "external": "x"}}, {"links": [CARD]}),
    ({"embed": {"$type": "app.bsky.embed.recordWithMedia", "media": "x"}}, {"links": [CARD], "quote_of": None}),
    # more of the same kind
    ({"langs": "en"}, {"lang": None}),
    ({"langs": ["en", 5, "no\nthing", "nb"]}, {"lang": "en,nb"}),
    ({"facets": [{"index": {"byteStart": True, "byteEnd": 115},
                  "features": [{"$type": LINK_FEATURE, "uri": "https://elsewhere.example/"}]}]}, {"links": [CARD]}),
    ({"facets": [{"index": {"byteStart": 82, "byteEnd": 115},
                  "features": [{"$type": LINK_FEATURE, "uri": "javascript:alert(7)"}]}]}, {"links": [CARD]}),
    ({"embed": {"$type": "app.bsky.embed.external", "external": {"uri": "javascript:alert(7)"}}}, {"links": [CARD]}),
    ({"reply": {"parent": {"uri": 5}}}, {"reply_to": None}),
])
def test_a_field_of_the_wrong_type_is_read_as_absent(record_change: dict[str, Any], expected: dict[str, Any]) -> None:
    post = first_post()
    post["record"].update(record_change)
    item = post_item(post)
    assert item is not None and sane_post_problems(item) == []
    assert {k: item.fields[k] for k in expected} == expected


def test_a_handle_that_is_no_handle_never_reaches_the_url_or_the_author() -> None:
    post = first_post()
    post["author"]["handle"] = "ida\ud800/../x"
    item = post_item(post)
    assert item is not None and sane_post_problems(item) == []
    assert item.fields["url"] == "https://bsky.app/profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz/post/3lkzq2abcde2a"
    assert item.fields["author"] == "Ida 🌿 ME/CFS"


def test_a_page_of_the_wrong_shape_is_a_parse_error_and_unreadable_entries_are_counted() -> None:
    for body, message in ((b'{"feed": 5}', 'neither "feed"'), (b'{"posts": "x"}', 'neither "feed"'),
                          (b"5", "JSON number where Bluesky sends an object")):
        with pytest.raises(ParseError, match=message):
            parse_posts(body, FEED_URL)
    result = parse_posts(json.dumps({"feed": 5, "posts": [5, {"uri": 5}, {"uri": "at://x/y/z", "record": {}}]}).encode())
    assert result.items == [] and result.meta["entries"] == 3 and result.meta["skipped"] == 2


def test_only_facets_that_are_applied_give_links() -> None:
    """A facet inside a character, or overlapping the one before it, changes nothing in the text: what it points
    at is not what the text shows, so it is no link of the post either (the external card still is)."""
    text = "Æ see example.org/a/very/lo..."
    data = text.encode("utf-8")
    start = data.index(b"example.org")

    def link(begin: int, end: int, uri: str) -> dict[str, Any]:
        return {"index": {"byteStart": begin, "byteEnd": end}, "features": [{"$type": LINK_FEATURE, "uri": uri}]}

    facets = [link(start, len(data), "https://example.org/a/very/long/path"),
              link(1, 3, "https://inside-a-character.example/"),  # "Æ" is bytes 0-1
              link(start + 2, len(data), "https://overlapping.example/")]
    out, links = apply_link_facets(text, facets)
    assert out == "Æ see https://example.org/a/very/long/path"
    assert links == ["https://example.org/a/very/long/path"]


def test_a_lone_surrogate_before_a_facet_is_measured_and_the_facet_still_lands() -> None:
    """A lone surrogate (no valid record holds one, a broken server may send ``"\\ud800"``) takes the three bytes
    the surrogatepass encoding gives it, as the facet's offsets count it: the link after it is applied."""
    text = "\ud800 see example.org/a/very/lo..."
    start = len("\ud800 see ".encode("utf-8", "surrogatepass"))
    facets = [{"index": {"byteStart": start, "byteEnd": start + len("example.org/a/very/lo...")},
               "features": [{"$type": LINK_FEATURE, "uri": "https://example.org/a/very/long/path"}]}]
    out, links = apply_link_facets(text, facets)
    assert out == "\ud800 see https://example.org/a/very/long/path"  # the surrogate is left for the text's cleaning
    assert links == ["https://example.org/a/very/long/path"]
    post = first_post()
    post["record"].update(text=text, facets=facets)
    item = post_item(post)
    assert item is not None and sane_post_problems(item) == []
    assert item.fields["text"].endswith(" see https://example.org/a/very/long/path")


# ------------------------------------------------------------------ check, against the stand-in


async def test_entries_that_are_no_posts_are_skipped_and_said_so(server) -> None:
    bluesky = FakeBluesky(server)
    good = bluesky.post("A post")
    broken = bluesky.new_post("No usable URI")
    broken["uri"] = 5
    bluesky.feed.append({"post": broken})
    watch = WatchSpec("b", "bluesky", {"actor": "ida-mecfs.bsky.social"})
    async with Fetcher(HttpSettings(per_host_rps=0, max_retries=0)) as fetcher:
        outcome = await BlueskySource(server.url).fetch(watch, fetcher, FetchState())
    assert [i.key for i in outcome.result.items] == [good["uri"]]
    assert outcome.notes == ["1 entr(y/ies) without a post's at:// URI and record were skipped"]
