"""Benchmark: trialwatch against urlwatch on the same ClinicalTrials.gov pages (run by hand).

    pip install -r bench/requirements.txt
    python bench/run.py --n 1000                      # the issue's headline cycle
    python bench/run.py --n 100 1000 5000 --thread    # cost against N, and a 200-page forum thread
    python bench/run.py --n 1000 --politeness         # trialwatch at per_host_rps = 1

For each N, a local server (``bench/server.py``, 127.0.0.1 only) serves N studies in the real
CT.gov API v2 format; trialwatch watches each with a ``ctgov`` ``trial`` watch, urlwatch with one
``url`` job per study page (``url: http://127.0.0.1:PORT/api/v2/studies/NCT…``, as its users write
them). Both run as subprocesses over the same world, cycle by cycle:

1. ``first``: nothing stored yet (both record a baseline);
2. ``unchanged``: nothing was updated since;
3. ``changed`` × ``--cycles``: ``--changed`` of the studies get a posted update (status,
   enrollment, last update date) before the cycle;
4. ``all changed``: every study gets an update.

Measured per run: wall time, CPU (user + sys of the child, from ``os.wait4``: the same numbers
``getrusage(RUSAGE_CHILDREN)`` adds up, but per child), peak RSS (``ru_maxrss``; the commands are
started by ``bench/launcher.py`` so the driver's own size does not leak into it), and the requests
and bytes the server counted. ``trialwatch (service)`` rows time ``Checker.check_all`` in-process
(the long-running ``trialwatch run``: no start-up), CPU of the checking thread only. Politeness is off for both unless ``--politeness`` (urlwatch has
none). Reporters are off for urlwatch; trialwatch prints its events as JSON lines to a file (counted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.server import BenchServer  # noqa: E402
from bench.world import CtgovWorld  # noqa: E402
from scrapers.ctgov.record import FIELDS_PARAM  # noqa: E402

if TYPE_CHECKING:  # bench.mix needs the test worlds (bot/demo/world/xenforo.py, bot/demo/world/feeds.py)
    from bench.mix import MixWorld


@dataclass
class Run:
    tool: str
    n: int
    cycle: str
    changed: int
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    requests: int
    bytes: int
    events: int | None = None
    rc: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


class Launcher:
    """Runs commands through ``bench/launcher.py``, a small process started before the world is
    built, so each command's peak RSS is its own (see the launcher's docstring)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("launcher.py"))],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], *, cwd: Path, env: dict[str, str], out: Path, err: Path) -> dict[str, Any]:
        """Run ``cmd`` to completion: ``wall_s``, ``user_s``, ``sys_s``, ``maxrss_kb``, ``rc``."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        job = {"cmd": cmd, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err)}
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


LAUNCHER: Launcher | None = None


def tw_watches(world: CtgovWorld, mix: MixWorld | None, server_url: str) -> list[dict[str, Any]]:
    """The trialwatch watches of the world: a ``ctgov`` trial watch per study, then the mix's."""
    watches = [{"id": nct.lower(), "kind": "ctgov", "trial": nct} for nct in world.ids]
    return watches + (mix.watches(server_url) if mix else [])


