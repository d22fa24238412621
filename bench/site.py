"""What writing the tracker website costs, by hand: ``python -m bench.site --n 1000``.

Why it exists: ``trialwatch run`` rewrites the site after every check with events, on the service's loop (the
database reads) and in a worker thread (rendering and writing). This fills a database with N ClinicalTrials.gov
trials through the real pipeline (the benchmark's CT.gov stand-in on 127.0.0.1, one ``trial`` watch each,
a baseline cycle and a cycle in which 10 % changed), then times ``gather_site`` (reads) and ``write_site``
(render + swap in), medians of three, wall and CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.server import BenchServer
from bench.world import CtgovWorld
from bot.app import sync_config_watches
from bot.engine.config import config_from_dict
from bot.engine.pipeline import Checker
from bot.site.build import write_site
from bot.site.gather import gather_site
from scrapers.http.fetcher import Fetcher
from storage.db import connect
from storage.repo import Repo


async def fill(repo: Repo, cfg, world: CtgovWorld) -> None:
    async with Fetcher(cfg.http) as fetcher:
        for at, changed in (("2026-06-01T09:00:00Z", 0.0), ("2026-09-01T09:00:00Z", 0.1)):
            if changed:
                world.change(changed)
            await Checker(cfg, repo, fetcher, now=lambda at=at: at).check_all(repo.list_watches(enabled_only=True))


def timed(fn, runs: int = 3) -> tuple[float, float, object]:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    for n in args.n:
        world = CtgovWorld(n)
        with tempfile.TemporaryDirectory() as tmp, BenchServer(world) as server:
            cfg = config_from_dict({
                "database": {"path": str(Path(tmp) / "tw.db")},
                "http": {"per_host_rps": 0},
                "sources": {"ctgov": {"base_url": f"{server.url}/api/v2"}},
                "watch": [{"id": nct.lower(), "kind": "ctgov", "trial": nct, "labels": [f"group{i % 5}"]}
                          for i, nct in enumerate(world.ids)],
            })
            repo = Repo(connect(cfg.db_path))
            sync_config_watches(repo, cfg)
            asyncio.run(fill(repo, cfg, world))
            gather_wall, gather_cpu, data = timed(lambda: gather_site(repo, [], now="2026-09-01T10:00:00Z"))
            write_wall, write_cpu, report = timed(lambda: write_site(data, Path(tmp) / "site"))
            size = sum(p.stat().st_size for p in (Path(tmp) / "site").rglob("*") if p.is_file())
            print(f"{n} trials: gather {gather_wall:.2f} s wall / {gather_cpu:.2f} s CPU; render + write "
                  f"{write_wall:.2f} s / {write_cpu:.2f} s CPU; {report.files} files, {size / 1e6:.1f} MB")
            repo.db.close()


if __name__ == "__main__":
    main()
