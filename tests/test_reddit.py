"""``reddit`` watches end to end: ``trialwatch parse reddit`` on the real samples, and ``trialwatch check``
against a Reddit stand-in on the local replay server (``tests/support/reddit_standin.py``, Reddit's real
shapes), through sequences of changes: the silent baseline, new posts across a page boundary, an edited and a
deleted post (neither is news), "load more comments" expanded only when it hides something new, figures
in English and Norwegian, following new posts, Reddit's request budget and its rate-limit headers (on an
injected clock: nothing sleeps), and OAuth app credentials (one token, reused, renewed, never shown).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import Reply
from bot.engine.config import ConfigError, config_from_dict, load_config
from bot.engine.pipeline import Checker
from scrapers.http.budget import RequestBudget
from scrapers.http.errors import FetchError
from scrapers.http.fetcher import Fetcher
from bot.engine.watches import keys_from_target
from scrapers.reddit.source import RedditSource, post_id_from_url, reddit_keys
from scrapers.records import Item, WatchSpec
from storage.db import connect
from storage.repo import Repo
from tests.support.check_helpers import (  # noqa: F401 (fixtures)
    module_server,
    run_check,
    server,
    stored_events,
    write_config,
)
from tests.support.reddit_standin import RedditWorld
from tests.test_http import FakeClock

UA = "python:trialwatch-tests:0.1 (by /u/trialwatch-maintainers)"
RESETME = """
[[trial]]
key = "resetme"
acronym = "ResetME"
enrolled = 38
target = 66
completed = 17
as_of = "2026"
"""


def config(tmp_path: Path, server, watches: str, *, oauth: bool = False, alert_after: int = 1) -> Path:
    credentials = ('client_id = "${REDDIT_CLIENT_ID}"\nclient_secret = "${REDDIT_CLIENT_SECRET}"\n'
                   if oauth else "")
    body = (f'[sources.reddit]\nbase_url = "{server.url}"\noauth_base = "{server.url}/oauth"\n'
            f'auth_base = "{server.url}/auth"\nuser_agent = "{UA}"\n{credentials}{RESETME}{watches}')
    return write_config(tmp_path, server, body, alert_after=alert_after)


def watch(wid: str, **keys) -> str:
    lines = [f'[[watch]]\nid = "{wid}"\nkind = "reddit"\ninterval = "15m"\nlabels = ["resetme"]']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def present(tmp_path: Path, watch_id: str) -> dict[str, int]:
    db = sqlite3.connect(tmp_path / "tw.db")
    return dict(db.execute("SELECT key, present FROM items WHERE watch_id = ?", [watch_id]).fetchall())


def history(tmp_path: Path, key: str) -> list[str]:
    db = sqlite3.connect(tmp_path / "tw.db")
    return [r[0] for r in db.execute("SELECT field FROM field_history WHERE item_key = ?", [key]).fetchall()]


def figures(events: list[dict]) -> list[tuple]:
    return [(e["new"]["enrolled"], e["new"]["target"], e["detail"]["lang"], e["trial"])
            for e in events if e["kind"] == "enrollment_reported"]


# ------------------------------------------------------------------ parse: the real samples

SAMPLE_EXPECTATIONS = {
    # file: (items, shown as deleted/removed, title of the first item)
    "reddit_comments_thread.json": (195, 5, "my wife passed away eight months ago, yesterday I found a post-it note "
                                           "she'd hidden in my office."),
    "reddit_subreddit_listing_netsec.json": (27, 0, "/r/netsec's Q4 2016 Information Security Hiring Thread"),
}


def test_parse_every_reddit_sample(samples_dir, capsys) -> None:
    files = sorted((samples_dir / "reddit").glob("*.json"))
    assert {f.name for f in files} == set(SAMPLE_EXPECTATIONS), "a new sample needs its expectations here"
    for path in files:
        assert main(["parse", "reddit", str(path)]) == 0
        record = json.loads(capsys.readouterr().out)
        count, gone, title = SAMPLE_EXPECTATIONS[path.name]
        first_title = record["items"][0]["fields"]["title"]
        assert (len(record["items"]), len(record["gone"]), first_title) == (count, gone, title)
        for item in record["items"]:
            fields = item["fields"]
            assert item["key"].startswith(("t1_", "t3_")) and fields["url"].startswith("https://www.reddit.com/r/")
            assert fields["platform"] == "reddit" and fields["text"] not in ("[deleted]", "[removed]")
            assert "&lt;" not in fields["text"] and "SC_OFF" not in fields["text"]  # rendered HTML, read as text


def test_the_comment_tree_sample_reads_as_posts(samples_dir, capsys) -> None:
    assert main(["parse", "reddit", str(samples_dir / "reddit" / "reddit_comments_thread.json")]) == 0
    record = json.loads(capsys.readouterr().out)
    items = {i["key"]: i["fields"] for i in record["items"]}
    post = items["t3_1cebxh"]
    assert (post["author"], post["published"], post["edited"], post["community"]) == (
        "hglkgkjd", "2013-04-15T16:44:39Z", "2013-04-16T00:05:03Z", "r/self")
    first = items["t1_c9ftsjg"]
    assert first["text"].startswith("Hey man,\nBecause of your post I just sent my girlfriend a cute text and I'm sure")
    assert first["url"] == ("https://www.reddit.com/r/self/comments/1cebxh/"
                            "my_wife_passed_away_eight_months_ago_yesterday_i/c9ftsjg/")
    assert first["edited"] is None and "reply_to" not in first
    assert record["thread"]["id"] == "1cebxh"
    assert len(record["more"]) == 122 and all(m["children"] for m in record["more"])  # "continue this thread" left out
    assert all(k not in items for k in record["gone"])


# ------------------------------------------------------------------ keys


def test_keys_are_checked_with_helpful_errors() -> None:
    ok = config_from_dict({"watch": [{"id": "r", "kind": "reddit", "subreddit": "r/cfs", "query": "ResetME",
                                      "keywords": ["daratumumab"], "follow": True}]})
    assert reddit_keys(ok.watches[0].keys).subreddit == "cfs"
    bad = [
        ({"subreddit": "cfs", "url": "https://www.reddit.com/r/cfs/comments/abc123/x/"}, "not both"),
        ({"subreddit": "no spaces please"}, "subreddit must be"),
        ({"url": "https://www.reddit.com/r/cfs/comments/abc123/x/", "query": "x"}, "query only applies"),
        ({"url": "https://www.reddit.com/r/cfs/comments/abc123/x/", "follow": True}, "follow only applies"),
        ({"url": "https://example.org/r/cfs/comments/abc123/"}, "url must be a Reddit post"),
        ({"subreddit": "cfs", "keywords": "daratumumab"}, "keywords must be a list"),
        ({"subreddit": "cfs", "qeury": "x"}, "did you mean 'query'"),
    ]
    for keys, message in bad:
        with pytest.raises(ConfigError, match=message):
            config_from_dict({"watch": [{"id": "r", "kind": "reddit", **keys}]})
    assert post_id_from_url("https://old.reddit.com/r/cfs/comments/1AbC2d/title/") == "1abc2d"
    assert post_id_from_url("https://redd.it/1abc2d") == "1abc2d"


def test_a_subreddit_is_one_watch_however_it_is_written(server, tmp_path, capsys) -> None:
    """Reddit's subreddit names are case-insensitive and often written r/cfs: ``watch add reddit cfs`` and
    ``watch add reddit r/cfs`` made two watches of one subreddit, and ``subreddit = "r/CFS"`` asked for
    ``/r/CFS/new`` (a watch with its own cursor, beside one written ``cfs``)."""
    forms = ["cfs", "r/cfs", "/r/cfs", "/r/CFS/", "R/Cfs", " cfs "]
    assert [keys_from_target("reddit", f) for f in forms] == [{"subreddit": "cfs"}] * len(forms)
    assert {reddit_keys({"subreddit": f}).fingerprint for f in forms} == {"r/cfs?"}
    db = tmp_path / "added.db"
    assert main(["--db", str(db), "watch", "add", "reddit", "cfs", "--id", "r0"]) == 0
    assert main(["--db", str(db), "watch", "add", "reddit", "r/CFS", "--id", "r1"]) == 2  # the same subreddit
    assert "'r0' already follows reddit subreddit=cfs" in capsys.readouterr().err
    assert Repo(connect(db)).get_watch("r0").keys == {"subreddit": "cfs"}

    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="r/CFS"))
    assert run_check(cfg, capsys) == (0, [])
    assert [r.path for r in server.take_requests()] == ["/r/cfs/new.json"]


def test_watch_add_takes_a_subreddit_or_a_post(tmp_path, capsys) -> None:
    db = tmp_path / "tw.db"
    assert main(["--db", str(db), "watch", "add", "reddit", "r/cfs", "--id", "r-cfs"]) == 0
    assert main(["--db", str(db), "watch", "add", "reddit", "https://www.reddit.com/r/cfs/comments/abc123/x/",
                 "--id", "r-post"]) == 0
    repo = Repo(connect(db))
    assert repo.get_watch("r-cfs").keys == {"subreddit": "cfs"}
    assert repo.get_watch("r-post").keys == {"url": "https://www.reddit.com/r/cfs/comments/abc123/x/"}


# ------------------------------------------------------------------ a search, through check --json


def test_a_subreddit_search_through_a_sequence(server, tmp_path, capsys) -> None:
    world = RedditWorld(server, page_size=2)  # Reddit pages by 100; two makes the page boundary easy to cross
    world.post("Daratumumab trial in Bergen", "ResetME is recruiting in Norway.")
    world.post("Pacing tips", "Nothing about trials.")
    world.post("ResetME question", "Has anyone been screened?")
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs-resetme", subreddit="cfs", query="daratumumab OR ResetME"))

    assert run_check(cfg, capsys) == (0, [])  # the silent baseline
    asked = server.take_requests()
    assert [(r.method, r.path, r.query) for r in asked] == [("GET", "/r/cfs/search.json", {
        "q": ["daratumumab OR ResetME"], "restrict_sr": ["1"], "sort": ["new"], "limit": ["100"], "raw_json": ["1"]})]
    assert asked[0].headers["user-agent"] == UA

    # Three new matching posts: more than a page, so the check reads on until a known post.
    new = [world.post(f"ResetME news {i}", f"Daratumumab update number {i} & more.") for i in range(3)]
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert sorted((e["kind"], e["subject"], e["title"]) for e in events) == sorted(
        ("new_post", f"t3_{p.id}", p.title) for p in new)
    event = next(e for e in events if e["subject"] == f"t3_{new[0].id}")
    assert event["url"] == f"https://www.reddit.com{new[0].permalink}"
    assert {k: event["detail"][k] for k in ("author", "text", "title", "platform", "community")} == {
        "author": "mecfs_reader", "text": "Daratumumab update number 0 & more.", "title": "ResetME news 0",
        "platform": "reddit", "community": "r/cfs"}
    assert [r.query.get("after") for r in server.take_requests()] == [None, [f"t3_{new[1].id}"]]

    # An edit and a deletion: neither is news; the edit is history, the deleted post is marked gone.
    new[2].selftext, new[2].edited = "Edited: it was a rumour.", world.tick()
    new[1].deleted = True
    world.publish()
    assert run_check(cfg, capsys) == (0, [])
    assert present(tmp_path, "r-cfs-resetme")[f"t3_{new[1].id}"] == 0
    assert sorted(history(tmp_path, f"t3_{new[2].id}")) == ["edited", "text"]
    assert len(server.take_requests()) == 1  # the first page already holds known posts

    # A post with ResetME's figures: the post and the reported enrollment.
    world.post("ResetME enrollment", "Haukeland says 45 of 66 enrolled so far in ResetME.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert [e["kind"] for e in events] == ["new_post", "enrollment_reported"]
    assert figures(events) == [(45, 66, "en", "resetme")]


def test_an_older_post_coming_into_view_is_not_news(server, tmp_path, capsys) -> None:
    world = RedditWorld(server, page_size=2)
    older = world.post("ResetME: older", "Below the first page at the first check.")
    spam = [world.post(f"Spam {i}", "Buy now.") for i in range(2)]
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    assert run_check(cfg, capsys) == (0, [])  # the baseline reads the newest page: the two spam posts
    for post in spam:
        world.posts.remove(post)  # removed by the moderators: they leave the listing, and the older post moves up
    fresh = world.post("ResetME: new", "Really new.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert [e["subject"] for e in events] == [f"t3_{fresh.id}"]  # not the older post that moved up
    assert f"t3_{older.id}" not in present(tmp_path, "r-cfs")


@pytest.mark.parametrize("text, lang", [
    ("Update from Haukeland: 45 of 66 enrolled in ResetME.", "en"),
    ("Nytt fra Haukeland: 45 av 66 planlagte pasienter er nå inkludert i ResetME.", "nb"),
])
def test_figures_in_a_new_post_in_any_language(server, tmp_path, capsys, text, lang) -> None:
    world = RedditWorld(server)
    world.post("Weekly thread", "Anything goes.")
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    assert run_check(cfg, capsys) == (0, [])
    assert [r.path for r in server.take_requests()] == ["/r/cfs/new.json"]
    world.post("ResetME", text)
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0 and figures(events) == [(45, 66, lang, "resetme")]


def test_keywords_and_follow_make_a_new_post_a_watch_of_its_comments(server, tmp_path, capsys) -> None:
    world = RedditWorld(server)
    world.post("Old daratumumab thread", "From last year.")
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs", keywords=["daratumumab"], follow=True))
    assert run_check(cfg, capsys) == (0, [])  # a post already there is history: neither news nor followed
    hit = world.post("Daratumumab results?", "When are the results due?")
    world.post("Sleep", "Nothing about it.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert [(e["kind"], e["subject"]) for e in events] == [("new_post", f"t3_{hit.id}")]
    followed = Repo(connect(tmp_path / "tw.db")).get_watch(f"r-cfs-{hit.id}")
    assert followed.kind == "reddit" and followed.keys == {"url": f"https://www.reddit.com/comments/{hit.id}/"}
    world.comment(hit, "Following.")
    world.publish()
    server.take_requests()
    assert run_check(cfg, capsys, f"r-cfs-{hit.id}") == (0, [])  # its own silent baseline
    assert [r.path for r in server.take_requests()] == [f"/comments/{hit.id}.json"]


def test_follow_builds_the_watch_from_the_checked_id_never_from_what_the_post_says(server, tmp_path, capsys) -> None:
    """A post named ``t3_<@&1> ../x‮`` made a watch ``rf-<@&1> ../x‮`` (a mention, spaces, ``../``, an RTL
    override); a permalink ``/r/cfs/nocomments/`` made a watch whose url failed validation at every check."""
    world = RedditWorld(server)
    world.post("Old daratumumab thread", "From last year.")
    world.publish()
    cfg = config(tmp_path, server, watch("rf", subreddit="cfs", keywords=["daratumumab"], follow=True))
    assert run_check(cfg, capsys) == (0, [])
    hostile = world.post("Daratumumab: read this", "Spam.", name="t3_<@&1> ../x\u202e")
    odd = world.post("Daratumumab dosing", "Which dose?", permalink="/r/cfs/nocomments/")
    world.publish()
    assert main(["--config", str(cfg), "check", "--explain"]) == 0
    assert "left out 1 post(s) or comment(s) whose id is not Reddit's" in capsys.readouterr().out
    events = stored_events(cfg, capsys)
    odd_url = f"https://www.reddit.com/comments/{odd.id}/"
    assert [(e["kind"], e["subject"], e["url"]) for e in events] == [("new_post", f"t3_{odd.id}", odd_url)]
    repo = Repo(connect(tmp_path / "tw.db"))
    assert {w.id: w.keys for w in repo.list_watches()} == {
        "rf": {"subreddit": "cfs", "keywords": ["daratumumab"], "follow": True}, f"rf-{odd.id}": {"url": odd_url}}
    assert hostile.id not in "".join(present(tmp_path, "rf"))  # not an item either
    server.take_requests()
    assert run_check(cfg, capsys, f"rf-{odd.id}") == (0, [])  # the followed watch is valid: its silent baseline
    assert [r.path for r in server.take_requests()] == [f"/comments/{odd.id}.json"]


@pytest.mark.parametrize("key, permalink", [
    ("t3_<@&1> ../x\u202e", "/r/cfs/comments/abc123/x/"), ("t3_ABC", "/r/cfs/comments/abc/x/"), ("t3_", "/r/cfs/"),
    ("t1_abc123", "/r/cfs/comments/x/y/abc123/"), ("t3_" + "a" * 60, "/r/cfs/comments/aaaa/"),
])
def test_follow_follows_only_a_post_with_reddits_fullname(key, permalink) -> None:
    source = RedditSource()
    finder = WatchSpec(id="r-" + "x" * 62, kind="reddit", keys={"subreddit": "cfs", "follow": True}, interval_s=600)
    item = Item(key, {"title": "daratumumab", "text": "", "url": f"https://www.reddit.com{permalink}"})
    assert source.follow_spec(item, finder) is None
    ok = source.follow_spec(Item("t3_1abc2d", {**item.fields, "url": "https://www.reddit.com/r/cfs/nocomments/"}),
                            finder)
    assert ok is not None and ok.keys == {"url": "https://www.reddit.com/comments/1abc2d/"}
    assert ok.id == "r-" + "x" * 55 + "-1abc2d" and len(ok.id) == 64
    config_from_dict({"watch": [{"id": ok.id, "kind": "reddit", **ok.keys}]})  # a valid watch


# ------------------------------------------------------------------ a post's comments


def test_a_comment_tree_through_a_sequence(server, tmp_path, capsys) -> None:
    world = RedditWorld(server)
    post = world.post("ResetME: the 2026 update", "Discussion of the conference report.")
    hidden = [world.comment(post, f"Old comment {i}", hidden=True) for i in range(2)]  # the oldest: behind a stub
    first = world.comment(post, "Thanks for posting.")
    second = world.comment(post, "Any news on the timeline?")
    world.comment(post, "Reply to the second.", parent=second)
    world.publish()
    cfg = config(tmp_path, server, watch("r-post", url=f"https://www.reddit.com{post.permalink}"))

    assert run_check(cfg, capsys) == (0, [])  # the silent baseline: "load more" is not expanded
    asked = server.take_requests()
    assert [(r.path, r.query) for r in asked] == [(f"/comments/{post.id}.json",
                                                  {"sort": ["new"], "limit": ["500"], "raw_json": ["1"]})]

    # A new comment in the tree: one request, one event titled with the post.
    new = world.comment(post, "Just saw the slides, impressive.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert [(e["kind"], e["subject"], e["title"]) for e in events] == [("new_post", f"t1_{new.id}", post.title)]
    assert events[0]["detail"]["thread_title"] == post.title and events[0]["detail"]["text"] == new.body
    assert len(server.take_requests()) == 1

    # A reply to a comment hidden behind "load more comments": the stub now stands for one more comment, so it is
    # expanded (one morechildren request); the old hidden comments are history, the reply is news.
    reply = world.comment(post, "Replying to an old one.", parent=hidden[0])
    world.publish()
    code, events = run_check(cfg, capsys)
    assert [(e["subject"], e["detail"].get("reply_to")) for e in events] == [
        (f"t1_{reply.id}", f"https://www.reddit.com{post.permalink}{hidden[0].id}/")]
    more = server.take_requests()[1]
    assert (more.path, more.query["link_id"], more.query["children"], more.query["api_type"]) == (
        "/api/morechildren.json", [f"t3_{post.id}"], [",".join(h.id for h in reversed(hidden))], ["json"])

    # Quiet: the stub stands for the same comments, all known — one request.
    assert run_check(cfg, capsys) == (0, [])
    assert len(server.take_requests()) == 1

    # An edited and a deleted comment: not news; the deleted one is marked gone.
    first.body, first.edited = "Thanks for posting (edited).", world.tick()
    second.deleted = True
    world.publish()
    assert run_check(cfg, capsys) == (0, [])
    assert present(tmp_path, "r-post")[f"t1_{second.id}"] == 0
    assert "text" in history(tmp_path, f"t1_{first.id}")

    # Figures in a comment.
    world.comment(post, "Fluge said 45 of 66 enrolled now.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert figures(events) == [(45, 66, "en", "resetme")]


# ------------------------------------------------------------------ failures


def test_a_refusal_is_a_source_error_and_never_a_wave_of_deletions(server, tmp_path, capsys) -> None:
    world = RedditWorld(server)
    world.post("ResetME", "One post.")
    world.publish()
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    assert run_check(cfg, capsys) == (0, [])
    world.failures = [Reply(403, {"message": "Forbidden", "error": 403}),
                      Reply(200, "<!doctype html><title>Blocked</title>", content_type="text/html")]
    code, events = run_check(cfg, capsys)
    assert code == 3 and [e["kind"] for e in events] == ["source_error"]
    assert "client_id" in events[0]["detail"]["error"]  # the hint: OAuth is the reliable route
    code, events = run_check(cfg, capsys)
    assert code == 3 and events == []  # still failing: no second alert, no deletions
    assert set(present(tmp_path, "r-cfs").values()) == {1}
    code, events = run_check(cfg, capsys)
    assert code == 0 and [e["kind"] for e in events] == ["source_recovered"]


# ------------------------------------------------------------------ Reddit's request budget (injected clock)


async def test_the_budget_counts_a_minute_and_honours_what_the_site_reports() -> None:
    clock = FakeClock()
    budget = RequestBudget("Reddit", 10, clock=clock.now, sleep=clock.sleep, max_wait_s=60)
    for _ in range(10):
        assert await budget.take() == 0
    assert await budget.take() == 60  # the eleventh request of the minute waits for the first to age out
    budget.observe(remaining=0, reset_in_s=42)
    assert await budget.take() == 42
    budget.observe(remaining=5, reset_in_s=300)  # requests left: no wait for that
    clock.t += 60
    assert await budget.take() == 0
    budget.hold(600, "Reddit answered 429 Too Many Requests")
    with pytest.raises(FetchError) as caught:
        await budget.take()
    assert caught.value.kind == "rate_limited" and caught.value.retry_after == 600
    assert "429" in str(caught.value) and clock.sleeps == [60, 42]


def _checker_setup(tmp_path, server, watches: str, **kw):
    cfg = load_config(config(tmp_path, server, watches, **kw))
    repo = Repo(connect(cfg.db_path))
    for w in cfg.watches:
        repo.upsert_watch(w, origin="config")
    return cfg, repo


async def test_ratelimit_headers_make_the_next_request_wait_and_a_long_wait_keeps_state(server, tmp_path) -> None:
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    cfg, repo = _checker_setup(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    clock = FakeClock()
    async with Fetcher(cfg.http, clock=clock.now, sleep=clock.sleep) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        world.ratelimit = {"X-Ratelimit-Used": "10", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "42"}
        [report] = await checker.check_all(cfg.watches)
        assert report.status == "ok" and clock.sleeps == []
        world.post("ResetME", "Second.")
        world.publish()
        [report] = await checker.check_all(cfg.watches)  # the window is spent: this request waits for the reset
        assert [e["kind"] for e in report.events] == ["new_post"] and clock.sleeps == [42]
        assert "waited 42 s for Reddit's request budget" in " ".join(o for _, o in report.stages)

        # A reset further away than [http] max_retry_after_s: the check fails at once, without a request,
        # and the watch keeps what it knew.
        world.ratelimit = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "600"}
        world.post("ResetME", "Third.")
        world.publish()
        [report] = await checker.check_all(cfg.watches)
        assert report.status == "ok"  # this request was within budget; its answer spent the window
        cursor = repo.health("r-cfs").state.cursor
        fourth = world.post("ResetME", "Fourth.")
        world.publish()
        server.take_requests()
        [report] = await checker.check_all(cfg.watches)
        assert report.failed and "request budget is spent" in report.error and server.take_requests() == []
        assert [e["kind"] for e in report.events] == ["source_error"]  # [check] failure_alert_after = 1 here
        assert repo.health("r-cfs").state.cursor == cursor
        clock.t += 600
        world.ratelimit = {}
        [report] = await checker.check_all(cfg.watches)
        assert sorted((e["kind"], e["subject"]) for e in report.events) == [
            ("new_post", f"t3_{fourth.id}"), ("source_recovered", "r-cfs")]


async def test_a_429_asking_too_long_fails_the_check_and_holds_every_reddit_watch(server, tmp_path) -> None:
    world = RedditWorld(server)
    post = world.post("ResetME", "First.")
    world.publish()
    watches = watch("r-cfs", subreddit="cfs") + watch("r-post", url=f"https://www.reddit.com{post.permalink}")
    cfg, repo = _checker_setup(tmp_path, server, watches)
    clock = FakeClock()
    async with Fetcher(cfg.http, clock=clock.now, sleep=clock.sleep) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        assert [r.status for r in await checker.check_all(cfg.watches)] == ["ok", "ok"]
        world.failures = [Reply(429, {"message": "Too Many Requests", "error": 429}, headers={"Retry-After": "600"})]
        server.take_requests()
        [first] = await checker.check_all(cfg.watches[:1])
        assert first.failed and "600" in first.error
        [second] = await checker.check_all(cfg.watches[1:])  # the same run: Reddit is not asked again
        assert second.failed and "request budget is spent" in second.error
        assert len(server.take_requests()) == 1
        clock.t += 600
        assert [r.status for r in await checker.check_all(cfg.watches)] == ["ok", "ok"]


@pytest.mark.parametrize("reset", ["inf", "1e12", "nan"])
async def test_a_reset_that_is_no_window_of_reddits_does_not_hold_the_watches_for_good(server, tmp_path, reset) -> None:
    """``X-Ratelimit-Reset: inf`` held every Reddit watch of a running service for good (each check failed
    with "the request budget is spent"): a reset that is not finite is not read, one past Reddit's
    ten-minute window counts as the window."""
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    cfg, repo = _checker_setup(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    clock = FakeClock()
    async with Fetcher(cfg.http, clock=clock.now, sleep=clock.sleep) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        world.ratelimit = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": reset}
        [report] = await checker.check_all(cfg.watches)
        assert report.status == "ok"
        world.ratelimit = {}
        clock.t += 600
        fresh = world.post("ResetME", "Second.")
        world.publish()
        [report] = await checker.check_all(cfg.watches)
        assert report.status == "ok", report.error
        assert [e["subject"] for e in report.events] == [f"t3_{fresh.id}"]


@pytest.mark.parametrize("cursor", [
    {"target": "r/cfs?", "seen": 5, "stubs": [1], "hidden": "abc", "newest_utc": "x", "edge_utc": 10**400},
    {"target": "r/cfs?", "seen": {"t3_x": 1}, "stubs": {"t1_a": True}, "newest_utc": float("inf"), "since_utc": []},
    ["r/cfs?"],
])
async def test_a_damaged_cursor_starts_over_instead_of_crashing(server, tmp_path, cursor) -> None:
    """The cursor is the watch's own, stored as JSON in the database: one damaged there (by hand, by an older
    version) is read as far as it is valid, never a TypeError at every check."""
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    cfg, repo = _checker_setup(tmp_path, server, watch("r-cfs", subreddit="cfs"))
    async with Fetcher(cfg.http) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        assert [r.status for r in await checker.check_all(cfg.watches)] == ["ok"]
        db = sqlite3.connect(tmp_path / "tw.db")
        with db:
            db.execute("UPDATE source_health SET state = ? WHERE watch_id = 'r-cfs'",
                       [json.dumps({"validators": {}, "cursor": cursor})])
        db.close()
        fresh = world.post("ResetME", "Second.")
        world.publish()
        [report] = await checker.check_all(cfg.watches)
        assert report.status == "ok", report.error
        assert [e["subject"] for e in report.events] == [f"t3_{fresh.id}"]  # the stored items still say what is known


# ------------------------------------------------------------------ OAuth


def _no_secret_in(text: str, world: RedditWorld) -> None:
    for secret in (world.client_secret, *world.tokens):
        assert secret not in text


def test_oauth_one_token_for_every_watch_and_no_secret_anywhere(server, tmp_path, capsys, monkeypatch) -> None:
    world = RedditWorld(server)
    post = world.post("ResetME", "First.")
    world.publish()
    monkeypatch.setenv("REDDIT_CLIENT_ID", world.client_id)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", world.client_secret)
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs", query="ResetME")
                 + watch("r-post", url=f"https://www.reddit.com{post.permalink}"), oauth=True)
    assert main(["--config", str(cfg), "-v", "check", "--explain"]) == 0
    out = capsys.readouterr()
    assert "OAuth: asked Reddit for an app token" in out.out
    asked = server.take_requests()
    assert [r.path for r in asked if r.method == "POST"] == ["/auth/api/v1/access_token"]  # once for both watches
    token = world.tokens[0]
    api = [r for r in asked if r.method == "GET"]
    assert {r.path for r in api} == {"/oauth/r/cfs/search", f"/oauth/comments/{post.id}"}
    assert all(r.headers["authorization"] == f"bearer {token}" and r.headers["user-agent"] == UA for r in api)

    world.post("ResetME", "45 of 66 enrolled, says the clinic.")
    world.publish()
    assert main(["--config", str(cfg), "-v", "check", "--json"]) == 0
    later = capsys.readouterr()
    assert [e["kind"] for e in map(json.loads, later.out.splitlines())] == ["new_post", "enrollment_reported"]
    for text in (out.out, out.err, later.out, later.err, (tmp_path / "tw.db").read_bytes().decode("latin-1")):
        _no_secret_in(text, world)
    assert "GET http" in out.err  # the DEBUG request log was on, and shows no token


async def test_oauth_token_is_reused_then_renewed_on_expiry_and_on_401(server, tmp_path, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    monkeypatch.setenv("REDDIT_CLIENT_ID", world.client_id)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", world.client_secret)
    cfg, repo = _checker_setup(tmp_path, server, watch("r-cfs", subreddit="cfs"), oauth=True)
    clock = FakeClock()
    async with Fetcher(cfg.http, clock=clock.now, sleep=clock.sleep) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        reports = [await checker.check_all(cfg.watches) for _ in range(2)]
        assert len(world.tokens) == 1  # reused
        clock.t += 3600  # the token's lifetime (it is renewed a minute early)
        reports.append(await checker.check_all(cfg.watches))
        assert len(world.tokens) == 2
        world.revoked.add(world.tokens[-1])  # refused before its time: a 401, one new token, the same check goes on
        world.post("ResetME", "Second.")
        world.publish()
        reports.append(await checker.check_all(cfg.watches))
        assert len(world.tokens) == 3 and [e["kind"] for e in reports[-1][0].events] == ["new_post"]
        assert "the token was refused (401)" in " ".join(o for _, o in reports[-1][0].stages)
    everything = caplog.text + json.dumps([[(r.stages, r.events, r.error) for r in rs] for rs in reports])
    everything += json.dumps(repo.health("r-cfs").state.cursor)
    _no_secret_in(everything, world)
    assert "GET http" in caplog.text  # DEBUG logging was captured


SECRET_TOKEN = "SECRETTOKEN123"


@pytest.mark.parametrize("body", [
    f'{{"access_token": "{SECRET_TOKEN}", "expires_in": 86400',  # cut off
    f'{{"access_token": "{SECRET_TOKEN}", "token_type": "bearer" "expires_in": 86400}}',  # a comma missing
    f'{{"access_token": "{SECRET_TOKEN}\x01", "expires_in": 86400}}',  # a control character in the string
    f'["{SECRET_TOKEN}"]',
    f'{{"access_token": "{SECRET_TOKEN[:7]} {SECRET_TOKEN[7:]}\\r\\n", "expires_in": 86400}}',  # no bearer token
    f'{{"error": "{SECRET_TOKEN}"}}',
    f'{{"access_token": ["{SECRET_TOKEN}"]}}',
], ids=["cut-off", "comma-missing", "control-char", "array", "not-a-token", "error-holds-it", "token-in-a-list"])
def test_an_unreadable_token_answer_quotes_no_byte_of_it(server, tmp_path, capsys, caplog, monkeypatch, body) -> None:
    """The token endpoint's answer may hold a token: whatever is wrong with it, the error names the host and
    the problem and quotes nothing of it — not in the output, the DEBUG log, the database or ``watch list``."""
    caplog.set_level(logging.DEBUG)
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    world.token_replies = [Reply(200, body)]
    monkeypatch.setenv("REDDIT_CLIENT_ID", world.client_id)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", world.client_secret)
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs"), oauth=True)
    assert main(["--config", str(cfg), "-v", "check", "--json"]) == 3
    out = capsys.readouterr()
    [event] = map(json.loads, out.out.splitlines())
    error = event["detail"]["error"]
    assert event["kind"] == "source_error" and "token endpoint" in error and server.url.split("//")[1] in error
    assert [r.method for r in server.take_requests()] == ["POST"]  # nothing was read with a broken token
    assert main(["--config", str(cfg), "watch", "list"]) == 0
    listed = capsys.readouterr().out
    assert "token endpoint" in listed
    stored = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.glob("tw.db*"))
    everything = "\n".join((out.out, out.err, caplog.text, listed, stored))
    assert "GET http" not in everything and "POST http" in everything  # DEBUG logging was on
    for start in range(len(SECRET_TOKEN) - 7):
        assert SECRET_TOKEN[start:start + 8] not in everything


@pytest.mark.parametrize("expires_in", ["NaN", "Infinity", "1" + "0" * 400, "-5", '"86400"', "true"])
async def test_a_token_lifetime_that_is_no_number_of_seconds_is_not_believed(server, tmp_path, monkeypatch,
                                                                            expires_in) -> None:
    """NaN made the token expire at once (a token request before every request), a number too large for a
    float crashed the check: a lifetime that is not a positive number counts as an hour, a longer one as a day."""
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    world.tokens.append("tok-stated-oddly")
    world.token_replies = [Reply(200, f'{{"access_token": "tok-stated-oddly", "expires_in": {expires_in}}}')]
    monkeypatch.setenv("REDDIT_CLIENT_ID", world.client_id)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", world.client_secret)
    cfg, repo = _checker_setup(tmp_path, server, watch("r-cfs", subreddit="cfs"), oauth=True)
    clock = FakeClock()
    async with Fetcher(cfg.http, clock=clock.now, sleep=clock.sleep) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        for _ in range(3):
            [report] = await checker.check_all(cfg.watches)
            assert report.status == "ok", report.error
            clock.t += 600
    asked = server.take_requests()
    assert [r.method for r in asked].count("POST") == 1 and len(world.tokens) == 1  # one token for the half hour


def test_only_one_credential_reads_without_oauth_and_says_so(server, tmp_path, capsys, monkeypatch) -> None:
    world = RedditWorld(server)
    world.post("ResetME", "First.")
    world.publish()
    monkeypatch.setenv("REDDIT_CLIENT_ID", world.client_id)
    monkeypatch.delenv("REDDIT_CLIENT_SECRET", raising=False)
    cfg = config(tmp_path, server, watch("r-cfs", subreddit="cfs"), oauth=True)
    assert main(["--config", str(cfg), "check", "--explain"]) == 0
    assert "client_secret is not set: reading without OAuth" in capsys.readouterr().out
    assert [r.path for r in server.take_requests()] == ["/r/cfs/new.json"]


def test_the_readme_example_is_a_valid_configuration() -> None:
    """The README's Reddit and Discourse example loads as it is written (with its ${NAME}s unset, too)."""
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Reddit and Discourse"):]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    for env in ({}, {"REDDIT_CLIENT_ID": "id", "REDDIT_CLIENT_SECRET": "secret"}):
        cfg = config_from_dict(tomllib.loads(block), env=env)
        assert [w.kind for w in cfg.watches] == ["reddit", "reddit", "discourse"]
    assert cfg.source_settings["reddit"]["client_id"] == "id"
    assert reddit_keys(cfg.watches[0].keys).query == "daratumumab OR ResetME"


def test_an_interval_shorter_than_reddit_asks_for_is_noted(tmp_path) -> None:
    from bot.engine.config import CONFIG_NOTES

    CONFIG_NOTES.clear()
    config_from_dict({"watch": [{"id": "r", "kind": "reddit", "subreddit": "cfs", "interval": "5m"}]})
    assert any("shorter than the 10 minutes a reddit watch should wait" in note for note in CONFIG_NOTES), CONFIG_NOTES
