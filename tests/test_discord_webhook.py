"""The webhook sender against a real local server that answers like Discord (tests.support.discord_standin)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.discord_standin import DiscordStandIn
from bot.discord.webhook import (
    PermanentError,
    TransientError,
    WebhookGone,
    WebhookSender,
    normalise_webhook_url,
    redact_webhook_url,
)
from bot.discord.render import render_messages

PROJECT = Path(__file__).resolve().parents[1]
TOKEN = "tok-SECRET-abcdef0123456789"
WEBHOOK_ID = "123456789012345678"
HOOK = f"webhooks/{WEBHOOK_ID}/{TOKEN}"
V10 = f"https://discord.com/api/v10/{HOOK}"


def event(i: int, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"ev{i}",
        "kind": "status_changed",
        "watch": "resetme-pilot",
        "source": "ctgov",
        "subject": "NCT01234567",
        "trial": "NCT01234567",
        "title": f"Event {i}",
        "url": "https://clinicaltrials.gov/study/NCT01234567",
        "field": "status",
        "old": "RECRUITING",
        "new": "ACTIVE_NOT_RECRUITING",
        "at": "2026-11-21T10:00:00Z",
        "detail": {},
    }
    base.update(overrides)
    return base


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(webhook_id=WEBHOOK_ID, token=TOKEN, rate_limit=100, rate_window=1.0) as server:
        yield server


@pytest.fixture
async def sender(standin: DiscordStandIn) -> AsyncIterator[WebhookSender]:
    async with WebhookSender(standin.url, api_base=standin.api_base, backoff_base=0.01, timeout=2.0) as s:
        yield s


def statuses(standin: DiscordStandIn) -> list[int]:
    return [r["status"] for r in standin.requests]


# ------------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://discord.com/api/{HOOK}", V10),
        (f"https://discordapp.com/api/{HOOK}", V10),
        (f"https://canary.discord.com/api/{HOOK}/", V10),
        (f"https://discord.com/api/v6/{HOOK}", V10),
        (f"https://discord.com/api/{HOOK}?thread_id=42", f"{V10}?thread_id=42"),
        (f"http://127.0.0.1:8765/api/v10/{HOOK}", f"http://127.0.0.1:8765/api/v10/{HOOK}"),
    ],
)
def test_normalise_webhook_url(url: str, expected: str) -> None:
    assert normalise_webhook_url(url) == expected


def test_normalise_rewrites_discord_urls_to_a_standin_api_base() -> None:
    base = "http://127.0.0.1:9999/api/v10"
    assert normalise_webhook_url(f"https://discord.com/api/{HOOK}", base) == f"{base}/{HOOK}"
    assert normalise_webhook_url(f"{base}/{HOOK}", base) == f"{base}/{HOOK}"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "discord.com/api/webhooks/1/x",
        f"https://discord.com/channels/{WEBHOOK_ID}/{TOKEN}",
        f"https://discord.com/api/webhooks/notanid/{TOKEN}",
        "https://example.org/hooks/abc",
    ],
)
def test_normalise_rejects_non_webhook_urls_without_echoing_the_token(url: str) -> None:
    with pytest.raises(ValueError) as info:
        normalise_webhook_url(url)
    assert TOKEN not in str(info.value)


def test_redacted_form() -> None:
    assert redact_webhook_url(V10) == f"webhook …/{WEBHOOK_ID}/***"


# ----------------------------------------------------------------------------------------- sending


async def test_returns_the_created_message_id(standin: DiscordStandIn, sender: WebhookSender) -> None:
    first = await sender.send(render_messages([event(1)])[0])
    second = await sender.send(render_messages([event(2)])[0])
    recorded = standin.messages
    assert [m["id"] for m in recorded] == [first.message_id, second.message_id]
    assert int(second.message_id) > int(first.message_id)
    assert first.channel_id == standin.channel_id
    assert recorded[0]["embeds"][0]["title"] == "Event 1"
    assert recorded[0]["allowed_mentions"] == {"parse": []}
    assert standin.requests[0]["user_agent"].startswith("DiscordBot (")


async def test_delivers_in_order_exactly_once_through_429s_and_a_500(standin: DiscordStandIn, sender: WebhookSender) -> None:
    payloads = [render_messages([event(i)])[0] for i in range(8)]
    standin.fail_next(429, {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}, after=1)
    standin.fail_next(500, after=2)
    no_body_value = {"message": "You are being rate limited.", "global": False}  # only the header says how long
    standin.fail_next(429, no_body_value, headers={"Retry-After": "0.02"}, after=1)
    standin.fail_next(502)

    results = [await sender.send(p) for p in payloads]

    recorded = standin.messages
    assert [m["embeds"][0]["title"] for m in recorded] == [f"Event {i}" for i in range(8)]
    assert [r.message_id for r in results] == [m["id"] for m in recorded]
    assert sorted(statuses(standin)) == sorted([200] * 8 + [429, 500, 429, 502])
    assert sum(r.attempts for r in results) == len(standin.requests)


async def test_waits_when_the_bucket_is_empty_instead_of_hitting_429() -> None:
    with DiscordStandIn(webhook_id=WEBHOOK_ID, token=TOKEN, rate_limit=2, rate_window=0.1) as server:
        async with WebhookSender(server.url, api_base=server.api_base, backoff_base=0.01) as sender:
            for i in range(6):
                await sender.send({"content": f"message {i}"})
        assert statuses(server) == [200] * 6  # the stand-in would have answered 429 had we not waited
        assert [m["content"] for m in server.messages] == [f"message {i}" for i in range(6)]


async def test_oversize_payload_is_a_permanent_error_and_not_retried(standin: DiscordStandIn, sender: WebhookSender) -> None:
    oversize = {"embeds": [{"title": "x", "description": "d" * 5000}], "allowed_mentions": {"parse": []}}
    with pytest.raises(PermanentError) as info:
        await sender.send(oversize)
    assert info.value.status == 400 and info.value.code == 50035
    assert info.value.errors["embeds"]["0"]["description"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"

    too_much_in_total = {"embeds": [{"description": "d" * 4000}, {"description": "e" * 2001}]}
    with pytest.raises(PermanentError) as info:
        await sender.send(too_much_in_total)
    assert info.value.errors["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"

    with pytest.raises(PermanentError):
        await sender.send({"embeds": [{"title": str(i)} for i in range(11)]})
    assert statuses(standin) == [400, 400, 400]
    assert standin.messages == []


async def test_empty_message_is_refused(standin: DiscordStandIn, sender: WebhookSender) -> None:
    with pytest.raises(PermanentError) as info:
        await sender.send({"content": "   ", "allowed_mentions": {"parse": []}})
    assert info.value.code == 50006


async def test_deleted_webhook_raises_webhook_gone_once(standin: DiscordStandIn, sender: WebhookSender) -> None:
    await sender.send({"content": "before"})
    standin.delete_webhook()
    with pytest.raises(WebhookGone) as info:
        await sender.send({"content": "after"})
    assert info.value.status == 404 and info.value.code == 10015
    assert statuses(standin) == [200, 404]  # never retried
    assert [m["content"] for m in standin.messages] == ["before"]


async def test_revoked_token_is_gone_too(standin: DiscordStandIn) -> None:
    url = standin.url.replace(TOKEN, "wrong-token")
    async with WebhookSender(url, api_base=standin.api_base) as sender:
        with pytest.raises(WebhookGone) as info:
            await sender.send({"content": "x"})
    assert info.value.code == 50027


async def test_5xx_retries_are_bounded(standin: DiscordStandIn) -> None:
    standin.fail_next(503, count=10)
    async with WebhookSender(standin.url, api_base=standin.api_base, backoff_base=0.001, max_attempts=3) as sender:
        with pytest.raises(TransientError) as info:
            await sender.send({"content": "x"})
    assert info.value.attempts == 3
    assert statuses(standin) == [503, 503, 503]


async def test_timeout_is_retried(standin: DiscordStandIn) -> None:
    standin.fail_next(500, delay=0.6)  # answers after the client has given up
    async with WebhookSender(standin.url, api_base=standin.api_base, backoff_base=0.01, timeout=0.15) as sender:
        result = await sender.send({"content": "patient"})
    assert [m["content"] for m in standin.messages] == ["patient"]
    assert result.attempts == 2


async def test_a_long_retry_after_is_handed_back_to_the_caller(standin: DiscordStandIn) -> None:
    standin.fail_next(429, {"message": "You are being rate limited.", "retry_after": 120.0, "global": True})
    async with WebhookSender(standin.url, api_base=standin.api_base, max_retry_after=5) as sender:
        with pytest.raises(TransientError) as info:
            await sender.send({"content": "x"})
    assert info.value.retry_after == 120.0
    assert standin.messages == []


async def test_files_go_as_multipart(standin: DiscordStandIn, sender: WebhookSender) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    payload = {"embeds": [{"title": "Chart", "image": {"url": "attachment://chart.png"}}], "allowed_mentions": {"parse": []}}
    result = await sender.send(payload, files=[("chart.png", png, "image/png"), ("data.csv", b"a,b\n1,2\n", "text/csv")])
    (message,) = standin.messages
    assert message["id"] == result.message_id
    assert [a["filename"] for a in message["attachments"]] == ["chart.png", "data.csv"]
    assert message["embeds"][0]["image"]["url"] == "attachment://chart.png"
    assert message["allowed_mentions"] == {"parse": []}


async def test_injected_client_is_used_and_left_open(standin: DiscordStandIn) -> None:
    async with httpx.AsyncClient(headers={"User-Agent": "trialwatch/0.1"}) as client:
        sender = WebhookSender(standin.url, api_base=standin.api_base, client=client)
        await sender.send({"content": "shared"})
        await sender.aclose()
        assert not client.is_closed
    assert standin.requests[0]["user_agent"].startswith("DiscordBot (")


# ---------------------------------------------------------------------- the delivery cases


async def test_huge_post_and_pings_are_delivered_within_limits_pinging_no_one(
    standin: DiscordStandIn, sender: WebhookSender
) -> None:
    huge = event(
        1,
        kind="new_post",
        subject="post-1",
        title="Forum thread",
        url="https://forum.example/threads/t.1/post-1",
        detail={"author": "someone", "published": "2026-11-20T08:00:00Z", "text": ("word " * 6000)[:30_000]},
    )
    pings = event(2, title="@everyone <@&123> look", detail={"why_stopped": "@here <@&123> <@999>"})
    for payload in render_messages([huge, pings]):
        await sender.send(payload)
    recorded = standin.messages  # the stand-in validated every limit before recording
    assert statuses(standin) == [200] * len(recorded)
    assert sum(len(m["embeds"]) for m in recorded) == 2
    for message in recorded:
        assert message["allowed_mentions"] == {"parse": []}
        assert message["content"] == ""
        dumped = json.dumps(message, ensure_ascii=False)
        assert "@everyone" not in dumped and "@here" not in dumped and "<@&123>" not in dumped


async def test_configured_role_ping_reaches_discord_with_only_that_role(
    standin: DiscordStandIn, sender: WebhookSender
) -> None:
    payload = render_messages([event(1)], role_pings={"resetme": ["555"]}, labels_by_event={"ev1": ["resetme"]})[0]
    await sender.send(payload)
    (message,) = standin.messages
    assert message["content"] == "<@&555>"
    assert message["allowed_mentions"] == {"parse": [], "roles": ["555"]}


# ------------------------------------------------------------------------------------ no token leaks


async def test_logs_and_errors_never_contain_the_token(standin: DiscordStandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert logging.getLogger("httpx").level == logging.WARNING
    standin.fail_next(429, {"message": "slow down", "retry_after": 0.01, "global": False})
    standin.fail_next(500)
    errors: list[str] = []
    async with WebhookSender(standin.url, api_base=standin.api_base, backoff_base=0.01) as sender:
        await sender.send({"content": "one"})
        errors.append(repr(sender))
        with pytest.raises(PermanentError) as bad:
            await sender.send({"embeds": [{"title": "t" * 300}]})
        errors.append(str(bad.value))
        standin.delete_webhook()
        with pytest.raises(WebhookGone) as gone:
            await sender.send({"content": "two"})
        errors.append(str(gone.value))
    assert caplog.records, "the sender logs what it does"
    assert TOKEN not in caplog.text
    assert f"…/{WEBHOOK_ID}/***" in caplog.text
    assert all(TOKEN not in e for e in errors)
    assert all(TOKEN not in r["path"] for r in standin.requests)


async def test_an_error_body_that_echoes_the_url_and_token_is_redacted(standin: DiscordStandIn) -> None:
    """Discord's ``message`` and ``errors`` become exception text (→ outbox last_error, /check): never the token."""
    standin.fail_next(400, {"code": 50035, "message": f"Invalid Form Body at {standin.url}?wait=true",
                            "errors": {"embeds": {"0": {"url": {"_errors": [
                                {"code": "URL_TYPE_INVALID_URL", "message": f"{TOKEN} is not a URL"}]}}}}})
    standin.fail_next(401, {"code": 50027, "message": f"Invalid Webhook Token {TOKEN}"})
    async with WebhookSender(standin.url, api_base=standin.api_base, backoff_base=0.01) as sender:
        with pytest.raises(PermanentError) as refused:
            await sender.send({"content": "one"})
        with pytest.raises(WebhookGone) as gone:
            await sender.send({"content": "two"})
    for exc in (refused.value, gone.value):
        assert TOKEN not in str(exc) and TOKEN not in exc.message, str(exc)
    assert TOKEN not in json.dumps(refused.value.errors)
    assert refused.value.errors["embeds"]["0"]["url"]["_errors"][0]["message"] == "*** is not a URL"
    assert str(gone.value).endswith("Invalid Webhook Token ***; disable this destination")


