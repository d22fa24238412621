"""Input no parser rule foresaw still ends as words, never a traceback: an answer that breaks a parser fails
only its watch (one line; the traceback with -v), a saved file that breaks one is the file's problem, a
config value that breaks a source's validation is a configuration error naming the watch, and text with a
lone UTF-16 surrogate is read (U+FFFD) instead of crashing every HTML source."""

from __future__ import annotations

from typing import Any

import pytest

import scrapers.kinds
from bot.cli import main
from bot.demo.replay import Reply
from bot.engine.config import CONFIG_NOTES, ConfigError, config_from_dict
from scrapers.markup import html_to_line, html_to_text
from scrapers.records import FetchOutcome, FetchState, Item, ParseResult, WatchSpec
from scrapers.source import Source
from scrapers.text import clean_multiline, clean_text
from storage.diff import POST, SPECS
from tests.support.check_helpers import module_server, server, write_config  # noqa: F401 - fixtures


class BrittleSource(Source):
    """Reads ``{"items": [{"id": …, "tags": [...]}]}`` the way a parser with a missing type check would."""

    kind = "brittle"
    item_kind = "entry"
    summary = "a brittle JSON list (url = …)"
    required_keys = ("url",)
    url_key = "url"
    target_key = "url"

    def validate(self, keys: dict[str, Any]) -> None:
        int(str(keys["url"]).rsplit("/", 1)[-1])  # a ValueError for a URL not ending in a number

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        import json

        doc = json.loads(body)
        return ParseResult(items=[Item(str(i["id"]), {"title": ", ".join(i["tags"])}) for i in doc["items"]])

    async def fetch(self, watch: WatchSpec, fetcher: Any, state: FetchState) -> FetchOutcome:
        resp = await fetcher.get(watch.keys["url"], expect="json")
        return FetchOutcome(result=self.parse(resp.body, resp.url), state=FetchState(), requests=1,
                            bytes=len(resp.body), http_status=resp.status)


@pytest.fixture(autouse=True)
def brittle_kind(monkeypatch):
    monkeypatch.setitem(scrapers.kinds.KINDS, "brittle", f"{__name__}:BrittleSource")


def test_an_answer_that_breaks_a_parser_fails_its_watch_in_one_line(server, tmp_path, capsys) -> None:
    server.route("GET", "/list/1", Reply(body={"items": [{"id": 1, "tags": 5}]}))
    server.route("GET", "/list/2", Reply(body={"items": [{"id": 2, "tags": ["ok"]}]}))
    cfg = write_config(tmp_path, server, f"""
        [[watch]]
        id = "broken"
        kind = "brittle"
        url = "{server.url}/list/1"
        [[watch]]
        id = "fine"
        kind = "brittle"
        url = "{server.url}/list/2"
    """)
    assert main(["--config", str(cfg), "check", "--explain"]) == 3
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "broken" in captured.err and "TypeError" in captured.err and "-v shows where" in captured.err
    assert "fine (brittle): ok" in captured.out  # the other watch went on
    assert main(["--config", str(cfg), "-v", "check", "broken"]) == 3
    assert "Traceback" in capsys.readouterr().err  # -v shows where


def test_a_saved_file_that_breaks_a_parser_is_the_files_problem(tmp_path, capsys) -> None:
    saved = tmp_path / "answer.json"
    saved.write_text('{"items": [{"id": 1, "tags": 5}]}')
    assert main(["parse", "brittle", str(saved)]) == 3
    err = capsys.readouterr().err
    assert "not a brittle document this parser can read (TypeError" in err and "Traceback" not in err
    assert "bug" not in err


def test_a_value_a_source_cannot_read_is_a_configuration_error_naming_the_watch(tmp_path, capsys) -> None:
    with pytest.raises(ConfigError, match=r"'odd'.*brittle watch's keys cannot be read \(ValueError"):
        config_from_dict({"watch": [{"id": "odd", "kind": "brittle", "url": "https://example.org/list/²"}]})
    assert main(["--db", str(tmp_path / "tw.db"), "watch", "add", "brittle", "https://example.org/x/y"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_source_settings_are_text_and_notes_name_keys_as_the_file_does() -> None:
    with pytest.raises(ConfigError, match=r"\[sources.bluesky\]\.app_password: expected a string"):
        config_from_dict({"sources": {"bluesky": {"app_password": ["pw"]}}})
    config_from_dict({"sources": {"reddit": {"client_secret": "${UNSET_SECRET_X}"}}}, source="tw.toml", env={})
    assert "tw.toml [sources.reddit] client_secret = ${UNSET_SECRET_X} is not set" in CONFIG_NOTES[0]


@pytest.mark.parametrize("read", [html_to_text, html_to_line, clean_text, clean_multiline])
def test_a_lone_surrogate_is_read_as_a_replacement_character(read) -> None:
    assert read("<p>45 of 66 \ud800 enrolled</p>").replace("<p>", "").replace("</p>", "") == \
        "45 of 66 \ufffd enrolled"


def test_a_social_post_is_known_by_its_own_id_not_by_the_address_its_answer_claims() -> None:
    claimed = "https://www.reddit.com/r/cfs/comments/new1/x/"
    reddit = Item("t3_new1", {"platform": "reddit", "community": "r/cfs", "url": claimed})
    mastodon = Item("https://evil.example/statuses/1", {"platform": "mastodon", "community": "evil.example",
                                                        "url": claimed})
    forum = Item("post-1", {"url": "https://forum.example/posts/1/"})
    assert SPECS["post"] is POST
    assert POST.identity(reddit) != POST.identity(mastodon)
    assert POST.identity(forum) == "https://forum.example/posts/1/"  # forum posts: as before
    # one Mastodon status seen through two instances is one post; a Discourse post id is one forum's only
    uri = "https://mastodon.social/users/kari/statuses/1"
    via_a = Item(uri, {"platform": "mastodon", "community": "a.example", "url": uri})
    via_b = Item(uri, {"platform": "mastodon", "community": "b.example", "url": uri})
    assert POST.identity(via_a) == POST.identity(via_b)
    assert POST.identity(Item("77", {"platform": "discourse", "community": "f1.example"})) != \
        POST.identity(Item("77", {"platform": "discourse", "community": "f2.example"}))


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x", "http://[::1/@x", "https://f.example:port/x"])
def test_a_url_no_request_can_be_made_to_is_a_configuration_error_naming_url(url: str) -> None:
    with pytest.raises(ConfigError, match=r"feed watch: url .* is not a web address"):
        config_from_dict({"watch": [{"id": "f", "kind": "feed", "url": url}]})
