"""RSS/Atom feeds: the real XenForo feed and CTIS item, error pages, and new_entry events end to end."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from bot.demo.replay import Reply, ReplayServer
from scrapers.records import ParseError, UnsupportedWatch
from scrapers.feed import SUMMARY_CHARS, FeedSource, parse, truncate
from scrapers.signals import find_signals
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401 (fixtures)
from bot.demo.world.feeds import FORUM, Post, atom, xenforo_rss

CTIS_LINK = "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT=2025-523726-40-00"


# --- parsing ------------------------------------------------------------------------------------


def test_real_xenforo_forum_feed(samples_dir: Path) -> None:
    url = "https://hypixel.net/forums/news-and-announcements.4/index.rss"
    result = parse((samples_dir / "xenforo" / "xf2_forum_rss_hypixel_news-and-announcements.xml").read_bytes(), url)
    assert len(result.items) == 20 and result.complete
    assert result.meta["feed"] == {"title": "News and Announcements", "link": "https://hypixel.net/", "format": "rss20"}
    first = result.items[0]
    assert first.key == "4853203"  # the guid: the thread id
    fields = dict(first.fields)
    summary = fields.pop("summary")
    assert fields == {"title": "CvC Update - New Mode: Gun Game",
                            "url": "https://hypixel.net/threads/cvc-update-new-mode-gun-game.4853203/",
                            "author": "Brandonjja", "published": "2022-03-24T03:42:20Z",
                            "feed_title": "News and Announcements"}
    # The content:encoded snippet as text: lines kept, markup and the attachment's file name gone.
    assert summary.startswith("Hey everyone!\nToday we're bringing you an update for Cops and Crims")
    assert not summary.endswith("Read more") and "cvc-update.png" not in summary and "<" not in summary
    assert all(len(i.fields["summary"] or "") <= SUMMARY_CHARS for i in result.items)
    assert len({i.key for i in result.items}) == 20
    assert not any(s["kind"] == "enrollment" for i in result.items for s in find_signals(i.fields["summary"] or ""))


def test_real_ctis_update_item_in_an_rss_envelope(samples_dir: Path) -> None:
    # CTIS's /rss/updates.rss items carry the labelled lines of this real description; no guid, so the link keys it.
    description = (samples_dir / "ctis" / "ctis_rss_item_2025-523726-40-00.html").read_text(encoding="utf-8")
    rss = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>CTIS updates</title>
      <link>https://euclinicaltrials.eu/</link><description>Recently updated trials</description>
      <item><title>2025-523726-40-00</title><link>{escape(CTIS_LINK)}</link>
      <description>{escape(description)}</description><pubDate>Wed, 15 Jul 2026 00:00:00 GMT</pubDate></item>
    </channel></rss>"""
    (item,) = parse(rss.encode()).items
    assert item.key == CTIS_LINK and item.fields["url"] == CTIS_LINK
    lines = item.fields["summary"].split("\n")
    assert lines[:2] == ["Trial number: 2025-523726-40-00", "Overall trial status: Ongoing, recruiting"]
    assert "Trial title: A PHASE III, OPEN-LABEL, SINGLE-ARM, MULTI-CENTER STUDY TO EVALUATE THE SAFETY" in lines[2]
    assert item.fields["published"] == "2026-07-15T00:00:00Z"
    # The registry line "Planned number of participants: 54" is not an enrollment report; the id is found.
    assert find_signals(item.fields["summary"]) == [{"kind": "trial_id", "registry": "ctis", "id": "2025-523726-40-00"}]


def test_atom_entries_keyed_by_id_with_relative_links_resolved() -> None:
    doc = atom(("tag:news.example.org,2026:41", "Conference update", "/news/41",
                "<p>An <b>update</b> from Bergen.</p>"))
    (item,) = parse(doc.encode(), "https://news.example.org/feed.atom").items
    assert item.key == "tag:news.example.org,2026:41"
    assert item.fields == {"title": "Conference update", "url": "https://news.example.org/news/41",
                           "author": "Research Foundation", "published": "2026-11-05T10:15:00Z",
                           "summary": "An update from Bergen.", "feed_title": "Trial news"}


def test_entries_without_id_or_link_are_skipped_and_long_summaries_cut() -> None:
    long_html = "<p>" + " ".join(["word"] * 400) + "</p>"
    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
           f'<item><title>no key</title><description>x</description></item>'
           f'<item><title>long</title><guid>g-1</guid><description>{escape(long_html)}</description></item>'
           '</channel></rss>')
    result = parse(rss.encode())
    assert [i.key for i in result.items] == ["g-1"] and result.meta["skipped"] == 1
    summary = result.items[0].fields["summary"]
    assert len(summary) <= SUMMARY_CHARS and summary.endswith("word…")
    assert truncate("short", 10) == "short"


