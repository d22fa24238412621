"""``trialwatch run``: scheduling, the delivery worker, the single-instance lock and a clean SIGTERM.

The end-to-end test runs the real service as a subprocess (``python -m bot --config … run``)
against the ReplayServer (CT.gov JSON) and the Discord stand-in, both on 127.0.0.1 in this process.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from bot.cli import main
from bot.engine.config import config_from_dict
from tests.support.discord_standin import DiscordStandIn
from bot.demo.replay import Reply, ReplayServer
from bot.engine.service import (
    STAGGER_CAP_S,
    AlreadyRunning,
    InstanceLock,
    Service,
    first_run_at,
    stagger_offset,
)
from storage.db import connect
from storage.repo import Repo
from bot.demo.world.ctgov import study

PROJECT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


@pytest.fixture
def server(replay: ReplayServer) -> ReplayServer:
    replay.clear()
    replay.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001"), etag="auto"))
    return replay


def config(tmp_path: Path, server: ReplayServer, watches: list[dict], **discord: str):
    return config_from_dict({
        "database": {"path": str(tmp_path / "tw.db")},
        "http": {"per_host_rps": 0, "backoff_s": 0.01, "max_retries": 0, "timeout_s": 5},
        "sources": {"ctgov": {"base_url": f"{server.url}/ctgov"}},
        "discord": discord,
        "watch": watches,
    })


# ------------------------------------------------------------------------------------ scheduling


def test_stagger_offsets_are_deterministic_and_bounded():
    assert stagger_offset("resetme", 21600) == stagger_offset("resetme", 21600)
    offsets = {stagger_offset(f"watch-{i}", 21600) for i in range(50)}
    assert len(offsets) > 25 and all(0 <= o < STAGGER_CAP_S for o in offsets)
    assert all(0 <= stagger_offset(f"w{i}", 30) < 30 for i in range(50))  # never beyond one interval
    assert stagger_offset("anything", 1) == 0


def test_first_run_waits_for_the_interval_after_a_recent_check():
    offset = stagger_offset("w", 3600)
    assert first_run_at("w", 3600, NOW) == NOW + timedelta(seconds=offset)
    assert first_run_at("w", 3600, NOW, "2026-11-21T09:50:00Z") == NOW + timedelta(minutes=50)
    assert first_run_at("w", 3600, NOW, "2026-11-21T08:00:00Z") == NOW + timedelta(seconds=offset)  # overdue
    assert first_run_at("w", 3600, NOW, "2026-11-21T12:00:00Z") == NOW + timedelta(hours=1)  # clock skew: capped


async def test_jobs_have_stable_ids_staggered_first_runs_and_follow_the_database(tmp_path, server):
    intervals = {"a-1s": "1s", "b-90s": "90s", "c-6h": "6h", "d-1d": "1d", "e-6h": "6h", "f-off": "1h"}
    watches = [{"id": wid, "kind": "ctgov", "trial": "NCT09990001", "interval": iv} for wid, iv in intervals.items()]
    watches[-1]["enabled"] = False
    cfg = config(tmp_path, server, watches)
    toml = tmp_path / "trialwatch.toml"  # the same config, for `trialwatch watch …` from a shell
    toml.write_text(f'[database]\npath = "{cfg.db_path}"\n[sources.ctgov]\nbase_url = "{server.url}/ctgov"\n'
                    + "".join(f'[[watch]]\nid = "{w["id"]}"\nkind = "ctgov"\ntrial = "NCT09990001"\n'
                              f'interval = "{w["interval"]}"\nenabled = {str(w.get("enabled", True)).lower()}\n'
                              for w in watches))
    service = Service(cfg, stdout=io.StringIO())
    await service.open()
    before = datetime.now(timezone.utc)
    service.start()
    try:
        jobs = {j.id: j for j in service.scheduler.get_jobs()}
        assert set(jobs) == {"resync", "check:a-1s", "check:b-90s", "check:c-6h", "check:d-1d", "check:e-6h"}
        for wid, seconds in (("a-1s", 1), ("b-90s", 90), ("c-6h", 21600), ("d-1d", 86400), ("e-6h", 21600)):
            job = jobs[f"check:{wid}"]
            assert job.trigger.interval.total_seconds() == seconds
            assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, seconds)
            offset = (job.next_run_time - before).total_seconds()
            assert 0 <= offset <= min(seconds, STAGGER_CAP_S) + 1, (wid, offset)
            assert abs(offset - stagger_offset(wid, seconds)) < 1.5
        assert jobs["check:c-6h"].next_run_time != jobs["check:e-6h"].next_run_time  # staggered, not all at once
        assert set(service.next_runs()) == {"a-1s", "b-90s", "c-6h", "d-1d", "e-6h"}

        # `trialwatch watch add` / `remove` from a shell (another connection): picked up by the resync.
        assert main(["--config", str(toml), "watch", "add", "ctgov", "NCT09990002", "--interval", "2h"]) == 0
        assert main(["--config", str(toml), "watch", "remove", "d-1d"]) == 0
        repo = Repo(connect(tmp_path / "tw.db"))
        changed = repo.get_watch("b-90s")
        changed.interval_s = 120
        repo.upsert_watch(changed, origin="config")
        repo.db.close()
        service.resync_jobs()
        jobs = {j.id: j for j in service.scheduler.get_jobs()}
        assert "check:ctgov-nct09990002" in jobs and "check:d-1d" not in jobs
        assert jobs["check:ctgov-nct09990002"].trigger.interval.total_seconds() == 7200
        assert jobs["check:b-90s"].trigger.interval.total_seconds() == 120
        assert jobs["resync"].trigger.interval.total_seconds() == 60
    finally:
        await service.close()


async def test_trial_watches_falling_due_together_are_checked_as_one_batch_and_stay_together(tmp_path, server):
    """CT.gov trial watches are cheaper checked together: the first one due takes every watch of its kind due
    within the horizon (one filter.ids request for all), and their next runs move together."""
    from tests.support.ctgov_standin import CtgovStandin

    ids = [f"NCT0998{n:04d}" for n in range(1, 13)]
    CtgovStandin(server).put(*(study(nct, title=f"Trial {nct}", acronym=None) for nct in ids + ["NCT09990001"]))
    watches = [{"id": f"t-{nct.lower()}", "kind": "ctgov", "trial": nct, "interval": "1h"} for nct in ids]
    watches.append({"id": "lone-day", "kind": "ctgov", "trial": "NCT09990001", "interval": "1d"})
    service = Service(config(tmp_path, server, watches), stdout=io.StringIO())
    await service.open()
    service.start()
    service.scheduler.pause()  # the test fires the jobs itself: none may fire on its own meanwhile
    try:
        server.take_requests()
        before = datetime.now(timezone.utc)
        first = min(watches[:-1], key=lambda w: service.scheduler.get_job(f"check:{w['id']}").next_run_time)["id"]
        await service._scheduled_check(first)
        sent = server.take_requests()
        assert [r.path for r in sent] == ["/ctgov/studies"]  # one batch for the twelve (and the 1-day one)
        assert sorted(sent[0].query["filter.ids"][0].split("|")) == sorted(ids + ["NCT09990001"])
        healths = {w["id"]: service.repo.health(w["id"]) for w in watches}
        assert all(h.last_success is not None for h in healths.values())
        for w in watches:
            if w["id"] != first:
                seconds = 86400 if w["id"] == "lone-day" else 3600
                moved = (service.scheduler.get_job(f"check:{w['id']}").next_run_time - before).total_seconds()
                assert seconds - 5 < moved <= seconds + 60, (w["id"], moved)
        # The others are an interval away now: the same watch due again is checked alone.
        await service._scheduled_check(first)
        assert [r.path for r in server.take_requests()] == [f"/ctgov/studies/{first[2:].upper()}"]
    finally:
        await service.close()


async def test_group_jobs_firing_in_one_pass_make_one_group_and_check_now_batches_too(tmp_path, server):
    """Jobs due at the same moment run one after another in one loop pass: the first forms the group and claims
    its members, the others stand down (no group per watch, no failure counted twelve times); /check of all
    watches batches them the same way."""
    from tests.support.ctgov_standin import CtgovStandin

    ids = [f"NCT0997{n:04d}" for n in range(1, 13)]
    CtgovStandin(server).put(*(study(nct, title=f"Trial {nct}", acronym=None) for nct in ids))
    watches = [{"id": f"g-{nct.lower()}", "kind": "ctgov", "trial": nct, "interval": "60s"} for nct in ids]
    service = Service(config(tmp_path, server, watches), stdout=io.StringIO())
    await service.open()
    service.start()
    service.scheduler.pause()  # the test fires the jobs itself: none may fire on its own meanwhile
    try:
        server.take_requests()
        await asyncio.gather(*(service._scheduled_check(w["id"]) for w in watches))
        assert [r.path for r in server.take_requests()] == ["/ctgov/studies"]
        assert all(service.repo.health(w["id"]).last_success for w in watches)
        outcome = await service.check_now()
        assert len(outcome.reports) == 12 and not any(r.failed for r in outcome.reports)
        assert [r.path for r in server.take_requests()] == ["/ctgov/studies"]
    finally:
        await service.close()


def test_a_watch_removed_during_a_cycle_does_not_cost_the_others_their_record(tmp_path):
    from scrapers.records import FetchState, WatchSpec

    repo = Repo(connect(tmp_path / "tw.db"))
    for wid in ("a", "b"):
        repo.upsert_watch(WatchSpec(wid, "ctgov", {"trial": "NCT09990001"}), origin="cli")
    row = {"started_at": "2026-11-26T06:00:00Z", "duration_ms": 0, "http_status": 200, "requests": 0, "bytes": 0,
           "outcome": "not_modified"}
    repo.remove_watch("b")
    repo.save_unchanged([("a", FetchState(), dict(row)), ("b", FetchState(), dict(row))])
    assert repo.health("a").last_success == "2026-11-26T06:00:00Z"
    assert repo.health("b").last_success is None
    repo.db.close()


async def test_a_scheduled_check_delivers_and_shutdown_lets_it_finish(tmp_path, server):
    with DiscordStandIn(rate_limit=50, rate_window=1.0) as standin:
        cfg = config(tmp_path, server, [{"id": "resetme", "kind": "ctgov", "trial": "NCT09990001", "interval": "1s"}],
                     webhook_url=standin.url, api_base=standin.api_base)
        out = io.StringIO()
        service = Service(cfg, stdout=out, delivery_period_s=0.2)
        await service.open()
        service.start()
        try:
            await _until(lambda: service.repo.health("resetme").last_success is not None)
            server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001", status="COMPLETED")))
            await _until(lambda: standin.messages)
            assert standin.messages[0]["embeds"][0]["description"] == "**Recruiting** → **Completed**"
            assert "Status: Recruiting → Completed" in out.getvalue()
            # A check in flight at shutdown is allowed to finish, and its event is saved.
            server.route("GET", "/ctgov/studies/NCT09990001",
                         Reply(body=study("NCT09990001", status="TERMINATED"), delay_s=0.6))
            server.take_requests()
            await _until(lambda: server.requests)
        finally:
            await service.close()
        repo = Repo(connect(tmp_path / "tw.db"))
        assert [e["new"] for e in repo.events()] == ["COMPLETED", "TERMINATED"]
        repo.db.close()


async def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------ lock


def test_the_instance_lock_is_exclusive_and_released(tmp_path):
    db = str(tmp_path / "tw.db")
    first = InstanceLock(db).acquire()
    with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
        InstanceLock(db).acquire()
    first.release()
    InstanceLock(db).acquire().release()


# --------------------------------------------------------------------------------- the real thing


def test_run_as_a_process_delivers_a_change_and_stops_cleanly_on_sigterm(tmp_path, server):
    with DiscordStandIn(rate_limit=50, rate_window=1.0) as standin:
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
            [[watch]]
            id = "resetme"
            kind = "ctgov"
            trial = "NCT09990001"
            interval = "1s"
        """))
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait(lambda: any(r.path == "/ctgov/studies/NCT09990001" for r in server.requests), proc)
            _wait(lambda: _baseline_saved(tmp_path / "tw.db"), proc)  # never a sleep-and-hope

            # A second service on the same database is refused.
            second = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode == 2
            assert "already running on the database" in second.stderr and str(proc.pid) in second.stderr

            server.route("GET", "/ctgov/studies/NCT09990001",
                         Reply(body=study("NCT09990001", status="ACTIVE_NOT_RECRUITING"), etag="auto"))
            _wait(lambda: standin.messages, proc)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        [message] = standin.messages
        assert message["embeds"][0]["description"] == "**Recruiting** → **Active, not recruiting**"
        assert message["allowed_mentions"] == {"parse": []}
        assert "received SIGTERM; stopping" in err and err.rstrip().endswith("stopped")
        assert "Traceback" not in err and " ERROR " not in err
        assert standin.token not in err
        assert out == ""
        repo = Repo(connect(tmp_path / "tw.db"))
        assert [r["status"] for r in repo.db.query("SELECT status FROM outbox")] == ["sent"]
        repo.db.close()


