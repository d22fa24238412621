"""Crash safety at the exact moments that matter (issue 4, point 9).

``tests/test_crash_recovery.py`` SIGKILLs a running service at random moments; random kills almost never
land between "Discord accepted the message" and "the row is marked sent", so it passed against a copy that
marks before sending. Here the real ``trialwatch check`` process dies at named crash points
(storage/faults.py), and the next run must deliver every change: never lose one, repeat at most the one
message that was in flight. The last test shows that the same check catches a wrong ordering.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from bot.demo.replay import ReplayServer
from bot.demo.world.ctgov import study
from storage.faults import CRASH_EXIT_STATUS
from tests.support.ctgov_standin import CtgovStandin
from tests.support.discord_standin import DiscordStandIn

PROJECT = Path(__file__).resolve().parents[1]
TRIALS = ("NCT09990001", "NCT09990002", "NCT09990003")


def config(tmp_path: Path, server: ReplayServer, standin: DiscordStandIn) -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        [notify]
        console = false
        [discord]
        webhook_url = "{standin.url}"
        api_base = "{standin.api_base}"
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
    """) + "".join(textwrap.dedent(f"""
        [[watch]]
        id = "t{i}"
        kind = "ctgov"
        trial = "{nct}"
    """) for i, nct in enumerate(TRIALS)))
    return cfg


def serve(server: ReplayServer, count: int) -> None:
    registry = getattr(server, "_ctgov", None) or CtgovStandin(server)
    server._ctgov = registry  # type: ignore[attr-defined]
    today = datetime.now(timezone.utc).date().isoformat()  # an update the incremental batch asks for
    registry.put(*(study(nct, count=count, count_type="ACTUAL", last_update=today) for nct in TRIALS))


def check(cfg: Path, crash_at: str | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    env.pop("TRIALWATCH_CRASH_AT", None)
    if crash_at:
        env["TRIALWATCH_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "-q", "check"], cwd=cfg.parent,
                          env=env, capture_output=True, text=True, timeout=180).returncode


def delivered(standin: DiscordStandIn) -> Counter:
    """(trial, enrolled count) of every enrollment embed Discord received."""
    got: Counter = Counter()
    for message in standin.messages:
        for embed in message.get("embeds", []):
            m = re.match(r"\*\*(\d+)\*\*", embed.get("description", ""))
            if m:
                got[(embed["footer"]["text"].split(" ")[0], int(m.group(1)))] += 1
    return got


def losses_and_repeats(expected: set, got: Counter) -> tuple[list, int]:
    """What a crash test checks: changes never delivered, and deliveries beyond the first."""
    return sorted(expected - set(got)), sum(n - 1 for n in got.values())


@pytest.mark.parametrize("point, repeats_allowed", [
    ("save_mid_transaction", 0),          # nothing committed: the next check sees the change again
    ("after_save_before_delivery", 0),    # committed, not sent: the next run sends it
    ("after_send_before_mark", 1),        # sent, not marked: the next run sends that one message again
])
def test_a_crash_at_each_point_loses_nothing(point: str, repeats_allowed: int, tmp_path) -> None:
    with ReplayServer() as server, DiscordStandIn(rate_limit=1000, rate_window=1.0) as standin:
        cfg = config(tmp_path, server, standin)
        serve(server, 10)
        assert check(cfg) == 0  # the silent baseline
        serve(server, 11)
        assert check(cfg, crash_at=point) == CRASH_EXIT_STATUS
        assert check(cfg) == 0
        lost, repeats = losses_and_repeats({(nct, 11) for nct in TRIALS}, delivered(standin))
        assert lost == []
        assert repeats <= repeats_allowed * len(TRIALS)  # one message carries the three trials' events


def test_the_check_catches_a_wrong_ordering(tmp_path, monkeypatch) -> None:
    """A delivery that marks rows sent BEFORE sending, crashed in between, loses the event: the same
    losses_and_repeats check that the tests above rely on reports it."""
    import asyncio

    from bot.app import build_notifiers, open_repo, sync_config_watches
    from bot.engine.config import load_config
    from bot.engine.delivery import Delivery
    from bot.engine.pipeline import Checker
    from scrapers.http.fetcher import Fetcher

    class Crash(Exception):
        pass

    class MarkFirst(Delivery):
        """The wrong order: record the row as sent, then send (and crash in between)."""

        def _mark_sent(self, name, ids, remote_id):  # type: ignore[override]
            return True

    with ReplayServer() as server, DiscordStandIn(rate_limit=1000, rate_window=1.0) as standin:
        cfg_path = config(tmp_path, server, standin)
        serve(server, 10)
        assert check(cfg_path) == 0
        serve(server, 11)
        cfg = load_config(cfg_path)
        repo = open_repo(cfg)
        sync_config_watches(repo, cfg)

        async def wrong_run() -> None:
            async with Fetcher(cfg.http) as fetcher:
                await Checker(cfg, repo, fetcher).check_all(repo.list_watches())
            build_notifiers(cfg, repo=repo)  # as the real run does, though this wrong one never sends
            for row_id, _ in repo.pending("discord_webhook", 100):
                repo.mark_sent([row_id], None)  # marked first ...
            raise Crash  # ... and the process dies before sending

        with pytest.raises(Crash):
            asyncio.run(wrong_run())
        assert check(cfg_path) == 0  # the next run finds nothing pending
        lost, _ = losses_and_repeats({(nct, 11) for nct in TRIALS}, delivered(standin))
        assert lost == [(nct, 11) for nct in TRIALS]  # caught: every change lost
