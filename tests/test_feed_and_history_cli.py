"""``trialwatch feed`` (Atom, one entry per event), ``history`` (timeline and chart) and check's progress."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from bot.cli import main
from bot.demo.replay import ReplayServer
from bot.demo.world.ctgov import study
from tests.test_pipeline_ctgov import WATCHES, serve, write_config

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checked(tmp_path, capsys):
    """A database with a baseline and three changes of one trial."""
    with ReplayServer() as server:
        cfg = write_config(tmp_path, server, WATCHES)
        steps = [dict(), dict(status="ACTIVE_NOT_RECRUITING"),
                 dict(status="ACTIVE_NOT_RECRUITING", count=70, count_type="ACTUAL"),
                 dict(status="COMPLETED", count=70, count_type="ACTUAL", has_results=True,
                      results_first="2026-11-10")]
        for step in steps:
            serve(server, study("NCT09990001", **step), study("NCT09990001", **step))
            main(["--config", str(cfg), "-q", "check", "--json"])
        capsys.readouterr()
        yield cfg


def test_feed_is_atom_with_one_entry_per_event(checked, capsys):
    main(["--config", str(checked), "events", "--json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(events) == 4
    assert main(["--config", str(checked), "feed"]) == 0
    parsed = feedparser.parse(capsys.readouterr().out)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "trialwatch events"
    assert len(parsed.entries) == len(events)
    assert {e.id for e in parsed.entries} == {f"urn:trialwatch:event:{e['id']}" for e in events}
    assert parsed.entries[0].link == "https://clinicaltrials.gov/study/NCT09990001"
    assert any("Recruiting → Active, not recruiting" in e.title for e in parsed.entries)
    assert main(["--config", str(checked), "feed", "--label", "nosuchlabel"]) == 2  # a typo, not an empty feed
    assert "no watch carries it" in capsys.readouterr().err


def test_history_prints_the_timeline_and_writes_a_chart(checked, tmp_path, capsys):
    chart = tmp_path / "chart.png"
    assert main(["--config", str(checked), "history", "NCT09990001", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "NCT09990001 Status: Recruiting (first seen)" in out
    assert "NCT09990001 Enrollment: 66 (estimated) → 70 (actual)" in out
    assert "NCT09990001 Status: Active, not recruiting → Completed" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert main(["--config", str(checked), "history", "NCT00000000"]) == 2


def test_check_shows_progress_on_a_terminal_only(checked):
    cmd = [sys.executable, "-m", "bot", "--config", str(checked), "check"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "TERM": "xterm-256color", "COLUMNS": "100"}
    piped = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, env=env, timeout=60)
    assert "checking" not in piped.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert b"checking" in output
