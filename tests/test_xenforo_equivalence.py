"""The lxml XenForo parse gives the very records the old BeautifulSoup parse gave.

The old rules live on as an oracle in :mod:`tests.support.xenforo_reference`. Every page we have
(the real samples, our fixtures, the demo world's generated XF1/XF2 threads, forum pages and feeds)
and a set of damaged and edge-case pages are parsed both ways; items, fields, meta and ``complete``
must be equal, and where the old parse refused a page the new one must refuse it with the same
message. A new rule that changes records on purpose must change the oracle too, in the same commit.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scrapers.records import ParseResult
from scrapers.xenforo.forum import parse_forum
from scrapers.xenforo.thread import parse_thread_page
from tests.support import xenforo_reference as old

FIXTURES = Path(__file__).parent / "fixtures" / "xenforo"
PAGE_URL = "https://forum.example.org/community/threads/trial-thread.44450/page-2"

Parse = Callable[..., ParseResult]


def outcome(parse: Parse, body: bytes | str, url: str | None = None, **kw: str) -> object:
    """The whole record set as JSON, or the refusal (exception type and message)."""
    try:
        return parse(body, url, **kw).to_json()
    except Exception as exc:  # noqa: BLE001 - the kind and message of a refusal must match too
        return f"{type(exc).__name__}: {exc}"


def assert_same(body: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> None:
    assert outcome(parse_thread_page, body, url, board_tz=board_tz) == outcome(
        old.parse_thread_page, body, url, board_tz=board_tz
    )
    assert outcome(parse_forum, body, url, board_tz=board_tz) == outcome(old.parse_forum, body, url, board_tz=board_tz)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".html", ".xml"))


# ------------------------------------------------------------------ every page we have


@pytest.mark.parametrize("name", [p.name for p in _files(FIXTURES)])
def test_fixture_pages_give_identical_records(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    assert_same(body)
    assert_same(body, PAGE_URL, board_tz="Europe/Oslo")
    assert_same(body.decode("utf-8"), PAGE_URL)


def test_sample_pages_give_identical_records(samples_dir: Path) -> None:
    pages = _files(samples_dir / "xenforo")
    assert len(pages) >= 8
    for page in pages:
        body = page.read_bytes()
        assert_same(body)
        assert_same(body, PAGE_URL, board_tz="America/New_York")
        assert_same(body.decode("utf-8-sig"))


def _demo_pages() -> list[tuple[str, str, str]]:
    from bot.demo.world.xenforo import Thread, forum_feed, forum_page

    root = "http://127.0.0.1:8999/community/"
    threads = [
        Thread("Norway: daratumumab trial recruiting", engine="xf2"),
        Thread("Phase 2 results, Bergen", engine="xf1", board_tz="Europe/Oslo", prefix=None),
        Thread("Pinned: how to read trial news", engine="xf2", sticky=True, prefix=None),
    ]
    for i, t in enumerate(threads):
        t.add(43 - 10 * i)
        t.edit(t.posts[3], "Edited: recruitment closes in December 2026.")
        t.delete(t.posts[5])
    pages = [(f"{t.engine} {t.id} page {n}", t.render(n, root), f"{root}{t.path(n).lstrip('/')}")
             for t in threads for n in range(1, t.last_page + 1)]
    pages.append(("forum page", forum_page("Recruitment", threads, root), f"{root}forums/recruitment.42/"))
    pages.append(("forum feed", forum_feed("Recruitment", threads, root), f"{root}forums/-/index.rss"))
    return pages


def test_generated_demo_world_pages_give_identical_records() -> None:
    pages = _demo_pages()
    assert len(pages) > 6
    for _, html, url in pages:
        assert_same(html, url)
        assert_same(html.encode("utf-8"), url, board_tz="Europe/Oslo")
        assert_same(html.encode("utf-8"))


# ------------------------------------------------------------------ damaged pages


def test_damaged_pages_are_read_or_refused_alike() -> None:
    """Cut downloads and flipped bytes (seeded) anywhere in the fixture pages."""
    rng = random.Random(20260301)
    for page in _files(FIXTURES):
        body = page.read_bytes()
        for _ in range(12):
            if rng.random() < 0.4:
                damaged = body[: rng.randrange(len(body))]
            else:
                data = bytearray(body)
                for _ in range(rng.randint(1, 12)):
                    data[rng.randrange(len(data))] = rng.choice(b"<>/\"'= \x00\xa0\xff" + bytes([rng.randrange(256)]))
                damaged = bytes(data)
            assert_same(damaged, PAGE_URL)


# ------------------------------------------------------------------ edge cases

_T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def _xf2(*posts: str, url_key: str = "thread-44450") -> str:
    return f"""<!DOCTYPE html><html id="XF" data-template="thread_view" data-content-key="{url_key}"><head>
