"""The ``mastodon`` watch kind against answers it must not trust: every field of a status with a wrong JSON type
(a ParseError or a sane post, never a TypeError), and a status ``url`` that is no web address (never the link of
an event). Settings and request counts: ``tests/test_mastodon_checks.py``.

:func:`sane_post_problems` is shared with ``tests/test_bluesky_hostile.py``: what a post item may hold."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from scrapers.mastodon.status import parse_statuses
from scrapers.records import Item, ParseError
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401
from tests.support.mastodon_standin import FakeMastodon, fixture

TAG_URL = "https://mastodon.social/api/v1/timelines/tag/MECFS?limit=40"

#: one value of every JSON type, and a lone surrogate (``"\ud800"`` in the JSON: a string that is no text)
WRONG_VALUES: list[Any] = [5, True, None, "x", ["x"], {"x": 1}, "\ud800"]

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_WEB_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def sane_post_problems(item: Item) -> list[str]:
    """What is wrong with a post item, as the storage, the diff and Discord would meet it: a key and fields that
    are text (UTF-8, no lone surrogate), lists of text or None; web addresses where an address is; a language
    tag; the contract's timestamps. Empty when the item is sane."""
    problems: list[str] = []

    def text_ok(name: str, value: Any) -> None:
        if not isinstance(value, str):
            problems.append(f"{name} is a {type(value).__name__}: {value!r}")
            return
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{name} holds a lone surrogate: {value!r}")

    text_ok("key", item.key)
    if not item.key:
        problems.append("the key is empty")
    for name, value in item.fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            for n, element in enumerate(value):
                text_ok(f"{name}[{n}]", element)
        else:
            text_ok(name, value)
    for name in ("url", "reply_to", "quote_of"):
        value = item.fields.get(name)
        if value is not None and not (isinstance(value, str) and _WEB_URL.match(value)):
            problems.append(f"{name} is not a web address: {value!r}")
    for link in item.fields.get("links") or []:
        if not (isinstance(link, str) and _WEB_URL.match(link)):
            problems.append(f"a link is not a web address: {link!r}")
    lang = item.fields.get("lang")
    if lang is not None and not (isinstance(lang, str) and all(_LANG.match(part) for part in lang.split(","))):
        problems.append(f"lang is not a language tag: {lang!r}")
    for name in ("published", "edited"):
        value = item.fields.get(name)
        if value is not None and not (isinstance(value, str) and _ISO.match(value)):
            problems.append(f"{name} is not an ISO time: {value!r}")
    return problems


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document: each key of each object and each element of each array, depth first."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from json_paths(child, (*path, key))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(document)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def sweep(pages: list[Any], parse, url: str, skip=lambda path, value: False) -> tuple[int, list[str]]:
    """Each page with each place in it given each of :data:`WRONG_VALUES`: (cases tried, what went wrong)."""
    tried, failures = 0, []
    for page in pages:
        for path in json_paths(page):
            for value in WRONG_VALUES:
                if skip(path, value):
                    continue
                tried += 1
                body = json.dumps(replaced(page, path, value)).encode()  # "\ud800" goes out as the escape
                try:
                    result = parse(body, url)
                except ParseError:
                    continue
                except Exception as exc:  # noqa: BLE001 - the point: nothing but a ParseError may escape
                    failures.append(f"{path} = {value!r}: {type(exc).__name__}: {exc}")
                    continue
                failures += [f"{path} = {value!r}: {problem}" for item in result.items
                             for problem in sane_post_problems(item)]
    return tried, failures


# ------------------------------------------------------------------ parse (pure)


def test_every_field_of_a_status_given_a_wrong_type_is_a_parse_error_or_a_sane_post() -> None:
    """Each status of the real-format fixtures on a page of its own (a boost with the status it boosts), every
    key and element in it given a number, a boolean, null, a string, an array, an object and a lone surrogate."""
    statuses = [*fixture("tag_MECFS.json"), *fixture("account_statuses.json")]
    pages = [[status] for status in statuses]
    tried, failures = sweep(pages, parse_statuses, TAG_URL)
    assert tried > 3000  # every place of every status, not a sample
    assert failures == []


