"""Feed parsing cost, by hand: ``python -m bench.feeds`` prints old vs new milliseconds (median of 50 runs).

Why it exists: a feed check was 9-10 % of a mixed benchmark cycle (feedparser plus one BeautifulSoup per
summary); the lxml reading in :mod:`scrapers.feed` aims at ≤ 2 ms for a 20-item feed. Timing belongs here,
never in a unit test (a busy CI machine would make it flaky).

"old" is feedparser's reading of the same bytes with the BeautifulSoup text walk the product used before
(:func:`_old_parse`: a compact copy, because a benchmark may not import the tests, where the full test
oracle ``tests/support/feed_reference.py`` lives). "new" is :func:`scrapers.feed.parse`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import feedparser
from bs4 import BeautifulSoup, Tag

from bot.demo.world.feeds import FORUM, Post, atom, xenforo_rss
from scrapers import feed, markup
from scrapers.text import clean_multiline

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def _old_text(fragment: str | None) -> str:
    """The BeautifulSoup walk ``scrapers.markup.html_to_text`` used before (cost model, same rules)."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_multiline(fragment)

    def walk(html: str) -> str:
        parts: list[str] = []
        stack: list[object] = [BeautifulSoup(html, "lxml")]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                parts.append(node)
                continue
            if not isinstance(node, Tag) or node.name in markup._DROP:
                continue
            if node.name == "img":
                alt = (node.get("alt") or "").strip()
                if alt and not markup._looks_like_file(alt):
                    parts.append(alt)
                continue
            after = "\n" if node.name in markup._BLOCKS else " " if node.name in markup._CELLS else ""
            if after == "\n":
                parts.append("\n")
            stack.append(after)
            stack.extend(reversed(list(node.children)))
        return "".join(parts)

    text = walk(fragment)
    if markup._ESCAPED_TAG.search(text):
        text = walk(text)
    return clean_multiline(text.translate(markup._INVISIBLE))


def _old_parse(body: bytes, url: str) -> list[Any]:
    """feedparser + the BeautifulSoup walk per title, author and summary: the cost of the old reading."""
    doc = feedparser.parse(body, response_headers={"content-location": url}, sanitize_html=True)
    title = clean_multiline(_old_text((doc.get("feed") or {}).get("title")))
    out = []
    for entry in doc.entries:
        out.append((entry.get("id"), _old_text(entry.get("title")), _old_text(entry.get("author")),
                    feed.iso_time(entry.get("published_parsed") or entry.get("updated_parsed")),
                    feed.truncate(feed._without_read_more(_old_text(feed._summary_html(entry))), feed.SUMMARY_CHARS),
                    title))
    return out


def median_ms(run: Callable[[], object], repeat: int = 50) -> float:
    run()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _feeds() -> dict[str, tuple[bytes, str]]:
    xf = SAMPLES / "xenforo" / "xf2_forum_rss_hypixel_news-and-announcements.xml"
    feeds = {}
    if xf.is_file():
        feeds["xenforo rss (hypixel sample, 20 items)"] = (xf.read_bytes(),
                                                           "https://hypixel.net/forums/news-and-announcements.4/index.rss")
    else:
        posts = [Post(n, f"Thread {n}", "<p>Hello <b>everyone</b>!</p>" * 8) for n in range(1, 21)]
        feeds["xenforo rss (generated, 20 items)"] = (xenforo_rss(*posts).encode(), f"{FORUM}/forums/-/index.rss")
    entries = [(f"tag:news.example.org,2026:{n}", f"Conference update {n}", f"/news/{n}",
                "<p>An <b>update</b> from Bergen: 38 of the 66 patients had been enrolled.</p>" * 4)
               for n in range(1, 21)]
    feeds["atom (bot.demo.world.feeds.atom, 20 entries)"] = (atom(*entries).encode(),
                                                              "https://news.example.org/feed.atom")
    return feeds


def _abstract() -> str:
    path = SAMPLES / "europepmc" / "europepmc_search_lite_6hits.json"
    if path.is_file():
        results = json.loads(path.read_text(encoding="utf-8"))["resultList"]["result"]
        texts = [r["abstractText"] for r in results if isinstance(r.get("abstractText"), str)]
        if texts:
            return max(texts, key=len)
    return "<h4>Background</h4>A &amp; B <i>x</i>. " * 40


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    del args
    print(f"{'':48} {'old ms':>8} {'new ms':>8}")
    for name, (body, url) in _feeds().items():
        old = median_ms(lambda: _old_parse(body, url))
        new = median_ms(lambda: feed.parse(body, url))
        print(f"{name:48} {old:8.2f} {new:8.2f}")
    abstract = _abstract()
    old = median_ms(lambda: _old_text(abstract), 200)
    new = median_ms(lambda: markup.html_to_text(abstract), 200)
    print(f"{'html_to_text, Europe PMC abstract (' + str(len(abstract)) + ' chars)':48} {old:8.3f} {new:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