# ------------------------------------------------------------------------------ the stand-in itself


def test_standin_refuses_what_discord_refuses(standin: DiscordStandIn) -> None:
    with httpx.Client() as client:
        no_type = client.post(standin.url, content=b'{"content": "x"}', headers={"Content-Type": "text/plain"})
        bad_json = client.post(standin.url, content=b"{nope", headers={"Content-Type": "application/json"})
        exclusive = client.post(standin.url, json={"content": "x", "allowed_mentions": {"parse": ["roles"], "roles": ["1"]}})
        long_content = client.post(standin.url, json={"content": "c" * 2001})
        fine_204 = client.post(standin.url, json={"content": "c" * 2000})
        unknown = client.post(standin.url.replace(WEBHOOK_ID, "42"), json={"content": "x"})
    for response in (no_type, bad_json, exclusive, long_content):
        assert response.status_code == 400 and response.json()["code"] == 50035
    assert long_content.json()["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert fine_204.status_code == 204 and fine_204.headers["X-RateLimit-Limit"] == "100"
    assert unknown.status_code == 404 and unknown.json()["code"] == 10015
    assert len(standin.messages) == 1


def test_standin_cli_records_messages_for_another_process(tmp_path: Path) -> None:
    record = tmp_path / "messages.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.discord_standin", "--port", "0", "--record", str(record), "--rate-window", "0.1"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert "/webhooks/" in url
        with httpx.Client() as client:
            for i in range(2):
                body = {"content": f"hello {i}", "allowed_mentions": {"parse": []}}
                r = client.post(url, params={"wait": "true"}, json=body)
                assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert [m["content"] for m in lines] == ["hello 0", "hello 1"]
    assert all(m["allowed_mentions"] == {"parse": []} for m in lines)
    assert proc.returncode == 0
