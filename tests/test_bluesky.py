"""The ``bluesky`` watch kind: ``trialwatch parse`` on real-format AppView responses, and ``trialwatch check``
against a local Bluesky stand-in (``tests/support/bluesky_standin.py``: the real XRPC methods and shapes) through
a silent baseline, new posts across the cursor boundary, an edit and a deletion (neither news), reposts (never
the actor's own posts, shown once), an expired session renewed, a 429 with ``ratelimit-reset``, enrollment
figures in English and Norwegian, and secrets that never reach logs, events or ``--explain``."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from scrapers.bluesky.post import apply_link_facets
from scrapers.bluesky.session import forget_sessions
from scrapers.bluesky.source import FEED_PAGE, BlueskySource
from scrapers.kinds import validate_keys
from scrapers.records import UnsupportedWatch
from storage.db import connect
from storage.repo import Repo
from tests.support.bluesky_standin import FIXTURES, HANDLE, PASSWORD, FakeBluesky
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401

RESETME = """
    [[trial]]
    key = "resetme"
    labels = ["resetme"]
    acronym = "ResetME"
    enrolled = 38
    target = 66
"""


@pytest.fixture(autouse=True)
def no_session_left():
    """Sessions live for the process: each test starts logged out."""
    forget_sessions()
    yield
    forget_sessions()


@pytest.fixture
def bluesky(server) -> FakeBluesky:
    return FakeBluesky(server)


def parse_file(name: str, url: str | None, capsys) -> dict:
    assert main(["parse", "bluesky", str(FIXTURES / name), *(["--url", url] if url else [])]) == 0
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------ parse (pure)


def test_parse_an_author_feed(capsys) -> None:
    record = parse_file("author_feed.json", "https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed"
                        "?actor=ida-mecfs.bsky.social&limit=30", capsys)
    items = {i["key"].rsplit("/", 1)[1]: i["fields"] for i in record["items"]}
    first = items["3lkzq2abcde2a"]
    # the facet's byte offsets count the four bytes of the emoji: the shortened link becomes the whole URL
    assert first["text"] == ("🌿 Nytt fra Haukeland: 45 av 66 planlagte pasienter er nå inkludert i ResetME. "
                             "https://www.helse-bergen.no/nyheter/resetme-daratumumab-status")
    assert first["links"] == ["https://www.helse-bergen.no/nyheter/resetme-daratumumab-status"]
    assert first["lang"] == "nb" and first["platform"] == "bluesky"
    assert first["url"] == "https://bsky.app/profile/ida-mecfs.bsky.social/post/3lkzq2abcde2a"
    assert first["author"] == "Ida 🌿 ME/CFS (@ida-mecfs.bsky.social)"
    assert items["3lkz9xyzxyz2c"]["reply_to"] == "https://bsky.app/profile/mecfs-research.bsky.social/post/3lkyaaaaaaa2b"
    assert items["3lkz8qqqqqq2e"]["quote_of"] == "https://bsky.app/profile/mecfs-research.bsky.social/post/3lkxbbbbbbb2d"
    # the repost is the research account's post, by its author: never the actor's own post
    reposted = items["3lkwccccccc2f"]
    assert reposted["author"].endswith("(@mecfs-research.bsky.social)")
    assert record["reposts"] == 1 and record["thread"]["title"] == "@ida-mecfs.bsky.social on Bluesky"


def test_parse_a_search_page_and_errors(tmp_path, capsys) -> None:
    record = parse_file("search_posts.json", None, capsys)
    assert [i["key"].rsplit("/", 1)[1] for i in record["items"]] == ["3lkyaaaaaaa2b", "3lkzq2abcde2a", "3lkzsssssss2h"]
    assert record["cursor"] == "50"
    for body, message in ((b'{"error": "ExpiredToken", "message": "Token has expired"}', "ExpiredToken"),
                          (b'{"feeds": []}', 'neither "feed"'), (b"[]", "JSON array")):
        saved = tmp_path / "x.json"
        saved.write_bytes(body)
        assert main(["parse", "bluesky", str(saved)]) == 3
        assert message in capsys.readouterr().err


def test_link_facets_count_utf8_bytes() -> None:
    text = "ÆØÅ 🙂 see example.org/a/very/lo... or the protocol docs"
    data = text.encode("utf-8")
    start = data.index(b"example.org")
    end = start + len(b"example.org/a/very/lo...")
    label = data.index(b"the protocol docs")
    facets = [
        {"index": {"byteStart": start, "byteEnd": end},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/a/very/long/path"}]},
        {"index": {"byteStart": label, "byteEnd": label + len(b"the protocol docs")},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://atproto.com/specs/lexicon"}]},
        {"index": {"byteStart": 1, "byteEnd": 3},  # inside "Æ": not a character boundary
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://bad.example/"}]},
        {"index": {"byteStart": 0, "byteEnd": 999},  # past the end
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://worse.example/"}]},
    ]
    out, links = apply_link_facets(text, facets)
    assert out == "ÆØÅ 🙂 see https://example.org/a/very/long/path or the protocol docs"  # a label stays a label
    # a facet inside a character or past the end is not applied, so it gives no link either
    assert links == ["https://example.org/a/very/long/path", "https://atproto.com/specs/lexicon"]
    # counting characters instead of bytes would have cut inside the link
    assert len(data[:start].decode("utf-8")) == start - 6  # Æ, Ø, Å: two bytes each; the emoji: four


def test_keys_an_actor_or_a_query() -> None:
    validate_keys("bluesky", {"actor": "ida-mecfs.bsky.social"})
    validate_keys("bluesky", {"actor": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"})
    validate_keys("bluesky", {"query": "daratumumab ME/CFS"})
    with pytest.raises(UnsupportedWatch, match="actor must be a handle"):
        validate_keys("bluesky", {"actor": "not a handle"})
    with pytest.raises(UnsupportedWatch, match="needs actor"):
        validate_keys("bluesky", {})
    assert BlueskySource.keys_from_target("https://bsky.app/profile/ida-mecfs.bsky.social") == {
        "actor": "ida-mecfs.bsky.social"}
    assert BlueskySource.keys_from_target("daratumumab ME/CFS") == {"query": "daratumumab ME/CFS"}


def test_a_search_without_credentials_is_said_at_once_and_fails_only_itself(tmp_path, server, capsys,
                                                                          monkeypatch) -> None:
    """Like an unset webhook: a note naming the keys and variables, the watch failing with the same words, and
    every other command (and watch) working as before."""
    monkeypatch.delenv("BLUESKY_APP_PASSWORD", raising=False)
    cfg = write_config(tmp_path, server, """
        [sources.bluesky]
        handle = "trialwatch-bot.bsky.social"
        app_password = "${BLUESKY_APP_PASSWORD}"
        [[watch]]
        id = "bsky-search"
        kind = "bluesky"
        query = "daratumumab ME/CFS"
    """)
    assert main(["--config", str(cfg), "check"]) == 3
    err = capsys.readouterr().err
    assert "note:" in err and "Traceback" not in err
    assert "app_password" in err and "BLUESKY_APP_PASSWORD" in err and "BLUESKY_HANDLE" in err
    assert main(["--config", str(cfg), "events"]) == 0
    assert main(["--config", str(cfg), "watch", "list"]) == 0


def test_a_search_added_later_without_credentials_fails_with_words_not_a_traceback(tmp_path, server, capsys) -> None:
    cfg = write_config(tmp_path, server, "")
    assert main(["--config", str(cfg), "watch", "add", "bluesky", "daratumumab ME/CFS", "--id", "bsky-search"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "check", "--explain"]) == 3
    captured = capsys.readouterr()
    assert "needs a Bluesky account" in captured.out and "BLUESKY_APP_PASSWORD" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert not server.take_requests()  # nothing was sent without credentials


# ------------------------------------------------------------------ check, against the stand-in


def actor_config(tmp_path, server):
    return write_config(tmp_path, server, f"""
        [sources.bluesky]
        base_url = "{server.url}"
        [[watch]]
        id = "bsky-ida"
        kind = "bluesky"
        actor = "ida-mecfs.bsky.social"
        labels = ["resetme"]
    """ + RESETME)


def search_config(tmp_path, server):
    return write_config(tmp_path, server, f"""
        [sources.bluesky]
        base_url = "{server.url}/appview-not-used-for-search"
        auth_base = "{server.url}"
        handle = "{HANDLE}"
        app_password = "${{BLUESKY_APP_PASSWORD}}"
        [[watch]]
        id = "bsky-search"
        kind = "bluesky"
        query = "daratumumab ME/CFS"
        labels = ["resetme"]
    """ + RESETME)


def feed_requests(server) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in server.take_requests() if r.path.endswith("getAuthorFeed")]


def test_an_author_feed_through_baseline_pages_reposts_edits_and_deletions(bluesky, server, tmp_path, capsys) -> None:
    old = [bluesky.post(f"Baseline post {n}") for n in range(5)]
    cfg = actor_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    assert feed_requests(server) == [{"actor": "ida-mecfs.bsky.social", "limit": str(FEED_PAGE)}]

    new = [bluesky.post(f"New post {n}") for n in range(FEED_PAGE + 5)]  # more than one page
    bluesky.repost(old[0])  # a repost of a post already seen: not a second post
    stranger = bluesky.new_post("A research account's post, reposted by Ida", author=bluesky.other)
    bluesky.repost(stranger)
    bluesky.repost(stranger)  # twice: shown once
    bluesky.edit(old[4], "Baseline post 4, edited")
    bluesky.delete(old[3])
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [e["url"].rsplit("/", 1)[1] for e in events] == [p["uri"].rsplit("/", 1)[1] for p in [*new, stranger]]
    assert {e["kind"] for e in events} == {"new_post"}
    assert events[-1]["detail"]["author"].endswith("(@mecfs-research.bsky.social)")  # its author, not the actor
    requests = feed_requests(server)
    assert len(requests) == 2 and "cursor" not in requests[0] and requests[1]["cursor"]  # across the page boundary
    history = Repo(connect(tmp_path / "tw.db")).field_history(item_key=old[4]["uri"])
    assert [h["new"] for h in history if h["field"] == "text"] == ["Baseline post 4, edited"]  # seen, not news

    bluesky.edit(new[-1], "New post, corrected")
    bluesky.delete(new[-2])
    assert run_check(cfg, capsys) == (0, [])
    assert len(feed_requests(server)) == 1  # a quiet check is one page
    assert Repo(connect(tmp_path / "tw.db")).count_present("bsky-ida") == 5 + FEED_PAGE + 5 + 1  # none taken for deleted


def test_a_search_renews_an_expired_session_and_goes_on(bluesky, server, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    bluesky.post("daratumumab ME/CFS: waiting for the Bergen results")
    cfg = search_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    assert bluesky.calls == ["createSession", "searchPosts"]
    baseline = [r for r in server.take_requests() if r.path.endswith("searchPosts")]
    assert "since" not in baseline[0].query and baseline[0].query["sort"] == ["latest"]

    bluesky.expire_access()  # the access token expired: 400 ExpiredToken, refreshSession, the search again
    fresh = bluesky.post("New on daratumumab ME/CFS from the conference")
    bluesky.calls.clear()
    code, events = run_check(cfg, capsys)
    assert (code, [e["url"].rsplit("/", 1)[1] for e in events]) == (0, [fresh["uri"].rsplit("/", 1)[1]])
    assert bluesky.calls == ["searchPosts", "refreshSession", "searchPosts"]
    searched = [r for r in server.take_requests() if r.path.endswith("searchPosts")]
    assert searched[-1].query["since"] and searched[-1].query["q"] == ["daratumumab ME/CFS"]  # only what is new

    bluesky.expire_all()  # the refresh token too: a new session
    later = bluesky.post("daratumumab ME/CFS: one more")
    bluesky.calls.clear()
    code, events = run_check(cfg, capsys)
    assert (code, [e["url"].rsplit("/", 1)[1] for e in events]) == (0, [later["uri"].rsplit("/", 1)[1]])
    assert bluesky.calls == ["searchPosts", "refreshSession", "createSession", "searchPosts"]


def test_a_rate_limit_fails_the_check_and_keeps_the_cursor(bluesky, server, tmp_path, capsys) -> None:
    bluesky.post("Baseline")
    cfg = actor_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    bluesky.rate_limited(reset_in_s=3600)  # ratelimit-reset an hour ahead: longer than max_retry_after_s
    waiting = bluesky.post("Posted while we were limited")
    code, events = run_check(cfg, capsys)
    assert (code, [e["kind"] for e in events]) == (3, ["source_error"])
    assert "asked us to wait" in events[0]["detail"]["error"]
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [e["url"].rsplit("/", 1)[1] for e in events if e["kind"] == "new_post"] == [waiting["uri"].rsplit("/", 1)[1]]


@pytest.mark.parametrize("text, langs", [
    ("daratumumab ME/CFS: 45 of 66 patients are now enrolled in ResetME, says Haukeland.", ("en",)),
    ("daratumumab ME/CFS: 45 av 66 planlagte pasienter er nå inkludert i ResetME.", ("nb",)),
])
def test_enrollment_figures_in_a_found_post_are_reported(bluesky, server, tmp_path, capsys, monkeypatch,
                                                         text, langs) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    bluesky.post("daratumumab ME/CFS: any news?")
    cfg = search_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    bluesky.post(text, langs=langs)
    code, events = run_check(cfg, capsys)
    assert code == 0
    reported = [e for e in events if e["kind"] == "enrollment_reported"]
    assert [(e["trial"], e["new"]["enrolled"], e["new"]["target"]) for e in reported] == [("resetme", 45, 66)]
    assert next(e for e in events if e["kind"] == "new_post")["detail"]["lang"] == ",".join(langs)


def test_no_secret_reaches_logs_events_or_explain(bluesky, server, tmp_path, capsys, monkeypatch) -> None:
    """A whole search watch's life at DEBUG: login, search, an expired session renewed twice over, a failure
    and a recovery — and neither the app password nor any access or refresh token appears anywhere."""
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    cfg = search_config(tmp_path, server)
    seen = ""

    def run(*args: str) -> None:
        nonlocal seen
        main(["--config", str(cfg), "-v", *args])
        captured = capsys.readouterr()
        seen += captured.out + captured.err

    bluesky.post("daratumumab ME/CFS: first")
    run("check", "--json")
    bluesky.expire_access()
    bluesky.post("daratumumab ME/CFS: 45 of 66 patients are now enrolled in ResetME")
    run("check", "--explain")
    bluesky.expire_all()
    bluesky.rate_limited(reset_in_s=3600)
    run("check", "--json")
    bluesky.post("daratumumab ME/CFS: later")
    run("check", "--explain")
    run("events", "--json")
    run("watch", "list")
    assert "DEBUG" in seen and "searchPosts" in seen and "the Bluesky session had expired and was renewed" in seen
    assert len(bluesky.issued) >= 6  # three sessions' worth of tokens were handed out
    database = (tmp_path / "tw.db").read_bytes()
    for secret in [PASSWORD, *bluesky.issued]:
        assert secret not in seen
        assert secret.encode() not in database


def test_a_post_that_only_moved_up_into_the_first_page_is_not_news(bluesky, server, tmp_path, capsys) -> None:
    """The first check reads one page; a deletion there moves an older post, never read, into it: history."""
    posts = [bluesky.post(f"Post {n}") for n in range(FEED_PAGE + 3)]
    cfg = actor_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    bluesky.delete(posts[-1])
    assert run_check(cfg, capsys) == (0, [])
    repo = Repo(connect(tmp_path / "tw.db"))
    assert posts[2]["uri"] not in repo.load_items("bsky-ida")  # the post that moved up is not even recorded
    fresh = bluesky.post("Really new")
    code, events = run_check(cfg, capsys)
    assert (code, [e["url"].rsplit("/", 1)[1] for e in events]) == (0, [fresh["uri"].rsplit("/", 1)[1]])


def test_which_failures_renew_the_session() -> None:
    from scrapers.bluesky.session import is_expired
    from scrapers.http.errors import FetchError

    def failed(status: int, body: bytes = b"", kind: str = "http_status") -> FetchError:
        return FetchError(kind, "x", status=status, body=body)

    assert is_expired(failed(400, b'{"error":"ExpiredToken","message":"Token has expired"}'))
    assert is_expired(failed(400, b'{"error":"InvalidToken","message":"Token could not be verified"}'))
    assert is_expired(failed(401, b'{"error":"AuthMissing"}'))
    assert not is_expired(failed(400, b'{"error":"BadQueryString","message":"Bad query"}'))  # a bad search stays one
    assert not is_expired(failed(400, b"<html>Bad Request</html>"))
    assert not is_expired(failed(429, kind="rate_limited"))
