"""Small Discord-facing guarantees, each against the local Discord stand-in over real HTTP.

(a) The stand-in answers a created message with Discord's documented message object — attachments
    included (``id``, ``filename``, ``size``, ``url``, ``proxy_url``, ``content_type``…) — because a
    test double that answers less than Discord lets client code pass here and break in production:
    discord.py 2.7 raised KeyError('size') on the bot channel's chart post, and no test saw it.
(b) The bot channel (BotChannelNotifier, logged in over HTTP with a token; no gateway) posts an
    enrollment event with its chart end to end.
(c) Discord's error text, which may echo the webhook URL, its token or the bot token, is redacted
    before it becomes an exception, an outbox ``last_error``, a stop record or a /status line.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import httpx
import pytest

from bot.discord import webhook  # new names read at use, so each test fails alone on older code
from bot.discord.answers import status_line
from bot.discord.notifiers import BotChannelNotifier, WebhookNotifier, use_api_base
from bot.engine.delivery import Delivery, MessageRefused, TransientDeliveryError
from scrapers.records import WatchSpec
from storage.db import connect
from storage.diff import make_event
from storage.repo import Repo
from tests.support.discord_standin import DiscordStandIn

#: a real-shaped bot token (three base64url parts), made up
BOT_TOKEN_SHAPED = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def png(width: int = 3, height: int = 2) -> bytes:
    """A small valid PNG (greyscale), so the stand-in can read its size as Discord would."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(range(width)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


CHART = png(40, 20)


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(rate_limit=100, rate_window=1.0) as s:
        yield s