<meta charset="utf-8"><title>Trial thread | Forum</title>
<link rel="canonical" href="https://forum.example.org/threads/trial-thread.44450/"></head>
<body><div class="p-body"><h1 class="p-title-value"><span class="label">Open</span>Trial thread</h1>
<ul class="p-breadcrumbs"><li><a><span itemprop="name">Forums</span></a></li><li><a><span itemprop="name">Trials</span></a></li></ul>
<div class="block-body">{"".join(posts)}</div></div></body></html>"""


def _post(pid: int, body: str, *, extra_class: str = "", author: str = "Kalliope") -> str:
    at = _T0 + timedelta(minutes=pid % 1000)
    return f"""<article class="message message--post {extra_class}" data-author="{author}" data-content="post-{pid}">
<header class="message-attribution"><ul class="message-attribution-main"><li><a href="/threads/t.44450/post-{pid}">
<time class="u-dt" datetime="{at.isoformat()}" data-time="{int(at.timestamp())}">Today</time></a></li></ul>
<ul class="message-attribution-opposite"><li><a href="#">#{pid % 100}</a></li></ul></header>
<div class="message-content"><div class="message-userContent"><article class="message-body">
<div class="bbWrapper">{body}</div></article></div></div></article>"""


def _quote(author: str, pid: int, inner: str) -> str:
    return f"""<blockquote class="bbCodeBlock bbCodeBlock--expandable bbCodeBlock--quote" data-quote="{author}"
data-source="post: {pid}"><div class="bbCodeBlock-title"><a href="/goto/post?id={pid}">{author} said:</a></div>
<div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">{inner}</div>
<div class="bbCodeBlock-expandLink"><a role="button">Click to expand...</a></div></div></blockquote>"""


EDGE_PAGES: dict[str, str] = {
    "quotes inside quotes": _xf2(_post(101, _quote("A", 90, _quote("B", 80, "innermost") + "middle")
                                       + "<p>reply</p>" + _quote("C", 95, "second outer"))),
    "quote without attributes": _xf2(_post(102, """<div class="bbCodeBlock bbCodeBlock--quote">
<div class="bbCodeBlock-title"><a href="/threads/t.44450/post-77">Mé Sci wrote:</a></div>quoted</div>after""")),
    "a post that is only an image": _xf2(_post(103, '<img src="/attachments/scan.png" class="bbImage" alt="scan">')),
    "a smilie and an emoji image": _xf2(_post(104, 'yes <img class="smilie" alt=":)" src="x.gif"> <img alt="💊">')),
    "click to expand and spoilers": _xf2(_post(105, """<div class="bbCodeSpoiler"><button class="bbCodeSpoiler-button">
Spoiler</button><div class="bbCodeSpoiler-content">hidden text</div></div>
<div class="bbCodeBlock-expandLink js-expandLink"><a>Click to expand...</a></div>""")),
    "deleted post placeholder": _xf2(_post(106, "kept"), _post(107, "gone", extra_class="message--deleted"),
                                     '<div class="message message--deleted" data-content="post-108">removed</div>'),
    "link unfurl, iframe, table, pre": _xf2(_post(109, """<div class="bbCodeBlock bbCodeBlock--unfurl" data-url="/x">
<a href="/ignored">preview</a></div><iframe src="https://www.youtube.com/embed/x"></iframe>
<table><tr><td>a</td><td>b</td></tr></table><pre>  keep
   lines</pre><script>alert(1)</script><!-- note -->tail""")),
    "ads, signature and last edit inside the body": _xf2(_post(110, """text<div class="samCodeUnit">AD</div>
