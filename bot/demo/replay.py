"""A local HTTP server that replays real-format responses through a sequence of changes.

It is what the tests run the whole pipeline against, and what ``trialwatch demo`` shows the product
with: registries, forums and paper searches played from files on 127.0.0.1, step by step, with no
network and no credentials. Responses are real HTTP: status codes, ETag/304, Retry-After, slow and
oversized bodies, HTML where JSON was expected. Every request is recorded for assertions.

Routes are matched on method, path and (optionally) query parameters; the route with the most
matching query parameters wins, and ``"*"`` as a value means "present, any value". A route may hold
a list of replies served in turn (the last one repeats), which scripts "503 once, then 200".
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a timeout, a size cap) is expected here, not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes | str | Any = b""  # bytes/str as is; any other value is sent as JSON
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # "auto": a hash of the body. Sent as ETag; a matching If-None-Match gets 304
    last_modified: str | None = None
    delay_s: float = 0.0  # wait before answering (a slow or hanging server)
    stream_bytes: int | None = None  # stream this many filler bytes (chunked, no Content-Length)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")

    def etag_value(self) -> str | None:
        if self.etag == "auto":
            return '"' + hashlib.sha1(self.payload()).hexdigest()[:16] + '"'
        return self.etag


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    target: str = ""  # the request target exactly as sent (path and encoded query): its length is what servers limit

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Route:
    method: str
    path: str
    query: dict[str, str]
    replies: list[Reply]
    body_contains: str | None = None
    served: int = 0
    respond: Callable[[Recorded], Reply] | None = None  # a reply computed from the request (see handle())

    @property
    def specificity(self) -> tuple[int, int]:
        """More query parameters, then a longer body match, win over a more general route."""
        return len(self.query), len(self.body_contains or "")

    def matches(self, method: str, path: str, query: dict[str, list[str]], body: bytes = b"") -> bool:
        if method != self.method or path != self.path:
            return False
        if self.body_contains is not None and self.body_contains.encode() not in body:
            return False
        for k, v in self.query.items():
            if k not in query or (v != "*" and v not in query[k]):
                return False
        return True

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class ReplayServer:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS unless given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no ~40 ms delayed-ACK stall per answer

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests and demo read stdout
                pass

            def _handle(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._httpd = _QuietServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ReplayServer":
        # A short poll interval: stop() waits for it, and tests start and stop many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting -------------------------------------------------------------------------
    def route(self, method: str, path: str, *replies: Reply, query: dict[str, str] | None = None,
              body_contains: str | None = None) -> None:
        """Set (or replace) what ``method path [?query]`` answers; several replies are served in turn.

        ``body_contains`` narrows a route to requests whose body holds that text (APIs such as CTIS
        search take their criteria in a POSTed JSON body).
        """
        if not replies:
            raise ValueError("a route needs at least one reply")
        q = dict(query or {})
        method = method.upper()
        with self._lock:
            self._routes = [r for r in self._routes if not (r.method == method and r.path == path and r.query == q
                                                            and r.body_contains == body_contains)]
            self._routes.append(_Route(method, path, q, list(replies), body_contains))

    def handle(self, method: str, path: str, respond: Callable[[Recorded], Reply], *,
               query: dict[str, str] | None = None) -> None:
        """Answer ``method path [?query]`` with ``respond(request)``: a stand-in for an API that filters
        by its query (CT.gov ``filter.ids`` / ``filter.advanced`` / ``pageToken``), so a test can check
        what a client asked for by what it got. Matched like :meth:`route` (it replaces the same key)."""
        q = dict(query or {})
        method = method.upper()
        with self._lock:
            self._routes = [r for r in self._routes if not (r.method == method and r.path == path and r.query == q
                                                            and r.body_contains is None)]
            self._routes.append(_Route(method, path, q, [], None, respond=respond))

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()

    def take_requests(self) -> list[Recorded]:
        """The requests recorded since the last call (and forget them)."""
        with self._lock:
            out, self.requests = self.requests, []
        return out

    # --- serving ---------------------------------------------------------------------------
    def _find(self, request: Recorded) -> Reply | None:
        with self._lock:
            candidates = [r for r in self._routes
                          if r.matches(request.method, request.path, request.query, request.body)]
            if not candidates:
                return None
            best = max(candidates, key=lambda r: r.specificity)
            if best.respond is None:
                return best.next_reply()
            best.served += 1
        return best.respond(request)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        recorded = Recorded(h.command, parts.path, query, {k.lower(): v for k, v in h.headers.items()}, body,
                            time.monotonic(), h.path)
        with self._lock:
            self.requests.append(recorded)
        reply = self._find(recorded)
        if reply is None:
            reply = Reply(404, {"error": f"no replay route for {h.command} {parts.path}"})
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            self._write(h, reply)
        except ConnectionError:
            pass  # the client gave up (a timeout or a size cap): that is the point of some replies

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        etag = reply.etag_value()
        if etag and h.headers.get("If-None-Match") == etag or (
                reply.last_modified and h.headers.get("If-Modified-Since") == reply.last_modified):
            h.send_response(304)
            if etag:
                h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        if etag:
            h.send_header("ETag", etag)
        if reply.last_modified:
            h.send_header("Last-Modified", reply.last_modified)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        if reply.stream_bytes is not None:
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for chunk in _filler(reply.stream_bytes):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
            return
        data = reply.payload() if h.command != "HEAD" else b""
        h.send_header("Content-Length", str(len(reply.payload())))
        h.end_headers()
        h.wfile.write(data)


def _filler(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * chunk
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


# --- worlds: step-by-step scripts stored as files (used by the demo) ------------------------------
@dataclass
class Step:
    name: str
    at: str | None  # the world's clock for this step (ISO, UTC), so a replay reads like the days it shows
    routes: list[tuple[str, str, dict[str, str], list[Reply], str | None]]


def load_world(path: Path, server_url: str | None = None) -> list[Step]:
    """Read ``world.toml``: ``[[step]]`` tables with ``[[step.route]]`` entries naming files beside it.

    A route entry: ``method`` (GET), ``path``, optional ``query`` table and ``body_contains``, and either ``file`` (relative
    to the world's folder) or ``body``, with optional ``status``, ``content_type``, ``etag``.
    Each step keeps the previous step's routes unless it sets the same method, path and query again.
    """
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.parent

    def fill(data: bytes | str) -> bytes | str:
        """``{server}`` in a body or header is the serving replay server's address (links, redirects)."""
        if server_url is None:
            return data
        if isinstance(data, bytes):
            return data.replace(b"{server}", server_url.encode())
        return data.replace("{server}", server_url)

    steps = []
    for i, st in enumerate(raw.get("step", [])):
        routes = []
        for r in st.get("route", []):
            body: bytes | str = fill((base / r["file"]).read_bytes() if "file" in r else r.get("body", ""))
            ctype = r.get("content_type") or _guess_type(r.get("file", ""))
            reply = Reply(status=int(r.get("status", 200)), body=body, content_type=ctype, etag=r.get("etag"),
                          headers={k: str(fill(v)) for k, v in r.get("headers", {}).items()})
            routes.append((r.get("method", "GET").upper(), r["path"], dict(r.get("query", {})), [reply],
                           r.get("body_contains")))
        steps.append(Step(st.get("name", f"step {i + 1}"), st.get("at"), routes))
    return steps


def apply_step(server: ReplayServer, step: Step) -> None:
    for method, path, query, replies, body_contains in step.routes:
        server.route(method, path, *replies, query=query, body_contains=body_contains)


def _guess_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith((".xml", ".rss", ".atom")):
        return "application/rss+xml; charset=UTF-8"
    if name.endswith(".html"):
        return "text/html; charset=UTF-8"
    return "application/octet-stream"