def trialwatch_config(path: Path, server_url: str, watches: list[dict[str, Any]], *, rps: float) -> None:
    lines = [
        "[database]", f'path = "{path.parent / "tw.db"}"',
        "[http]", f"per_host_rps = {rps}", "timeout_s = 60", 'user_agent = "trialwatch-bench"',
        "[notify]", "console = false",
        "[sources.ctgov]", f'base_url = "{server_url}/api/v2"',
        "[sources.ctis]", f'base_url = "{server_url}/ctis"',
    ]
    for w in watches:
        lines += ["[[watch]]", *(f"{k} = {json.dumps(v)}" for k, v in w.items()), 'interval = "1d"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def urlwatch_files(workdir: Path, server_url: str, jobs: list[tuple[str, str]]) -> list[str]:
    """One ``url`` job per page, named, as urlwatch users write them; reporters off."""
    urls = workdir / "urls.yaml"
    urls.write_text("".join(f'name: "{name}"\nurl: "{url}"\n---\n' for name, url in jobs), encoding="utf-8")
    config = workdir / "urlwatch.yaml"
    config.write_text("report:\n  stdout:\n    enabled: false\n    color: false\n", encoding="utf-8")
    hooks = workdir / "hooks.py"
    hooks.write_text("", encoding="utf-8")
    return ["urlwatch", "--urls", str(urls), "--config", str(config), "--hooks", str(hooks),
            "--cache", str(workdir / "urlwatch-cache.db")]


def bench_n(n: int, args: argparse.Namespace, env: dict[str, str]) -> list[Run]:
    world, n_ct = _world(n, args)
    runs: list[Run] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"twbench-{n}-"))
    try:
        with BenchServer(world) as server:
            mix = _mix(n, n_ct, server, args) if args.mix or args.forum else None
            cfg = workdir / "trialwatch.toml"
            trialwatch_config(cfg, server.url, tw_watches(world, mix, server.url), rps=1.0 if args.politeness else 0)
            tw_cmd = [sys.executable, "-m", "bot", "--config", str(cfg), "-q", "check", "--json"]
            jobs = [(nct, f"{server.url}/api/v2/studies/{nct}") for nct in world.ids]
            uw_cmd = urlwatch_files(workdir, server.url, jobs + (mix.urlwatch_jobs(server.url) if mix else [])) \
                if args.urlwatch else None
            for cycle, fraction in _plan(args):
                changed = _change(world, mix, fraction)
                tools = [("trialwatch", tw_cmd)] + ([("urlwatch", uw_cmd)] if uw_cmd else [])
                for tool, cmd in tools:
                    server.counters.take()
                    out, err = workdir / f"{tool}.out", workdir / f"{tool}.err"
                    assert LAUNCHER is not None
                    got = LAUNCHER.run(cmd, cwd=workdir, env=env, out=out, err=err)
                    rc = got["rc"]
                    c = server.counters.take()
                    events = sum(1 for line in out.read_text().splitlines() if line.strip()) \
                        if tool == "trialwatch" else None
                    run = Run(tool, n, cycle, len(changed), round(got["wall_s"], 3),
                              round(got["user_s"] + got["sys_s"], 3), round(got["user_s"], 3), round(got["sys_s"], 3),
                              round(got["maxrss_kb"] / 1024, 1), c["requests"], c["bytes"], events, rc,
                              {str(k): v for k, v in c["statuses"].items()})
                    runs.append(run)
                    if rc not in (0,):
                        print(f"  ! {tool} exited {rc}: {err.read_text()[-800:]}", file=sys.stderr)
                    print(f"  N={n:<5} {cycle:<12} {tool:<10} wall {run.wall_s:7.2f} s  cpu {run.cpu_s:6.2f} s  "
                          f"rss {run.peak_rss_mb:6.1f} MB  {run.requests:5d} req  {run.bytes / 1e6:8.2f} MB"
                          + (f"  {events} events" if events is not None else ""), file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return runs


def bench_service(n: int, args: argparse.Namespace, env: dict[str, str]) -> list[Run]:
    """The long-running service's view (``trialwatch run``): the same cycles, each one
    ``Checker.check_all`` call in one lasting process (``bench/service_worker.py``), so no start-up;
    CPU is that process's (worker threads included), memory is not measured here."""
    world, n_ct = _world(n, args)
    runs: list[Run] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"twbench-service-{n}-"))
    try:
        with BenchServer(world) as server:
            mix = _mix(n, n_ct, server, args) if args.mix or args.forum else None
            cfg = workdir / "trialwatch.toml"
            trialwatch_config(cfg, server.url, tw_watches(world, mix, server.url), rps=1.0 if args.politeness else 0)
            worker = subprocess.Popen([sys.executable, str(Path(__file__).with_name("service_worker.py")), str(cfg)],
                                      cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert worker.stdin is not None and worker.stdout is not None
            json.loads(worker.stdout.readline())  # ready
            try:
                for cycle, fraction in _plan(args):
                    changed = _change(world, mix, fraction)
                    server.counters.take()
                    worker.stdin.write("cycle\n")
                    worker.stdin.flush()
                    got = json.loads(worker.stdout.readline())
                    c = server.counters.take()
                    runs.append(Run("trialwatch (service)", n, cycle, len(changed), round(got["wall_s"], 3),
                                    round(got["cpu_s"], 3), round(got["cpu_s"], 3), 0.0, 0.0, c["requests"], c["bytes"],
                                    got["events"], int(got["failed"] > 0)))
                    print(f"  N={n:<5} {cycle:<12} service    wall {got['wall_s']:7.2f} s  cpu {got['cpu_s']:6.2f} s  "
                          f"{c['requests']:5d} req  {got['events']} events", file=sys.stderr, flush=True)
            finally:
                worker.stdin.close()
                worker.wait(timeout=60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return runs


def _world(n: int, args: argparse.Namespace) -> tuple[CtgovWorld, int]:
    """The CT.gov part of a world of ``n`` sources: all of it, 70 % with ``--mix``, none with ``--forum``."""
    n_ct = 0 if args.forum else round(n * 0.7) if args.mix else n
    world = CtgovWorld(n_ct)
    world.warm(world.ids, FIELDS_PARAM)
    return world, n_ct


def _mix(n: int, n_ct: int, server: BenchServer, args: argparse.Namespace) -> MixWorld:
    """The rest of a ``--mix`` world, equal shares of CTIS trials, XenForo threads and feeds; with
    ``--forum``, ``n`` XenForo 2 threads of 5 pages, each gaining 3 posts in every changed cycle."""
    from bench.mix import MixWorld

    if args.forum:
        mix = MixWorld(0, n, 0, server.url, thread_pages=5, posts_per_change=3)
        server.mix = mix
        return mix
    rest = n - n_ct
    mix = MixWorld(rest // 3, rest // 3, rest - 2 * (rest // 3), server.url)
    server.mix = mix
    return mix


def _change(world: CtgovWorld, mix: MixWorld | None, fraction: float) -> list[str]:
    """Post updates to ``fraction`` of every kind of source; returns one entry per changed source."""
    if not fraction:
        return []
    changed = world.change(fraction)
    world.warm(changed, FIELDS_PARAM)
    return changed + (["mix"] * mix.change(fraction, world.rng) if mix else [])


def _plan(args: argparse.Namespace) -> list[tuple[str, float]]:
    if args.forum:  # every thread gains 3 posts in every cycle after the first: cost should follow them
        return [("first", 0.0)] + [("changed", 1.0)] * args.cycles
    plan = [("first", 0.0), ("unchanged", 0.0)] + [("changed", args.changed)] * args.cycles
    return plan + ([("all changed", 1.0)] if args.all_changed else [])


def bench_thread(pages: int, env: dict[str, str]) -> dict[str, Any]:
    """Requests of a steady-state check of one XenForo thread of ``pages`` pages (trialwatch only)."""
    try:
        from bot.demo.replay import ReplayServer
        from bot.demo.world.xenforo import World
    except ImportError as exc:  # the forum sources or their test world are not in this build
        return {"skipped": f"XenForo world not available: {exc}"}
    out: dict[str, Any] = {"pages": pages}
    workdir = Path(tempfile.mkdtemp(prefix="twbench-thread-"))
    try:
        with ReplayServer() as server:
            world = World(server)
            thread = world.thread("ResetME: daratumumab for ME/CFS", pages * 20)
            world.publish()
            cfg = workdir / "trialwatch.toml"
            cfg.write_text(f'[database]\npath = "{workdir / "tw.db"}"\n[http]\nper_host_rps = 0\n[notify]\n'
                           f'console = false\n[[watch]]\nid = "thread"\nkind = "xenforo_thread"\n'
                           f'url = "{world.url(thread)}"\n', encoding="utf-8")
            cmd = [sys.executable, "-m", "bot", "--config", str(cfg), "-q", "check", "--json"]
            for label, new_posts in (("first", 0), ("steady (no new post)", 0), ("1 new post", 1),
                                     ("25 new posts", 25)):
                if new_posts:
                    thread.add(new_posts)
                    world.publish()
                server.take_requests()
                assert LAUNCHER is not None
                got = LAUNCHER.run(cmd, cwd=workdir, env=env, out=workdir / "o", err=workdir / "e")
                wall, cpu, rc = got["wall_s"], got["user_s"] + got["sys_s"], got["rc"]
                sent = [r for r in server.take_requests() if r.path.startswith("/threads/")]
                events = sum(1 for line in (workdir / "o").read_text().splitlines() if line.strip())
                out[label] = {"requests": len(sent), "events": events, "rc": rc, "wall_s": round(wall, 2),
                              "cpu_s": round(cpu, 2)}
                print(f"  thread of {pages} pages, {label:<22} {len(sent)} request(s), {events} event(s), rc {rc}",
                      file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (N, cycle, tool): medians over repeated cycles."""
    rows: list[dict[str, Any]] = []
    keys: list[tuple[int, str, str]] = []
    for r in runs:
        if (r.n, r.cycle, r.tool) not in keys:
            keys.append((r.n, r.cycle, r.tool))
    for n, cycle, tool in keys:
        group = [r for r in runs if (r.n, r.cycle, r.tool) == (n, cycle, tool)]
        med = lambda attr: statistics.median(getattr(r, attr) for r in group)  # noqa: E731
        rows.append({"n": n, "cycle": cycle, "tool": tool, "runs": len(group), "changed": group[0].changed,
                     "wall_s": med("wall_s"), "cpu_s": med("cpu_s"), "peak_rss_mb": max(r.peak_rss_mb for r in group),
                     "requests": med("requests"), "bytes": med("bytes"),
                     "events": med("events") if group[0].events is not None else None})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| N | cycle | tool | wall s | CPU s | peak RSS MB | requests | MB sent | events | urlwatch ÷ trialwatch (wall / CPU) |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        ratio = ""
        if row["tool"] == "urlwatch":
            tw = next((r for r in rows if (r["n"], r["cycle"], r["tool"]) == (row["n"], row["cycle"], "trialwatch")), None)
            if tw and tw["wall_s"] and tw["cpu_s"]:
                ratio = f"{row['wall_s'] / tw['wall_s']:.1f}× / {row['cpu_s'] / tw['cpu_s']:.1f}×"
        label = row["cycle"] + (f" ({row['changed']})" if row["cycle"] in ("changed", "all changed") else "")
        events = "" if row["events"] is None else f"{row['events']:,.0f}"
        lines.append(f"| {row['n']:,} | {label} | {row['tool']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | "
                     f"{row['peak_rss_mb']:.0f} | {row['requests']:,.0f} | {row['bytes'] / 1e6:.2f} | {events} | {ratio} |")
    return "\n".join(lines)


def follows_change(rows: list[dict[str, Any]]) -> str:
    """Does cost follow change? Each tool's unchanged and 5 %-changed cycles as a share of its
    all-changed cycle, and trialwatch's CPU per watch across N (linear cost = a flat line)."""
    lines = ["| N | tool | CPU: unchanged ÷ all changed | CPU: changed ÷ all changed | bytes: unchanged ÷ all changed | CPU ms per watch (changed) |",
             "|---:|---|---:|---:|---:|---:|"]
    for n in sorted({r["n"] for r in rows}):
        for tool in ("trialwatch", "trialwatch (service)", "urlwatch"):
            got = {r["cycle"]: r for r in rows if r["n"] == n and r["tool"] == tool}
            if "all changed" not in got or "unchanged" not in got or not got["all changed"]["cpu_s"]:
                continue
            full = got["all changed"]
            share = lambda c, k: f"{got[c][k] / full[k]:.0%}" if c in got and full[k] else "–"  # noqa: E731
            per_watch = f"{1000 * got['changed']['cpu_s'] / n:.2f}" if "changed" in got else "–"
            lines.append(f"| {n:,} | {tool} | {share('unchanged', 'cpu_s')} | {share('changed', 'cpu_s')} | "
                         f"{share('unchanged', 'bytes')} | {per_watch} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def growth(runs: list[Run]) -> str:
    """Does a changed cycle cost the same at the end as at the start? Median CPU of the first and the last
    three changed cycles per tool (``--forum`` with many ``--cycles``: the stored posts grow, the new do not)."""
    lines = ["| N | tool | changed cycles | CPU s, first 3 (median) | CPU s, last 3 (median) | last ÷ first |",
             "|---:|---|---:|---:|---:|---:|"]
    for n in sorted({r.n for r in runs}):
        for tool in ("trialwatch", "trialwatch (service)", "urlwatch"):
            cpu = [r.cpu_s for r in runs if r.n == n and r.tool == tool and r.cycle == "changed"]
            if len(cpu) < 6:
                continue
            first, last = statistics.median(cpu[:3]), statistics.median(cpu[-3:])
            lines.append(f"| {n:,} | {tool} | {len(cpu)} | {first:.2f} | {last:.2f} | {last / first:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def machine() -> str:
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    except (OSError, IndexError):
        mem = "?"
    return f"{os.cpu_count()} CPUs (nproc), {mem} RAM (free -h), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000], help="watch counts to run (e.g. 100 1000 5000)")
    p.add_argument("--changed", type=float, default=0.05, help="fraction of studies updated per changed cycle")
    p.add_argument("--cycles", type=int, default=3, help="changed cycles per N")
    p.add_argument("--politeness", action="store_true", help="trialwatch with per_host_rps = 1 (urlwatch has none)")
    p.add_argument("--no-urlwatch", dest="urlwatch", action="store_false", help="time trialwatch alone")
    p.add_argument("--no-all-changed", dest="all_changed", action="store_false", help="skip the all-changed cycle")
    p.add_argument("--thread", type=int, nargs="?", const=200, default=0, metavar="PAGES",
                   help="also check a XenForo thread of PAGES pages (default 200) and count requests")
    p.add_argument("--mix", action="store_true",
                   help="N sources of four kinds: 70 %% CT.gov trials, then CTIS trials, XenForo threads of 1-200 "
                        "pages and RSS feeds in equal shares (default: N CT.gov trials)")
    p.add_argument("--forum", action="store_true",
                   help="N XenForo 2 threads of 5 pages and nothing else; every thread gains 3 posts in each of "
                        "--cycles cycles (does a cycle's cost follow the new posts, not the stored ones?)")
    p.add_argument("--no-service", dest="service", action="store_false",
                   help="skip the in-process cycles (the long-running service's cost, without start-up)")
    p.add_argument("--json-out", type=Path, help="write every run and the summary as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the work folders (databases, configs, outputs)")
    args = p.parse_args(argv)
    if args.urlwatch and shutil.which("urlwatch") is None:
        p.error("urlwatch is not installed: pip install -r bench/requirements.txt (or pass --no-urlwatch)")
    global LAUNCHER
    LAUNCHER = Launcher()  # first, while this process is small
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"machine: {machine()}", file=sys.stderr)
    runs: list[Run] = []
    for n in args.n:
        runs += bench_n(n, args, env)
        if args.service:
            runs += bench_service(n, args, env)
    rows = summarise(runs)
    thread = bench_thread(args.thread, env) if args.thread else None
    print(f"\nmachine: {machine()}")
    print(f"command: python bench/run.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"politeness: {'trialwatch per_host_rps = 1' if args.politeness else 'off for both'}\n")
    print(table(rows))
    print()
    print(follows_change(rows))
    trend = growth(runs)
    if trend:
        print("\n" + trend)
    if thread:
        print("\nXenForo thread (trialwatch):", json.dumps(thread))
    LAUNCHER.close()
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": machine(), "runs": [asdict(r) for r in runs], "summary": rows,
                                             "thread": thread}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
