"""Hostile servers on 127.0.0.1: decompression bombs and hosts that answer slowly.

Bombs: a few kilobytes that inflate to gigabytes (stacked ``Content-Encoding: gzip, gzip`` and a
single gzip of 1 GB of zeros) must be refused with a clear error while decoding stays bounded by
``max_bytes`` — measured as peak RSS in a subprocess. Slow hosts: one host dripping its answers may
hold at most ``per_host_concurrency`` of the global slots, and a watch's check ends at its deadline.
No test asserts a short real-time interval: they wait on events and count.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WResponse

from bot.cli import main
from bot.demo.world.feeds import atom
from scrapers.http.errors import FetchError
from scrapers.http.fetcher import Fetcher, HttpSettings

ROOT = Path(__file__).resolve().parents[1]
GB = 1 << 30
#: the most one decoding step may produce (scrapers.http.decoding.PIECE): the overshoot allowed
PIECE = 64 * 1024


def gzip_of_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built in milliseconds: 1 MiB blocks, each ended by a full flush,
    compress to identical bytes, so the deflate stream is one block repeated (and CRC32 is computed
    incrementally). Decompresses with any gzip reader."""
    block_size = 1 << 20
    assert size % block_size == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(block_size)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    crc = 0
    for _ in range(size // block_size):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (size // block_size) + compressor.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)


def nest(body: bytes, levels: int) -> bytes:
    """``body`` gzipped ``levels - 1`` more times (level 1 is the body itself)."""
    for _ in range(levels - 1):
        body = gzip.compress(body, 9)
    return body


@pytest.fixture(scope="module")
def bombs() -> dict[str, tuple[bytes, str]]:
    """path → (body, Content-Encoding). gzip^n of zeros (1, 2 and 3 levels) and the 1 GB single level."""
    small = gzip_of_zeros(64 << 20)
    return {
        "/nested1": (nest(small, 1), "gzip"),
        "/nested2": (nest(small, 2), "gzip, gzip"),
        "/nested3": (nest(small, 3), "gzip, gzip, gzip"),
        "/gigabyte": (gzip_of_zeros(GB), "gzip"),
        "/gigabyte2": (nest(gzip_of_zeros(GB), 2), "gzip, gzip"),  # the 1.8 kB body from the issue
    }


@pytest.fixture(scope="module")
def bomb_server(bombs) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    for path, (body, coding) in bombs.items():
        server.expect_request(path).respond_with_data(body, content_type="application/json",
                                                      headers={"Content-Encoding": coding})
    server.start()
    yield server
    server.clear()
    server.stop()


def small(**overrides: object) -> HttpSettings:
    base: dict[str, object] = dict(per_host_rps=0, max_retries=0, timeout_s=10, max_bytes=1_000_000)
    base.update(overrides)
    return HttpSettings(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# decompression bombs


@pytest.mark.parametrize("path, coding", [("/nested2", "gzip, gzip"), ("/nested3", "gzip, gzip, gzip"),
                                          ("/gigabyte2", "gzip, gzip")])
async def test_stacked_content_codings_are_refused_naming_them(bomb_server, path, coding):
    async with Fetcher(small()) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get(bomb_server.url_for(path))
        assert fetcher.stats.bytes == 0  # refused before decoding anything
    assert info.value.kind == "content_type"
    assert f"Content-Encoding: {coding}" in str(info.value) and "only one content coding" in str(info.value)


@pytest.mark.parametrize("path", ["/nested1", "/gigabyte"])
async def test_a_single_gzip_bomb_is_refused_once_the_decoded_size_passes_max_bytes(bomb_server, path):
    limit = 2_000_000  # above the bombs' compressed size (about 1 MB): Content-Length alone does not refuse them
    async with Fetcher(small(max_bytes=limit)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get(bomb_server.url_for(path))
        # decoding stopped within one piece of the limit (httpx inflated a whole network chunk: 64 MB)
        assert limit < fetcher.stats.bytes <= limit + PIECE
    assert info.value.kind == "too_large"
    assert "decoded from gzip" in str(info.value) and "2 MB limit" in str(info.value)


def test_fetching_the_bombs_keeps_peak_memory_under_300_mb(bomb_server, tmp_path):
    """In a subprocess, so the peak is the fetcher's own (with the default 10 MB max_bytes): VmHWM, the
    high-water mark of the process's own memory (ru_maxrss would start from pytest's size at fork)."""
    script = textwrap.dedent("""
        import asyncio, json, resource, sys
        try:  # a safety net for the old behaviour (gigabytes): fail with MemoryError, not the machine
            resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        except (ValueError, OSError):
            pass
        from scrapers.http.errors import FetchError
        from scrapers.http.fetcher import Fetcher, HttpSettings

        async def run(urls):
            out = {}
            async with Fetcher(HttpSettings(per_host_rps=0, max_retries=0, timeout_s=30)) as fetcher:
                for url in urls:
                    try:
                        resp = await fetcher.get(url)
                        out[url] = f"accepted {len(resp.body)} bytes"
                    except FetchError as exc:
                        out[url] = f"{exc.kind}: {exc}"
                    except MemoryError:
                        out[url] = "MemoryError"
            return out

        results = asyncio.run(run(sys.argv[1:]))
        try:  # this process's own peak: ru_maxrss keeps the forking parent's (pytest's) peak across exec
            with open("/proc/self/status") as status:
                peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"results": results, "peak_mb": peak_mb}))
    """)
    urls = [bomb_server.url_for(p) for p in ("/nested1", "/nested2", "/nested3", "/gigabyte", "/gigabyte2")]
    proc = subprocess.run([sys.executable, "-c", script, *urls], capture_output=True, text=True, timeout=300, check=False,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for url, outcome in report["results"].items():
        assert outcome.startswith(("too_large", "content_type")), (url, outcome)
    assert report["peak_mb"] < 300, report


async def test_a_normal_gzip_or_deflate_response_still_works(bomb_server):
    data = {"studies": [{"nct": f"NCT{n:08d}", "title": "daratumumab " * 20} for n in range(200)]}
    raw = json.dumps(data).encode()
    deflated = zlib.compress(raw)
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies = {
        "/gz": (gzip.compress(raw), "gzip"),
        "/two-members": (gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]), "gzip"),
        "/deflate": (deflated, "deflate"),
        "/raw-deflate": (raw_deflate.compress(raw) + raw_deflate.flush(), "deflate"),
        "/identity": (raw, "identity"),
    }
    seen: list[Request] = []
    for path, (body, coding) in bodies.items():
        def handler(request: Request, body: bytes = body, coding: str = coding) -> WResponse:
            seen.append(request)
            return WResponse(body, content_type="application/json", headers={"Content-Encoding": coding})

        bomb_server.expect_request(path).respond_with_handler(handler)
    async with Fetcher(small()) as fetcher:
        for path in bodies:
            assert (await fetcher.get(bomb_server.url_for(path))).json() == data, path
    # only what we can decode with a limit is advertised (no zstd; br only with a bounded brotli)
    assert all(r.headers["Accept-Encoding"] in ("gzip, deflate", "gzip, deflate, br") for r in seen)


async def test_an_unknown_content_coding_is_refused_not_passed_through_as_garbage(bomb_server):
    bomb_server.expect_request("/zstd").respond_with_data(b"\x28\xb5\x2f\xfd garbage", content_type="application/json",
                                                          headers={"Content-Encoding": "zstd"})
    async with Fetcher(small()) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get(bomb_server.url_for("/zstd"))
    assert info.value.kind == "content_type" and "'zstd'" in str(info.value)


async def test_an_error_page_that_is_a_bomb_is_read_only_up_to_its_sniffing_prefix(bomb_server, bombs):
    body, _ = bombs["/gigabyte"]
    bomb_server.expect_request("/error-bomb").respond_with_data(body, status=404, content_type="text/html",
                                                                headers={"Content-Encoding": "gzip"})
    async with Fetcher(small(max_bytes=50_000_000)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get(bomb_server.url_for("/error-bomb"), expect="html")
        assert fetcher.stats.bytes <= 128 * 1024 + PIECE
    assert info.value.kind == "http_status" and "404" in str(info.value)


# --------------------------------------------------------------------------------------------
# slow hosts


class DripServer:
    """A raw HTTP/1.1 server on 127.0.0.1: headers at once, then one body byte every ``every``
    seconds, never finishing (until the client leaves or :meth:`stop`). Counts connections."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\n"
                             b"Content-Length: 1000000\r\n\r\n<")
                while not self._stop.wait(self.every):
                    conn.sendall(b" ")
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.stop()


async def test_one_slow_host_cannot_take_every_global_slot():
    """Eight requests to a host that holds them: only per_host_concurrency are in flight there, so a
    healthy host still gets a slot while all eight wait."""
    release = threading.Event()
    lock = threading.Lock()
    state = {"in_flight": 0, "max": 0, "served": 0}
    two_in_flight = threading.Event()

    def slow(request: Request) -> WResponse:
        with lock:
            state["in_flight"] += 1
            state["max"] = max(state["max"], state["in_flight"])
            if state["in_flight"] >= 2:
                two_in_flight.set()
        release.wait(60)
        with lock:
            state["in_flight"] -= 1
            state["served"] += 1
        return WResponse("{}", content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/slow").respond_with_handler(slow)
    server.expect_request("/healthy").respond_with_data('{"ok": true}', content_type="application/json")
    server.start()
    try:
        settings = small(max_concurrency=4, per_host_concurrency=2, timeout_s=120)
        async with Fetcher(settings) as fetcher:
            # two host names, one server: politeness is per host name
            slow_tasks = [asyncio.create_task(fetcher.get(f"http://127.0.0.1:{server.port}/slow")) for _ in range(8)]
            assert await asyncio.to_thread(two_in_flight.wait, 30)
            healthy = await asyncio.wait_for(fetcher.get(f"http://localhost:{server.port}/healthy"), 30)
            assert healthy.json() == {"ok": True}
            assert not release.is_set() and state["served"] == 0  # it did not wait for the slow host
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*slow_tasks), 60)
        assert len(results) == 8 and state["served"] == 8
        assert state["max"] == 2  # never more than per_host_concurrency at the slow host
    finally:
        release.set()
        server.clear()
        server.stop()


async def test_a_dripping_answer_ends_at_the_watch_deadline(drip):
    async with Fetcher(small(timeout_s=60, watch_deadline_s=1)) as fetcher:
        with pytest.raises(FetchError) as info:
            await asyncio.wait_for(fetcher.get(f"http://127.0.0.1:{drip.port}/feed", expect="xml"), 60)
    assert info.value.kind == "timeout"
    assert "passed its 1 s deadline" in str(info.value) and "watch_deadline_s" in str(info.value)


async def test_the_deadline_clock_belongs_to_one_check(drip):
    """One clock per task (each watch's check runs in its own), or per explicit check_deadline()."""
    from scrapers.http.fetcher import check_deadline

    quick = HTTPServer(host="127.0.0.1", port=0)
    quick.expect_request("/quick").respond_with_data("{}", content_type="application/json")
    quick.start()
    try:
        async with Fetcher(small(timeout_s=60, watch_deadline_s=1)) as fetcher:
            with pytest.raises(FetchError, match="deadline"):
                await fetcher.get(f"http://127.0.0.1:{drip.port}/feed", expect="xml")
            # the same check (task) is over: even a quick request now fails at once
            with pytest.raises(FetchError, match="deadline"):
                await fetcher.get(quick.url_for("/quick"))
            # another watch's check, in a task of its own, has its own clock (not this task's, copied)
            assert (await asyncio.create_task(fetcher.get(quick.url_for("/quick")))).json() == {}
            # and code that checks watches one after another in one task starts a clock per check
            with check_deadline():
                assert (await fetcher.get(quick.url_for("/quick"))).json() == {}
        assert len(quick.log) == 2
    finally:
        quick.clear()
        quick.stop()


async def test_a_retry_wait_does_not_outlive_the_watch_deadline():
    """A 503 asking for 50 s (within max_retry_after_s) must not hold the check past its deadline."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/busy").respond_with_data("busy", status=503, headers={"Retry-After": "50"})
    server.start()
    try:
        async with Fetcher(small(max_retries=3, watch_deadline_s=1)) as fetcher:
            with pytest.raises(FetchError, match="deadline"):
                await asyncio.wait_for(fetcher.get(server.url_for("/busy")), 30)
        assert len(server.log) == 1
    finally:
        server.clear()
        server.stop()


def test_a_watch_past_its_deadline_fails_alone_and_the_others_go_on(drip, tmp_path, capsys):
    """End to end (config → fetcher → pipeline): ``[check] watch_deadline_s`` fails only the slow watch."""
    healthy = HTTPServer(host="127.0.0.1", port=0)
    healthy.expect_request("/feed.xml").respond_with_data(
        atom(("urn:1", "Entry", "https://example.org/1", "An entry.")), content_type="application/atom+xml")
    healthy.start()
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        watch_deadline_s = 1
        [http]
        per_host_rps = 0
        max_retries = 0
        timeout_s = 60
        per_host_concurrency = 2
        [[watch]]
        id = "dripping"
        kind = "feed"
        url = "http://127.0.0.1:{drip.port}/feed.xml"
        [[watch]]
        id = "healthy"
        kind = "feed"
        url = "{healthy.url_for('/feed.xml').replace('127.0.0.1', 'localhost')}"
    """))
    try:
        code = main(["--config", str(cfg), "check", "--explain"])
    finally:
        healthy.clear()
        healthy.stop()
    out = capsys.readouterr().out
    assert code == 3
    assert "dripping (feed): error" in out and "passed its 1 s deadline" in out
    assert "healthy (feed): ok" in out


def test_the_new_keys_are_read_and_checked():
    from bot.engine.config import ConfigError, config_from_dict

    cfg = config_from_dict({"check": {"watch_deadline_s": 45}, "http": {"per_host_concurrency": 3}})
    assert (cfg.check.watch_deadline_s, cfg.http.watch_deadline_s, cfg.http.per_host_concurrency) == (45, 45, 3)
    defaults = config_from_dict({})
    assert (defaults.check.watch_deadline_s, defaults.http.per_host_concurrency) == (120, 2)
    with pytest.raises(ConfigError, match="per_host_concurrency"):
        config_from_dict({"http": {"per_host_concurrency": -1}})
    with pytest.raises(ConfigError, match="watch_deadline_s"):
        config_from_dict({"check": {"watch_deadline_s": -5}})
