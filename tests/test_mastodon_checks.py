"""The ``mastodon`` watch kind's checks as a person sets them up and pays for them: a watch ``url`` that
``urlsplit`` cannot read is a configuration error naming ``url`` (never a traceback), the first check is one
request however full its page, a server that ignores ``min_id`` costs at most one request more, the cursor only
moves forward, and ``watch list`` shows what tells one watch from another (a hashtag, a search within a
subreddit). Real HTTP against the Mastodon stand-in on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cli import main
from bot.demo.replay import Reply
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.mastodon.source import PAGE_SIZE, MastodonSource
from scrapers.records import FetchState, WatchSpec
from tests.support.check_helpers import module_server, server, write_config  # noqa: F401
from tests.support.mastodon_standin import FakeMastodon
from tests.test_mastodon_hostile import rich_status


@pytest.mark.parametrize("url", ["http://[::1/@x", "https://mastodon.social:port/@kari", "https://:443/@kari",
                                 "javascript:alert(7)"])
def test_a_watch_url_that_cannot_be_read_is_a_configuration_error_naming_url(tmp_path, capsys, url) -> None:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "tw.db"}"\n'
                   f'[[watch]]\nid = "m"\nkind = "mastodon"\nurl = "{url}"\n')
    assert main(["--config", str(cfg), "check"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "url" in err and url in err and "Traceback" not in err

    empty = tmp_path / "empty.toml"
    empty.write_text(f'[database]\npath = "{tmp_path / "tw2.db"}"\n')
    for target in (url, url.replace("/@x", "/tags/MECFS")):
        assert main(["--config", str(empty), "watch", "add", "mastodon", target]) == 2
        err = capsys.readouterr().err
        assert "mastodon watch needs url" in err and "Traceback" not in err


def timeline_requests(server) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in server.take_requests() if "/timelines/tag/" in r.path]


async def check_once(server, state: FetchState) -> Any:
    watch = WatchSpec("m", "mastodon", {"url": server.url, "tag": "MECFS"})
    async with Fetcher(HttpSettings(per_host_rps=0, max_retries=0)) as fetcher:
        return await MastodonSource().fetch(watch, fetcher, state)


async def test_the_first_check_is_one_request_even_when_the_page_is_full(server) -> None:
    mastodon = FakeMastodon(server)
    statuses = [mastodon.post(f"Status {n} #MECFS") for n in range(PAGE_SIZE + 5)]
    outcome = await check_once(server, FetchState())
    assert outcome.requests == 1 and timeline_requests(server) == [{"limit": str(PAGE_SIZE)}]
    assert len(outcome.result.items) == PAGE_SIZE and outcome.notes == []
    assert outcome.state.cursor == {"min_id": statuses[-1]["id"]}


async def test_a_server_that_ignores_min_id_costs_no_more_than_one_request_more(server) -> None:
    """It answers every request with the newest page: the baseline is one request, a quiet check one, a check
    with news two (the second page is the same again: nothing newer, the walk stops), never "more than 160"."""
    mastodon = FakeMastodon(server)
    mastodon.ignores_min_id = True
    for n in range(PAGE_SIZE + 5):
        mastodon.post(f"Status {n} #MECFS")
    baseline = await check_once(server, FetchState())
    assert (baseline.requests, baseline.notes) == (1, [])
    quiet = await check_once(server, baseline.state)
    assert (quiet.requests, quiet.notes, quiet.state.cursor) == (1, [], baseline.state.cursor)
    fresh = [mastodon.post(f"New {n} #MECFS") for n in range(3)]
    news = await check_once(server, quiet.state)
    assert (news.requests, news.notes) == (2, [])
    assert news.state.cursor == {"min_id": fresh[-1]["id"]}
    assert {s["uri"] for s in fresh} <= {i.key for i in news.result.items}


async def test_ids_of_the_wrong_type_never_become_the_cursor_and_unreadable_statuses_are_noted(server) -> None:
    """A page whose statuses have ids that are no ids, or older than the cursor (and no ``Link`` header): the
    cursor stays as it was."""
    status = rich_status()
    page = [dict(status, id=value, uri=f"{status['uri']}-{n}") for n, value in enumerate([True, {"a": 1}, ["1"], "1/2"])]
    page.append(dict(status, id="6", uri=5))  # no readable uri: skipped, and said so; an id older than the cursor
    server.route("GET", "/api/v1/timelines/tag/MECFS", Reply(200, page))
    outcome = await check_once(server, FetchState(cursor={"min_id": "7"}))
    assert outcome.state.cursor == {"min_id": "7"} and len(outcome.result.items) == 4
    assert outcome.notes == ["1 status(es) without a readable uri were skipped"]


def test_watch_list_shows_every_key_that_tells_a_watch_apart(server, tmp_path, capsys) -> None:
    """A hashtag watch is its instance and its tag; a Reddit search its subreddit and its query (every kind the
    same way: the main key first, then the others)."""
    cfg = write_config(tmp_path, server, """
        [[watch]]
        id = "r-cfs-resetme"
        kind = "reddit"
        subreddit = "cfs"
        query = "daratumumab OR ResetME"
    """)
    assert main(["--config", str(cfg), "watch", "add", "mastodon", "https://mastodon.social/tags/MECFS",
                 "--id", "m-tag"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "watch", "list"]) == 0
    lines = {line.split("\t")[0]: line.split("\t")[1] for line in capsys.readouterr().out.splitlines()}
    assert lines["m-tag"] == "mastodon url=https://mastodon.social tag=MECFS"
    assert lines["r-cfs-resetme"] == "reddit subreddit=cfs query=daratumumab OR ResetME"
