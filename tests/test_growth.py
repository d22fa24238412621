"""The database grows with changes, not with checks."""

from __future__ import annotations

import asyncio

from bot.engine.config import config_from_dict
from bot.engine.pipeline import Checker
from bot.demo.replay import Reply, ReplayServer
from scrapers.http.fetcher import Fetcher
from storage.db import connect
from storage.repo import FETCH_LOG_KEEP, Repo
from bot.demo.world.ctgov import search_page, study


def db_pages(repo: Repo) -> int:
    repo.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return repo.db.execute("PRAGMA page_count").fetchone()[0]


def test_database_size_is_flat_over_many_unchanged_checks(tmp_path):
    cfg = config_from_dict({
        "database": {"path": str(tmp_path / "g.db")},
        "http": {"per_host_rps": 0},
        "notify": {"console": False},
        "watch": [{"id": "one", "kind": "ctgov", "trial": "NCT09990001"},
                  {"id": "many", "kind": "ctgov", "params": {"query.cond": "ME/CFS"}}],
    })
    with ReplayServer() as server:
        cfg.base_urls["ctgov"] = f"{server.url}/ctgov"
        server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001"), etag="auto"))
        server.route("GET", "/ctgov/studies", Reply(body=search_page(*(study(f"NCT0999{i:04d}") for i in range(30)))))
        repo = Repo(connect(cfg.db_path))
        for w in cfg.watches:
            repo.upsert_watch(w, origin="config")

        async def run(n: int) -> None:
            async with Fetcher(cfg.http) as fetcher:
                checker = Checker(cfg, repo, fetcher)
                for _ in range(n):
                    reports = await checker.check_all(cfg.watches)
                    assert not any(r.failed for r in reports)

        asyncio.run(run(FETCH_LOG_KEEP + 5))  # baseline, then enough checks to fill the fetch log
        rows_after_warmup = dict(repo.iter_table_counts())
        pages_after_warmup = db_pages(repo)
        asyncio.run(run(60))
        rows_after = dict(repo.iter_table_counts())
        assert rows_after == rows_after_warmup
        assert rows_after["fetch_log"] == 2 * FETCH_LOG_KEEP
        assert rows_after["events"] == 0 and rows_after["items"] == 31
        assert db_pages(repo) == pages_after_warmup
