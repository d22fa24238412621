"""XenForo page parsing cost, by hand: ``python -m bench.xenforo_pages`` prints old vs new ms per page.

Why it exists: the thread parse was BeautifulSoup + soupsieve (about 40 ms for a 66 kB XF2 page,
100-150 ms for the 218 kB XF1 sample); :mod:`scrapers.xenforo` now reads the same tree through lxml
and precompiled XPath, aiming at ≤ 3.5 ms and ≤ 12 ms. Timing belongs here, never in a unit test
(a busy CI machine would make it flaky); that the records are identical is
``tests/test_xenforo_equivalence.py``.

"old" is the BeautifulSoup implementation as committed at ``--old-rev`` (the last commit before the
lxml rewrite), read with ``git show`` into a temporary package, because a benchmark may not import
the tests, where the same code lives on as the test oracle. "new" is the working tree. Each figure
is the median of ``--runs`` parses of the page (bytes in, records out), after one warm-up parse.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapers.xenforo.forum import parse_forum_page
from scrapers.xenforo.thread import parse_thread_page

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples" / "xenforo"
#: the last commit whose scrapers/xenforo was the BeautifulSoup implementation
OLD_REV = "55c00b9"
HEADLINE = ("xf2_thread_xenforo-community_8276.html", "xf1_thread_sufficientvelocity_page54.html")
_MODULES = ("__init__", "common", "body", "dates", "urls", "thread", "forum", "paging")


def old_parsers(rev: str, into: Path) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``parse_thread_page`` and ``parse_forum_page`` as they were at ``rev`` (package ``xenforo_old``)."""
    package = into / "xenforo_old"
    package.mkdir()
    for name in _MODULES:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:scrapers/xenforo/{name}.py"],
                                check=True, capture_output=True, text=True).stdout
        (package / f"{name}.py").write_text(source.replace("scrapers.xenforo.", "xenforo_old."), encoding="utf-8")
    sys.path.insert(0, str(into))
    thread = importlib.import_module("xenforo_old.thread")
    forum = importlib.import_module("xenforo_old.forum")
    return thread.parse_thread_page, forum.parse_forum_page


def median_ms(parse: Callable[..., Any], body: bytes, runs: int) -> float:
    parse(body)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        parse(body)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--old-rev", default=OLD_REV)
    ap.add_argument("--all", action="store_true", help="every sample page, not only the two headline pages")
    args = ap.parse_args(argv)
    if not SAMPLES.is_dir():
        print(f"samples not available: {SAMPLES} is missing", file=sys.stderr)
        return 2
    names = sorted(p.name for p in SAMPLES.glob("*.html")) if args.all else list(HEADLINE)
    with tempfile.TemporaryDirectory() as tmp:
        old_thread, old_forum = old_parsers(args.old_rev, Path(tmp))
        print(f"{'page':58} {'kB':>5} {'old ms':>8} {'new ms':>8} {'speed-up':>9}")
        for name in names:
            body = (SAMPLES / name).read_bytes()
            forum = "forum_view" in name
            old = median_ms(old_forum if forum else old_thread, body, args.runs)
            new = median_ms(parse_forum_page if forum else parse_thread_page, body, args.runs)
            print(f"{name:58} {len(body) / 1000:5.0f} {old:8.1f} {new:8.2f} {old / new:8.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
