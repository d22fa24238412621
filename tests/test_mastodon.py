"""The ``mastodon`` watch kind: ``trialwatch parse`` on real-format statuses, and ``trialwatch check`` against a
local Mastodon stand-in (``tests/support/mastodon_standin.py``: the real paths, ``min_id`` semantics, ``Link`` and
``X-RateLimit-*`` headers) through a sequence: a silent baseline, new statuses across the page boundary, an edit
and a deletion (neither news), a boost of a known status (not a second post), Mastodon's 429, and enrollment
figures in English and Norwegian reaching ``enrollment_reported``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bot.cli import main
from bot.engine.config import ConfigError, config_from_dict
from scrapers.http.content import parse_rate_limit_reset
from scrapers.kinds import validate_keys
from scrapers.mastodon.source import MastodonSource, link_targets
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.records import FetchState, UnsupportedWatch, WatchSpec
from storage.db import connect
from storage.repo import Repo
from tests.support.check_helpers import module_server, run_check, server, stored_events, write_config  # noqa: F401
from tests.support.mastodon_standin import FIXTURES, FakeMastodon
from tests.test_http import FakeClock

RESETME = """
    [[trial]]
    key = "resetme"
    labels = ["resetme"]
    acronym = "ResetME"
    enrolled = 38
    target = 66
