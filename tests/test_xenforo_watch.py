"""XenForo watches end to end: ``trialwatch parse`` on the real samples, and ``trialwatch check``
against a generated XF1 / XF2 forum on the local replay server (``bot/demo/world/xenforo.py``).

The thread sequence asserts, for each check, the exact ``new_post`` events AND the exact pages
requested (as the server saw them, redirects included): one page when the thread is quiet, two
when a post is added, about k/20 + 2 when k posts arrived, however long the thread.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.config import ConfigError, config_from_dict
from bot.demo.replay import Reply, ReplayServer
from scrapers.records import Item
from scrapers.xenforo.source import fold, keyword_match
from bot.demo.world.xenforo import Post, Thread, World

FIXTURES = Path(__file__).parent / "fixtures" / "xenforo"
KEYWORDS = '["daratumumab", "ResetME", "Fluge", "plasma cell"]'
TITLE = "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)"


# ------------------------------------------------------------------ helpers


@pytest.fixture
def world():
    with ReplayServer() as server:
        yield World(server)


def write_config(tmp_path: Path, watches: str) -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        failure_alert_after = 1
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        max_retries = 1
        timeout_s = 5
        [notify]
        console = false
    """) + textwrap.dedent(watches))
    return cfg


def check(cfg: Path, capsys, *ids: str) -> tuple[int, list[dict]]:
    code = main(["--config", str(cfg), "-q", "check", "--json", *ids])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def pages_asked(world: World, thread: Thread) -> list[str]:
    """The thread pages requested since the last call, as paths ("page-9999", "page-3", "1")."""
    base = thread.path()
    return [r.path.removeprefix(base) or "1" for r in world.server.take_requests() if r.path.startswith(base)]


def iso(post: Post) -> str:
    return post.at.strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_posts(world: World, thread: Thread, posts: list[Post], watch: str) -> list[dict]:
    return [{
        "kind": "new_post", "watch": watch, "source": "xenforo_thread", "subject": p.key, "title": thread.title,
        "url": world.post_url(p),
        "detail": {"author": p.author, "published": iso(p), "thread_id": str(thread.id), "thread_title": thread.title,
                   "text": p.text, "quotes": [{"author": p.quote.author, "post_id": p.quote.key}] if p.quote else []},
    } for p in posts]


def brief(events: list[dict]) -> list[dict]:
    keys = ("kind", "watch", "source", "subject", "title", "url", "detail")
    return [{k: e[k] for k in keys} for e in events if e["kind"] == "new_post"]


def item_rows(tmp_path: Path, watch: str) -> dict[str, tuple[dict, int]]:
    with sqlite3.connect(tmp_path / "tw.db") as db:
        rows = db.execute("SELECT key, fields, present FROM items WHERE watch_id = ?", [watch]).fetchall()
    return {k: (json.loads(f), present) for k, f, present in rows}


# ------------------------------------------------------------------ trialwatch parse on the real samples

THREAD_SAMPLES = {
    # file: (posts, first (id, author, published), last (id, author, published))
    "xf1_thread_sufficientvelocity_page54.html": (
        25, ("2146286", "TheBleachDoctor", "2014-10-30T22:48:00Z"), ("2146619", "Entropy Judge", "2014-10-30T23:52:00Z")),
    "xf2_thread_xenforo-community_8276.html": (
        8, ("114210", "dieketzer", "2010-11-21T10:51:58Z"), ("1358710", "sub_ubi", "2019-06-26T09:25:09Z")),
    "xf2_thread_katzen-forum_quotes.html": (
        18, ("6331411", "Pepemaus", "2018-09-27T12:51:09Z"), ("6457563", "Pepemaus", "2019-08-17T08:48:30Z")),
    "xf2_thread_villagersandheroes_prefix_quotes_lastedit.html": (
        9, ("53504", "Tiberius", "2020-09-18T15:56:40Z"), ("54375", "Tiberius", "2020-10-06T16:38:08Z")),
    "xf2_thread_hypixel_single_post.html": (
        1, ("18641463", "Biggie-Cheese", "2020-03-18T16:22:42Z"), ("18641463", "Biggie-Cheese", "2020-03-18T16:22:42Z")),
    "xf2_thread_granado-espada_single_post.html": (
        1, ("4336", "Dianmir", "2021-02-09T07:29:44Z"), ("4336", "Dianmir", "2021-02-09T07:29:44Z")),
}

