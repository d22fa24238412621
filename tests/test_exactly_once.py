"""Every event delivered exactly once while several processes share one database (issue 4, point 5).

Two ``trialwatch check`` processes on one database used to deliver 20-210 of 300 entries twice: only
``run`` took the lock and pending rows were never claimed. Now each process claims the rows it sends in
one atomic UPDATE. These tests run the real processes against a local feed and the Discord stand-in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.feeds import atom
from tests.support.discord_standin import DiscordStandIn

PROJECT = Path(__file__).resolve().parents[1]
ENTRIES = 300


def feed(n: int) -> str:
    return atom(*((f"urn:entry:{i}", f"Entry {i}", f"https://news.example.org/{i}", f"<p>Entry {i}.</p>")
                  for i in range(n)))


def config(tmp_path: Path, server: ReplayServer, standin: DiscordStandIn) -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        max_events_per_watch = 1000
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        [notify]
        console = false
        [discord]
        webhook_url = "{standin.url}"
        api_base = "{standin.api_base}"
        [[watch]]
        id = "news"
        kind = "feed"
        url = "{server.url}/news.atom"
        interval = "1h"
    """))
    return cfg


def delivered_titles(standin: DiscordStandIn) -> Counter:
    return Counter(e.get("title") for m in standin.messages for e in m.get("embeds", []))


def run(cfg: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=cfg.parent, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, deadline_s: float = 180.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_checks_deliver_every_event_exactly_once(tmp_path) -> None:
    with ReplayServer() as server, DiscordStandIn(rate_limit=10_000, rate_window=1.0) as standin:
        server.route("GET", "/news.atom", Reply(body=feed(1), content_type="application/atom+xml"))
        cfg = config(tmp_path, server, standin)
        assert run(cfg, "-q", "check").wait(timeout=120) == 0  # the silent baseline
        server.route("GET", "/news.atom", Reply(body=feed(ENTRIES + 1), content_type="application/atom+xml"))
        first, second = run(cfg, "-q", "check"), run(cfg, "-q", "check")
        assert first.wait(timeout=180) == 0, first.stderr.read()
        assert second.wait(timeout=180) == 0, second.stderr.read()
        got = delivered_titles(standin)
        assert len(got) == ENTRIES and set(got.values()) == {1}, {t: n for t, n in got.items() if n > 1}


def test_two_checks_beside_a_service_deliver_every_event_exactly_once(tmp_path) -> None:
    with ReplayServer() as server, DiscordStandIn(rate_limit=10_000, rate_window=1.0) as standin:
        server.route("GET", "/news.atom", Reply(body=feed(1), content_type="application/atom+xml"))
        cfg = config(tmp_path, server, standin)
        assert run(cfg, "-q", "check").wait(timeout=120) == 0
        service = run(cfg, "run")
        try:
            wait_for(lambda: (tmp_path / "tw.db.lock").exists())
            server.route("GET", "/news.atom", Reply(body=feed(ENTRIES + 1), content_type="application/atom+xml"))
            first, second = run(cfg, "-q", "check"), run(cfg, "-q", "check")
            assert first.wait(timeout=180) == 0
            assert second.wait(timeout=180) == 0
            wait_for(lambda: len(delivered_titles(standin)) >= ENTRIES)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
        got = delivered_titles(standin)
        assert len(got) == ENTRIES and set(got.values()) == {1}, {t: n for t, n in got.items() if n > 1}