@pytest.mark.parametrize("body, message", [
    (b"<!DOCTYPE html><html><head><title>Forum</title></head><body>Hi</body></html>", "an HTML page, not an RSS"),
    (b"", "empty"),
    (b'{"items": []}', "not an RSS or Atom feed"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>a</ti',
     "is cut off (its root element never closes)"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>a&bogus;</title></item>'
     b'</channel></rss>', "not well-formed and has no readable entries"),
])
def test_non_feeds_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, "https://forum.example.org/forums/news.4/index.rss")
    assert message in str(info.value)


def test_a_malformed_feed_with_entries_is_used_but_incomplete() -> None:
    rss = xenforo_rss(Post(1, "First", "Hello"), Post(2, "Second", "World")).replace("</channel>", "")
    result = parse(rss.encode())
    assert [i.key for i in result.items] == ["1", "2"]
    assert not result.complete and "not well-formed" in result.meta["warning"]


def test_an_empty_but_valid_feed_has_no_items() -> None:
    result = parse(xenforo_rss().encode())
    assert result.items == [] and result.complete


def test_watch_keys_are_checked() -> None:
    FeedSource().validate({"url": "https://forum.example.org/forums/news.4/index.rss"})
    with pytest.raises(UnsupportedWatch, match="needs url"):
        FeedSource().validate({"url": "ftp://x"})
    with pytest.raises(UnsupportedWatch, match="unknown key"):
        FeedSource().validate({"url": "https://x.org/rss", "keywords": ["a"]})


# --- the whole pipeline -------------------------------------------------------------------------


def _watch(server: ReplayServer) -> str:
    return f"""
        [[watch]]
        id = "news"
        kind = "feed"
        url = "{server.url}/forums/news.4/index.rss"
        labels = ["news"]
    """


RSS_TYPE = "application/rss+xml; charset=utf-8"


def test_change_sequence_gives_exact_new_entry_events(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, _watch(server))
    first = Post(101, "Welcome to the news forum", "Read the rules first.")
    server.route("GET", "/forums/news.4/index.rss", Reply(body=xenforo_rss(first), content_type=RSS_TYPE, etag="auto"))
    assert run_check(cfg, capsys) == (0, [])  # baseline

    second = Post(102, "Daratumumab trial: conference summary", "The talk covered the <b>ResetME</b> design.",
                  author="Trish", date="Fri, 06 Nov 2026 08:00:00 +0000")
    # The first thread got a reply: its pubDate and reply count move. That is not a new entry.
    first_replied = Post(101, "Welcome to the news forum", "Read the rules first.", date="Fri, 06 Nov 2026 09:00:00 +0000",
                         replies=3)
    server.route("GET", "/forums/news.4/index.rss",
                 Reply(body=xenforo_rss(first_replied, second), content_type=RSS_TYPE, etag="auto"))
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert events == [{
        "id": f"new_entry:{FORUM}/threads/thread.102/", "kind": "new_entry", "watch": "news", "source": "feed",
        "subject": "102", "trial": None, "title": "Daratumumab trial: conference summary",
        "url": f"{FORUM}/threads/thread.102/", "field": None, "old": None, "new": None, "at": events[0]["at"],
        "detail": {"author": "Trish", "published": "2026-11-06T08:00:00Z",
                   "summary": "The talk covered the ResetME design.", "feed_title": "ME/CFS News"}}]

    # Unchanged: a conditional GET answered 304.
    server.take_requests()
    assert run_check(cfg, capsys) == (0, [])
    (request,) = server.take_requests()
    assert request.headers["if-none-match"].startswith('"')

    # The forum serves an HTML error page: one source_error, nothing "removed"; then recovery.
    server.route("GET", "/forums/news.4/index.rss",
                 Reply(body="<!DOCTYPE html><html><body>Maintenance</body></html>", content_type="text/html"))
    code, events = run_check(cfg, capsys)
    assert code == 3
    assert [(e["kind"], e["detail"]["error"]) for e in events] == [
        ("source_error", "got an HTML page where an XML/RSS/Atom feed was expected (text/html)")]
    server.route("GET", "/forums/news.4/index.rss",
                 Reply(body=xenforo_rss(first_replied, second), content_type=RSS_TYPE))
    code, events = run_check(cfg, capsys)
    assert (code, [e["kind"] for e in events]) == (0, ["source_recovered"])
