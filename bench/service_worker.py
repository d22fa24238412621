"""The long-running service's view of a check cycle, for ``bench/run.py``: one process that runs
``Checker.check_all`` over every enabled watch each time it reads a line on stdin, and answers
with one JSON line (``wall_s``, ``cpu_s`` of the whole process: parsing done in worker threads
counts, ``events``, ``failed``). No start-up is paid per cycle, as in ``trialwatch run``.

``trialwatch run`` checks the CT.gov trial watches that fall due together as one such cycle (its group
check: ``Service._scheduled_group`` → ``Checker.check_all``); watches of other kinds it checks one by one,
each with its own ``check_watch`` (same work per watch, without the shared cycle).
"""

import asyncio
import cProfile
import os
import json
import sys
import time


async def serve(config: str) -> None:
    from bot.app import open_repo, sync_config_watches
    from bot.engine.config import load_config
    from bot.engine.pipeline import Checker
    from scrapers.http.fetcher import Fetcher

    from bot.engine.gc_tuning import collect_less_often, freeze_what_is_loaded

    cfg = load_config(config)
    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    watches = repo.list_watches(enabled_only=True)
    collect_less_often()  # as trialwatch run does (Service.open)
    freeze_what_is_loaded()
    async with Fetcher(cfg.http) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        print(json.dumps({"ready": len(watches)}), flush=True)
        loop = asyncio.get_running_loop()
        cycle = 0
        profile_dir = os.environ.get("BENCH_PROFILE_DIR")  # cProfile each cycle into this folder (by hand)
        while await loop.run_in_executor(None, sys.stdin.readline):
            cycle += 1
            profiler = cProfile.Profile() if profile_dir else None
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            reports = await checker.check_all(watches)
            if profiler:
                profiler.disable()
                profiler.dump_stats(os.path.join(profile_dir, f"cycle{cycle}.prof"))
            print(json.dumps({"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
                              "events": sum(len(r.events) for r in reports),
                              "failed": sum(r.failed for r in reports)}), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
