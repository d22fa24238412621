"""``trialwatch run`` killed with SIGKILL at random moments while the sources change, and restarted.

Every change made at the (local) registry must reach the (local) Discord stand-in: none lost. A
message may repeat only when a kill fell between Discord accepting it and the outbox row being
marked sent; the test counts those repeats and reports them.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from tests.support.ctgov_standin import CtgovStandin
from tests.support.discord_standin import DiscordStandIn
from bot.demo.replay import ReplayServer
from bot.demo.world.ctgov import study

PROJECT = Path(__file__).resolve().parents[1]
TRIALS = ("NCT09990001", "NCT09990002", "NCT09990003")
KILLS = 6
SEED = 20261121


def serve(registry: CtgovStandin, nct: str, count: int) -> None:
    """Post a change as the registry does: the new count, and the last-update date moved to today (the service
    checks its trial watches together, asking the registry for the studies updated since its last check)."""
    today = datetime.now(timezone.utc).date().isoformat()
    registry.put(study(nct, title=f"Trial {nct}", count=count, count_type="ACTUAL", last_update=today))


def observed(db: Path) -> set[tuple[str, int]]:
    """(trial, count) of every enrollment event the service has committed so far."""
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT subject, json_extract(new, '$.count') FROM events "
                           "WHERE kind = 'enrollment_changed'").fetchall()
        baseline = con.execute("SELECT count(*) FROM source_health WHERE last_success IS NOT NULL").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return set()
    finally:
        con.close()
    return {(s, c) for s, c in rows} | ({("baseline", len(TRIALS))} if baseline == len(TRIALS) else set())


def delivered(standin: DiscordStandIn) -> list[tuple[str, int]]:
    out = []
    for message in standin.messages:
        for embed in message.get("embeds", []):
            m = re.match(r"\*\*(\d+)\*\*", embed.get("description", ""))
            if m:
                out.append((embed["footer"]["text"].split(" ")[0], int(m.group(1))))
    return out


def wait_for(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkill_at_random_moments_loses_no_event(tmp_path, capsys):
    rng = random.Random(SEED)
    with ReplayServer() as server, DiscordStandIn(rate_limit=100, rate_window=1.0) as standin:
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
            interval = "1s"
        """) for i, nct in enumerate(TRIALS)))
        counts = {nct: 10 for nct in TRIALS}
        registry = CtgovStandin(server)
        for nct in TRIALS:
            serve(registry, nct, counts[nct])
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        db = tmp_path / "tw.db"

        def start() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=tmp_path,
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        proc = start()
        expected: list[tuple[str, int]] = []
        try:
            wait_for(lambda: ("baseline", len(TRIALS)) in observed(db))
            for _ in range(KILLS):
                # Change every trial whose previous change the service has already seen (a change overwritten
                # before any check could see it would be no event at all, and no loss).
                seen = observed(db)
                for nct in TRIALS:
                    if counts[nct] == 10 or (nct, counts[nct]) in seen:
                        counts[nct] += 1
                        serve(registry, nct, counts[nct])
                        expected.append((nct, counts[nct]))
                time.sleep(rng.uniform(0.2, 1.8))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=120)
                proc = start()
            # Let the last process run until everything expected has arrived, then stop it cleanly.
            wait_for(lambda: set(expected) <= set(delivered(standin)), timeout=180)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        got = Counter(delivered(standin))
        missing = [e for e in expected if e not in got]
        repeats = sum(n - 1 for n in got.values())
        with capsys.disabled():
            print(f"\n[crash test] {KILLS} SIGKILLs (seed {SEED}), {len(expected)} changes, "
                  f"{sum(got.values())} embeds delivered, {len(missing)} lost, {repeats} repeated")
        assert missing == []
        assert set(got) <= set(expected)  # nothing invented
        # A repeat needs a kill between Discord accepting a message and the row being marked sent: at most
        # one message per kill, and a message carries at most the three trials' events.
        assert repeats <= KILLS * len(TRIALS)
        con = sqlite3.connect(db)
        assert con.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()[0] == 0
        con.close()
