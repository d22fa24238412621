"""Every notification true (issue 3): partial records, cut pages and damaged copies never become news.

Absent is not empty: a registry record missing a field, a module or the whole status module keeps what was
known and announces nothing — and its restoration announces nothing either. A XenForo page or a feed cut
in the middle is a failed fetch (retried), never a thread with fewer posts or a phantom entry. A fuzzer
runs thousands of damaged copies of every sample kind through the parser and the diff against the
undamaged state.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from scrapers.ctgov.record import normalise_study
from scrapers.ctgov.record import parse as parse_ctgov
from scrapers.ctis.record import normalise_search_record
from scrapers.ctis.record import parse as parse_ctis
from scrapers.feed import parse as parse_feed
from scrapers.kinds import source_class
from scrapers.records import ParseError, ParseResult
from scrapers.xenforo.thread import parse_thread_page
from storage.diff import SPECS, diff_items
from tests.support.check_helpers import local_header

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
SEED = 20261126


def diff(kind: str, before: ParseResult, after: ParseResult):
    stored = {i.key: i.fields for i in before.items}
    return diff_items(SPECS[kind], stored, after, watch="w", source="s", now="2026-11-26T00:00:00Z",
                      baseline=False)


def saved(kind: str, before: ParseResult, after: ParseResult) -> ParseResult:
    """What the next check compares with: the stored copy after ``after`` was saved."""
    d = diff(kind, before, after)
    merged = {i.key: i for i in before.items}
    merged.update({i.key: i for i in d.upserts})
    return ParseResult(items=list(merged.values()))


# --------------------------------------------------------------------------- partial registry records


def _study() -> dict[str, Any]:
    return json.loads((FIXTURES / "ctgov" / "study_NCT09990001.json").read_text(encoding="utf-8"))


def _drop(doc: dict[str, Any], path: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    del node[last]
    return doc


@pytest.mark.parametrize("path", [
    "protocolSection.statusModule.overallStatus",           # one field
    "protocolSection.statusModule.startDateStruct",
    "protocolSection.designModule.enrollmentInfo",
    "hasResults",
    "protocolSection.contactsLocationsModule",              # one module
    "protocolSection.statusModule",                         # the whole status module
    "protocolSection.designModule",
])
def test_a_partial_ctgov_record_and_its_restoration_announce_nothing(path: str) -> None:
    whole = ParseResult(items=[normalise_study(_study())])
    partial = ParseResult(items=[normalise_study(_drop(_study(), path))])
    damaged = diff("trial", whole, partial)
    assert damaged.events == [] and damaged.history == []
    restored = diff("trial", saved("trial", whole, partial), whole)
    assert restored.events == [] and restored.history == []


def test_a_field_the_registry_really_changes_is_still_news() -> None:
    whole = ParseResult(items=[normalise_study(_study())])
    doc = _study()
    doc["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    events = diff("trial", whole, ParseResult(items=[normalise_study(doc)])).events
    assert [(e["kind"], e["new"]) for e in events] == [("status_changed", "COMPLETED")]


def test_unknown_results_are_null_not_no() -> None:
    item = normalise_study(_drop(_study(), "hasResults"))
    assert item.fields["results_posted"] is None and "results_posted" in item.unknown


def _ctis_search() -> dict[str, Any]:
    doc = json.loads((FIXTURES / "ctis" / "search_2024-512500-19-00.json").read_text(encoding="utf-8"))
    return doc["data"][0]


@pytest.mark.parametrize("key", ["ctStatus", "totalNumberEnrolled", "startDateEU", "trialCountries",
                                 "resultsFirstReceived", "eudraCtInfo"])
def test_a_partial_ctis_record_and_its_restoration_announce_nothing(key: str) -> None:
    rec = _ctis_search()
    assert key in rec, f"the fixture should have {key}"
    whole = ParseResult(items=[normalise_search_record(rec)])
    partial_rec = dict(rec)
    del partial_rec[key]
    partial = ParseResult(items=[normalise_search_record(partial_rec)])
    damaged = diff("trial", whole, partial)
    assert damaged.events == [] and damaged.history == []
    restored = diff("trial", saved("trial", whole, partial), whole)
    assert restored.events == [] and restored.history == []


# --------------------------------------------------------------------------- cut pages and feeds


def _cut_inside_the_posts(page: bytes) -> bytes:
    """The page cut in the middle of its post list (just after the second post starts)."""
    marker = b'data-content="post-' if b'data-content="post-' in page else b'id="post-'
    first = page.index(marker)
    return page[: page.index(marker, first + 1) + 10]


@pytest.mark.parametrize("name", ["xf2_thread_trial_page2of5.html", "xf1_thread_trial_page2of5.html"])
def test_a_thread_page_cut_inside_its_post_list_is_a_failed_fetch(name: str) -> None:
    page = (FIXTURES / "xenforo" / name).read_bytes()
    whole = parse_thread_page(page, "https://forum.example.org/threads/t.1/page-2")
    assert len(whole.items) > 1
    with pytest.raises(ParseError, match="cut off"):
        parse_thread_page(_cut_inside_the_posts(page), "https://forum.example.org/threads/t.1/page-2")


def test_a_feed_cut_inside_an_item_is_a_failed_fetch() -> None:
    from bot.demo.world.feeds import FORUM, Post, xenforo_rss

    feed = xenforo_rss(Post(1, "First", "<p>one</p>", "Tue, 03 Nov 2026 09:00:00 +0000", "Kari"),
                       Post(2, "Second", "<p>two</p>", "Wed, 04 Nov 2026 09:00:00 +0000", "Jo")).encode()
    whole = parse_feed(feed, f"{FORUM}/forums/-/index.rss")
    assert len(whole.items) == 2
    cut = feed[: feed.rindex(b"<item>") + 40]
    with pytest.raises(ParseError, match="cut off"):
        parse_feed(cut, f"{FORUM}/forums/-/index.rss")


# --------------------------------------------------------------------------- the fuzzer


def _damage_bytes(body: bytes, rng: random.Random) -> bytes:
    how = rng.random()
    if how < 0.5:
        return body[: rng.randrange(0, len(body))]                 # a cut download
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):                             # flipped bytes
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _damage_json(doc: Any, rng: random.Random) -> Any:
    """A structurally damaged copy: keys dropped, values emptied or of the wrong type, lists cut."""
    doc = copy.deepcopy(doc)
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                nodes.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                nodes.append((node, i))
                walk(v)

    walk(doc)
    for _ in range(rng.randint(1, 4)):
        if not nodes:
            break
        parent, key = rng.choice(nodes)
        try:
            if isinstance(parent, dict) and rng.random() < 0.6:
                parent.pop(key, None)
            else:
                parent[key] = rng.choice([None, "", [], {}, 0, "x", -1, True])
        except (IndexError, KeyError):
            continue
    return doc


def _check_damaged(kind: str, parse: Callable[[bytes], ParseResult], whole: ParseResult, body: bytes) -> str:
    try:
        result = parse(body)
    except ParseError:
        return "refused"
    # Nothing may be announced as changed to nothing.
    d = diff(kind, whole, result)
    for ev in d.events:
        if ev.get("field") is not None:
            assert ev.get("new") is not None, (kind, ev)
    return "accepted"


def _json_bodies() -> list[tuple[str, str, Callable[[bytes], ParseResult], bytes]]:
    found: list[tuple[str, str, Callable[[bytes], ParseResult], bytes]] = []
    for path in sorted((FIXTURES / "ctgov").glob("*.json")):
        found.append((path.name, "trial", parse_ctgov, path.read_bytes()))
    for path in sorted((FIXTURES / "ctis").glob("*.json")):
        if "empty" not in path.name:
            url = (f"https://euclinicaltrials.eu/ctis-public-api/retrieve/{path.stem.split('_')[1]}"
                   if path.name.startswith("retrieve") else None)
            found.append((path.name, "trial", lambda b, url=url: parse_ctis(b, url), path.read_bytes()))
    if SAMPLES.is_dir():
        for path in sorted((SAMPLES / "ctgov").glob("*.json")):
            found.append((path.name, "trial", parse_ctgov, path.read_bytes()))
        for sub, kind in (("europepmc", "europepmc"), ("pubmed", "pubmed")):
            source = source_class(kind)()
            for path in sorted((SAMPLES / sub).glob("*.json")):
                found.append((path.name, "publication", source.parse, path.read_bytes()))
    return found


def test_fuzz_registry_and_paper_documents() -> None:
    """About 3,000 damaged copies of every JSON sample kind: only parse errors, never "changed to nothing"."""
    rng = random.Random(SEED)
    outcomes = {"refused": 0, "accepted": 0}
    bodies = _json_bodies()
    assert len(bodies) >= 6  # the project's own fixtures; the shared samples add more when present
    for name, kind, parse, body in bodies:
        try:
            whole = parse(body)
        except ParseError:
            continue  # e.g. a PubMed esearch page on its own: not a document of items
        doc = json.loads(body)
        per = max(40, 3000 // len(bodies))
        for _ in range(per):
            damaged = (_damage_bytes(body, rng) if rng.random() < 0.3
                       else json.dumps(_damage_json(doc, rng)).encode())
            outcomes[_check_damaged(kind, parse, whole, damaged)] += 1
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0
    assert sum(outcomes.values()) >= 2500


def _pages() -> list[tuple[str, bytes]]:
    pages = [(p.name, p.read_bytes()) for p in sorted((FIXTURES / "xenforo").glob("xf*_thread_*.html"))]
    if SAMPLES.is_dir():
        pages += [(p.name, p.read_bytes()) for p in sorted((SAMPLES / "xenforo").glob("xf*_thread_*.html"))]
    return pages


def test_fuzz_cut_thread_pages_never_lose_a_post() -> None:
    """A thread page cut anywhere is refused, or (cut after the post list) read with every post."""
    rng = random.Random(SEED)
    for name, page in _pages():
        url = "https://forum.example.org/threads/t.1/"
        try:
            whole = parse_thread_page(page, url)
        except ParseError:
            continue  # an error page or a login wall: nothing to lose
        keys = [i.key for i in whole.items]
        for _ in range(25):
            cut = page[: rng.randrange(0, len(page))]
            try:
                result = parse_thread_page(cut, url)
            except ParseError:
                continue
            assert [i.key for i in result.items] == keys, name


def test_fuzz_cut_feeds_never_invent_an_entry() -> None:
    from bot.demo.world.feeds import FORUM, Post, atom, xenforo_rss

    rng = random.Random(SEED)
    feeds = [xenforo_rss(*(Post(n, f"Post {n}", f"<p>text {n}</p>", "Tue, 03 Nov 2026 09:00:00 +0000", "Kari")
                           for n in range(1, 6))).encode(),
             atom(*((f"urn:{n}", f"Entry {n}", f"https://e.org/{n}", f"<p>{n}</p>") for n in range(1, 6))).encode()]
    if SAMPLES.is_dir():
        feeds.append((SAMPLES / "xenforo" / "xf2_forum_rss_hypixel_news-and-announcements.xml").read_bytes())
    for feed in feeds:
        whole = parse_feed(feed, f"{FORUM}/feed")
        for _ in range(300):
            damaged = _damage_bytes(feed, rng)
            try:
                result = parse_feed(damaged, f"{FORUM}/feed")
            except ParseError:
                continue
            d = diff("entry", whole, result)
            invented = [e for e in d.events if e["kind"] == "new_entry"]
            assert invented == [] or not damaged.startswith(feed[: len(damaged)]), invented


@pytest.mark.parametrize("engine", ["xf2", "xf1"])
def test_a_cut_thread_page_fails_the_check_and_its_restoration_is_no_news(engine: str, tmp_path, capsys) -> None:
    """End to end: the cut page is a failed check that saves nothing; the whole page again is no event."""
    import textwrap

    from bot.cli import main
    from bot.demo.replay import Reply, ReplayServer
    from bot.demo.world.xenforo import World

    with ReplayServer() as server:
        world = World(server)
        thread = world.thread("A thread read while the network cuts pages", 30, engine=engine)
        world.publish()
        cfg = tmp_path / "trialwatch.toml"
        cfg.write_text(local_header(tmp_path) + textwrap.dedent(f"""
            [[watch]]
            id = "t"
            kind = "xenforo_thread"
            url = "{world.url(thread)}"
        """))
        assert main(["--config", str(cfg), "-q", "check"]) == 0  # baseline
        capsys.readouterr()
        last = thread.last_page
        whole = thread.render(last, world.root).encode()
        server.route("GET", thread.path(last), Reply(body=_cut_inside_the_posts(whole),
                                                     content_type="text/html; charset=utf-8"))
        assert main(["--config", str(cfg), "-q", "check", "--json"]) == 3
        assert capsys.readouterr().out == ""
        world.publish()  # the whole page again
        assert main(["--config", str(cfg), "-q", "check", "--json"]) == 0
        assert capsys.readouterr().out == ""
        import sqlite3

        con = sqlite3.connect(tmp_path / "tw.db")
        assert con.execute("SELECT count(*) FROM items WHERE watch_id = 't' AND present = 0").fetchone()[0] == 0
