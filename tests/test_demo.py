"""``trialwatch demo`` as a person runs it: a subprocess, offline, printing the expected story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_demo_prints_the_expected_events(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
    env["PYTHONPATH"] = str(PROJECT)
    proc = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in (
        "baseline recorded silently",
        "NCT09990001 Status: Recruiting → Active, not recruiting",
        "NCT09990001 Enrollment: 66 (estimated) → 66 (actual)",
        "2025-599999-99-00 Status: Ongoing, recruiting → Ongoing, recruitment ended",
        "NCT09990001 Results posted: no → yes (first posted 2028-02-01)",
        "Hutan posted in “Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)",
        "reported enrollment: 45 enrolled, target 66, 20 completed (known before: target 66) — ResetME",
        "PMID:49990002 new paper in Front Med (Lausanne) (2028-02-01)",
        "reported: 45 enrolled, target 66, 20 completed",
        "── Dossier: ResetME (NCT09990001, 2025-599999-99-00) ──",
        "ctgov NCT09990001: Completed; enrollment 66 (actual)",
    ):
        assert expected in out, f"missing {expected!r} in:\n{out}"
    # The paper seen by both Europe PMC and PubMed is announced once; the older paper never.
    assert out.count("new paper") == 1
    # The quiet day really is quiet, and nothing was written outside the temporary directory.
    quiet = out.split("── 2027-01-17")[1].split("── 2028-02-02")[0]  # the quiet day (ETag, 304)
    assert "nothing new" in quiet
    assert list(tmp_path.iterdir()) == []


def test_demo_posts_to_discord_when_a_webhook_is_set(tmp_path):
    from tests.support.discord_standin import DiscordStandIn

    with DiscordStandIn(rate_limit=50, rate_window=1.0) as standin:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
        env.update(PYTHONPATH=str(PROJECT), DISCORD_WEBHOOK_URL=standin.url)
        proc = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "posted to Discord too" in proc.stdout
        embeds = [e for m in standin.messages for e in m["embeds"]]
        assert all(m["allowed_mentions"] == {"parse": []} for m in standin.messages)
        assert any("Results posted" in (e.get("title") or "") + (e.get("author", {}).get("name") or "")
                   for e in embeds), embeds
        assert len(embeds) == proc.stdout.count("\n    http")  # every event printed was posted
        assert standin.token not in proc.stdout + proc.stderr
