"""``trialwatch demo``: the whole product, offline, in under a minute.

A local replay (bot/demo/replay.py) plays an evolving world written for the demo (``seeds/demo/``: registry
records, a forum thread and publication searches in their real formats) on 127.0.0.1. Several check
cycles run through the real pipeline against a temporary database, and the events are printed as a
person would read them, followed by the trial's dossier. With ``DISCORD_WEBHOOK_URL`` set, the events
are also posted there. No network, no credentials.
"""

from __future__ import annotations

import asyncio
import re
import os
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot.engine.config import Config, config_from_dict
from bot.demo.replay import ReplayServer, apply_step, load_world

DEMO_TRIAL = "2025-599999-99-00"  # the demo's fictional ResetME record (not a real registry number)


def demo_dir() -> Path:
    return Path(str(resources.files("seeds.demo")))


def demo_config(server_url: str, db_path: str, env: dict[str, str] | None = None) -> Config:
    """The demo's config (``seeds/demo/demo.toml``) pointed at the local replay and a temporary database."""
    text = (demo_dir() / "demo.toml").read_text(encoding="utf-8").replace("{server}", server_url)
    raw = tomllib.loads(text)
    raw.setdefault("database", {})["path"] = db_path
    return config_from_dict(raw, source="seeds/demo/demo.toml", env=env)


def default_site_dir() -> Path:
    """Where the demo writes the tracker website of its world (kept after the demo, rewritten by the next)."""
    return Path(tempfile.gettempdir()) / "trialwatch-demo-site"


def run_demo(out: TextIO | None = None, env: dict[str, str] | None = None, site_dir: Path | None = None) -> int:
    out = out or sys.stdout
    return asyncio.run(_demo(out, dict(os.environ) if env is None else env, site_dir or default_site_dir()))


async def _demo(out: TextIO, env: dict[str, str], site_dir: Path) -> int:
    from bot.app import build_notifiers, sync_config_watches
    from bot.present.values import status_text, value_text
    from bot.engine.delivery import Delivery
    from bot.engine.pipeline import Checker
    from bot.present.timeline import build_timeline
    from scrapers.http.fetcher import Fetcher
    from storage.db import connect
    from storage.identity import best_name
    from storage.repo import Repo, utcnow

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trialwatch-demo-") as tmp, ReplayServer() as server:
        steps = load_world(demo_dir() / "world.toml", server.url)
        cfg = demo_config(server.url, str(Path(tmp) / "demo.db"), env)
        repo = Repo(connect(cfg.db_path))
        sync_config_watches(repo, cfg)
        notifiers = build_notifiers(cfg, stream=out)
        out.write("trialwatch demo: a replayed, partly fictional world on 127.0.0.1 — no network, no credentials.\n")
        if "discord_webhook" in notifiers:
            out.write("DISCORD_WEBHOOK_URL is set: the events are posted to Discord too.\n")
        failures = 0
        discord_sent = discord_failed = 0
        clock = {"now": None}
        async with Fetcher(cfg.http) as fetcher:
            checker = Checker(cfg, repo, fetcher, now=lambda: clock["now"] or utcnow())
            for step in steps:
                apply_step(server, step)
                clock["now"] = step.at
                # the date the step plays, not "Day N": the world's steps are months apart
                heading = re.sub(r"^Day \d+\s*[—-]\s*", "", step.name)
                out.write(f"\n── {str(step.at)[:10]} — {heading} ──\n")
                reports = await checker.check_all(repo.list_watches(enabled_only=True))
                # Followed watches created by this check get their silent baseline now, as `run` would.
                known = {r.watch for r in reports}
                followed = [w for w in repo.list_watches(enabled_only=True) if w.id not in known]
                reports += await checker.check_all(followed)
                for r in reports:
                    if r.failed:
                        failures += 1
                        out.write(f"  ! {r.watch}: {r.error}\n")
                baselines = [r for r in reports if any(s[1].startswith("baseline") for s in r.stages)]
                if baselines:
                    out.write(f"  (first look at {len(baselines)} watch(es): baseline recorded silently)\n")
                delivered = await Delivery(repo, notifiers).deliver_pending()
                if "discord_webhook" in delivered:
                    discord_sent += delivered["discord_webhook"].sent
                    discord_failed += delivered["discord_webhook"].failed + delivered["discord_webhook"].pending
                if not any(r.events for r in reports):
                    out.write("  nothing new\n")
        for n in notifiers.values():
            if hasattr(n, "aclose"):
                await n.aclose()
        identity = repo.identity
        trial = identity.trial(DEMO_TRIAL)
        if trial:
            out.write(f"\n── Dossier: {best_name(trial)} ({', '.join(trial['ids'])}) ──\n")
            for registry, rec in sorted(trial["registries"].items()):
                out.write(f"  {registry} {rec.get('id')}: {status_text(rec.get('status'))}; "
                          f"enrollment {value_text(rec.get('enrollment'))}\n")
            out.write("  timeline:\n")
            tl = build_timeline(trial["key"], repo.field_history(trial=trial["key"]), repo.events(trial=trial["key"]))
            for line in tl.lines:
                out.write(f"    {line}\n")
        _write_site(out, repo, cfg, site_dir, clock["now"])
        out.write(f"\ndemo finished in {time.monotonic() - started:.1f} s")
        out.write(f" ({failures} failed check(s))\n" if failures else "\n")
        if "discord_webhook" in notifiers:
            out.write(f"Discord: {discord_sent} event(s) posted, {discord_failed} not\n")
            if discord_failed and not discord_sent:
                out.write("Discord refused or could not be reached for every post: check DISCORD_WEBHOOK_URL "
                          "(trialwatch check -v says why)\n")
                return 3
    return 0 if failures == 0 else 3


def _write_site(out: TextIO, repo, cfg: Config, site_dir: Path, now: str | None) -> None:
    """The tracker website of the demo's world (``trialwatch site``), and where to open it."""
    from bot.site.build import build_site
    from bot.site.write import SiteWriteError

    try:
        report = build_site(repo, cfg.trials, site_dir, now=now)
    except (SiteWriteError, OSError) as exc:
        out.write(f"\nThe tracker website could not be written: {exc}\n")
        return
    out.write(f"\n── The tracker website of this world ({report.trials} trials) ──\n"
              f"  open {report.index.as_uri()}\n"
              f"  or serve it: python -m http.server -d {report.out_dir}\n")