"""


def parse_file(name: str, url: str, capsys) -> dict:
    assert main(["parse", "mastodon", str(FIXTURES / name), "--url", url]) == 0
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------ parse (pure)


def test_parse_a_hashtag_timeline(capsys) -> None:
    record = parse_file("tag_MECFS.json", "https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40", capsys)
    assert record["thread"]["title"] == "#MECFS on mastodon.social"
    items = {i["key"].rsplit("/", 1)[1]: i["fields"] for i in record["items"]}
    assert list(items) == ["113500000000000001", "113500000000000002", "114000000000000777", "113500000000000004"]
    norwegian = items["113500000000000004"]
    assert norwegian["lang"] == "no" and norwegian["platform"] == "mastodon" and norwegian["community"] == "mastodon.social"
    assert norwegian["text"].startswith("45 av 66 planlagte pasienter er nå inkludert")
    reply = items["114000000000000777"]
    # the remote status: its own URL; a reply to Kari's status on the instance read; a content warning as title
    assert reply["url"] == "https://med-mastodon.com/@tomresearch/114000000000000777"
    assert reply["reply_to"] == "https://mastodon.social/@kari/113500000000000002"
    assert reply["title"] == "ResetME enrollment, long"
    assert reply["author"] == "Tom (ME/CFS research) (@tomresearch@med-mastodon.com)"
    # Mastodon's shortened link spans come out as the whole address; mentions and hashtags are not links
    assert "https://www.helse-bergen.no/nyheter/resetme-daratumumab-status" in reply["text"]
    assert reply["links"] == ["https://www.helse-bergen.no/nyheter/resetme-daratumumab-status"]
    assert items["113500000000000002"]["edited"] == "2026-03-01T20:10:00Z"
    assert items["113500000000000001"]["quote_of"] == "https://med-mastodon.com/@tomresearch/113999999999999000"
    assert items["113500000000000001"]["reply_to"] is None


def test_a_boost_is_the_status_it_boosts_once(capsys) -> None:
    record = parse_file("account_statuses.json",
                        "https://mastodon.social/api/v1/accounts/109312345678901234/statuses?limit=40", capsys)
    keys = [i["key"] for i in record["items"]]
    assert "https://med-mastodon.com/users/tomresearch/statuses/114000000000000777" in keys  # the boosted status
    assert not any(k.endswith("/activity") for k in keys)  # never the boost itself
    boosted = next(i["fields"] for i in record["items"] if "tomresearch" in i["key"])
    assert boosted["author"].startswith("Tom (ME/CFS research)")  # its own author, not the booster
    assert record["boosts"] == 1 and record["thread"]["title"] == "@kari@mastodon.social"


def test_an_error_object_or_garbage_is_a_parse_error(tmp_path, capsys) -> None:
    for body, message in ((b'{"error": "Record not found"}', "Mastodon answered with an error"),
                          (b'{"statuses": []}', "where Mastodon sends an array"), (b"<html>", "HTML")):
        saved = tmp_path / "x.json"
        saved.write_bytes(body)
        assert main(["parse", "mastodon", str(saved)]) == 3
        assert message in capsys.readouterr().err


def test_link_header_and_rate_limit_reset_headers() -> None:
    header = ('<https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40&max_id=7>; rel="next", '
              '<https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40&min_id=9>; rel="prev"')
    assert link_targets(header) == {"next": "https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40&max_id=7",
                                    "prev": "https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40&min_id=9"}
    now = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
    assert parse_rate_limit_reset({"X-RateLimit-Reset": "2026-03-03T09:05:00.000000Z"}, now=now) == 300  # Mastodon
    assert parse_rate_limit_reset({"ratelimit-reset": str(int(now.timestamp()) + 90)}, now=now) == 90  # Bluesky
    assert parse_rate_limit_reset({"x-ratelimit-reset": "42"}, now=now) == 42  # delta-seconds
    assert parse_rate_limit_reset({"X-RateLimit-Reset": "2026-03-03T08:00:00Z"}, now=now) == 0  # past: go now
    assert parse_rate_limit_reset({"X-RateLimit-Reset": "soon"}, now=now) is None


def test_keys_an_instance_with_a_tag_or_an_account() -> None:
    validate_keys("mastodon", {"url": "https://mastodon.social", "tag": "MECFS"})
    validate_keys("mastodon", {"url": "https://mastodon.social/@kari"})
    for keys, message in (({"url": "https://mastodon.social"}, "url must be an account"),
                          ({"url": "https://mastodon.social/@kari", "tag": "MECFS"}, "url is the instance only"),
                          ({"url": "https://mastodon.social", "tag": "ME CFS"}, "tag must be a hashtag"),
                          ({"url": "mastodon.social", "tag": "MECFS"}, "needs url")):
        with pytest.raises(UnsupportedWatch, match=message):
            validate_keys("mastodon", keys)
    assert MastodonSource.keys_from_target("https://mastodon.social/tags/MECFS") == {
        "url": "https://mastodon.social", "tag": "MECFS"}
    assert MastodonSource.keys_from_target("https://mastodon.social/@kari") == {"url": "https://mastodon.social/@kari"}
    with pytest.raises(ConfigError, match="did you mean 'tag'"):
        config_from_dict({"watch": [{"id": "m", "kind": "mastodon", "url": "https://mastodon.social", "tags": "x"}]})


# ------------------------------------------------------------------ check, against the stand-in


def tag_config(tmp_path, server, body: str = "") -> object:
    return write_config(tmp_path, server, f"""
        [[watch]]
        id = "mastodon-mecfs"
        kind = "mastodon"
        url = "{server.url}"
        tag = "MECFS"
        labels = ["resetme"]
    """ + RESETME + body)


def timeline_requests(server) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in server.take_requests() if "/timelines/tag/" in r.path]


def test_a_hashtag_watch_through_baseline_pages_edits_and_deletions(server, tmp_path, capsys) -> None:
    mastodon = FakeMastodon(server)
    first = [mastodon.post(f"Resting today, day {n}. #MECFS") for n in range(3)]
    cfg = tag_config(tmp_path, server)

    code, events = run_check(cfg, capsys)
    assert (code, events) == (0, [])  # the silent baseline
    assert timeline_requests(server) == [{"limit": "40"}]  # the newest page, nothing else

    # 45 new statuses (more than a page), one of them edited later and one deleted; an old one edited, one deleted
    new = [mastodon.post(f"Pacing note {n} #MECFS") for n in range(45)]
    mastodon.edit(first[1], "Resting today, day 1 (edited). #MECFS")
    mastodon.delete(first[2])
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [e["kind"] for e in events] == ["new_post"] * 45
    assert [e["url"] for e in events] == [s["url"] for s in new]  # each once, oldest first
    assert events[0]["title"] == "#MECFS on 127.0.0.1:%d" % server._httpd.server_address[1]
    assert events[0]["detail"]["platform"] == "mastodon" and events[0]["detail"]["lang"] == "en"
    # forward from the baseline's newest status, then from the newest of the first page (the Link header's prev)
    assert timeline_requests(server) == [{"limit": "40", "min_id": first[2]["id"]},
                                         {"limit": "40", "min_id": new[39]["id"]}]

    mastodon.edit(new[0], "Pacing note 0, corrected #MECFS")
    mastodon.delete(new[1])
    code, events = run_check(cfg, capsys)
    assert (code, events) == (0, [])  # an edit and a deletion are not news
    assert timeline_requests(server) == [{"limit": "40", "min_id": new[44]["id"]}]  # a quiet check: one request
    repo = Repo(connect(tmp_path / "tw.db"))
    assert repo.count_present("mastodon-mecfs") == 48  # nothing taken for deleted


def test_an_account_watch_looks_up_once_and_reads_boosts_as_the_original(server, tmp_path, capsys) -> None:
    mastodon = FakeMastodon(server)
    seen = mastodon.post("Waiting for news from Bergen. #MECFS")
    cfg = write_config(tmp_path, server, f"""
        [[watch]]
        id = "kari"
        kind = "mastodon"
        url = "{server.url}/@kari"
    """)
    assert run_check(cfg, capsys) == (0, [])
    lookups = [r for r in server.take_requests() if r.path == "/api/v1/accounts/lookup"]
    assert [r.query["acct"] for r in lookups] == [["kari"]]

    mastodon.edit(seen, "Waiting for news from Bergen (edited). #MECFS")
    mastodon.boost(seen)  # a boost of a status already seen, edited since: not a second post, not news
    other = mastodon.new_status("A researcher's status boosted by Kari")
    other.update(uri="https://med-mastodon.com/users/tomresearch/statuses/1", url="https://med-mastodon.com/@tomresearch/1")
    mastodon.boost(other)
    mastodon.boost(other)  # boosted twice: shown once
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["url"]) for e in events] == [("new_post", "https://med-mastodon.com/@tomresearch/1")]
    assert not [r for r in server.take_requests() if r.path == "/api/v1/accounts/lookup"]  # the id is kept
    history = Repo(connect(tmp_path / "tw.db")).field_history(item_key=seen["uri"])
    assert [(h["field"], h["new"]) for h in history if h["field"] == "text"] == [
        ("text", "Waiting for news from Bergen (edited). #MECFS")]  # the edit is kept, as history


def test_a_rate_limit_is_waited_for_or_fails_the_check_keeping_the_cursor(server, tmp_path, capsys) -> None:
    mastodon = FakeMastodon(server)
    base = mastodon.post("Baseline status #MECFS")
    cfg = tag_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    server.take_requests()

    # a 429 whose X-RateLimit-Reset has passed: asked again at once, and the check goes on
    mastodon.rate_limited(reset_in_s=-5)
    fresh = mastodon.post("After a short limit #MECFS")
    code, events = run_check(cfg, capsys)
    assert (code, [e["url"] for e in events]) == (0, [fresh["url"]])
    assert timeline_requests(server) == [{"limit": "40", "min_id": base["id"]}] * 2

    # a 429 resetting in an hour: not waited for (max_retry_after_s), the check fails, the cursor is kept
    mastodon.rate_limited(reset_in_s=3600)
    later = mastodon.post("Posted while we were limited #MECFS")
    code, events = run_check(cfg, capsys)
    assert code == 3
    assert [e["kind"] for e in events] == ["source_error"]
    assert "asked us to wait" in events[0]["detail"]["error"]
    code, events = run_check(cfg, capsys)
    assert (code, sorted(e["kind"] for e in events)) == (0, ["new_post", "source_recovered"])
    assert [e["url"] for e in events if e["kind"] == "new_post"] == [later["url"]]
    assert [q.get("min_id") for q in timeline_requests(server)] == [fresh["id"], fresh["id"]]


@pytest.mark.parametrize("text, language", [
    ("Update from Haukeland: 45 of 66 patients are now enrolled in ResetME. #MECFS", "en"),
    ("45 av 66 planlagte pasienter er nå inkludert i ResetME-studien. #MECFS", "no"),
])
def test_enrollment_figures_in_a_new_status_are_reported(server, tmp_path, capsys, text, language) -> None:
    mastodon = FakeMastodon(server)
    mastodon.post("Any news? #MECFS")
    cfg = tag_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    status = mastodon.post(text, language=language)
    code, events = run_check(cfg, capsys)
    assert code == 0
    reported = [e for e in events if e["kind"] == "enrollment_reported"]
    assert [(e["trial"], e["new"]["enrolled"], e["new"]["target"]) for e in reported] == [("resetme", 45, 66)]
    assert reported[0]["detail"]["source_url"] == status["url"]
    new_post = next(e for e in events if e["kind"] == "new_post")
    assert new_post["detail"]["lang"] == language
    assert {e["id"] for e in stored_events(cfg, capsys)} >= {e["id"] for e in events}


async def test_the_watch_waits_until_x_ratelimit_reset_on_the_injected_clock(server) -> None:
    """A 429 whose reset is within ``max_retry_after_s`` is waited out (on the fetcher's injected sleep, so exactly
    and without real waiting), then the same request is sent again and the check goes on from its cursor."""
    mastodon = FakeMastodon(server)
    base = mastodon.post("Baseline #MECFS")
    fresh = mastodon.post("New #MECFS")
    mastodon.rate_limited(reset_in_s=30)
    watch = WatchSpec("m", "mastodon", {"url": server.url, "tag": "MECFS"})
    clock = FakeClock()
    settings = HttpSettings(per_host_rps=0, max_retries=2, max_retry_after_s=60, backoff_s=5)
    async with Fetcher(settings, clock=clock.now, sleep=clock.sleep) as fetcher:
        outcome = await MastodonSource().fetch(watch, fetcher, FetchState(cursor={"min_id": base["id"]}))
    assert clock.sleeps == [pytest.approx(30, abs=2)]  # the reset, not the 5 s backoff
    assert [i.fields["url"] for i in outcome.result.items] == [fresh["url"]]
    assert outcome.state.cursor == {"min_id": fresh["id"]}
