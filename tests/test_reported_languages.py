"""Issue 2 through the pipeline: a Norwegian forum post, a German feed entry and an English post written with
number words each give their ``enrollment_reported``; a trap post gives none; a post naming another trial
does not move ResetME's figures. A real XenForo 2 thread and an Atom feed on the local replay server, the
command line's ``check``, the declared ResetME trial (38 of 66, 17 completed) as the starting figures."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.check_helpers import local_header
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.feeds import atom
from bot.demo.world.xenforo import Thread, World

TITLE = "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)"


@pytest.fixture
def world():
    with ReplayServer() as server:
        yield World(server)


def config(tmp_path: Path, world: World, thread: Thread) -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(local_header(tmp_path) + textwrap.dedent(f"""

        [[trial]]
        key = "resetme"
        acronym = "ResetME"
        enrolled = 38
        target = 66
        completed = 17
        as_of = "2026"

        [[watch]]
        id = "forum-thread"
        kind = "xenforo_thread"
        url = "{world.url(thread)}"
        labels = ["resetme"]

        [[watch]]
        id = "foundation-news"
        kind = "feed"
        url = "{world.server.url}/news.atom"
        labels = ["resetme"]
    """))
    return cfg


def check(cfg: Path, capsys) -> list[dict]:
    assert main(["--config", str(cfg), "-q", "check", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def reports(events: list[dict]) -> list[tuple]:
    return [(e["new"], e["detail"]["lang"], e["trial"]) for e in events if e["kind"] == "enrollment_reported"]


def serve_feed(world: World, *entries: tuple[str, str, str, str]) -> None:
    world.server.route("GET", "/news.atom", Reply(body=atom(*entries), content_type="application/atom+xml"))


def test_four_languages_through_the_pipeline(world: World, tmp_path, capsys) -> None:
    thread = world.thread(TITLE, 12)
    world.publish()
    serve_feed(world)
    cfg = config(tmp_path, world, thread)
    assert check(cfg, capsys) == []  # the silent baseline

    # A Norwegian post: 45 of 66, in Norwegian.
    thread.add(1, author="Kari", text="Ifølge Haukeland er nå 45 av 66 deltakere inkludert i ResetME-studien.")
    world.publish()
    assert reports(check(cfg, capsys)) == [({"enrolled": 45, "target": 66, "completed": None}, "nb", "resetme")]

    # A trap post (a reader's own patient number, a dose) and a post about another trial: nothing for ResetME.
    thread.add(1, author="Jo", text="My daughter was patient number 52 at the clinic, and she was given 16 mg/kg.")
    thread.add(1, author="Jo", text="For comparison, the RituxME trial randomised 151 patients.")
    world.publish()
    events = check(cfg, capsys)
    assert [e["kind"] for e in events] == ["new_post", "new_post"]

    # An English post with number words.
    thread.add(1, author="Hutan", text="Fluge said forty-seven of the 66 planned patients have now been randomised.")
    world.publish()
    assert reports(check(cfg, capsys)) == [({"enrolled": 47, "target": 66, "completed": None}, "en", "resetme")]

    # A German feed entry.
    serve_feed(world, ("urn:1", "ResetME: Zwischenstand", "https://news.example.org/1",
                       "<p>Laut Klinik sind inzwischen 50 von 66 Teilnehmern in die Studie eingeschlossen.</p>"))
    assert reports(check(cfg, capsys)) == [({"enrolled": 50, "target": 66, "completed": None}, "de", "resetme")]

    # The console names the language of evidence that is not English.
    assert main(["--config", str(cfg), "events"]) == 0
    out = capsys.readouterr().out
    assert "(in Norwegian)" in out and "(in German)" in out
