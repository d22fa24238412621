"""The other sources of the benchmark's world (``--mix``): CTIS trials, XenForo threads of 1 to 200
pages, and RSS feeds, in the real formats, beside the CT.gov studies of :mod:`bench.world`.

The documents come from the project's own real-format builders and fixtures: CTIS search records
and retrieve documents from ``tests/fixtures/ctis`` (renumbered per trial), XenForo 2 thread pages
from ``bot/demo/world/xenforo.py`` (20 posts a page, a page past the end answered with a 303 to the
last one, as XenForo does), XenForo forum RSS from ``bot/demo/world/feeds.py``. A change is what the
source's users wait for: a CTIS status change with a new publication date, a new post, a new feed
item.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.demo.world.feeds import Post as FeedPost
from bot.demo.world.feeds import xenforo_rss
from bot.demo.world.xenforo import Thread

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ctis"
PILOT = "2024-512500-19-00"
_THREAD = re.compile(r"^/threads/[^/]*\.(\d+)/(?:page-(\d+)|(latest))?$")
_FEED = re.compile(r"^/feeds/(\d+)\.rss$")
_RETRIEVE = re.compile(r"^/ctis/retrieve/(\d{4}-\d{6}-\d{2}-\d{2})$")

Answer = tuple[int, bytes, dict[str, str]]


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


class MixWorld:
    """CTIS trials, forum threads and feeds; ``change(fraction)`` updates that share of each."""

    def __init__(self, n_ctis: int, n_threads: int, n_feeds: int, root: str, *, thread_pages: int | None = None,
                 posts_per_change: int = 1) -> None:
        """``thread_pages``: every thread that many pages long (default: 1 to 200 pages, spread);
        ``posts_per_change``: how many posts a changed thread gains."""
        self.root = root.rstrip("/") + "/"
        self.posts_per_change = posts_per_change
        search = json.loads((FIXTURES / f"search_{PILOT}.json").read_text(encoding="utf-8"))["data"][0]
        retrieve = json.loads((FIXTURES / f"retrieve_{PILOT}.json").read_text(encoding="utf-8"))
        self.ctis: dict[str, dict[str, Any]] = {}
        for i in range(n_ctis):
            number = f"2025-{600000 + i:06d}-11-00"
            rec, doc = copy.deepcopy(search), copy.deepcopy(retrieve)
            rec["ctNumber"] = doc["ctNumber"] = number
            rec["eudraCtInfo"]["eudraCtCode"] = f"2022-{300000 + i:06d}-18"
            doc["authorizedApplication"]["eudraCt"]["eudraCtCode"] = f"2022-{300000 + i:06d}-18"
            rec["ctTitle"] = f"Trial {number}: {rec['ctTitle']}"
            self.ctis[number] = {"search": rec, "retrieve": doc, "version": 0}
        self.threads: dict[int, Thread] = {}
        for i in range(n_threads):
            pages = thread_pages or 1 + (i * 53) % 200
            t = Thread(f"Trial thread {i}: daratumumab and ME/CFS")
            t.add(pages * 20 - (i % 7))
            self.threads[t.id] = t
        self.feeds: dict[int, list[FeedPost]] = {
            i: [FeedPost(70_000 + i * 1000 + k, f"News {k} of feed {i}", f"<b>Item {k}</b> about a trial.")
                for k in range(20)] for i in range(n_feeds)}
        self._pages: dict[tuple[int, int, int], bytes] = {}
        self._ctis_bodies: dict[tuple[str, int], tuple[bytes, bytes]] = {}
        self._feed_bodies: dict[tuple[int, int], bytes] = {}

    # --- watches and urlwatch jobs ---------------------------------------------------------------
    def watches(self, server_url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"id": f"ctis-{n}", "kind": "ctis", "trial": n} for n in self.ctis]
        out += [{"id": f"thread-{t.id}", "kind": "xenforo_thread", "url": server_url + t.path(1)}
                for t in self.threads.values()]
        out += [{"id": f"feed-{i}", "kind": "feed", "url": f"{server_url}/feeds/{i}.rss"} for i in self.feeds]
        return out

    def urlwatch_jobs(self, server_url: str) -> list[tuple[str, str]]:
        """(name, url) as a urlwatch user writes them: the CTIS dossier, the thread's latest page, the feed."""
        jobs = [(n, f"{server_url}/ctis/retrieve/{n}") for n in self.ctis]
        jobs += [(f"thread {t.id}", f"{server_url}{t.path(1)}latest") for t in self.threads.values()]
        return jobs + [(f"feed {i}", f"{server_url}/feeds/{i}.rss") for i in self.feeds]

    # --- changes ---------------------------------------------------------------------------------
    def change(self, fraction: float, rng: Any) -> int:
        today = datetime.now(timezone.utc)
        changed = 0
        for number in _pick(list(self.ctis), fraction, rng):
            trial = self.ctis[number]
            code = 5 if trial["search"]["ctStatus"] == 4 else 4
            trial["search"]["ctStatus"] = code
            trial["search"]["trialCountries"] = [f"Norway:{code}"]
            trial["search"]["lastUpdated"] = trial["search"]["lastPublicationUpdate"] = today.strftime("%d/%m/%Y")
            trial["retrieve"]["ctPublicStatusCode"] = code
            for msc in trial["retrieve"]["authorizedApplication"].get("memberStatesConcerned", []):
                msc["mscPublicStatusCode"] = code
            trial["version"] += 1
            changed += 1
        for tid in _pick(list(self.threads), fraction, rng):
            self.threads[tid].add(self.posts_per_change)
            changed += 1
        for i in _pick(list(self.feeds), fraction, rng):
            posts = self.feeds[i]
            k = len(posts)
            posts.insert(0, FeedPost(70_000 + i * 1000 + k, f"News {k} of feed {i}", f"<b>Item {k}</b> about a trial."))
            del posts[20:]
            changed += 1
        return changed

    # --- answers ---------------------------------------------------------------------------------
    def answer(self, method: str, path: str, if_none_match: str | None, body: bytes) -> Answer | None:
        """The answer to a request for one of these sources, or None when the path is not theirs."""
        if method == "POST" and path == "/ctis/search":
            number = (json.loads(body or b"{}").get("searchCriteria") or {}).get("number")
            trial = self.ctis.get(number or "")
            data = [trial["search"]] if trial else []
            page = {"pagination": {"totalRecords": len(data), "currentPage": 1, "totalPages": 1,
                                   "nextPage": False, "prevPage": False}, "data": data}
            return 200, json.dumps(page).encode(), {"Content-Type": "application/json"}
        if method != "GET":
            return None
        m = _RETRIEVE.match(path)
        if m:
            trial = self.ctis.get(m.group(1))
            if trial is None:
                return 404, b'{"message":"not found"}', {"Content-Type": "application/json"}
            key = (m.group(1), trial["version"])
            if key not in self._ctis_bodies:
                doc = json.dumps(trial["retrieve"]).encode()
                self._ctis_bodies[key] = (doc, _etag(doc).encode())
            doc, etag = self._ctis_bodies[key]
            return _conditional(doc, etag.decode(), if_none_match, "application/json")
        m = _THREAD.match(path)
        if m:
            t = self.threads.get(int(m.group(1)))
            if t is None:
                return 404, b"", {"Content-Type": "text/html"}
            last = t.last_page
            page = int(m.group(2) or 1)
            if m.group(3) or page > last:  # XenForo: past the end (and /latest) is a 303 to the last page
                return 303, b"", {"Location": self.root.rstrip("/") + t.path(last), "Content-Type": "text/html"}
            key = (t.id, len(t.posts), page)
            if key not in self._pages:
                self._pages[key] = t.render(page, self.root).encode()
            return 200, self._pages[key], {"Content-Type": "text/html; charset=utf-8"}
        m = _FEED.match(path)
        if m and int(m.group(1)) in self.feeds:
            i = int(m.group(1))
            key = (i, self.feeds[i][0].thread_id)
            if key not in self._feed_bodies:
                self._feed_bodies[key] = xenforo_rss(*self.feeds[i], title=f"Feed {i}").encode()
            rss = self._feed_bodies[key]
            return _conditional(rss, _etag(rss), if_none_match, "application/rss+xml; charset=utf-8")
        return None


def _conditional(body: bytes, etag: str, if_none_match: str | None, ctype: str) -> Answer:
    if if_none_match == etag:
        return 304, b"", {"ETag": etag}
    return 200, body, {"ETag": etag, "Content-Type": ctype}


def _pick(keys: list[Any], fraction: float, rng: Any) -> list[Any]:
    k = round(len(keys) * fraction)
    return keys if k >= len(keys) else rng.sample(keys, k)
