"""Text signals at the command line and in the pipeline: ``trialwatch signals``, declared trials with
starting figures, and ``enrollment_reported`` events from feed entries, abstracts and forum posts."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.config import ConfigError, config_from_dict, load_config
from bot.demo.replay import Reply, ReplayServer
from scrapers.records import FetchState, Item, ParseResult, WatchSpec
from storage.db import connect
from storage.diff import SPECS, diff_items
from storage.repo import Repo
from storage.reported import (DeclaredTrial, fits_trial, is_news, merge_signals, note_reported_enrollment,
                             reported_enrollment, trial_for_labels)
from scrapers.signals import find_signals
from tests.support.check_helpers import module_server, run_check, server, stored_events, write_config  # noqa: F401 (fixtures)
from bot.demo.world.ctgov import study
from bot.demo.world.feeds import FORUM, Post, xenforo_rss
from bot.demo.world.papers import epmc_page, epmc_record

CONFERENCE = ("At the 2026 conference update, 38 of the 66 patients had reportedly been enrolled, "
              "with 17 completing the initial 8-week follow-up.")
NEWER = "45 of the 66 patients have now been enrolled."
RESETME = DeclaredTrial("resetme", ("resetme",), acronym="ResetME", enrolled=38, target=66, completed=17)


# --- trialwatch signals FILE|- -------------------------------------------------------------------


def _signals(capsys, *args: str) -> tuple[int, object]:
    code = main(["signals", *args])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else None)


def _enrollment(evidence: str, enrolled=None, target=None, completed=None) -> dict:
    return {"kind": "enrollment", "enrolled": enrolled, "target": target, "completed": completed, "lang": "en",
            "evidence": evidence}


def test_signals_on_each_seed_document(seeds_dir: Path, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in defaults, no trialwatch.toml
    (s000,) = seeds_dir.glob("000_*.txt")
    (s001,) = seeds_dir.glob("001_*.txt")
    (s004,) = seeds_dir.glob("004_*.txt")
    # 000, the conference update: the design's target, then the 2026 figures; nothing from "8-week",
    # "2026", "125 x 10^6/L" or the dose.
    assert _signals(capsys, str(s000)) == (0, [
        _enrollment("The study is a double-blind, placebo-controlled trial involving a target of 66 participants "
                    "with moderate to severe ME/CFS (CCC criteria).", target=66),
        _enrollment(CONFERENCE, enrolled=38, target=66, completed=17),
    ])
    # 001, the pilot paper (mojibake and all): its ten patients; not the 6 responders, scores or the DOI.
    assert _signals(capsys, str(s001)) == (0, [
        _enrollment("This was a prospective, open-label pilot trial involving ten female patients with moderate "
                    "to severe ME/CFS.", enrolled=10),
    ])
    # 004, the forum page: the pilot's lay summary (a plan) and its EU CT number, once despite the quotes.
    assert _signals(capsys, str(s004)) == (0, [
        _enrollment("The study will involve ten patients who will receive the medication over a period of time.",
                    target=10),
        {"kind": "trial_id", "registry": "ctis", "id": "2024-512500-19-00"},
    ])


def test_signals_from_stdin_and_an_empty_array(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
        "Update: 45/66 patients randomised. Results have been published! See NCT01234567.".encode())))
    assert _signals(capsys, "-") == (0, [
        _enrollment("Update: 45/66 patients randomised.", enrolled=45, target=66),
        {"kind": "results", "lang": "en", "evidence": "Results have been published!"},
        {"kind": "trial_id", "registry": "ctgov", "id": "NCT01234567"},
    ])
    empty = tmp_path / "empty.txt"
    empty.write_text("The 16 mg/kg dose was given over 8 weeks in 2026.", encoding="utf-8")
    assert _signals(capsys, str(empty)) == (0, [])


def test_signals_on_a_missing_file_is_a_usage_error(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["signals", str(tmp_path / "nope.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


# --- the pure parts ------------------------------------------------------------------------------


def test_merge_takes_the_largest_figures_and_the_sentence_of_the_enrolled_one() -> None:
    signals = find_signals("The trial has a target of 66 participants. " + CONFERENCE + " " + NEWER)
    assert merge_signals(signals) == {"enrolled": 45, "target": 66, "completed": 17, "recruitment_complete": False,
                                      "evidence": NEWER, "lang": "en"}
    assert merge_signals(find_signals("No figures here, only NCT01234567.")) is None
    assert merge_signals(find_signals("Recruitment is complete.")) == {
        "enrolled": None, "target": None, "completed": None, "recruitment_complete": True,
        "evidence": "Recruitment is complete.", "lang": "en"}


@pytest.mark.parametrize("reported, known, news", [
    ({"enrolled": 38, "target": 66, "completed": 17}, {"enrolled": 38, "target": 66, "completed": 17}, False),
    ({"enrolled": 45, "target": 66, "completed": None}, {"enrolled": 38, "target": 66, "completed": 17}, True),
    ({"enrolled": 30, "target": 66, "completed": None}, {"enrolled": 38, "target": 66, "completed": 17}, False),
    ({"enrolled": None, "target": None, "completed": 20}, {"enrolled": 38, "target": 66, "completed": 17}, True),
    ({"enrolled": None, "target": 70, "completed": None}, {"enrolled": 38, "target": 66, "completed": 17}, True),
    ({"enrolled": None, "target": 66, "completed": None}, None, True),
    ({"enrolled": None, "target": None, "completed": None, "recruitment_complete": True},
     {"enrolled": 66, "target": 66, "completed": 40}, True),
])
def test_what_is_news(reported, known, news) -> None:
    assert is_news(reported, known) is news


def test_a_label_tie_must_fit_the_trial() -> None:
    known = {"enrolled": 38, "target": 66, "completed": 17}
    assert fits_trial({"enrolled": 45, "target": 66, "completed": None}, known)
    assert not fits_trial({"enrolled": 20, "target": 100, "completed": None}, known)  # another trial's target
    assert not fits_trial({"enrolled": 151, "target": None, "completed": None}, known)  # above the target
    assert fits_trial({"enrolled": 151, "target": None, "completed": None}, None)


def test_labels_name_a_declared_trial_first_then_the_largest_pinned_one() -> None:
    pinned = [(["resetme", "pilot"], "2024-512500-19-00", 10), (["resetme"], "NCT09990001", 66),
              (["other"], "NCT09990002", 500)]
    assert trial_for_labels(["resetme"], [RESETME], pinned) == "resetme"
    assert trial_for_labels(["resetme"], [], pinned) == "NCT09990001"
    assert trial_for_labels(["pilot", "resetme"], [], pinned) == "2024-512500-19-00"
    assert trial_for_labels(["forum"], [RESETME], pinned) is None


def _entry(key: str, text: str) -> Item:
    return Item(key, {"title": "Forum news", "url": f"{FORUM}/threads/{key}/", "summary": text})


def test_reported_enrollment_ties_by_id_else_by_label() -> None:
    ids = {"NCT09990001": "NCT09990001", "2024-512500-19-00": "2024-512500-19-00"}
    known = {"resetme": {"enrolled": 38, "target": 66, "completed": 17}, "NCT09990001": {"target": 66},
             "2024-512500-19-00": {"target": 10}}
    items = [
        _entry("1", NEWER),                                                 # label → resetme: news
        _entry("2", "In NCT09990001, 50 of the 66 patients were enrolled."),  # id → NCT09990001: news
        _entry("3", "NCT09998888 has enrolled 50 of 66 patients."),       # an unknown id: tied to nothing
        _entry("4", "Pilot 2024-512500-19-00 vs NCT09990001: 8 of 10 enrolled."),  # two known trials: ambiguous
        _entry("5", "Quoting: " + NEWER),                                   # same figures again: not news
        _entry("6", "The rituximab trial enrolled 151 patients."),          # label tie that does not fit
    ]
    events = reported_enrollment(items, item_kind="entry", watch="w", source="feed", now="2026-11-05T10:00:00Z",
                                 key_for_id=ids.get, label_trial="resetme", known=known.get,
                                 trial_name={"resetme": "ResetME"}.get)
    # The contract's `old` is null for a report; what was known before is in detail.previous.
    assert all(e["old"] is None for e in events)
    assert [(e["subject"], e["trial"], e["detail"].get("previous"), e["new"], e["detail"]["tied_by"]) for e in events] == [
        ("1", "resetme", {"enrolled": 38, "target": 66, "completed": 17}, {"enrolled": 45, "target": 66, "completed": None},
         "label"),
        ("2", "NCT09990001", {"enrolled": None, "target": 66, "completed": None},
         {"enrolled": 50, "target": 66, "completed": None}, "trial_id"),
    ]
    assert events[0]["title"] == "ResetME" and events[1]["title"] == "Forum news"
    assert events[0]["detail"]["evidence"] == NEWER and events[0]["detail"]["source_url"] == f"{FORUM}/threads/1/"
    # The id is the trial and the figures, so two watches reporting the same figures make one event.
    again = reported_enrollment([_entry("9", NEWER)], item_kind="entry", watch="other", source="feed",
                                now="2026-11-06T00:00:00Z", key_for_id=ids.get, label_trial="resetme",
                                known=known.get)
    assert again[0]["id"] == events[0]["id"]


# --- [[trial]] in the config ---------------------------------------------------------------------


def test_the_seed_watchlist_declares_resetme_with_its_starting_figures(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    (resetme,) = cfg.trials
    assert (resetme.key, resetme.labels, resetme.figures()) == (
        "resetme", ("resetme",), {"enrolled": 38, "target": 66, "completed": 17})
    kinds = {w.id: (w.kind, w.keys) for w in cfg.watches}
    assert kinds["europepmc-pilot-ids"] == ("europepmc", {"query": '"2022-000281-18" OR "2024-512500-19-00"'})
    assert kinds["pubmed-daratumumab-mecfs"][0] == "pubmed"


@pytest.mark.parametrize("trial, message", [
    ({"key": "NCT09990001"}, ".key: a lowercase name"),
    ({"key": "x", "enrolled": "38"}, ".enrolled: expected int"),
    ({"key": "x", "target": -1}, ".target: must not be negative"),
    ({"key": "x", "labels": []}, ".labels: must be a non-empty list"),
    ({"key": "x", "colour": "red"}, "unknown key 'colour'"),
])
def test_declared_trial_errors_name_the_key(trial, message) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trial": [trial]}, source="tw.toml")
    assert "tw.toml [[trial]] #1" in str(info.value) and message in str(info.value)


def test_two_trials_cannot_share_a_label() -> None:
    with pytest.raises(ConfigError, match="label 'resetme' already names trial 'a'"):
        config_from_dict({"trial": [{"key": "a", "labels": ["resetme"]}, {"key": "b", "labels": ["resetme"]}]})


# --- end to end ----------------------------------------------------------------------------------


DECLARED = """
    [[trial]]
    key = "resetme"
    labels = ["resetme"]
    acronym = "ResetME"
    title = "ResetME: daratumumab vs placebo in ME/CFS"
    enrolled = 38
    target = 66
    completed = 17
    as_of = "2026"
    evidence = "ME/CFS Research Foundation Conference 2026"
