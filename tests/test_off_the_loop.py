"""The heavy steps of a check run off the event loop (issue 4, point 4): a 20,000-entry feed stalled the
loop for 15 s, freezing the bot and /check acknowledgements. Rather than timing (bench/loop_stall.py
measures the stall: 150-175 ms at 20,000 entries), this checks WHERE the work runs: feed parsing, the
diff and the text signals must never run on the thread of the event loop."""

from __future__ import annotations

import asyncio
import threading

import bot.engine.pipeline as pipeline
import scrapers.feed as feed_module
import storage.reported as reported
from bot.app import open_repo, sync_config_watches
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.feeds import atom
from bot.engine.config import config_from_dict
from scrapers.http.fetcher import Fetcher


def test_parse_diff_and_signals_of_a_check_run_in_worker_threads(tmp_path, monkeypatch) -> None:
    threads: dict[str, set[int]] = {"parse": set(), "diff": set(), "signals": set()}

    def spy(name, fn):
        def wrapped(*args, **kwargs):
            threads[name].add(threading.get_ident())
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(feed_module, "parse", spy("parse", feed_module.parse))
    monkeypatch.setattr(pipeline, "diff_items", spy("diff", pipeline.diff_items))
    monkeypatch.setattr(pipeline, "signals_by_key", spy("signals", reported.signals_by_key))

    def entries(n: int) -> str:
        return atom(*((f"urn:{i}", f"Entry {i}", f"https://e.org/{i}", f"<p>{i} of 66 patients enrolled.</p>")
                      for i in range(n)))

    async def run() -> int:
        loop_thread = threading.get_ident()
        with ReplayServer() as server:
            server.route("GET", "/news.atom", Reply(body=entries(1), content_type="application/atom+xml"))
            cfg = config_from_dict({"database": {"path": str(tmp_path / "tw.db")}, "http": {"per_host_rps": 0},
                                    "notify": {"console": False},
                                    "watch": [{"id": "news", "kind": "feed", "url": f"{server.url}/news.atom",
                                               "labels": ["x"]}]})
            repo = open_repo(cfg)
            sync_config_watches(repo, cfg)
            async with Fetcher(cfg.http) as fetcher:
                checker = pipeline.Checker(cfg, repo, fetcher)
                await checker.check_all(repo.list_watches())
                for ids in threads.values():
                    ids.clear()  # the baseline of one entry was small work, done on the loop
                # more items than OFF_LOOP_ITEMS: a small result is diffed on the loop (a thread hop costs more)
                big = pipeline.OFF_LOOP_ITEMS + 50
                server.route("GET", "/news.atom", Reply(body=entries(big), content_type="application/atom+xml"))
                await checker.check_all(repo.list_watches())
        return loop_thread

    loop_thread = asyncio.run(run())
    assert all(threads.values()), threads  # each step ran
    assert all(loop_thread not in ids for ids in threads.values()), threads
