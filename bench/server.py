"""The benchmark's HTTP server on 127.0.0.1: a ClinicalTrials.gov API v2 stand-in over a
:class:`bench.world.CtgovWorld`, counting requests and bytes.

Why not ``bot.demo.replay.ReplayServer``: it matches routes by scanning a list, which is right for
tests (a few routes, scripted in order) and wrong for 5,000 studies (every request would scan
5,000 routes). This server looks studies up by id and serves cached bytes.

It answers what the registry answers for what the two clients ask:

* ``GET /api/v2/studies/{nct}[?fields=…]``: the study (full, or the ``fields`` subset), with an
  ETag; ``If-None-Match`` with the current ETag gets ``304`` (urlwatch sends it; so does trialwatch
  for a lone trial);
* ``GET /api/v2/studies?filter.ids=A|B|…[&filter.advanced=AREA[LastUpdatePostDate]RANGE[d,MAX]]
  [&fields=…][&pageSize=n][&pageToken=t]``: the requested studies (only those updated on or after
  ``d``), ``pageSize`` a page (at most 1,000), ``nextPageToken`` while more remain;
* a request line over 8 KB gets ``414 URI Too Long`` (as real servers do), an unknown field ``400``.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.world import CtgovWorld

MAX_REQUEST_LINE = 8192
_RANGE = re.compile(r"^AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]$")
_STUDY = re.compile(r"^/api/v2/studies/(NCT\d{8})$")


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.statuses: dict[int, int] = {}
        self.longest_target = 0

    def add(self, status: int, size: int, target: str) -> None:
        with self.lock:
            self.requests += 1
            self.bytes += size
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.longest_target = max(self.longest_target, len(target))

    def take(self) -> dict[str, Any]:
        with self.lock:
            out = {"requests": self.requests, "bytes": self.bytes, "statuses": dict(self.statuses),
                   "longest_target": self.longest_target}
            self.requests = self.bytes = self.longest_target = 0
            self.statuses = {}
        return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client hanging up is not news
        pass


class BenchServer:
    """Serve ``world`` on 127.0.0.1 (an OS-chosen port) in a background thread."""

    def __init__(self, world: CtgovWorld, mix: Any = None) -> None:
        self.world = world
        self.mix = mix  # bench.mix.MixWorld (CTIS, XenForo threads, feeds) or None
        self.counters = Counters()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle's algorithm on, the body of every
            # keep-alive answer would wait for the client's delayed ACK (~40 ms)
            disable_nagle_algorithm = True

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else b""
                status, body, headers = outer._answer(self.command, self.path, self.headers.get("If-None-Match"), sent)
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                outer.counters.add(status, len(body), self.path)

            do_POST = do_GET

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bench-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "BenchServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- answers -----------------------------------------------------------------------------
    def _answer(self, method: str, target: str, if_none_match: str | None,
                body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if len(target) + 16 > MAX_REQUEST_LINE:
            return 414, b'{"message":"URI Too Long"}', {}
        parts = urlsplit(target)
        if self.mix is not None and not parts.path.startswith("/api/v2/"):
            got = self.mix.answer(method, parts.path, if_none_match, body)
            if got is not None:
                return got
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        world = self.world
        m = _STUDY.match(parts.path)
        try:
            if m:
                nct = m.group(1)
                if nct not in world.states:
                    return 404, b'{"message":"not found"}', {}
                etag = world.etag(nct)
                if if_none_match == etag:
                    return 304, b"", {"ETag": etag}
                body = world.subset(nct, q["fields"]) if "fields" in q else world.full(nct)
                return 200, body, {"ETag": etag}
            if parts.path == "/api/v2/studies":
                return self._search(q)
        except KeyError as exc:
            return 400, f'{{"message":"unknown field {exc.args[0]}"}}'.encode(), {}
        return 404, b'{"message":"no such path"}', {}

    def _search(self, q: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        world = self.world
        ids = [i for i in q.get("filter.ids", "").split("|") if i in world.states] if "filter.ids" in q \
            else list(world.ids)
        if "filter.advanced" in q:
            m = _RANGE.match(q["filter.advanced"])
            if not m:
                return 400, b'{"message":"unsupported filter.advanced"}', {}
            ids = [i for i in ids if world.updated_since(i, m.group(1))]
        size = min(1000, int(q.get("pageSize", "10")))
        start = int(q.get("pageToken") or 0)
        page = ids[start:start + size]
        fields = q.get("fields")
        parts = [world.subset(i, fields) if fields else world.full(i) for i in page]
        counted = not start and q.get("countTotal") == "true"  # totalCount: first page, when asked for
        head = b'{"totalCount":%d,"studies":[' % len(ids) if counted else b'{"studies":['

        tail = b"]" + (b',"nextPageToken":"%d"}' % (start + size) if start + size < len(ids) else b"}")
        return 200, head + b",".join(parts) + tail, {}
