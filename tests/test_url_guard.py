"""Watches added from Discord may not reach private addresses, not even through a redirect."""

from __future__ import annotations

import textwrap

import pytest

from bot.cli import main
from bot.engine.config import load_config
from bot.demo.replay import Reply, ReplayServer
from scrapers.http.fetcher import Fetcher, GuardedFetcher, HttpSettings
from scrapers.http.errors import FetchError
from storage.db import connect
from storage.repo import Repo
from bot.demo.world.feeds import atom


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


async def test_the_guard_sees_every_redirect_hop_before_it_is_sent(server):
    server.route("GET", "/start", Reply(302, b"", content_type="text/html",
                                        headers={"Location": f"{server.url}/internal/meta-data"}))
    server.route("GET", "/internal/meta-data", Reply(body="secret", content_type="text/plain"))
    seen: list[str] = []

    async def guard(url: str) -> None:
        seen.append(url)
        if "/internal/" in url:
            raise FetchError("invalid_url", "refused: a private address")

    async with Fetcher(HttpSettings(per_host_rps=0)) as fetcher:
        with pytest.raises(FetchError, match="refused"):
            # the stand-in is on loopback: this test is about the URL guard, so the connect-time
            # address rule lets it through (that rule is tested in test_rebinding.py)
            await GuardedFetcher(fetcher, guard, policy=lambda ip: None).get(f"{server.url}/start", expect="any")
        # The unguarded fetcher follows the same redirect (config URLs are trusted as written).
        assert (await fetcher.get(f"{server.url}/start", expect="any")).body == b"secret"
    assert seen == [f"{server.url}/start", f"{server.url}/internal/meta-data"]
    assert [r.path for r in server.requests] == ["/start", "/start", "/internal/meta-data"]


def test_a_feed_added_from_discord_may_not_reach_loopback(server, tmp_path, capsys):
    server.route("GET", "/feed.xml", Reply(body=atom(("urn:1", "Entry", "https://example.org/1", "An entry.")),
                                           content_type="application/atom+xml"))
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [http]
        per_host_rps = 0
        max_retries = 0
    """))
    repo = Repo(connect(tmp_path / "tw.db"))
    from scrapers.records import WatchSpec

    repo.upsert_watch(WatchSpec("from-discord", "feed", {"url": f"{server.url}/feed.xml"}), origin="discord")
    repo.upsert_watch(WatchSpec("from-cli", "feed", {"url": f"{server.url}/feed.xml"}), origin="cli")
    code = main(["--config", str(cfg_path), "check", "--explain"])
    out = capsys.readouterr().out
    assert code == 3
    assert "from-discord (feed): error — refused to fetch" in out and "loopback" in out
    assert "from-cli (feed): ok" in out
    assert len([r for r in server.requests if r.path == "/feed.xml"]) == 1  # only the trusted watch's
    # [security] allow_private_urls lifts it.
    cfg_path.write_text(cfg_path.read_text() + "[security]\nallow_private_urls = true\n")
    assert main(["--config", str(cfg_path), "-q", "check"]) == 0
    assert load_config(cfg_path).security.allow_private_urls
