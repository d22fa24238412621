"""Issue 2, point 5: a declared trial's figures are visible (``trials``, ``history``, ``history --chart``) and the
day it gets a registry number — given in ``[[trial]] ids`` or confirmed with ``trials merge`` — the declared
figures, the reported figures and the registry record become one trial with one history."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.check_helpers import local_header
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.ctgov import study
from bot.demo.world.feeds import atom

NCT = "NCT09990001"
DECLARED = """
    [[trial]]
    key = "resetme"
    acronym = "ResetME"
    title = "ResetME: daratumumab in ME/CFS"
    enrolled = 38
    target = 66
    completed = 17
    as_of = "2026-05"
    evidence = "ME/CFS conference 2026"
"""


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def write(tmp_path: Path, server: ReplayServer, trial_extra: str = "") -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(local_header(tmp_path) + textwrap.dedent(f"""
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
    """) + textwrap.dedent(DECLARED) + trial_extra + textwrap.dedent(f"""
        [[watch]]
        id = "registry"
        kind = "ctgov"
        trial = "{NCT}"

        [[watch]]
        id = "news"
        kind = "feed"
        url = "{server.url}/news.atom"
        labels = ["resetme"]
    """))
    return cfg


def serve(server: ReplayServer, *, count: int, count_type: str, last_update: str, news: str | None) -> None:
    server.route("GET", f"/ctgov/studies/{NCT}", Reply(body=study(NCT, count=count, count_type=count_type,
                                                                   last_update=last_update)))
    entries = [("urn:1", "ResetME update", "https://news.example.org/1", news)] if news else []
    server.route("GET", "/news.atom", Reply(body=atom(*entries), content_type="application/atom+xml"))


def run(cfg: Path, capsys, *args: str) -> tuple[int, str]:
    code = main(["--config", str(cfg), *args])
    return code, capsys.readouterr().out


def record_apart(tmp_path: Path, server: ReplayServer, capsys) -> Path:
    """A registry change and a text report, recorded while the two are still separate trials."""
    cfg = write(tmp_path, server)
    serve(server, count=66, count_type="ESTIMATED", last_update="2026-10-01", news=None)
    assert run(cfg, capsys, "-q", "check")[0] == 0
    serve(server, count=52, count_type="ACTUAL", last_update="2026-11-01",
          news="<p>45 of the 66 patients have now been enrolled.</p>")
    code, out = run(cfg, capsys, "-q", "check", "--json")
    kinds = sorted((e["kind"], e["trial"]) for e in map(json.loads, out.splitlines()))
    assert code == 0 and kinds == [("enrollment_changed", NCT), ("enrollment_reported", "resetme"), ("new_entry", None)]
    return cfg


def test_the_seed_trial_shows_its_declared_figures(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in defaults: the seed watchlist declares ResetME
    code, out = run_plain(capsys, "--db", str(tmp_path / "tw.db"), "trials")
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("resetme\t"))
    assert "reported 38 enrolled, target 66, 17 completed" in line and "enrollment unknown" not in line
    code, out = run_plain(capsys, "--db", str(tmp_path / "tw.db"), "history", "resetme",
                          "--chart", str(tmp_path / "c.png"))
    assert code == 0
    assert "declared: 38 enrolled, target 66, 17 completed (as of 2026)" in out
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def run_plain(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_history_chart_draws_the_declared_point_in_time(tmp_path, server, capsys) -> None:
    """The timeline behind the chart starts at the declared figures' as_of date, not at 1970."""
    from bot.engine.config import load_config
    from bot.present.timeline import build_timeline

    cfg = record_apart(tmp_path, server, capsys)
    declared = load_config(cfg).trials[0]
    tl = build_timeline("resetme", [], [], declared=declared)
    assert [(p.at.date().isoformat(), p.value, p.kind) for p in tl.reported] == [("2026-05-01", 38, "declared")]
    assert tl.target == 66


def test_ids_given_later_join_everything_recorded_apart(tmp_path, server, capsys) -> None:
    cfg = record_apart(tmp_path, server, capsys)
    code, out = run(cfg, capsys, "trials")
    assert code == 0 and len(out.splitlines()) == 2  # still two trials: nobody said they are one

    cfg.write_text(cfg.read_text().replace('evidence = "ME/CFS conference 2026"',
                                           f'evidence = "ME/CFS conference 2026"\nids = ["{NCT}"]'))
    code, out = run(cfg, capsys, "trials")
    assert code == 0
    (line,) = out.splitlines()
    assert line.startswith(f"resetme\t{NCT}\tResetME\tRecruiting\tregistry 52 (actual); reported 45 enrolled")

    code, out = run(cfg, capsys, "history", NCT)  # any id names the one trial
    lines = [l.strip() for l in out.splitlines()]
    assert lines[0] == f"ResetME (resetme, {NCT})"
    stamps = [l.split()[0] for l in lines[1:]]
    assert stamps == sorted(stamps)  # one timeline, in time order
    text = "\n".join(lines)
    assert "declared: 38 enrolled" in text and f"{NCT} Enrollment: 66 (estimated) → 52 (actual)" in text
    assert "reported: 45 enrolled, target 66" in text
    con = sqlite3.connect(tmp_path / "tw.db")
    assert {t for (t,) in con.execute("SELECT DISTINCT trial FROM events WHERE trial IS NOT NULL")} == {"resetme"}

    # The next registry change is announced on the one trial.
    serve(server, count=58, count_type="ACTUAL", last_update="2026-12-01", news=None)
    code, out = run(cfg, capsys, "-q", "check", "--json")
    assert [(e["kind"], e["trial"]) for e in map(json.loads, out.splitlines())] == [("enrollment_changed", "resetme")]


def test_a_person_can_merge_two_known_trials(tmp_path, server, capsys) -> None:
    cfg = record_apart(tmp_path, server, capsys)
    code, out = run(cfg, capsys, "trials", "merge", NCT, "resetme")
    assert code == 0 and out.strip() == f"merged {NCT} into resetme: one trial, one history ({NCT})"
    code, out = run(cfg, capsys, "trials", "merge", "resetme", NCT)
    assert out.strip() == f"resetme and {NCT} are already one trial (resetme)"
    assert run(cfg, capsys, "trials", "merge", "resetme")[0] == 2
    assert run(cfg, capsys, "trials", "merge", "resetme", "NCT00000000")[0] == 2


def test_ids_that_are_not_registry_ids_are_refused(tmp_path, server, capsys) -> None:
    cfg = write(tmp_path, server, 'ids = ["resetme-2"]\n')
    code = main(["--config", str(cfg), "trials"])
    err = capsys.readouterr().err
    assert code == 2 and "[[trial]] #1 (key 'resetme').ids: 'resetme-2' is not a registry id" in err
