"""The shared fetcher against a real local HTTP server (pytest-httpserver on 127.0.0.1).

Stateful cases (retry sequences, spacing, streaming) use handler functions that record what the
server actually received, so the assertions are about the wire, not about our own counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WResponse

from scrapers.records import ParseError
from scrapers.json_body import loads_json
from scrapers.http.errors import FetchError, describe, redact_url
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.http.content import parse_retry_after

TOKEN = "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO1pQ3rS5tU7"
WEBHOOK_PATH = f"/api/webhooks/123456789012345678/{TOKEN}"

CHALLENGE_PAGE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
    "<noscript>Enable JavaScript and cookies to continue</noscript>"
    "<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1\"></script></body></html>"
)


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    # threaded: a handler that sleeps (timeout case) must not hold up the next request
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def server(_server: HTTPServer) -> HTTPServer:
    _server.clear()
    return _server


def fast(**overrides: object) -> HttpSettings:
    """Small settings so retries and timeouts cost milliseconds; politeness off unless asked."""
    base: dict[str, object] = dict(timeout_s=0.5, backoff_s=0.01, max_retries=3, per_host_rps=0, max_bytes=100_000)
    base.update(overrides)
    return HttpSettings(**base)  # type: ignore[arg-type]


def scripted(responses: list[WResponse], seen: list[Request]):
    """A handler that answers with the next scripted response (the last one repeats)."""

    def handler(request: Request) -> WResponse:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler


def json_response(data: object, status: int = 200, **headers: str) -> WResponse:
    return WResponse(json.dumps(data), status=status, content_type="application/json", headers=headers)


# --------------------------------------------------------------------------------------------
# plain success, headers, conditional GET


async def test_get_json_sends_user_agent_and_accept(server: HTTPServer) -> None:
    seen: list[Request] = []
    server.expect_request("/studies").respond_with_handler(scripted([json_response({"studies": [1, 2]})], seen))
    async with Fetcher(fast(user_agent="trialwatch-test/9")) as fetcher:
        resp = await fetcher.get(server.url_for("/studies"), params={"format": "json"})
    assert resp.status == 200 and resp.attempts == 1 and not resp.not_modified
    assert resp.json() == {"studies": [1, 2]}
    assert seen[0].headers["User-Agent"] == "trialwatch-test/9"
    assert seen[0].headers["Accept"] == "application/json"
    assert seen[0].args["format"] == "json"


async def test_conditional_get_repeats_the_servers_validators_and_304_is_not_an_error(server: HTTPServer) -> None:
    etag, modified = '"v1-abc"', "Wed, 21 Oct 2026 07:28:00 GMT"
    seen: list[Request] = []

    def handler(request: Request) -> WResponse:
        seen.append(request)
        if request.headers.get("If-None-Match") == etag:
            return WResponse(status=304, headers={"ETag": etag})
        return json_response({"v": 1}, ETag=etag, **{"Last-Modified": modified})

    server.expect_request("/study").respond_with_handler(handler)
    async with Fetcher(fast()) as fetcher:
        first = await fetcher.get(server.url_for("/study"))
        assert first.validators() == {"etag": etag, "last_modified": modified}
        second = await fetcher.get(server.url_for("/study"), validators=first.validators())
    assert seen[1].headers["If-None-Match"] == etag
    assert seen[1].headers["If-Modified-Since"] == modified
    assert second.status == 304 and second.not_modified and second.body == b""
    # the 304 did not repeat Last-Modified: the stored one is kept so callers can save validators() as is
    assert second.validators() == {"etag": etag, "last_modified": modified}


async def test_post_json_sends_the_body(server: HTTPServer) -> None:
    seen: list[Request] = []
    server.expect_request("/search", method="POST").respond_with_handler(scripted([json_response({"data": []})], seen))
    async with Fetcher(fast()) as fetcher:
        resp = await fetcher.post_json(server.url_for("/search"), {"searchCriteria": {"number": "2024-512500-19-00"}})
    assert resp.json() == {"data": []}
    assert seen[0].headers["Content-Type"] == "application/json"
    assert json.loads(seen[0].get_data()) == {"searchCriteria": {"number": "2024-512500-19-00"}}


async def test_text_uses_declared_charset_and_falls_back_to_utf8(server: HTTPServer) -> None:
    latin1 = "café".encode("latin-1")
    server.expect_request("/latin").respond_with_data(latin1, content_type="text/html; charset=ISO-8859-1")
    server.expect_request("/bogus").respond_with_data("café".encode(), content_type="text/html; charset=no-such-codec")
    async with Fetcher(fast()) as fetcher:
        latin = await fetcher.get(server.url_for("/latin"), expect="html")
        bogus = await fetcher.get(server.url_for("/bogus"), expect="html")
    assert latin.text() == "café"
    assert bogus.text() == "café"


# --------------------------------------------------------------------------------------------
# retries


async def test_429_with_retry_after_zero_then_200_is_one_retry(server: HTTPServer) -> None:
    seen: list[Request] = []
    answers = [WResponse("slow down", status=429, headers={"Retry-After": "0"}), json_response({"ok": True})]
    server.expect_request("/x").respond_with_handler(scripted(answers, seen))
    async with Fetcher(fast(backoff_s=30)) as fetcher:  # a backoff would hang the test: Retry-After must win
        resp = await asyncio.wait_for(fetcher.get(server.url_for("/x")), 10)
    assert resp.attempts == 2 and len(seen) == 2
    assert resp.json() == {"ok": True}
    assert fetcher.stats.retries == 1 and fetcher.stats.requests == 2


async def test_persistent_503_gives_up_after_max_retries(server: HTTPServer) -> None:
    seen: list[Request] = []
    server.expect_request("/x").respond_with_handler(scripted([WResponse("down", status=503)], seen))
    async with Fetcher(fast(max_retries=2)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/x"))
    assert len(seen) == 3
    assert caught.value.kind == "http_status" and caught.value.status == 503
    expected = f"127.0.0.1:{server.port} answered 503 Service Unavailable 3 times (gave up after 2 retries)"
    assert str(caught.value) == expected


async def test_503_then_200_succeeds_and_the_retry_respects_host_spacing(server: HTTPServer) -> None:
    arrivals: list[float] = []
    seen: list[Request] = []
    inner = scripted([WResponse("down", status=503), json_response([1])], seen)

    def handler(request: Request) -> WResponse:
        arrivals.append(time.monotonic())
        return inner(request)

    server.expect_request("/x").respond_with_handler(handler)
    clock = FakeClock()  # the politeness clock is injected: exact on a busy machine, no real waiting
    async with Fetcher(fast(per_host_rps=20, backoff_s=0.001), clock=clock.now, sleep=clock.sleep) as fetcher:
        resp = await fetcher.get(server.url_for("/x"))
    assert resp.json() == [1] and resp.attempts == 2
    assert len(arrivals) == 2
    # the retry's backoff and then the rest of the 1/20 s spacing: the spacing applies to the retry too
    assert len(clock.sleeps) == 2 and sum(clock.sleeps) == pytest.approx(0.05)


class FakeClock:
    """Time that moves only when the fetcher's politeness gate sleeps; records each sleep."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def test_429_exhausted_is_rate_limited(server: HTTPServer) -> None:
    server.expect_request("/x").respond_with_data("no", status=429)
    async with Fetcher(fast(max_retries=1)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/x"))
    assert caught.value.kind == "rate_limited" and caught.value.status == 429


async def test_long_retry_after_fails_at_once_as_rate_limited(server: HTTPServer) -> None:
    seen: list[Request] = []
    wait_an_hour = WResponse("", status=429, headers={"Retry-After": "3600"})
    server.expect_request("/x").respond_with_handler(scripted([wait_an_hour], seen))
    async with Fetcher(fast(max_retry_after_s=60)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await asyncio.wait_for(fetcher.get(server.url_for("/x")), 10)
    assert len(seen) == 1
    assert caught.value.kind == "rate_limited" and caught.value.retry_after == 3600


async def test_404_is_not_retried(server: HTTPServer) -> None:
    seen: list[Request] = []
    server.expect_request("/x").respond_with_handler(scripted([WResponse("nope", status=404)], seen))
    async with Fetcher(fast()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/x"))
    assert len(seen) == 1
    assert caught.value.kind == "http_status" and caught.value.status == 404
    assert "not found (HTTP 404)" in str(caught.value)


async def test_timeout_is_retried_then_reported(server: HTTPServer) -> None:
    seen: list[float] = []

    def sleepy(request: Request) -> WResponse:
        seen.append(time.monotonic())
        time.sleep(0.6)
        return json_response({})

    server.expect_request("/slow").respond_with_handler(sleepy)
    async with Fetcher(fast(timeout_s=0.15, max_retries=1)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/slow"))
    assert caught.value.kind == "timeout"
    assert len(seen) == 2
    assert "did not answer in time" in str(caught.value)


async def test_connection_refused_is_connect() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with Fetcher(fast(max_retries=1)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(f"http://127.0.0.1:{port}/x")
    assert caught.value.kind == "connect"
    assert "connection refused" in str(caught.value)
    assert fetcher.stats.requests == 2


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org/file", "/relative/path"])
async def test_unusable_urls_are_invalid_url(url: str) -> None:
    async with Fetcher(fast()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert caught.value.kind == "invalid_url"
    assert fetcher.stats.requests == 0


# --------------------------------------------------------------------------------------------
# size cap


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_oversized_body_is_refused_without_reading_it_all(server: HTTPServer, with_length: bool) -> None:
    chunk, total_chunks = b"x" * 10_000, 100  # 1 MB = 10x the 100 kB limit
    yielded = 0

    def body() -> Iterator[bytes]:
        nonlocal yielded
        for _ in range(total_chunks):
            yielded += 1
            yield chunk
            time.sleep(0.002)  # keep the socket buffers from swallowing the whole body at once

    def handler(request: Request) -> WResponse:
        headers = {"Content-Length": str(len(chunk) * total_chunks)} if with_length else {}
        return WResponse(body(), content_type="application/json", headers=headers)

    server.expect_request("/big").respond_with_handler(handler)
    async with Fetcher(fast(max_bytes=100_000)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/big"))
    assert caught.value.kind == "too_large"
    assert yielded < total_chunks // 2
    assert fetcher.stats.bytes <= 100_000 + 64 * 1024
    if with_length:
        assert "refused before reading" in str(caught.value)
    else:
        assert str(caught.value) == "response is larger than the 100 kB limit (refused while streaming)"


async def test_body_at_the_limit_is_accepted(server: HTTPServer) -> None:
    server.expect_request("/exact").respond_with_data(b"[" + b"1," * 4998 + b"10]", content_type="application/json")
    async with Fetcher(fast(max_bytes=10_000)) as fetcher:
        resp = await fetcher.get(server.url_for("/exact"))
    assert len(resp.body) == 10_000 and len(resp.json()) == 4999


# --------------------------------------------------------------------------------------------
# content type and challenge pages


@pytest.mark.parametrize(
    ("expect", "body", "content_type", "ok"),
    [
        ("json", "<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html; charset=utf-8", False),
        ("json", "<html><body>oops</body></html>", "application/json", False),
        ("json", '{"a": 1}', "text/plain", True),
        ("xml", '<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "text/html", True),
        ("xml", '<feed xmlns="http://www.w3.org/2005/Atom"></feed>', "application/atom+xml", True),
        ("xml", "<!DOCTYPE html><html><body>Log in</body></html>", "text/html", False),
        ("xml", '{"a": 1}', "application/json", False),
        ("html", "<html><body>thread</body></html>", "text/html", True),
        ("html", "<html xmlns='http://www.w3.org/1999/xhtml'></html>", "application/xhtml+xml", True),
        ("html", '{"a": 1}', "application/json", False),
        ("any", '{"a": 1}', "application/octet-stream", True),
    ],
)
async def test_content_type_checks(server: HTTPServer, expect: str, body: str, content_type: str, ok: bool) -> None:
    server.expect_request("/c").respond_with_data(body, content_type=content_type)
    async with Fetcher(fast()) as fetcher:
        if ok:
            resp = await fetcher.get(server.url_for("/c"), expect=expect)
            assert resp.body == body.encode()
        else:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(server.url_for("/c"), expect=expect)
            assert caught.value.kind == "content_type"
            assert "was expected" in str(caught.value)


async def test_html_instead_of_json_message(server: HTTPServer) -> None:
    server.expect_request("/c").respond_with_data("<html><body>hi</body></html>", content_type="text/html")
    async with Fetcher(fast()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/c"))
    assert str(caught.value) == "got an HTML page where JSON was expected (text/html)"


@pytest.mark.parametrize(
    ("status", "headers", "expect"),
    [
        (403, {"cf-mitigated": "challenge", "Server": "cloudflare"}, "json"),
        (503, {"Server": "cloudflare"}, "json"),  # no header: the page itself gives it away
        (429, {}, "xml"),
        (200, {}, "json"),  # a 200 challenge page where JSON was expected
        (200, {}, "html"),  # the full challenge page, even when HTML was expected
    ],
)
async def test_cloudflare_challenge_is_detected_and_not_retried(
    server: HTTPServer, status: int, headers: dict[str, str], expect: str
) -> None:
    seen: list[Request] = []
    page = WResponse(CHALLENGE_PAGE, status=status, content_type="text/html; charset=UTF-8", headers=headers)
    server.expect_request("/t").respond_with_handler(scripted([page], seen))
    async with Fetcher(fast()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(server.url_for("/t"), expect=expect)
    assert caught.value.kind == "challenge" and caught.value.status == status
    assert f"blocked by a Cloudflare challenge page (HTTP {status})" in str(caught.value)
    assert len(seen) == 1


async def test_forum_post_quoting_just_a_moment_is_not_a_challenge(server: HTTPServer) -> None:
    page = "<html><head><title>Thread</title></head><body><p>Just a moment... I will check.</p></body></html>"
    server.expect_request("/thread").respond_with_data(page, content_type="text/html")
    async with Fetcher(fast()) as fetcher:
        resp = await fetcher.get(server.url_for("/thread"), expect="html")
    assert resp.status == 200


# --------------------------------------------------------------------------------------------
# JSON parse errors


async def test_truncated_json_raises_parse_error_naming_truncation(server: HTTPServer) -> None:
    cut = b'{"studies": [{"protocolSection": {"identificationModule": {"nctId": "NCT0'
    server.expect_request("/cut").respond_with_data(cut, content_type="application/json")
    async with Fetcher(fast()) as fetcher:
        resp = await fetcher.get(server.url_for("/cut"))
    with pytest.raises(ParseError, match=rf"truncated JSON at byte {len(cut)}"):
        resp.json()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": [1, 2', "truncated JSON at byte 11"),
        (b'{"a": 1,, "b": 2}', "invalid JSON in the response at byte 8"),
        (b"", "empty where JSON was expected"),
        (b"<html>", "HTML/XML where JSON was expected"),
        (b'{"a": "\xff"}', "not valid UTF-8 (bad byte at offset 7)"),
    ],
)
def test_loads_json_messages(body: bytes, expected: str) -> None:
    with pytest.raises(ParseError) as caught:
        loads_json(body)
    assert expected in str(caught.value)


# --------------------------------------------------------------------------------------------
# politeness


async def test_requests_to_one_host_are_spaced(server: HTTPServer) -> None:
    server.expect_request("/p").respond_with_json({})
    clock = FakeClock()  # exact spacing from the injected clock, whatever the machine's load
    async with Fetcher(fast(per_host_rps=20), clock=clock.now, sleep=clock.sleep) as fetcher:
        await fetcher.get(server.url_for("/p"))
        await asyncio.gather(*(fetcher.get(server.url_for("/p")) for _ in range(3)))
    assert clock.sleeps == [pytest.approx(0.05)] * 3  # each waits its 1/20 s turn after the one before


async def test_different_hosts_do_not_wait_on_each_other(server: HTTPServer) -> None:
    server.expect_request("/p").respond_with_json({})
    port = server.port
    clock = FakeClock()
    async with Fetcher(fast(per_host_rps=0.5), clock=clock.now, sleep=clock.sleep) as fetcher:  # 2 s per host
        await asyncio.gather(
            fetcher.get(f"http://127.0.0.1:{port}/p"),
            fetcher.get(f"http://localhost:{port}/p"),
        )
    assert clock.sleeps == []  # neither waited: the spacing is per host


async def test_max_concurrency_caps_requests_in_flight(server: HTTPServer) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def handler(request: Request) -> WResponse:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return json_response({})

    server.expect_request("/q").respond_with_handler(handler)
    async with Fetcher(fast(max_concurrency=2)) as fetcher:
        results = await asyncio.gather(*(fetcher.get(server.url_for("/q")) for _ in range(6)))
    assert len(results) == 6
    assert peak <= 2


# --------------------------------------------------------------------------------------------
# secrets and messages


def test_redact_url_hides_a_discord_webhook_token() -> None:
    url = f"https://discord.com{WEBHOOK_PATH}?wait=true&thread_id=42"
    safe = redact_url(url)
    assert TOKEN not in safe
    assert safe == "https://discord.com/api/webhooks/123456789012345678/***?wait=***&thread_id=***"


def test_redact_url_drops_user_info_and_query_values() -> None:
    assert redact_url("https://bob:hunter2@example.org/a/b?api_key=SECRET#frag") == "https://example.org/a/b?api_key=***"
    assert redact_url("http://[::1") == "<unparseable URL>"


async def test_no_url_with_a_token_reaches_the_logs_or_errors(server: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    server.expect_request(WEBHOOK_PATH).respond_with_data("", status=404)
    with caplog.at_level(logging.DEBUG):
        async with Fetcher(fast()) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(server.url_for(WEBHOOK_PATH) + "?wait=true", expect="any")
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore")) and r.levelno < logging.WARNING]
    assert [r for r in caplog.records if r.name == "trialwatch.http"]  # our own line was logged, redacted
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # werkzeug = the test server
    assert TOKEN not in ours
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.url
    assert TOKEN not in describe(caught.value)


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2026 07:29:30 GMT", now=now) == 90
    assert parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now=now) == 0  # in the past: go now
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_describe_gives_one_readable_line() -> None:
    fetch_error = FetchError("too_large", "response is larger than the 10 MB limit (refused while streaming)")
    assert describe(fetch_error) == "response is larger than the 10 MB limit (refused while streaming)"
    assert describe(ParseError("expected a 'studies' list\n got a string")) == "expected a 'studies' list got a string"
    request = httpx.Request("GET", f"https://discord.com{WEBHOOK_PATH}")
    network = describe(httpx.ConnectError("boom", request=request))
    assert network == "network error talking to Discord: boom"
    leaked = describe(RuntimeError(f"failed posting to https://discord.com{WEBHOOK_PATH}"))
    assert leaked == "RuntimeError: failed posting to https://discord.com/api/webhooks/123456789012345678/***"


def test_fetch_error_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown FetchError kind"):
        FetchError("something went wrong", "timeout")
