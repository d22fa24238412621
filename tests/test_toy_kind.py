"""A new source kind is its class plus one line in scrapers/kinds.py: this toy kind, declared in a few lines
below and registered with one table entry, is configurable, parseable, guarded (it is URL-based) and
checkable end to end — and no other module was touched to make it so.

The README's "Adding a source kind" points here.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

import scrapers.kinds
from bot.cli import main
from bot.demo.replay import Reply, ReplayServer
from bot.engine.config import ConfigError, config_from_dict
from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, WatchSpec
from scrapers.source import Source
from storage.db import connect
from storage.repo import Repo


class ToySource(Source):
    """Lines of ``id|title`` at a URL; each line is a feed entry."""

    kind = "toy"
    item_kind = "entry"
    summary = "a toy list of entries (url = …)"
    required_keys = ("url",)
    optional_keys = ("note",)
    url_key = "url"
    target_key = "url"
    target_help = "the list's URL"
    settings_keys = ("token",)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        items = []
        for line in body.decode("utf-8").splitlines():
            key, sep, title = line.partition("|")
            if not sep:
                raise ParseError(f"toy line without '|': {line!r}")
            items.append(Item(key.strip(), {"title": title.strip(), "url": f"{url}#{key.strip()}"}))
        return ParseResult(items=items)

    async def fetch(self, watch: WatchSpec, fetcher: Any, state: FetchState) -> FetchOutcome:
        resp = await fetcher.get(watch.keys["url"], expect="any")
        return FetchOutcome(result=self.parse(resp.body, resp.url), state=FetchState(), requests=1,
                            bytes=len(resp.body), http_status=resp.status)


@pytest.fixture(autouse=True)
def toy_kind(monkeypatch):
    """The one line a new kind needs (made here at run time instead of in scrapers/kinds.py)."""
    monkeypatch.setitem(scrapers.kinds.KINDS, "toy", f"{__name__}:ToySource")


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def test_configurable_with_declared_keys_and_helpful_errors() -> None:
    cfg = config_from_dict({"watch": [{"id": "t", "kind": "toy", "url": "https://example.org/list"}]})
    assert cfg.watches[0].keys == {"url": "https://example.org/list"}
    with pytest.raises(ConfigError, match=r"unknown key 'nte'; did you mean 'note'"):
        config_from_dict({"watch": [{"id": "t", "kind": "toy", "url": "https://example.org/l", "nte": 1}]})
    with pytest.raises(ConfigError, match=r"toy watch needs 'url'"):
        config_from_dict({"watch": [{"id": "t", "kind": "toy"}]})


def test_source_settings_reach_the_source_and_others_are_refused() -> None:
    """``[sources.toy]`` may hold what ToySource declares in ``settings_keys``, read from the environment."""
    from scrapers.kinds import source_for

    cfg = config_from_dict({"sources": {"toy": {"base_url": "http://127.0.0.1:9", "token": "${TOY_TOKEN}"}}},
                           env={"TOY_TOKEN": "s3cret"})
    source = source_for("toy", cfg.base_urls, cfg.source_settings)
    assert (source.base_url, source.settings) == ("http://127.0.0.1:9", {"token": "s3cret"})
    with pytest.raises(ConfigError, match=r"\[sources.toy\]: unknown key 'handle'"):
        config_from_dict({"sources": {"toy": {"handle": "x"}}})
    with pytest.raises(ConfigError, match=r"\[sources.ctgov\]: unknown key 'token'"):
        config_from_dict({"sources": {"ctgov": {"token": "x"}}})


def test_parseable_from_the_command_line(tmp_path, capsys) -> None:
    saved = tmp_path / "list.txt"
    saved.write_text("a1|First\nb2|Second\n", encoding="utf-8")
    assert main(["parse", "toy", str(saved), "--url", "https://example.org/list"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [i["key"] for i in record["items"]] == ["a1", "b2"]


def test_watch_add_reads_its_target_and_is_listed(tmp_path, capsys) -> None:
    db = tmp_path / "tw.db"
    assert main(["--db", str(db), "watch", "add", "toy", "https://example.org/list", "--id", "my-toy"]) == 0
    assert "my-toy: toy url=https://example.org/list" in capsys.readouterr().out
    assert Repo(connect(db)).get_watch("my-toy").keys == {"url": "https://example.org/list"}
    assert scrapers.kinds.is_url_kind("toy") and "toy" in scrapers.kinds.kind_names()


def test_checkable_end_to_end_and_guarded_when_added_from_discord(server, tmp_path, capsys) -> None:
    server.route("GET", "/list", Reply(body="a1|First\n", content_type="text/plain"))
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [http]
        per_host_rps = 0
        max_retries = 0
        [[watch]]
        id = "toy-list"
        kind = "toy"
        url = "{server.url}/list"
    """))
    assert main(["--config", str(cfg), "check", "--json"]) == 0  # the silent baseline
    assert capsys.readouterr().out == ""
    server.route("GET", "/list", Reply(body="a1|First\nb2|Second\n", content_type="text/plain"))
    assert main(["--config", str(cfg), "check", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["subject"], e["title"]) for e in events] == [("new_entry", "b2", "Second")]

    # The same URL added from Discord may not reach 127.0.0.1: the URL guard applies to the new kind too.
    Repo(connect(tmp_path / "tw.db")).upsert_watch(
        WatchSpec("toy-from-discord", "toy", {"url": f"{server.url}/list"}), origin="discord")
    assert main(["--config", str(cfg), "check", "toy-from-discord", "--explain"]) == 3
    out = capsys.readouterr().out
    assert "toy-from-discord (toy): error — refused to fetch" in out
