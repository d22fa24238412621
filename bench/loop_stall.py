"""The longest stall of the event loop while a check reads a flood (run by hand; results in bench/README.md).

    python bench/loop_stall.py [--entries 20000] [--post-kb 40]

A ticking task records the gap between its 10 ms sleeps while ``Checker.check_all`` reads a feed that grew
by ``--entries`` entries, each summary carrying a pathological run of "Dr. " (the sentence splitter's old
quadratic case). The bot, /check acknowledgements and the other watches share this loop: the longest gap
is how long they would wait.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import open_repo, sync_config_watches  # noqa: E402
from bot.demo.replay import Reply, ReplayServer  # noqa: E402
from bot.demo.world.feeds import atom  # noqa: E402
from bot.engine.config import config_from_dict  # noqa: E402
from bot.engine.pipeline import Checker  # noqa: E402
from scrapers.http.fetcher import Fetcher  # noqa: E402


def feed(n: int, post_kb: int) -> str:
    hostile = "Dr. " * (post_kb * 256)
    entries = [(f"urn:e:{i}", f"Entry {i}", f"https://news.example.org/{i}", f"<p>{i} Dr. Fluge said.</p>")
               for i in range(n)]
    entries.append(("urn:hostile", "Hostile", "https://news.example.org/h", f"<p>{hostile} 45 of 66 enrolled.</p>"))
    return atom(*entries)


async def measure(entries: int, post_kb: int) -> None:
    with ReplayServer() as server:
        server.route("GET", "/news.atom", Reply(body=atom(("urn:0", "First", "https://e.org/0", "x")),
                                                content_type="application/atom+xml"))
        folder = tempfile.mkdtemp()
        cfg = config_from_dict({"database": {"path": f"{folder}/tw.db"}, "http": {"per_host_rps": 0},
                                "notify": {"console": False},
                                "watch": [{"id": "news", "kind": "feed", "url": f"{server.url}/news.atom"}]})
        repo = open_repo(cfg)
        sync_config_watches(repo, cfg)
        async with Fetcher(cfg.http) as fetcher:
            checker = Checker(cfg, repo, fetcher)
            await checker.check_all(repo.list_watches())
            server.route("GET", "/news.atom", Reply(body=feed(entries, post_kb), content_type="application/atom+xml"))
            gaps: list[float] = []
            done = False

            async def tick() -> None:
                last = time.perf_counter()
                while not done:
                    await asyncio.sleep(0.01)
                    now = time.perf_counter()
                    gaps.append(now - last - 0.01)
                    last = now

            ticker = asyncio.create_task(tick())
            started = time.perf_counter()
            await checker.check_all(repo.list_watches())
            took = time.perf_counter() - started
            done = True
            await ticker
    print(f"{entries} entries + a {post_kb} kB post: check {took:.2f} s, longest loop stall {max(gaps) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--post-kb", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(measure(args.entries, args.post_kb))


if __name__ == "__main__":
    main()
