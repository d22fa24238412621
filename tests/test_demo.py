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
        "NCT09990001 status: RECRUITING → ACTIVE_NOT_RECRUITING",
        "NCT09990001 enrollment: 66 ESTIMATED → 66 ACTUAL",
        "2025-599999-99-00 status: Ongoing, recruiting → Ongoing, recruitment ended",
        "NCT09990001 RESULTS POSTED (first posted 2028-02-01)",
        "── Dossier: ResetME (NCT09990001, 2025-599999-99-00) ──",
        "ctgov NCT09990001: COMPLETED; enrollment 66 ACTUAL",
    ):
        assert expected in out, f"missing {expected!r} in:\n{out}"
    # The quiet day really is quiet, and nothing was written outside the temporary directory.
    quiet = out.split("── Day 2")[1].split("── Day 3")[0]
    assert "nothing new" in quiet
    assert list(tmp_path.iterdir()) == []