"""


def _feed_watch(server: ReplayServer) -> str:
    return f"""
        [[watch]]
        id = "forum-news"
        kind = "feed"
        url = "{server.url}/forums/resetme.9/index.rss"
        labels = ["resetme"]
    """


def _serve_feed(server: ReplayServer, *posts: Post) -> None:
    server.route("GET", "/forums/resetme.9/index.rss", Reply(body=xenforo_rss(*reversed(posts)),
                                                             content_type="application/rss+xml"))


def _history(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "tw.db") as conn:
        return conn.execute("SELECT watch_id, item_key, trial, new FROM field_history "
                            "WHERE field = 'reported_enrollment' ORDER BY id").fetchall()


def test_feed_entry_with_newer_figures_for_a_labelled_watch(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, DECLARED + _feed_watch(server))
    first = Post(101, "ResetME conference summary", CONFERENCE)
    _serve_feed(server, first)
    assert run_check(cfg, capsys) == (0, [])  # baseline: silent, even though the entry has figures
    assert _history(tmp_path) == [("config", "resetme", "resetme",
                                   '{"completed":17,"enrolled":38,"target":66}')]  # the starting figures

    second = Post(102, "Recruitment update from Bergen", f"Good news today. {NEWER}", author="Trish")
    _serve_feed(server, first, second)
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [e["kind"] for e in events] == ["new_entry", "enrollment_reported"]
    reported = events[1]
    assert reported["id"].startswith("enrollment_reported:resetme:enrollment:")
    assert {k: v for k, v in reported.items() if k not in ("id", "at")} == {
        "kind": "enrollment_reported", "watch": "forum-news", "source": "feed", "subject": "102",
        "trial": "resetme", "title": "ResetME", "url": f"{FORUM}/threads/thread.102/", "field": "enrollment",
        "old": None, "new": {"enrolled": 45, "target": 66, "completed": None},
        "detail": {"evidence": NEWER, "lang": "en", "source_url": f"{FORUM}/threads/thread.102/", "tied_by": "label",
                   "previous": {"enrolled": 38, "target": 66, "completed": 17}, "trial_ids": ["resetme"]}}

    # The seed's own figures again (a new entry quoting the conference): a new entry, no enrollment news.
    third = Post(103, "Recap", CONFERENCE)
    _serve_feed(server, first, second, third)
    code, events = run_check(cfg, capsys)
    assert [e["kind"] for e in events] == ["new_entry"]

    # A re-run: nothing. A later entry repeating 45/66, and one about another trial: no enrollment news.
    assert run_check(cfg, capsys) == (0, [])
    fourth = Post(104, "Still", f"As reported, {NEWER}")
    fifth = Post(105, "Elsewhere", "The Norwegian rituximab trial enrolled 151 patients.")
    _serve_feed(server, first, second, third, fourth, fifth)
    code, events = run_check(cfg, capsys)
    assert [e["kind"] for e in events] == ["new_entry", "new_entry"]
    assert [row[:3] for row in _history(tmp_path)] == [("config", "resetme", "resetme"),
                                                       ("forum-news", "102", "resetme")]
    assert json.loads(_history(tmp_path)[-1][3]) == {"enrolled": 45, "target": 66, "completed": 17,
                                                     "recruitment_complete": False}
    assert [e["kind"] for e in stored_events(cfg, capsys)].count("enrollment_reported") == 1
    # The declared trial is a known trial.
    with sqlite3.connect(tmp_path / "tw.db") as conn:
        assert conn.execute("SELECT acronym FROM trials WHERE key = 'resetme'").fetchone() == ("ResetME",)


def test_dry_run_shows_the_report_and_saves_nothing(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, DECLARED + _feed_watch(server))
    first = Post(101, "Hello", "Welcome.")
    _serve_feed(server, first)
    assert run_check(cfg, capsys) == (0, [])
    _serve_feed(server, first, Post(102, "Update", NEWER))
    code, events = run_check(cfg, capsys, "--dry-run")
    assert [e["kind"] for e in events] == ["new_entry", "enrollment_reported"]
    code, events = run_check(cfg, capsys)
    assert [e["kind"] for e in events] == ["new_entry", "enrollment_reported"]


def test_abstract_tied_to_a_registry_trial_by_its_id(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, """
        [[watch]]
        id = "resetme-ctgov"
        kind = "ctgov"
        trial = "NCT09990001"

        [[watch]]
        id = "papers"
        kind = "europepmc"
        query = '"daratumumab" AND "ME/CFS"'
    """)
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001")))  # 66 ESTIMATED
    old = epmc_record("49990001", title="Plasma cells in ME/CFS.")
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(old)))
    assert run_check(cfg, capsys) == (0, [])

    interim = epmc_record("49990002", title="Daratumumab in ME/CFS: interim report.", doi="10.9999/TW.2026.0002",
                          abstract="<h4>Background</h4>A randomised trial (NCT09990001) of daratumumab."
                                   "<h4>Results</h4>We have now enrolled 50 of the planned 66 participants.")
    unknown = epmc_record("49990003", title="Another trial.", abstract="NCT09998888 has enrolled 50 of 66 patients.")
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(interim, unknown, old)))
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"]) for e in events] == [
        ("new_publication", "PMID:49990002"), ("new_publication", "PMID:49990003"),
        ("enrollment_reported", "MED:49990002")]
    reported = events[2]
    assert (reported["trial"], reported["title"], reported["old"], reported["new"]) == (
        "NCT09990001", "RESETME", None, {"enrolled": 50, "target": 66, "completed": None})
    assert reported["detail"] == {"evidence": "We have now enrolled 50 of the planned 66 participants.", "lang": "en",
                                  "source_url": "https://europepmc.org/article/MED/49990002", "tied_by": "trial_id",
                                  "previous": {"enrolled": None, "target": 66, "completed": None},
                                  "trial_ids": ["NCT09990001"]}


def test_forum_posts_new_figures_once_and_never_from_an_edit(tmp_path) -> None:
    """The hook on ``post`` items (what a XenForo thread watch yields), through the one-transaction save."""
    db = connect(tmp_path / "tw.db")
    repo = Repo(db)
    repo.sync_declared_trials([RESETME], "2026-11-01T00:00:00Z")
    watch = WatchSpec("s4me-resetme", "xenforo_thread", {"url": f"{FORUM}/threads/resetme.1/"}, labels=["resetme"])
    repo.upsert_watch(watch)

    def post(pid: int, text: str, edited: bool = False) -> Item:
        return Item(str(pid), {"author": "Hutan", "published": "2026-11-05T10:00:00Z", "url": f"{FORUM}/posts/{pid}/",
                               "text": text, "quotes": [], "edited": edited})

    def check(*posts: Item, now: str) -> list[dict]:
        stored = repo.load_items(watch.id)
        baseline = repo.health(watch.id).last_success is None
        diff = diff_items(SPECS["post"], stored, ParseResult(list(posts), complete=False,
                                                             meta={"thread": {"id": 1, "title": "ResetME"}}),
                          watch=watch.id, source=watch.kind, now=now, baseline=baseline)
        note_reported_enrollment(repo, [RESETME], watch, "post", diff, stored, now=now, baseline=baseline,
                                 trial_kinds=lambda: frozenset({"ctgov"}))
        return repo.save_check(watch, diff, FetchState(), now=now, destinations=["console"],
                               fetch_log={"started_at": now, "duration_ms": 1, "outcome": "ok"},
                               health=repo.health(watch.id))

    assert check(post(1, CONFERENCE), now="2026-11-05T10:00:00Z") == []
    news = post(2, "Update from the patient meeting: 45 of the 66 patients have now been enrolled, "
                   "and 21 have completed the 8-week follow-up.")
    events = check(post(1, CONFERENCE), news, now="2026-11-06T10:00:00Z")
    assert [(e["kind"], e["subject"]) for e in events] == [("new_post", "2"), ("enrollment_reported", "2")]
    assert events[1]["new"] == {"enrolled": 45, "target": 66, "completed": 21}
    # An edit that adds figures is not news; a later post repeating them is not news either.
    edited = post(1, CONFERENCE + " Edit: now 50 of the 66 patients have been enrolled.", edited=True)
    assert check(edited, news, now="2026-11-07T10:00:00Z") == []
    events = check(edited, news, post(3, "So 45 of the 66 patients have now been enrolled, great."),
                   now="2026-11-08T10:00:00Z")
    assert [(e["kind"], e["subject"]) for e in events] == [("new_post", "3")]