<div class="message-lastEdit">Last edited</div><aside class="message-signature"><div class="bbWrapper">sig</div>
</aside><div class="u-srOnly">hidden</div>""")),
    "template, ruby and noscript": _xf2(_post(111, """<template><p>tpl</p></template><ruby>漢<rt>kan</rt><rp>(</rp>
</ruby><noscript>ns</noscript><textarea>ta</textarea>""")),
    "unusual whitespace and zero-width characters": _xf2(_post(112, "a\u200bb\ufeffc\u00a0d\n\n<br>e\u2028f")),
    "mojibake and controls": _xf2(_post(113, "Ã˜ystein\x1b[31m red \x07")),
    "a 1,000-deep nested post": _xf2(_post(114, "<div><span>" * 1000 + "deep" + "</span></div>" * 1000)),
    "posts nested by a broken theme": _xf2(_post(115, "first</ul>" + _post(116, "second"))),
}


@pytest.mark.parametrize("name", sorted(EDGE_PAGES))
def test_edge_pages_give_identical_records(name: str) -> None:
    html = EDGE_PAGES[name]
    assert_same(html)
    assert_same(html.encode("utf-8"), PAGE_URL)
    assert_same(html.replace('data-content-key="thread-44450"', ""))


def test_the_walk_does_not_recurse() -> None:
    """Markup nested far deeper than the recursion limit is read (the parser flattens what it must)."""
    deep = _xf2(_post(117, "<div><b>" * 5000 + "bottom" + "</b></div>" * 5000))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        result = parse_thread_page(deep)
    finally:
        sys.setrecursionlimit(limit)
    assert "bottom" in result.items[0].fields["text"]


def _xf1(*posts: str) -> str:
    return f"""<!DOCTYPE html><html id="XenForo" class="Public"><head><meta charset="utf-8">
<base href="https://forum.example.org/community/"><title>Trial | S4ME</title></head><body>
<div id="content" class="thread_view"><div class="titleBar"><h1><span class="prefix">Open</span> Trial</h1></div>
<fieldset class="breadcrumb"><span class="crust"><a><span itemprop="title">Trials</span></a></span></fieldset>
<div class="PageNav" data-page="3" data-last="7" data-baseurl="threads/trial.44450/page-{{{{ page }}}}"></div>
<ol id="messageList">{"".join(posts)}</ol></div></body></html>"""


def _xf1_post(pid: int, date: str, body: str, *, extra_class: str = "") -> str:
    return f"""<li id="post-{pid}" class="message {extra_class}" data-author="MeSci">
<div class="messageUserBlock"><a class="username">MeSci</a></div><div class="messageInfo">
<blockquote class="messageText SelectQuoteContainer ugc baseHtml">{body}</blockquote>
<div class="messageMeta"><div class="privateControls"><a class="datePermalink" href="threads/trial.44450/#post-{pid}">
{date}</a></div><div class="publicControls"><a class="item muted postNumber" href="#">#{pid % 50}</a></div></div>
</div></li>"""


@pytest.mark.parametrize("board_tz", ["UTC", "Europe/Oslo", "America/Los_Angeles", "Asia/Kolkata"])
def test_xf1_relative_and_title_dates_in_the_board_timezone(board_tz: str) -> None:
    html = _xf1(
        _xf1_post(201, '<abbr class="DateTime" data-time="1772359200" title="Mar 1, 2026 at 10:00 AM">Yesterday at 10:00 AM</abbr>',
                  "recent"),
        _xf1_post(202, '<span class="DateTime" title="Oct 19, 2014 at 8:27 PM">Oct 19, 2014</span>', "older"),
        _xf1_post(203, '<abbr class="DateTime" data-datestring="Mar 29, 2026" data-timestring="2:30 AM">Sunday</abbr>',
                  "DST night"),
        _xf1_post(204, '<span class="DateTime" title="Mar 1, 2026 at 9:00 AM">x</span>', "deleted",
                  extra_class="deleted"),
        _xf1_post(205, '<span class="DateTime" title="Feb 30, 2026">x</span>', "impossible date"),
    )
    assert_same(html, board_tz=board_tz)
    assert_same(html.replace('<span class="DateTime" title="Feb 30, 2026">x</span>',
                             '<span class="DateTime" title="Feb 28, 2026">x</span>'), PAGE_URL, board_tz=board_tz)
