"""Discourse answers with fields of the wrong JSON type (a list for a slug, "²" for a number, null for a
list): an optional field is ignored, a required one is a ParseError naming it, never a TypeError or ValueError
and never a wrong value shown to people. Table-driven over real-shaped answers (the stand-in's).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from bot.demo.replay import Reply
from scrapers.discourse.posts import parse
from scrapers.records import ParseError, ParseResult
from tests.support.check_helpers import module_server, run_check, server  # noqa: F401 (fixtures)
from tests.support.discourse_standin import DiscourseWorld, quote_of
from tests.test_discourse import config, watch

SITE = "https://forum.example.org/forum"
P0 = ("post_stream", "posts", 0)  # the topic's first post
P1 = ("post_stream", "posts", 1)  # a reply that answers and quotes the first post
T0 = ("topic_list", "topics", 0)


def documents() -> dict[str, tuple[dict[str, Any], str]]:
    """Real-shaped answers (the stand-in's), each with the URL it came from."""
    world = DiscourseWorld(None)
    topic = world.topic("ResetME: news from Haukeland", "Opening post with the slides.")
    first = topic.posts[0]
    world.reply(topic, "", reply_to=1, raw_cooked=quote_of(first, topic, "I agree.") +
                '<aside class="onebox" data-onebox-src="https://www.uib.no/resetme"><p>UiB</p></aside>')
    topic_doc = world.topic_body(topic)
    posts_doc = world.posts_body(topic, {p.id for p in topic.posts})
    latest = {"latest_posts": [{**p.data(topic), "topic_title": topic.title} for p in topic.posts]}
    return {"topic": (topic_doc, f"{world.site}/t/{topic.slug}/{topic.id}"),
            "posts": (posts_doc, f"{world.site}/t/{topic.id}/posts.json"),
            "list": (world.list_body(("research", 12)), f"{world.site}/c/research/12"),
            "latest": (latest, f"{world.site}/posts.json")}


# (answer, where in it, the right JSON type(s), None for an optional field or the words a ParseError must hold)
FIELDS: list[tuple[str, tuple[Any, ...], tuple[type, ...], str | None]] = [
    ("topic", P0 + ("id",), (int,), "numeric id"),
    *[("topic", P1 + (name,), (int,), None) for name in ("post_number", "topic_id", "version",
                                                          "reply_to_post_number", "post_type")],
    *[("topic", P1 + (name,), (str,), None) for name in ("topic_slug", "username", "created_at", "updated_at",
                                                          "cooked", "deleted_at")],
    *[("topic", P1 + (name,), (bool,), None) for name in ("user_deleted", "hidden")],
    ("topic", P1, (dict,), None),  # a post that is not an object is no post
    *[("posts", P0 + (name,), (str,), None) for name in ("topic_slug", "topic_title", "username")],
    ("posts", P0 + ("topic_id",), (int,), None),
    *[("topic", (name,), (int,), None) for name in ("id", "posts_count")],
    *[("topic", (name,), (str,), None) for name in ("title", "slug")],
    ("topic", ("post_stream",), (dict,), "post_stream"),
    ("topic", ("post_stream", "posts"), (list,), "post_stream"),
    ("topic", ("post_stream", "stream"), (list,), "post_stream.stream"),
    ("topic", ("post_stream", "stream", 0), (int,), "post_stream.stream"),
    ("list", ("topic_list",), (dict,), "topic_list"),
    ("list", ("topic_list", "topics"), (list,), "topic_list"),
    ("list", T0 + ("id",), (int,), None),
    *[("list", T0 + (name,), (str,), None) for name in ("slug", "title", "created_at")],
    ("list", T0 + ("pinned",), (bool,), None),
    ("list", ("topic_list", "more_topics_url"), (str,), None),
    ("latest", ("latest_posts",), (list,), "latest_posts"),
    ("latest", ("latest_posts", 0, "id"), (int,), "numeric id"),
    ("latest", ("latest_posts", 0, "topic_slug"), (str,), None),
]
WRONG: list[Any] = [None, True, False, 7_000_001, 4.75, "wrong-text", "²", "١٢", ["wrong-list"],
                    {"wrong": "object"}]
CASES = [(doc, path, right, required, value) for doc, path, right, required in FIELDS for value in WRONG
         if not (isinstance(value, right) and not (isinstance(value, bool) and bool not in right))]

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
POST_URL = re.compile(rf"^{re.escape(SITE)}/t/([a-z0-9-]+/)?[0-9]+/[0-9]+$")


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    *parents, last = path
    for step in parents:
        doc = doc[step]
    doc[last] = value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def assert_sane(result: ParseResult, wrong: Any) -> None:
    """Every item and topic row holds values of its own type, and nothing of the wrong value leaked into words."""
    for item in result.items:
        f = item.fields
        assert re.fullmatch(r"[0-9]+", item.key)
        assert f["author"] is None or isinstance(f["author"], str)
        assert all(v is None or ISO.match(v) for v in (f["published"], f["edited"]))
        assert all(v is None or POST_URL.match(v) for v in (f["url"], f.get("reply_to"))), f
        assert isinstance(f["text"], str) and isinstance(f.get("title", ""), str)
        assert all(isinstance(q, dict) and all(isinstance(q[k], int | None) for k in ("post_number", "topic_id"))
                   for q in f["quotes"])
        assert all(link.startswith(("http://", "https://")) for link in f["links"])
    for row in result.meta.get("topics", []):
        assert isinstance(row["id"], int) and isinstance(row["pinned"], bool)
        assert all(row[k] is None or isinstance(row[k], str) for k in ("slug", "title", "created_at"))
    if wrong is not None:
        shown = [s for item in result.items for s in _strings(item.fields)]
        shown += [s for row in result.meta.get("topics", []) for s in _strings(row)]
        for trace in {str(wrong), json.dumps(wrong, ensure_ascii=False)}:
            assert not any(trace in s for s in shown), (trace, shown)


@pytest.mark.parametrize("doc_name, path, right, required, wrong", CASES,
                         ids=[f"{d}:{'.'.join(map(str, p))}={json.dumps(v, ensure_ascii=False)}"
                              for d, p, _, _, v in CASES])
def test_a_field_of_the_wrong_type_is_ignored_or_a_parse_error_naming_it(doc_name, path, right, required,
                                                                         wrong) -> None:
    doc, url = copy.deepcopy(documents()[doc_name])
    _set(doc, path, wrong)
    try:
        result = parse(json.dumps(doc, ensure_ascii=False).encode(), url)
    except ParseError as exc:
        assert required is not None, f"an optional field of the wrong type failed the answer: {exc}"
        assert required in str(exc)
        return
    assert required is None or wrong is None, "a required field of the wrong type was read as if it were right"
    assert_sane(result, wrong)


def test_the_untouched_documents_parse_as_posts() -> None:
    """The table's baseline: each answer, unaltered, reads as posts (or topics), so a case can fail."""
    docs = documents()
    topic, url = docs["topic"]
    result = parse(json.dumps(topic).encode(), url)
    assert [i.fields["text"] for i in result.items] == ["Opening post with the slides.",
                                                       "I agree.\nhttps://www.uib.no/resetme"]
    assert result.items[1].fields["quotes"][0]["post_number"] == 1
    assert len(parse(json.dumps(docs["latest"][0]).encode(), docs["latest"][1]).items) == 2
    assert len(parse(json.dumps(docs["list"][0]).encode(), docs["list"][1]).meta["topics"]) == 1


def test_a_next_page_that_is_not_ascii_digits_is_not_asked_for(server, tmp_path, capsys) -> None:
    world = DiscourseWorld(server, page_size=2)
    world.topic("Old", "Old news.")
    world.publish()
    cfg = config(tmp_path, server, watch("d-research", url=f"{world.site}/c/research/12"))
    assert run_check(cfg, capsys) == (0, [])
    for i in range(3):
        world.topic(f"New {i}", "Unrelated.")
    world.publish()
    page = world.list_body(("research", 12))
    page["topic_list"]["more_topics_url"] = "/forum/c/research/12?order=created&page=²"
    world.failures = [Reply(body=page)]  # every topic on it is new, and it points at "page ²"
    assert run_check(cfg, capsys)[0] == 0
    assert [q.get("page") for p, q in ((r.path, r.query) for r in server.take_requests())
            if p == "/forum/c/research/12.json"] == [None, None]  # the baseline's list and this one: no page "²"