#: (file, quoted post, quoting post, a sentence of the quoted post): quoted in one, written in the other
QUOTE_PAIRS = [
    ("xf1_thread_sufficientvelocity_page54.html", "2146297", "2146342", "OOC behavior? which part?"),
    ("xf2_thread_katzen-forum_quotes.html", "6331459", "6331617", "die Ohren sind total sauber"),
    ("xf2_thread_villagersandheroes_prefix_quotes_lastedit.html", "53700", "53796", "denen ist nichts peinlich"),
]


def cli_parse(capsys, kind: str, path: Path) -> dict:
    code = main(["parse", kind, str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name", sorted(THREAD_SAMPLES))
def test_cli_parse_every_sample_thread_page(samples_dir: Path, capsys, name: str) -> None:
    count, first, last = THREAD_SAMPLES[name]
    record = cli_parse(capsys, "xenforo_thread", samples_dir / "xenforo" / name)
    items = record["items"]
    assert len(items) == count == len({i["key"] for i in items})
    summary = [(i["key"], i["fields"]["author"], i["fields"]["published"]) for i in (items[0], items[-1])]
    assert summary == [first, last]
    assert set(record["thread"]) >= {"id", "title", "prefix", "forum", "page", "last_page", "reply_count"}
    for item in items:
        f = item["fields"]
        assert f["url"].endswith(f"posts/{item['key']}/")
        assert f["text"] and "Click to expand" not in f["text"] and " said:" not in f["text"]


@pytest.mark.parametrize(("name", "quoted", "quoting", "sentence"), QUOTE_PAIRS)
def test_cli_parse_keeps_quotes_out_of_the_text(samples_dir: Path, capsys, name, quoted, quoting, sentence) -> None:
    posts = {i["key"]: i["fields"] for i in cli_parse(capsys, "xenforo_thread", samples_dir / "xenforo" / name)["items"]}
    assert sentence in posts[quoted]["text"]
    assert sentence not in posts[quoting]["text"]
    assert quoted in [q["post_id"] for q in posts[quoting]["quotes"]]


def test_cli_parse_forum_thread_list_and_rss_samples(samples_dir: Path, capsys) -> None:
    feed = cli_parse(capsys, "xenforo_forum", samples_dir / "xenforo" / "xf2_forum_rss_hypixel_news-and-announcements.xml")
    assert len(feed["items"]) == 20 and feed["items"][0]["key"] == "4853203"
    assert feed["items"][0]["fields"]["title"] == "CvC Update - New Mode: Gun Game"
    assert feed["forum"]["title"] == "News and Announcements"
    page = cli_parse(capsys, "xenforo_forum", samples_dir / "xenforo" / "xf2_forum_view_threadlist_granado-espada.html")
    assert len(page["items"]) == 24
    assert {i["key"] for i in page["items"] if i["fields"]["sticky"]} == {"7", "6", "285", "170"}


def test_cli_parse_refuses_a_challenge_with_the_reason(capsys) -> None:
    assert main(["parse", "xenforo_thread", str(FIXTURES / "cloudflare_challenge.html")]) == 3
    assert "blocked by a Cloudflare challenge page" in capsys.readouterr().err


# ------------------------------------------------------------------ a thread through a sequence of changes


@pytest.mark.parametrize(("engine", "board_tz"), [("xf2", "UTC"), ("xf1", "Europe/Oslo")])
def test_thread_sequence_exact_posts_and_requests(world: World, tmp_path, capsys, engine, board_tz) -> None:
    t = world.thread(TITLE, 45, engine=engine, board_tz=board_tz)
    world.publish()
    cfg = write_config(tmp_path, f"""
        [[watch]]
        id = "resetme-thread"
        kind = "xenforo_thread"
        url = "{world.url(t)}"
        board_tz = "{board_tz}"
        interval = "30m"
        labels = ["resetme"]
    """)

    def step(expect_pages: list[str], posts: list[Post]) -> list[dict]:
        code, events = check(cfg, capsys)
        assert code == 0, events
        assert brief(events) == expected_posts(world, t, posts, "resetme-thread")
        assert pages_asked(world, t) == expect_pages
        return events

    # First check: a silent baseline of the last two pages (page 9999 is a 303 to the last page).
    assert step(["page-9999", "page-3", "page-2"], []) == []
    stored = item_rows(tmp_path, "resetme-thread")
    assert sorted(stored) == sorted(p.key for p in t.posts[20:45])  # posts 21-45; earlier ones are history

    # Nothing changed: one request.
    assert step(["page-3"], []) == []

    # 17 posts cross the page boundary (45 → 62 posts, 4 pages): two requests, exactly those posts.
    added = t.add(17)
    world.publish()
    step(["page-3", "page-4"], added)
    step(["page-4"], [])

    # A post on the last page is edited: stored in field history, not news; still one request.
    edited = t.posts[60]
    t.edit(edited, "Edited: the information page now lists the inclusion criteria.")
    world.publish()
    step(["page-4"], [])
    fields, present = item_rows(tmp_path, "resetme-thread")[edited.key]
    assert (fields["text"], fields["edited"], present) == (edited.text, iso(Post(0, "", edited.edited, "")), 1)

    # An early post and a post on page 3 are deleted: the two last posts drop back to page 3; two new
    # ones follow. Exactly the two new posts are news; the deleted post on page 3 is marked gone.
    early, recent = t.posts[9], t.posts[49]
    shifted = t.posts[60:62]
    t.delete(early)
    t.delete(recent)
    added = t.add(2)
    world.publish()
    assert [p.key for p in t.page_posts(3)[-2:]] == [p.key for p in shifted]
    step(["page-4", "page-3"], added)
    rows = item_rows(tmp_path, "resetme-thread")
    assert rows[recent.key][1] == 0
    assert all(rows[p.key][1] == 1 for p in shifted)
    assert early.key not in rows  # never stored: it was before the baseline

    # Three more early deletions: page 4 no longer exists; XenForo redirects it to page 3. No events.
    for _ in range(3):
        t.delete(t.posts[0])
    world.publish()
    assert (len(t.posts), t.last_page) == (59, 3)
    step(["page-4", "page-3", "page-2"], [])

    # 25 posts at once (59 → 84 posts; the first new one ends page 3): pages 3 (stored), 5, then 4,
    # which holds no known post, so page 3 (already read) ends the walk: about k/20 + 2 requests.
    added = t.add(25)
    world.publish()
    assert t.page_posts(3)[-1] is added[0]
    step(["page-3", "page-5", "page-4"], added)
    step(["page-5"], [])

    # A Cloudflare challenge while three posts arrive: a source_error naming it, nothing else.
    waiting = t.add(3)
    challenge = (FIXTURES / "cloudflare_challenge.html").read_bytes()
    world.block(t, Reply(403, challenge, content_type="text/html; charset=UTF-8",
                         headers={"cf-mitigated": "challenge", "server": "cloudflare"}))
    code, events = check(cfg, capsys)
    assert code == 3
    assert [(e["kind"], e["subject"]) for e in events] == [("source_error", "resetme-thread")]
    assert "Cloudflare challenge" in events[0]["detail"]["error"]
    assert pages_asked(world, t) == ["page-5"]
    assert item_rows(tmp_path, "resetme-thread")[added[-1].key][1] == 1  # nothing marked gone

    # Recovery: the three posts that arrived meanwhile, then the recovery notice.
    world.publish()
    events = step(["page-5", "page-4"], waiting)
    assert [e["kind"] for e in events] == ["new_post"] * 3 + ["source_recovered"]
    step(["page-5"], [])


def test_a_long_thread_costs_the_same_few_requests(world: World, tmp_path, capsys) -> None:
    t = world.thread(TITLE, 385, engine="xf2")  # 20 pages
    world.publish()
    cfg = write_config(tmp_path, f"""
        [[watch]]
        id = "long"
        kind = "xenforo_thread"
        url = "{world.url(t, 7)}"
    """)
    assert check(cfg, capsys) == (0, [])
    assert pages_asked(world, t) == ["page-9999", "page-20", "page-19"]
    assert check(cfg, capsys) == (0, [])
    assert pages_asked(world, t) == ["page-20"]
    # A quiet page is recognised from its raw markup, without being parsed.
    assert main(["--config", str(cfg), "check", "--explain"]) == 0
    assert "quiet: page 20 is unchanged (not parsed)" in capsys.readouterr().out
    pages_asked(world, t)
    added = t.add(1)
    world.publish()
    code, events = check(cfg, capsys)
    assert brief(events) == expected_posts(world, t, added, "long")
    assert pages_asked(world, t) == ["page-20", "page-19"]


def test_login_wall_and_error_pages_fail_with_the_reason(world: World, tmp_path, capsys) -> None:
    t = world.thread(TITLE, 30, engine="xf2")
    world.publish()
    cfg = write_config(tmp_path, f"""
        [[watch]]
        id = "walled"
        kind = "xenforo_thread"
        url = "{world.url(t)}"
    """)
    assert check(cfg, capsys) == (0, [])
    stored = item_rows(tmp_path, "walled")

    def failure(reply: Reply) -> str:
        world.block(t, reply)
        code, events = check(cfg, capsys)
        assert code == 3 and [e["kind"] for e in events] in ([], ["source_error"])
        with sqlite3.connect(tmp_path / "tw.db") as db:
            return db.execute("SELECT last_error FROM source_health WHERE watch_id = 'walled'").fetchone()[0]

    login = (FIXTURES / "xf2_login_wall.html").read_bytes()
    error = (FIXTURES / "xf2_error_thread_not_found.html").read_bytes()
    assert failure(Reply(200, login, content_type="text/html")).startswith(
        "login wall: You must be logged-in to do that.")
    assert "login wall" in failure(Reply(403, login, content_type="text/html"))
    assert "The requested thread could not be found" in failure(Reply(200, error, content_type="text/html"))
    assert "deleted or is hidden from guests" in failure(Reply(404, error, content_type="text/html"))
    assert item_rows(tmp_path, "walled") == stored  # no post marked gone, none rewritten

    world.publish()
    code, events = check(cfg, capsys)
    assert [e["kind"] for e in events] == ["source_recovered"]


# ------------------------------------------------------------------ forums: new threads, follow


def test_a_new_matching_thread_in_the_feed_is_announced_and_followed(world: World, tmp_path, capsys) -> None:
    resetme = world.thread(TITLE, 30)
    world.thread("Summer meetup in Oslo", 3, prefix=None)
    world.publish()
    cfg = write_config(tmp_path, f"""
        [[watch]]
        id = "s4me-feed"
        kind = "xenforo_forum"
        url = "{world.server.url}{World.FEED_PATH}"
        keywords = {KEYWORDS}
        follow = true
        interval = "30m"
        labels = ["resetme"]
    """)
    assert check(cfg, capsys) == (0, [])  # baseline: the ResetME thread is history, not followed

    fluge = world.thread("Fluge and Mella start a second trial", 1, prefix=None)
    fluge.posts[0].text = "A new plasma cell depletion study is recruiting in Bergen."
    world.thread("Pacing tips for winter", 2, prefix=None)
    resetme.add(2)  # an old thread with new posts is not a new thread
    world.publish()
    code, events = check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"], e["watch"], e["title"], e["url"]) for e in events] == [
        ("new_thread", str(fluge.id), "s4me-feed", fluge.title, world.url(fluge))]
    assert events[0]["detail"] == {"author": fluge.posts[0].author, "forum": "Example ME Forum", "prefix": None,
                                   "text": fluge.posts[0].text}
    main(["--config", str(cfg), "watch", "list"])
    listing = capsys.readouterr().out
    followed = f"s4me-feed-{fluge.id}"
    assert f"{followed}\txenforo_thread url={world.url(fluge)}" in listing
    assert f"s4me-feed-{resetme.id}" not in listing

    # The followed thread starts with a silent baseline, then its next post is news.
    world.server.take_requests()
    assert check(cfg, capsys) == (0, [])
    assert pages_asked(world, fluge) == ["page-9999", "1"]
    reply = fluge.add(1, author="Trial Watcher", text="Enrollment opens in May; 66 participants.")
    world.publish()
    code, events = check(cfg, capsys)
    assert brief(events) == expected_posts(world, fluge, reply, followed)


def test_sticky_and_non_matching_threads_are_never_announced(world: World, tmp_path, capsys) -> None:
    world.thread(TITLE, 5)
    world.thread("How to list a study in this forum", 2, sticky=True, prefix=None)
    world.publish()
    cfg = write_config(tmp_path, f"""
        [[watch]]
        id = "recruitment"
        kind = "xenforo_forum"
        url = "{world.server.url}{World.FORUM_PATH}"
        keywords = {KEYWORDS}
    """)
    assert check(cfg, capsys) == (0, [])
    world.thread("ResetME FAQ: read this before asking about daratumumab", 1, sticky=True)
    world.thread("Gardening while housebound", 1, prefix=None)
    new = world.thread("Plasma Cell trial: first participants dosed", 1)
    world.publish()
    code, events = check(cfg, capsys)
    assert [(e["kind"], e["subject"], e["detail"]["prefix"]) for e in events] == [("new_thread", str(new.id), "Open")]
    assert check(cfg, capsys) == (0, [])


# ------------------------------------------------------------------ keys and keywords


def test_keywords_fold_case_accents_and_spacing() -> None:
    item = Item("1", {"title": "Plásma  CELL aimed treatment", "prefix": "Open", "first_post_text": ""})
    assert fold("Plásma  CELL") == "plasma cell"
    assert keyword_match(["plasma cell"], item)
    assert keyword_match(["open"], item)  # the prefix counts
    assert not keyword_match(["rituximab"], item)
    assert keyword_match([], item)


@pytest.mark.parametrize(("watch", "message"), [
    ({"kind": "xenforo_thread", "url": "https://www.s4me.info/forums/recruitment.42/"}, "must be a XenForo thread"),
    ({"kind": "xenforo_thread", "url": "https://x.org/threads/a.1/", "board_tz": "Mars/Olympus"}, "Mars/Olympus"),
    ({"kind": "xenforo_thread", "url": "https://x.org/threads/a.1/", "page": 3}, "unknown key 'page'; known keys: board_tz, url"),
    ({"kind": "xenforo_forum", "url": "https://x.org/forums/-/index.rss", "keywords": "ResetME"}, "keywords must be"),
    ({"kind": "xenforo_forum", "url": "https://x.org/forums/-/index.rss", "follow": "yes"}, "follow must be"),
    ({"kind": "xenforo_forum", "url": "https://x.org/threads/a.1/"}, "is a thread"),
    ({"kind": "xenforo_forum"}, "needs url"),
])
def test_bad_watch_keys_are_config_errors_naming_the_key(watch: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict({"watch": [{"id": "w", **watch}]})


def test_seeded_forum_watches_load() -> None:
    from bot.engine.config import load_seed_watches

    watches = {w.id: w for w in load_seed_watches()}
    kinds = {w.kind for w in watches.values()}
    assert {"xenforo_thread", "xenforo_forum"} <= kinds
    feed = next(w for w in watches.values() if w.kind == "xenforo_forum")
    assert feed.keys["follow"] is True and "ResetME" in feed.keys["keywords"]


def test_human_urls() -> None:
    from scrapers.records import WatchSpec
    from scrapers.xenforo.source import XenforoForumSource, XenforoThreadSource

    thread = WatchSpec("t", "xenforo_thread", {"url": "https://www.s4me.info/threads/norway.44450/page-19#post-1"})
    assert XenforoThreadSource().human_url(thread) == "https://www.s4me.info/threads/norway.44450/"
    feeds = {"https://www.s4me.info/forums/-/index.rss": "https://www.s4me.info/",
             "https://x.org/forums/recruitment.42/index.rss": "https://x.org/forums/recruitment.42/"}
    for url, page in feeds.items():
        assert XenforoForumSource().human_url(WatchSpec("f", "xenforo_forum", {"url": url})) == page


def test_paging_rules_on_their_own() -> None:
    from scrapers.xenforo.paging import ThreadCursor, gone_posts, next_tail

    tail = ["1", "2", "3", "4", "5"]
    # "2" is before the first known post read ("3"): it may sit on an earlier page, it is not gone
    assert gone_posts(tail, ["3", "5", "6"]) == ["4"]
    assert gone_posts(tail, ["8", "9"]) == []  # nothing known was read: nothing can be said
    assert next_tail(tail, ["3", "5", "6"]) == ["1", "2", "3", "5", "6"]
    assert next_tail(tail, ["3", "5", "6"], limit=2) == ["5", "6"]
    assert ThreadCursor.from_state({"last_page": "x", "tail": [1, None, "2"], "reply_count": True}) == ThreadCursor(
        tail=["1", "2"])
    cursor = ThreadCursor("44450", 19, ["9", "10"], 372, ["8", "9", "10"])
    assert ThreadCursor.from_state(cursor.to_state()) == cursor