@pytest.fixture
def discord_api(standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch) -> DiscordStandIn:
    """discord.py's REST base pointed at the stand-in, restored after the test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    use_api_base(standin.api_base)
    return standin


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    r = Repo(connect(tmp_path / "tw.db"))
    yield r
    r.db.close()


def enrollment_event(i: int = 1) -> dict[str, Any]:
    return make_event(kind="enrollment_changed", id=f"ev{i}", watch="w", source="ctgov", subject="NCT09990001",
                      trial="NCT09990001", title="RESETME", url="https://clinicaltrials.gov/study/NCT09990001",
                      at="2026-11-21T10:00:00Z", field="enrollment", old={"count": 30, "type": "ACTUAL"},
                      new={"count": 40, "type": "ACTUAL"})


def status_event(i: int) -> dict[str, Any]:
    return make_event(kind="status_changed", id=f"ev{i}", watch="w", source="ctgov", subject="NCT09990001",
                      trial="NCT09990001", title=f"Event {i}", url="https://clinicaltrials.gov/study/NCT09990001",
                      at="2026-11-21T10:00:00Z", field="status", old="RECRUITING", new="COMPLETED")


# ------------------------------------------------------------------- (a) the stand-in answers like Discord


def test_a_webhook_message_with_a_file_is_answered_with_discords_message_object(standin: DiscordStandIn) -> None:
    payload = {"embeds": [{"title": "Chart", "image": {"url": "attachment://chart.png"}}],
               "allowed_mentions": {"parse": []},
               "attachments": [{"id": 0, "filename": "chart.png", "description": "enrollment over time"}]}
    with httpx.Client() as client:
        answer = client.post(standin.url, params={"wait": "true"}, data={"payload_json": json.dumps(payload)},
                             files={"files[0]": ("chart.png", CHART, "application/octet-stream")})
    assert answer.status_code == 200
    message = answer.json()
    for key in ("id", "channel_id", "author", "content", "timestamp", "edited_timestamp", "tts", "mention_everyone",
                "mentions", "mention_roles", "attachments", "embeds", "pinned", "type", "flags", "webhook_id"):
        assert key in message, key
    assert "allowed_mentions" not in message  # a request field, not part of a message object
    [attachment] = message["attachments"]
    assert attachment["filename"] == "chart.png" and attachment["size"] == len(CHART)
    assert attachment["content_type"] == "image/png"  # sniffed, as Discord does for octet-stream uploads
    assert (attachment["width"], attachment["height"]) == (40, 20)
    assert attachment["description"] == "enrollment over time"
    assert attachment["url"].startswith(f"https://cdn.discordapp.com/attachments/{message['channel_id']}/"
                                        f"{attachment['id']}/chart.png?ex=")
    assert attachment["proxy_url"].startswith("https://media.discordapp.net/attachments/")
    [embed] = message["embeds"]
    assert embed["type"] == "rich"
    assert embed["image"]["url"] == attachment["url"] and embed["image"]["width"] == 40  # attachment:// resolved
    # What the stand-in recorded keeps the request's view, and the bytes that arrived.
    [recorded] = standin.messages
    assert recorded["id"] == message["id"] and recorded["allowed_mentions"] == {"parse": []}
    assert recorded["embeds"][0]["image"] == {"url": "attachment://chart.png"}
    [upload] = standin.uploads
    assert (upload.message_id, upload.field, upload.filename, upload.data) == (message["id"], "files[0]",
                                                                               "chart.png", CHART)


def test_the_answer_parses_as_a_discord_py_message(standin: DiscordStandIn) -> None:
    """The exact path that broke: discord.py building a Message (and its Attachments) from the answer."""
    with httpx.Client() as client:
        answer = client.post(standin.url, params={"wait": "true"}, data={"payload_json": json.dumps({"content": "x"})},
                             files={"files[0]": ("notes.txt", b"hello", "text/plain")})
    state = discord.Client(intents=discord.Intents.none())._connection
    channel = discord.PartialMessageable(state=state, id=int(standin.channel_id))
    message = discord.Message(state=state, channel=channel, data=answer.json())
    [attachment] = message.attachments
    assert (attachment.filename, attachment.size, attachment.content_type) == ("notes.txt", 5,
                                                                               "text/plain; charset=utf-8")
    assert attachment.width is None and attachment.proxy_url.startswith("https://media.discordapp.net/")


def test_role_mentions_are_reported_only_when_allowed(standin: DiscordStandIn) -> None:
    with httpx.Client() as client:
        allowed = client.post(standin.url, params={"wait": "true"},
                              json={"content": "<@&555> @everyone", "allowed_mentions": {"parse": [], "roles": ["555"]}})
        none = client.post(standin.url, params={"wait": "true"},
                           json={"content": "<@&555> @everyone", "allowed_mentions": {"parse": []}})
    assert (allowed.json()["mention_roles"], allowed.json()["mention_everyone"]) == (["555"], False)
    assert (none.json()["mention_roles"], none.json()["mention_everyone"]) == ([], False)


# --------------------------------------------------------- (b) the bot channel posts a chart, end to end


async def test_the_bot_channel_posts_an_enrollment_event_with_its_chart(discord_api: DiscordStandIn,
                                                                        repo: Repo) -> None:
    standin = discord_api
    notifier = BotChannelNotifier(standin.channel_id, token=standin.bot_token,
                                  chart_for=lambda key: CHART if key == "NCT09990001" else None)
    with repo.db.atomic():
        repo.insert_event(enrollment_event(), ["discord_bot"])
    try:
        report = (await Delivery(repo, {"discord_bot": notifier}).deliver_pending())["discord_bot"]
    finally:
        await notifier.aclose()
    assert (report.sent, report.failed, report.error) == (1, 0, None)
    [message] = standin.messages
    [row] = repo.db.query("SELECT status, remote_id FROM outbox")
    assert row == {"status": "sent", "remote_id": message["id"]}  # the notifier returned Discord's message id
    [upload] = standin.uploads
    assert upload.filename == "chart-0.png" and upload.data == CHART  # the PNG arrived, byte for byte
    assert upload.message_id == message["id"]
    [attachment] = message["attachments"]
    assert (attachment["filename"], attachment["size"], attachment["content_type"]) == ("chart-0.png", len(CHART),
                                                                                       "image/png")
    assert message["embeds"][0]["image"] == {"url": "attachment://chart-0.png"}
    assert message["nonce"] and message["enforce_nonce"] is True
    posts = [r for r in standin.requests if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [200]  # one post, no retry


async def test_the_bot_channel_send_returns_the_message_id(discord_api: DiscordStandIn) -> None:
    standin = discord_api
    notifier = BotChannelNotifier(standin.channel_id, token=standin.bot_token, chart_for=lambda key: CHART)
    [planned] = notifier.plan([enrollment_event()])
    try:
        message_id = await notifier.send(planned.message, outbox_ids=[1])
        again = await notifier.send(planned.message, outbox_ids=[1])  # a retry: same nonce, same message
    finally:
        await notifier.aclose()
    [message] = standin.messages
    assert message_id == again == message["id"]
    assert len(standin.uploads) == 1


# ---------------------------------------------------------------- (c) Discord's words, redacted


def test_redact_secrets_hides_tokens_urls_and_the_configured_secrets() -> None:
    hook = "https://discord.com/api/webhooks/123456789012345678/tok-SECRET-abcdef0123456789"
    secrets = webhook.secret_values(hook, "standin-bot-token-KEEP-SECRET")
    assert "tok-SECRET-abcdef0123456789" in secrets  # the token alone, not only inside its URL
    text = (f"failed at {hook}?wait=true; token tok-SECRET-abcdef0123456789; bot standin-bot-token-KEEP-SECRET; "
            f"{BOT_TOKEN_SHAPED}; https://cdn.example.org/a/{'x' * 40}?sig=abc; "
            "https://discord.com/api/v10/webhooks/99/other-hook-token")
    clean = webhook.redact_secrets(text, secrets)
    for secret in ("tok-SECRET", "KEEP-SECRET", BOT_TOKEN_SHAPED, "x" * 40, "sig=abc", "other-hook-token"):
        assert secret not in clean, secret
    assert "https://cdn.example.org/a/***?sig=***" in clean and "/webhooks/99/***" in clean
    assert webhook.redact_secrets("HTTP 400, code 50035: Invalid Form Body") == "HTTP 400, code 50035: Invalid Form Body"


async def test_a_gone_webhook_that_echoes_its_url_leaves_no_secret_behind(standin: DiscordStandIn, repo: Repo) -> None:
    with repo.db.atomic():
        repo.insert_event(status_event(1), ["discord_webhook", "console"])
    standin.fail_next(404, body={"code": 10015, "message": f"Unknown Webhook {standin.url} ({standin.token})"})
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    delivered: list[str] = []

    class Console:
        name = "console"

        def plan(self, events: list[dict[str, Any]]) -> list[Any]:
            from bot.engine.delivery import Planned

            return [Planned([i], ev) for i, ev in enumerate(events)]

        async def send(self, message: Any) -> str | None:
            delivered.append(json.dumps(message))
            return None

    report = (await Delivery(repo, {"discord_webhook": notifier, "console": Console()}).deliver_pending())
    await notifier.aclose()
    stored = [r["last_error"] for r in repo.db.query("SELECT last_error FROM outbox WHERE last_error IS NOT NULL")]
    stop = repo.destinations.stopped("discord_webhook", notifier.fingerprint)
    assert stop is not None and stored
    seen = [report["discord_webhook"].error or "", *report["discord_webhook"].by_event.values(), stop.error or "",
            *stored, *delivered]  # the destination_stopped alert went to the console
    assert any("destination_stopped" in d for d in delivered)
    for text in seen:
        assert standin.token not in text and standin.url not in text, text
    assert "Unknown Webhook ***" in (stop.error or "")


async def test_the_bot_channel_redacts_the_token_discord_echoes(discord_api: DiscordStandIn) -> None:
    standin = discord_api
    notifier = BotChannelNotifier(standin.channel_id, token=standin.bot_token)
    await notifier._messageable()  # log in first: the scripted failures are for the posts
    [planned] = notifier.plan([status_event(1)])
    echo = f"Missing Permissions (Bot {standin.bot_token}) at {standin.api_base}/channels/1/messages?token=abcdef"
    standin.fail_next(403, body={"code": 50013, "message": echo})
    standin.fail_next(400, body={"code": 50035, "message": "Invalid Form Body",
                                 "errors": {"content": {"_errors": [{"code": "X", "message": standin.bot_token}]}}})
    try:
        with pytest.raises(TransientDeliveryError) as forbidden:
            await notifier.send(planned.message, outbox_ids=[1])
        with pytest.raises(MessageRefused) as refused:
            await notifier.send(planned.message, outbox_ids=[2])
    finally:
        await notifier.aclose()
    for exc in (forbidden.value, refused.value):
        assert standin.bot_token not in str(exc) and "token=abcdef" not in str(exc), str(exc)
    assert "HTTP 403, code 50013: Missing Permissions (Bot ***)" in str(forbidden.value)
    assert "code 50035" in str(refused.value) and "***" in str(refused.value)


def test_status_never_shows_a_token_in_a_last_error() -> None:
    watch = WatchSpec(id="w", kind="feed", keys={"url": "https://example.org/feed.xml"})

    class Health:
        consecutive_failures = 2
        last_success = None
        last_error_at = "2026-11-21T10:00:00Z"
        last_error = "HTTP 401 from https://discord.com/api/v10/webhooks/1234/tok-SECRET-abcdef0123456789 " + \
                     BOT_TOKEN_SHAPED

    line = status_line(watch, Health(), None)
    assert "tok-SECRET" not in line and BOT_TOKEN_SHAPED not in line and "last error" in line