def _baseline_saved(db: Path) -> bool:
    """Whether the service has saved a successful check (its first, silent baseline)."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM source_health WHERE last_success IS NOT NULL").fetchone()[0] > 0
        finally:
            con.close()
    except sqlite3.Error:
        return False  # not created yet


def _wait(condition, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the service exited early ({proc.returncode}): {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "timed out waiting for the service"
        time.sleep(0.05)


def test_a_refused_bot_token_stops_the_service_with_exit_2(tmp_path, server, monkeypatch, caplog):
    import discord

    from bot.engine.service import run_service

    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after the test
    with DiscordStandIn() as standin:
        cfg = config(tmp_path, server, [], api_base=standin.api_base, token="not-the-token")
        with caplog.at_level("INFO"):
            assert run_service(cfg) == 2
    assert "Discord refused the bot token" in caplog.text
    assert "not-the-token" not in caplog.text
    InstanceLock(cfg.db_path).acquire().release()  # the lock was released


def test_check_leaves_delivery_to_a_running_service(tmp_path, server, capsys):
    """Two delivery loops on one outbox would send rows twice: with `run` holding the database,
    `check` saves and prints its events, and leaves them pending for the service to deliver."""
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [http]
        per_host_rps = 0
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
        [[watch]]
        id = "resetme"
        kind = "ctgov"
        trial = "NCT09990001"
    """))
    assert main(["--config", str(path), "-q", "check"]) == 0
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001", status="COMPLETED")))
    lock = InstanceLock(str(tmp_path / "tw.db")).acquire()  # as `trialwatch run` holds it
    try:
        assert main(["--config", str(path), "-q", "check", "--json"]) == 0
    finally:
        lock.release()
    [line] = capsys.readouterr().out.splitlines()
    assert '"status_changed"' in line
    repo = Repo(connect(tmp_path / "tw.db"))
    assert [r["status"] for r in repo.db.query("SELECT status FROM outbox")] == ["pending"]
    repo.db.close()
