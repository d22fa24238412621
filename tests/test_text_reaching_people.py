"""Text that reaches people is clean (issue 3, points 6-8): no control characters or terminal escapes, markup
escaped twice is read as markup, table cells stay apart, XenForo's "Read more" is not part of a summary, a
feed given as a thread says so in one line, and a forum answering page 9999 with 404 is still read."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest

from bot.cli import main
from tests.support.check_helpers import local_header
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.feeds import FORUM, Post, xenforo_rss
from bot.demo.world.xenforo import World
from scrapers.feed import parse as parse_feed
from scrapers.markup import html_to_line, html_to_text
from scrapers.records import ParseError
from scrapers.text import clean_multiline, clean_text
from scrapers.xenforo.thread import parse_thread_page


@pytest.mark.parametrize("raw, clean", [
    ("a\x1b[31mred\x1b[0m text", "ared text"),           # a terminal colour escape, whole
    ("title\x1b]0;pwned\x07 here", "title here"),           # an OSC escape (sets a terminal's title)
    ("nul\x00 and bell\x07 and del\x7f", "nul and bell and del"),
])
def test_control_characters_and_terminal_escapes_are_stripped(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert clean_multiline(raw + "\nnext\tline") == clean + "\nnext line"


def test_no_c1_control_survives_in_text_that_also_needs_repair() -> None:
    # Windows-1252 read as Latin-1 leaves C1 characters: repaired where they mean something ("…"), else dropped.
    for text in ("c1\x85 \x9b control", "caf\u00e9\x81\x8d\x8f\x90\x9d"):
        assert not any(0x80 <= ord(c) <= 0x9F for c in clean_text(text) + clean_multiline(text))


def test_mojibake_repair_still_sees_the_c1_bytes_it_needs() -> None:
    assert clean_text("quoted \u00e2\u0080\u009cyes\u00e2\u0080\u009d") == "quoted “yes”"


def test_markup_escaped_twice_is_read_as_markup() -> None:
    assert html_to_line("&lt;i&gt;ATM&lt;/i&gt;-deficient cells, p&lt;0.05") == "ATM-deficient cells, p<0.05"
    assert html_to_line("5 &lt; 6 and 7 &gt; 3") == "5 < 6 and 7 > 3"  # comparisons are not tags


def test_table_cells_stay_apart_and_deep_nesting_is_read() -> None:
    assert html_to_text("<table><tr><td>Space</td><td>submitted</td></tr></table>") == "Space submitted"
    assert html_to_text("<b>" * 5000 + "deep" + "</b>" * 5000) == "deep"  # no RecursionError


def test_xenforo_read_more_is_not_part_of_a_feed_summary() -> None:
    feed = xenforo_rss(Post(1, "T", "<p>The talk covered the design.</p>", "Tue, 03 Nov 2026 09:00:00 +0000",
                            "Kari")).encode()
    (item,) = parse_feed(feed, f"{FORUM}/forums/-/index.rss").items
    assert item.fields["summary"] == "The talk covered the design."


def test_a_feed_given_as_a_thread_is_one_clear_error_without_library_warnings() -> None:
    feed = xenforo_rss(Post(1, "T", "<p>x</p>", "Tue, 03 Nov 2026 09:00:00 +0000", "Kari")).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library warning would fail here
        with pytest.raises(ParseError, match='got an RSS/Atom feed: watch a forum\'s feed with kind = "xenforo_forum"'):
            parse_thread_page(feed, f"{FORUM}/threads/t.1/")


def test_a_forum_that_answers_page_9999_with_404_is_read_from_page_1(tmp_path, capsys) -> None:
    with ReplayServer() as server:
        world = World(server)
        thread = world.thread("A thread on a board without the far-page redirect", 45)
        world.publish()
        server.route("GET", thread.path(9999), Reply(404, "<html><body>Not found</body></html>",
                                                     content_type="text/html"))
        cfg = tmp_path / "trialwatch.toml"
        cfg.write_text(local_header(tmp_path) + textwrap.dedent(f"""
            [[watch]]
            id = "t"
            kind = "xenforo_thread"
            url = "{world.url(thread)}"
        """))
        assert main(["--config", str(cfg), "check", "--explain"]) == 0
        assert "page 9999 answered 404: read page 1" in capsys.readouterr().out
        added = thread.add(2)
        world.publish()
        server.route("GET", thread.path(9999), Reply(404, "<html><body>Not found</body></html>",
                                                     content_type="text/html"))
        assert main(["--config", str(cfg), "-q", "check", "--json"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [e["subject"] for e in events] == [p.key for p in added]