def rich_status() -> dict[str, Any]:
    """The fixture's reply to Kari (a remote account's status with a content warning, a mention and a card)."""
    return copy.deepcopy(next(s for s in fixture("tag_MECFS.json") if s.get("in_reply_to_id")))


@pytest.mark.parametrize("change, expected", [
    # the reviewer's crashes: a number where the API sends an array of mentions, an array where it sends a URL
    ({"mentions": 5}, {"reply_to": "https://mastodon.social/api/v1/statuses/113500000000000002"}),
    ({"mentions": ["x"]}, {"reply_to": "https://mastodon.social/api/v1/statuses/113500000000000002"}),
    ({"url": ["x"]}, {"url": "https://med-mastodon.com/users/tomresearch/statuses/114000000000000777"}),
    # a url that is no web address falls back to the uri; the reply's id and account of the wrong type
    ({"url": "javascript:alert(7)"}, {"url": "https://med-mastodon.com/users/tomresearch/statuses/114000000000000777"}),
    ({"url": 5}, {"url": "https://med-mastodon.com/users/tomresearch/statuses/114000000000000777"}),
    ({"url": "http://[::1/x"}, {"url": "https://med-mastodon.com/users/tomresearch/statuses/114000000000000777"}),
    ({"url": None, "uri": "tag:example.org,2026:objectId=1"}, {"url": None}),
    ({"in_reply_to_id": True}, {"reply_to": None}),
    ({"in_reply_to_id": {"id": 1}}, {"reply_to": None}),
    ({"language": ["en"]}, {"lang": None}),
    ({"language": "en\ud800"}, {"lang": None}),
    ({"card": {"url": "javascript:alert(7)"}}, {"links": ["https://www.helse-bergen.no/nyheter/resetme-daratumumab-status"]}),
    ({"quote": {"state": "accepted", "quoted_status": {"url": 5, "uri": ["x"]}}}, {"quote_of": None}),
    ({"quote": {"state": "accepted", "quoted_status_id": "../../admin"}}, {"quote_of": None}),
])
def test_a_field_of_the_wrong_type_is_read_as_absent(change: dict[str, Any], expected: dict[str, Any]) -> None:
    status = rich_status()
    status.update(change)
    result = parse_statuses(json.dumps([status]).encode(), TAG_URL)
    [item] = result.items
    assert sane_post_problems(item) == []
    assert {k: item.fields[k] for k in expected} == expected


def test_a_page_of_the_wrong_shape_is_a_parse_error_naming_what_arrived() -> None:
    for body, message in ((b"5", "JSON number where Mastodon sends an array"),
                          (b'{"error": 5}', "JSON object where Mastodon sends an array"),
                          (b'"statuses"', "JSON string where Mastodon sends an array")):
        with pytest.raises(ParseError, match=message):
            parse_statuses(body, TAG_URL)
    # a page of things that are not statuses is an empty page, counted, never a crash
    result = parse_statuses(b'[5, "x", null, [], {"uri": 5}]', TAG_URL)
    assert result.items == [] and result.meta["skipped"] == 5


# ------------------------------------------------------------------ check, against the stand-in


def tag_config(tmp_path, server) -> Any:
    return write_config(tmp_path, server, f"""
        [[watch]]
        id = "mastodon-mecfs"
        kind = "mastodon"
        url = "{server.url}"
        tag = "MECFS"
    """)


def test_a_status_url_that_is_no_web_address_never_reaches_an_event(server, tmp_path, capsys) -> None:
    """A ``javascript:`` address, a number and an array as ``url``: each post is announced at its ``uri``."""
    mastodon = FakeMastodon(server)
    mastodon.post("Baseline #MECFS")
    cfg = tag_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    hostile = [mastodon.post(f"Hostile url {n} #MECFS") for n in range(3)]
    for status, url in zip(hostile, ("javascript:alert(7)", 5, ["x"])):
        status["url"] = url
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["url"]) for e in events] == [("new_post", s["uri"]) for s in hostile]
    assert "new_post:5" not in {e["id"] for e in events}  # the number was the post's identity once
