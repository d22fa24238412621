"""``discourse`` watches end to end: ``trialwatch parse discourse`` on the real samples, and ``trialwatch check``
against a Discourse forum stand-in on the local replay server (``tests/support/discourse_standin.py``,
Discourse's real shapes, installed under ``/forum``), through sequences: the silent baseline, new posts across
the 20-post chunk boundary of ``posts.json``, quotes kept apart, small actions, an edited and a deleted post
(neither is news), a 429 that asks for too long a wait (a ``source_error``; nothing lost), figures in English
and Norwegian, and a category's new topics with keywords, paging and follow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import Reply
from bot.engine.config import ConfigError, config_from_dict
from scrapers.discourse.urls import discourse_target
from scrapers.records import UnsupportedWatch, WatchSpec
from storage.db import connect
from storage.repo import Repo
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401 (fixtures)
from tests.support.discourse_standin import DiscourseWorld, quote_of
from tests.test_reddit import RESETME, figures, history, present


def config(tmp_path: Path, server, watches: str, **kw) -> Path:
    return write_config(tmp_path, server, RESETME + watches, **kw)


def watch(wid: str, **keys) -> str:
    lines = [f'[[watch]]\nid = "{wid}"\nkind = "discourse"\ninterval = "30m"\nlabels = ["resetme"]']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def asked(server) -> list[tuple[str, dict]]:
    return [(r.path, r.query) for r in server.take_requests()]


# ------------------------------------------------------------------ parse: the real samples

SAMPLE_EXPECTATIONS = {
    # file: (post items, topics listed)
    "discourse_latest.json": (0, 1),  # three topics that all carry id 1 (test data): one topic
    "discourse_posts_before.json": (3, 0),
    "discourse_posts_latest.json": (4, 0),
    "discourse_topic.json": (4, 0),
    "discourse_topic_posts.json": (1, 0),
}


def test_parse_every_discourse_sample(samples_dir, capsys) -> None:
    files = sorted((samples_dir / "discourse").glob("*.json"))
    assert {f.name for f in files} == set(SAMPLE_EXPECTATIONS), "a new sample needs its expectations here"
    for path in files:
        assert main(["parse", "discourse", str(path), "--url", "https://try.discourse.org/latest"]) == 0
        record = json.loads(capsys.readouterr().out)
        assert (len(record["items"]), len(record.get("topics", []))) == SAMPLE_EXPECTATIONS[path.name], path.name
        for item in record["items"]:
            assert item["fields"]["url"].startswith("https://try.discourse.org/t/")
            assert item["fields"]["platform"] == "discourse" and "<" not in item["fields"]["text"]


def test_the_topic_sample_reads_as_posts(samples_dir, capsys) -> None:
    path = samples_dir / "discourse" / "discourse_topic.json"
    assert main(["parse", "discourse", str(path), "--url", "https://try.discourse.org/t/sandbox/57"]) == 0
    record = json.loads(capsys.readouterr().out)
    items = {i["key"]: i["fields"] for i in record["items"]}
    first = items["83"]
    assert (first["author"], first["published"], first["edited"], first["title"]) == (
        "samsaffron", "2013-02-04T20:26:26Z", "2013-04-30T18:33:37Z", "THIS SITE IS A SANDBOX -- it is reset every day")
    assert first["url"] == "https://try.discourse.org/t/this-site-is-a-sandbox-it-is-reset-every-day/57/1"
    assert first["text"].startswith("Welcome!\nTry is a sandbox") and "http://www.discourse.org" in first["links"]
    assert items["226"]["url"].endswith("/57/14") and "title" not in items["226"]  # post numbers keep their gaps
    assert record["stream"] == [83, 84, 86, 226] and record["thread"]["id"] == "57"


def test_addresses_name_a_topic_a_category_or_a_site() -> None:
    t = discourse_target("https://forum.example.org/t/resetme-update/123/4?u=kari")
    assert (t.site, t.kind, t.topic_id, t.slug) == ("https://forum.example.org", "topic", 123, "resetme-update")
    assert t.json_url() == "https://forum.example.org/t/resetme-update/123.json"
    assert discourse_target("https://example.org/forum/t/123/2").topic_id == 123
    c = discourse_target("https://example.org/forum/c/research/trials/12/l/latest")
    assert (c.site, c.kind, c.category) == ("https://example.org/forum", "category", "research/trials/12")
    assert discourse_target("https://forum.example.org/latest.json").kind == "latest"
    assert discourse_target("https://forum.example.org/").json_url() == "https://forum.example.org/latest.json"
    for bad in ("https://forum.example.org/c/research", "https://forum.example.org/u/kari/summary", "ftp://x/t/1"):
        with pytest.raises(UnsupportedWatch):
            discourse_target(bad)
    with pytest.raises(ConfigError, match="follow only applies to a category"):
        config_from_dict({"watch": [{"id": "d", "kind": "discourse", "url": "https://f.example/t/x/1",
                                     "follow": True}]})


# ------------------------------------------------------------------ a topic, through check --json


def test_a_topic_through_a_sequence(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server)
    topic = world.topic("ResetME: news from the 2026 conference", "Opening post with the slides.")
    for i in range(44):
        world.reply(topic, f"Reply {i}")
    world.publish()
    cfg = config(tmp_path, server, watch("d-topic", url=f"{world.site}/t/{topic.slug}/{topic.id}"))

    # The silent baseline: the topic (first 20 posts and every id) and its last 20 posts.
    assert run_check(cfg, capsys) == (0, [])
    ids = [p.id for p in topic.posts]
    assert asked(server) == [(f"/forum/t/{topic.slug}/{topic.id}.json", {}),
                             (f"/forum/t/{topic.id}/posts.json", {"post_ids[]": [str(i) for i in ids[-20:]]})]

    # Three new posts, one quoting another: one posts.json request for their ids; quotes are kept apart.
    quoted = topic.posts[3]
    new = [world.reply(topic, "First new reply."),
           world.reply(topic, "", raw_cooked=quote_of(quoted, topic, "I agree with this."), reply_to=quoted.number),
           world.reply(topic, "Closed", post_type=3)]  # a small action: not a post
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"], e["title"]) for e in events] == [
        ("new_post", str(p.id), topic.title) for p in new[:2]]
    quoting = events[1]["detail"]
    assert quoting["text"] == "I agree with this." and quoting["quotes"] == [{
        "author": quoted.author, "post_number": quoted.number, "topic_id": topic.id,
        "url": f"{world.site}/t/{topic.id}/{quoted.number}"}]
    assert quoting["reply_to"] == f"{world.site}/t/{topic.slug}/{topic.id}/{quoted.number}"
    assert events[1]["url"] == f"{world.site}/t/{topic.slug}/{topic.id}/{new[1].number}"
    assert (quoting["platform"], quoting["community"], quoting["thread_title"]) == ("discourse", "127.0.0.1",
                                                                                    topic.title)
    assert asked(server)[1] == (f"/forum/t/{topic.id}/posts.json", {"post_ids[]": [str(p.id) for p in new]})

    # Twenty-five new posts: across the chunk boundary, 20 + 5 ids.
    burst = [world.reply(topic, f"Burst {i}") for i in range(25)]
    world.publish()
    code, events = run_check(cfg, capsys)
    assert sorted(e["subject"] for e in events) == sorted(str(p.id) for p in burst)
    assert [len(q["post_ids[]"]) for _, q in asked(server)[1:]] == [20, 5]

    # Quiet: one request.
    assert run_check(cfg, capsys) == (0, [])
    assert len(asked(server)) == 1

    # An edit (version 2), a deletion and a post its author deleted: none is news.
    edited, removed, withdrawn = topic.posts[1], topic.posts[2], topic.posts[5]
    world.edit(edited, "Reply 0, corrected.")
    removed.deleted = True
    withdrawn.user_deleted = True
    world.publish()
    assert run_check(cfg, capsys) == (0, [])
    states = present(tmp_path, "d-topic")
    assert (states[str(removed.id)], states[str(withdrawn.id)], states[str(edited.id)]) == (0, 0, 1)
    assert sorted(history(tmp_path, str(edited.id))) == ["edited", "text"]

    # Figures, and a 429 asking for a longer wait than we give: a source_error, and nothing is lost.
    world.failures = [Reply(429, {"errors": ["You've performed this action too many times. Please wait 600 seconds "
                                             "before trying again."], "error_type": "rate_limit",
                                  "extras": {"wait_seconds": 600, "time_left": "10 minutes"}},
                            headers={"Retry-After": "600"})]
    figure_post = world.reply(topic, "Haukeland: 45 of 66 enrolled in ResetME.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 3 and [e["kind"] for e in events] == ["source_error"]
    assert "asked us to wait 600 s" in events[0]["detail"]["error"]
    code, events = run_check(cfg, capsys)
    assert sorted(e["kind"] for e in events) == ["enrollment_reported", "new_post", "source_recovered"]
    assert figures(events) == [(45, 66, "en", "resetme")]
    assert next(e for e in events if e["kind"] == "new_post")["subject"] == str(figure_post.id)


@pytest.mark.parametrize("text, lang", [
    ("Update: 45 of 66 enrolled in ResetME.", "en"),
    ("Oppdatering: 45 av 66 planlagte pasienter er nå inkludert i ResetME.", "nb"),
])
def test_figures_in_a_new_post_in_any_language(server, tmp_path, capsys, text, lang) -> None:
    world = DiscourseWorld(server)
    topic = world.topic("ResetME", "Thread for news.")
    world.publish()
    cfg = config(tmp_path, server, watch("d-topic", url=f"{world.site}/t/{topic.slug}/{topic.id}"))
    assert run_check(cfg, capsys) == (0, [])
    world.reply(topic, text)
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0 and figures(events) == [(45, 66, lang, "resetme")]


def test_a_rate_limit_answer_within_reason_is_waited_for(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server)
    topic = world.topic("ResetME", "Thread for news.")
    world.publish()
    cfg = config(tmp_path, server, watch("d-topic", url=f"{world.site}/t/{topic.id}"))
    assert run_check(cfg, capsys) == (0, [])
    assert [p for p, _ in asked(server)] == [f"/forum/t/{topic.id}.json"]  # a short topic: its first chunk is all
    world.failures = [Reply(429, {"errors": ["slow down"], "error_type": "rate_limit"}, headers={"Retry-After": "0"})]
    world.reply(topic, "A new post.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0 and [e["kind"] for e in events] == ["new_post"]
    assert [p for p, _ in asked(server)] == [f"/forum/t/{topic.id}.json"] * 2  # the 429, then the answer


# ------------------------------------------------------------------ a category


def test_a_category_new_topics_with_keywords_paging_and_follow(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server, page_size=3)
    old = world.topic("Daratumumab in Bergen (2024)", "Old news about daratumumab.")
    for i in range(3):
        world.topic(f"Pacing {i}", "Nothing to do with trials.")
    world.publish()
    cfg = config(tmp_path, server, watch("d-research", url=f"{world.site}/c/research/12", keywords=["daratumumab"],
                                         follow=True))
    assert run_check(cfg, capsys) == (0, [])  # the baseline: where the list stands, nothing read
    assert asked(server) == [("/forum/c/research/12.json", {"order": ["created"]})]

    # Four new topics (more than a page of three): the list is read on; each new topic's first post is read; only
    # the one mentioning daratumumab (in its text, not its title) is news, and it is followed. An old topic bumped
    # by a reply is not new.
    world.reply(old, "Bump: any news?")
    plain = [world.topic(f"Sleep {i}", "Unrelated.") for i in range(2)]
    hit = world.topic("Conference notes", "The daratumumab trial reported 45 of 66 enrolled.")
    last = world.topic("Sleep 3", "Unrelated.")
    world.publish()
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"], e["title"]) for e in events if e["kind"] == "new_post"] == [
        ("new_post", str(hit.posts[0].id), "Conference notes")]
    assert figures(events) == [(45, 66, "en", "resetme")]
    paths = [p for p, _ in asked(server)]
    assert paths[:2] == ["/forum/c/research/12.json"] * 2
    assert paths[2:] == [f"/forum/t/{t.slug}/{t.id}.json" for t in (*plain, hit, last)]
    followed = Repo(connect(tmp_path / "tw.db")).get_watch(f"d-research-t{hit.id}")
    assert followed.kind == "discourse" and followed.keys == {"url": f"{world.site}/t/{hit.slug}/{hit.id}"}

    # The followed topic starts with its own silent baseline.
    world.reply(hit, "Great news.")
    world.publish()
    assert run_check(cfg, capsys, f"d-research-t{hit.id}") == (0, [])
    assert [p for p, _ in asked(server)] == [f"/forum/t/{hit.slug}/{hit.id}.json"]

    # Quiet: the list alone.
    assert run_check(cfg, capsys, "d-research") == (0, [])
    assert len(asked(server)) == 1


def test_a_site_address_added_from_discord_may_not_reach_a_private_address(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server)
    world.topic("ResetME", "News.")
    world.publish()
    cfg = config(tmp_path, server, "")
    Repo(connect(tmp_path / "tw.db")).upsert_watch(
        WatchSpec("d-from-discord", "discourse", {"url": f"{world.site}/latest"}), origin="discord")
    assert main(["--config", str(cfg), "check", "d-from-discord", "--explain"]) == 3
    assert "refused to fetch" in capsys.readouterr().out
    assert server.take_requests() == []


def test_a_page_that_is_not_discourse_json_fails_the_check_and_deletes_nothing(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server)
    topic = world.topic("ResetME", "News.")
    world.reply(topic, "A reply.")
    world.publish()
    cfg = config(tmp_path, server, watch("d-topic", url=f"{world.site}/t/{topic.id}"))
    assert run_check(cfg, capsys) == (0, [])
    world.failures = [Reply(200, {"errors": ["The requested URL or resource could not be found."],
                                  "error_type": "not_found"})]
    code, events = run_check(cfg, capsys)
    assert code == 3 and [e["kind"] for e in events] == ["source_error"]
    assert "expected a Discourse topic" in events[0]["detail"]["error"]
    assert set(present(tmp_path, "d-topic").values()) == {1}
