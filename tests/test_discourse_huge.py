"""A huge Discourse answer is read in linear time and contributes at most what the README promises.

A reviewer's ``/t/resetme/77.json`` listing 40,000 entries (858 kB) in ``post_stream.posts`` took 6.5 s of the
event loop (a list searched for each id: quadratic), past ``watch_deadline_s``, and its baseline stored all
40,000 entries. A topic answer holds at most 20 posts (Discourse's ``chunk_size``) and a posts.json answer the
ids asked for; the rest is not read, and a large answer is read in a worker thread. Checked by counting what
is read and where it runs, never by timing.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import scrapers.discourse.posts as posts_module
import scrapers.discourse.source as source_module
from bot.demo.replay import Reply
from scrapers.discourse.posts import parse, read_posts
from scrapers.discourse.source import CHUNK
from tests.support.check_helpers import module_server, run_check, server  # noqa: F401 (fixtures)
from tests.support.discourse_standin import DiscourseWorld
from tests.test_discourse import config, watch
from tests.test_reddit import present

EXTRA = 40_000  # the reviewer's answer: 40,000 entries (858 kB)


def count_renders(monkeypatch) -> list[int]:
    """Each post's cooked HTML rendered while parsing (one entry per post read)."""
    rendered: list[int] = []
    real = posts_module.render_cooked

    def counting(cooked: Any, site: str = "") -> Any:
        rendered.append(1)
        return real(cooked, site)

    monkeypatch.setattr(posts_module, "render_cooked", counting)
    return rendered


def test_a_topic_answer_of_40000_posts_reads_its_first_chunk_only(monkeypatch) -> None:
    rendered = count_renders(monkeypatch)
    doc = {"id": 77, "title": "ResetME", "slug": "resetme",
           "post_stream": {"posts": [{"id": i, "post_number": i, "cooked": f"<p>Post {i}</p>"}
                                     for i in range(1, EXTRA + 1)],
                           "stream": list(range(1, EXTRA + 1))}}
    read = read_posts(doc, "https://f.example")
    assert [i.key for i in read.items] == [str(i) for i in range(1, CHUNK + 1)]
    assert len(rendered) == CHUNK  # the other 39,980 entries were never read as posts
    assert len(read.stream or []) == EXTRA  # the stream (every id) is still whole: it says what is new
    result = parse(json.dumps(doc).encode(), "https://f.example/t/resetme/77")
    assert len(result.items) == CHUNK


def test_a_posts_answer_contributes_only_the_posts_asked_for(monkeypatch) -> None:
    rendered = count_renders(monkeypatch)
    entries = [{"id": i, "post_number": i, "cooked": f"<p>Post {i}</p>"} for i in range(1, EXTRA + 1)]
    doc = {"post_stream": {"posts": [*entries, entries[-1]]}, "id": 77}  # the last one twice, too
    read = read_posts(doc, "https://f.example", {"id": 77, "slug": "resetme"}, asked=[EXTRA - 1, EXTRA])
    assert [i.key for i in read.items] == [str(EXTRA - 1), str(EXTRA)]
    assert len(rendered) == 2


def test_a_huge_topic_answer_gives_the_promised_baseline_off_the_event_loop(server, tmp_path, capsys,
                                                                            monkeypatch) -> None:
    world = DiscourseWorld(server)
    topic = world.topic("ResetME: news from the 2026 conference", "Opening post.")
    for i in range(44):
        world.reply(topic, f"Reply {i}")
    world.publish()
    huge = world.topic_body(topic)
    huge["post_stream"]["posts"] += [{"id": 1_000_000 + i} for i in range(EXTRA)]
    world.failures = [Reply(body=huge)]  # the next answer (the topic's) is the huge one
    where: list[tuple[int, int]] = []  # (entries in the answer, thread that read it)
    real = source_module.read_posts

    def spying(doc: Any, *args: Any, **kwargs: Any) -> Any:
        where.append((len(doc["post_stream"]["posts"]), threading.get_ident()))
        return real(doc, *args, **kwargs)

    monkeypatch.setattr(source_module, "read_posts", spying)
    cfg = config(tmp_path, server, watch("d-topic", url=f"{world.site}/t/{topic.slug}/{topic.id}"))

    assert run_check(cfg, capsys) == (0, [])
    ids = [p.id for p in topic.posts]
    assert sorted(present(tmp_path, "d-topic"), key=int) == [str(i) for i in ids[:CHUNK] + ids[-CHUNK:]]
    loop_thread = threading.get_ident()  # ``trialwatch check`` runs its event loop in this thread
    assert [n for n, _ in where] == [CHUNK + EXTRA, CHUNK]
    assert where[0][1] != loop_thread  # the 858 kB answer was decoded and read in a worker thread

    # A posts.json answer padded with 40,000 posts nobody asked for: only the new posts asked for are news.
    new = [world.reply(topic, "First new reply."), world.reply(topic, "Second new reply.")]
    world.publish()
    padded = world.posts_body(topic, {p.id for p in new})
    padded["post_stream"]["posts"] += [{"id": 2_000_000 + i, "post_number": 100 + i, "username": "mallory",
                                        "cooked": "<p>45 of 66 enrolled (not asked for)</p>"} for i in range(EXTRA)]
    world.failures = [Reply(body=world.topic_body(topic)), Reply(body=padded)]
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"]) for e in events] == [("new_post", str(p.id)) for p in new]
