"""The Discord notifiers driven end to end through the outbox, against the local Discord stand-in.

``trialwatch check`` runs for real (config file → ReplayServer serving CT.gov JSON → diff → save →
outbox → WebhookNotifier → tests.support.discord_standin over HTTP). The stand-in validates every payload
the way Discord does (400 / 50035 when anything is over a limit), answers 429 / 500 when scripted,
404 / 10015 once the webhook is deleted, and records every accepted message.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Iterator

import discord
import pytest

from bot.engine.config import ConfigError, config_from_dict
from bot.engine.delivery import Delivery, DestinationGone, PermanentDeliveryError, Planned, TransientDeliveryError
from bot.discord.limits import DISCORD, embed_length
from tests.support.discord_standin import DiscordStandIn
from bot.cli import main
from bot.discord.notifiers import BotChannelNotifier, WebhookNotifier, discord_notifier, nonce_for
from bot.demo.replay import Reply, ReplayServer
from storage.db import connect
from storage.diff import make_event
from storage.repo import Repo
from bot.demo.world.ctgov import search_page, study

RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as s:  # one per module: stopping a server takes its 0.5 s poll interval
        yield s


@pytest.fixture
def server(replay: ReplayServer) -> ReplayServer:
    replay.clear()
    return replay


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(rate_limit=50, rate_window=1.0) as s:
        yield s


def write_config(tmp_path: Path, server: ReplayServer, webhook_url: str, api_base: str, *, console: bool = True,
                 discord_extra: str = "") -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        max_retries = 1
        timeout_s = 2
        [notify]
        console = {str(console).lower()}
        [discord]
        webhook_url = "{webhook_url}"
        api_base = "{api_base}"
        {discord_extra}
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
    """) + textwrap.dedent("""
        [[watch]]
        id = "resetme"
        kind = "ctgov"
        trial = "NCT09990001"
        labels = ["resetme"]

        [[watch]]
        id = "search"
        kind = "ctgov"
        params = { "query.cond" = "ME/CFS" }
    """))
    return cfg


def check(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(cfg), "check"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def others(n: int, start: int = 10) -> list[dict[str, Any]]:
    return [study(f"NCT099900{start + i:02d}", title=f"Search hit number {start + i}", acronym=None) for i in range(n)]


def serve(server: ReplayServer, single: dict[str, Any], hits: list[dict[str, Any]]) -> None:
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=single))
    server.route("GET", "/ctgov/studies", Reply(body=search_page(*hits)))


def outbox(db_path: Path, destination: str) -> list[dict[str, Any]]:
    repo = Repo(connect(db_path))
    rows = list(repo.db.query("SELECT o.*, e.title, e.kind FROM outbox o JOIN events e ON e.id = o.event_id "
                              "WHERE destination = ? ORDER BY e.seq", [destination]))
    repo.db.close()
    return rows


def titles(messages: list[dict[str, Any]]) -> list[str]:
    return [embed["title"] for m in messages for embed in m["embeds"]]


# ------------------------------------------------------------------------------------- end to end


def test_every_event_arrives_once_in_order_through_429s_and_a_500(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base, console=False)
    serve(server, study("NCT09990001"), [study("NCT09990001")])
    assert check(cfg, capsys)[0] == 0  # baseline: silent
    assert standin.messages == []

    # 24 new trials and a status change: 25 events, more than fit in one message (10 embeds each).
    serve(server, study("NCT09990001", status="ACTIVE_NOT_RECRUITING"), [study("NCT09990001"), *others(24)])
    standin.fail_next(429, RATE_LIMITED)                     # the first message: rate limited once
    standin.fail_next(500, after=1)                          # the second message: a 500, then retried
    standin.fail_next(429, RATE_LIMITED, headers={"Retry-After": "0.05"})  # and then rate limited too
    code, out, err = check(cfg, capsys)
    assert code == 0, err

    statuses = [r["status"] for r in standin.requests]
    assert statuses == [429, 200, 500, 429, 200, 200]
    rows = outbox(tmp_path / "tw.db", "discord_webhook")
    assert len(rows) == 25 and {r["status"] for r in rows} == {"sent"}
    # Exactly once and in the database's event order, across the three messages.
    assert titles(standin.messages) == [r["title"] for r in rows]
    assert len(standin.messages) == 3
    # Each row records the id of the Discord message that carried it.
    assert [r["remote_id"] for r in rows] == [m["id"] for m in standin.messages for _ in m["embeds"]]
    for message in standin.messages:
        assert message["allowed_mentions"] == {"parse": []}
        assert len(message["embeds"]) <= DISCORD.embeds_per_message
        assert sum(embed_length(e) for e in message["embeds"]) <= DISCORD.total

    # Nothing new: nothing more is sent.
    assert check(cfg, capsys)[0] == 0
    assert len(standin.messages) == 3


def test_a_paused_destination_keeps_its_rows_and_their_order(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base, console=False)
    serve(server, study("NCT09990001"), [study("NCT09990001")])
    check(cfg, capsys)
    serve(server, study("NCT09990001", status="SUSPENDED"), [study("NCT09990001"), *others(3)])
    standin.fail_next(503, count=5)  # more than the sender's attempts: the round gives up for now
    code, _, err = check(cfg, capsys)
    assert code == 0  # a delivery problem is not a failed watch
    assert "delivery to discord_webhook paused" in err
    assert {r["status"] for r in outbox(tmp_path / "tw.db", "discord_webhook")} == {"pending"}
    assert standin.messages == []

    # The next run has nothing new at the source and delivers what was pending, in order.
    serve(server, study("NCT09990001", status="SUSPENDED"), [study("NCT09990001"), *others(3), *others(1, 40)])
    assert check(cfg, capsys)[0] == 0
    rows = outbox(tmp_path / "tw.db", "discord_webhook")
    assert titles(standin.messages) == [r["title"] for r in rows] and len(rows) == 5
    assert rows[0]["attempts"] == 2 and rows[-1]["attempts"] == 1


def test_a_huge_reason_and_mentions_from_the_registry_ping_no_one(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base)
    serve(server, study("NCT09990001"), [study("NCT09990001")])
    check(cfg, capsys)
    reason = "@everyone <@&123> @here " + "Funding **ended** _abruptly_. " * 1000  # ~30,000 characters
    assert len(reason) > 30_000
    serve(server, study("NCT09990001", status="TERMINATED", why_stopped=reason), [study("NCT09990001")])
    code, _, err = check(cfg, capsys)
    assert code == 0, err
    [message] = standin.messages
    assert message["allowed_mentions"] == {"parse": []}
    assert not message["content"]  # no role is configured for this watch's label: nothing in content
    assert sum(embed_length(e) for e in message["embeds"]) <= DISCORD.total
    text = json.dumps(message["embeds"], ensure_ascii=False)
    assert "@everyone" not in text and "<@&123>" not in text and "@here" not in text  # shown inert, too


def test_role_pings_only_for_configured_labels(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base, console=False,
                       discord_extra='role_pings = { resetme = ["555000111222333444"] }')
    serve(server, study("NCT09990001"), [study("NCT09990001")])
    check(cfg, capsys)
    # Only the search (no labels) sees a new trial: no ping.
    serve(server, study("NCT09990001"), [study("NCT09990001"), *others(1)])
    check(cfg, capsys)
    # The labelled watch sees a change: its role, and only that role, may be pinged.
    serve(server, study("NCT09990001", status="COMPLETED"), [study("NCT09990001"), *others(1)])
    check(cfg, capsys)
    first, second = standin.messages
    assert first["allowed_mentions"] == {"parse": []} and not first["content"]
    assert second["content"] == "<@&555000111222333444>"
    assert second["allowed_mentions"] == {"parse": [], "roles": ["555000111222333444"]}


def test_a_deleted_webhook_stops_the_destination_and_alerts_once(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base, console=True)
    serve(server, study("NCT09990001"), [study("NCT09990001")])
    check(cfg, capsys)
    standin.delete_webhook()

    serve(server, study("NCT09990001", status="SUSPENDED"), [study("NCT09990001")])
    code, out, err = check(cfg, capsys)
    assert code == 0
    assert "Status: Recruiting → Suspended" in out  # the console still got the event ...
    assert out.count("destination stopped: ") == 1  # ... and the one alert
    assert "is gone" in err and standin.token not in out + err
    rows = outbox(tmp_path / "tw.db", "discord_webhook")
    assert [(r["kind"], r["status"]) for r in rows] == [("status_changed", "failed")]
    assert [r["status"] for r in standin.requests] == [404]

    # Later changes: the console gets them, the dead webhook is never called again, no second alert.
    serve(server, study("NCT09990001", status="RECRUITING"), [study("NCT09990001"), *others(2)])
    code, out, err = check(cfg, capsys)
    assert code == 0 and "Status: Suspended → Recruiting" in out
    assert "destination stopped: " not in out
    assert [r["status"] for r in standin.requests] == [404]
    rows = outbox(tmp_path / "tw.db", "discord_webhook")
    assert [r["status"] for r in rows] == ["failed"] * 4
    assert all("destination stopped since" in r["last_error"] for r in rows[1:])
    console_rows = outbox(tmp_path / "tw.db", "console")
    assert [r["status"] for r in console_rows] == ["sent"] * 5  # 4 events + the alert

    # A new webhook URL in the config resumes delivery (the old rows stay failed).
    with DiscordStandIn(webhook_id="222333444555666777", token="another-token") as fresh:
        cfg.write_text(cfg.read_text().replace(standin.url, fresh.url).replace(standin.api_base, fresh.api_base))
        serve(server, study("NCT09990001", status="COMPLETED"), [study("NCT09990001"), *others(2)])
        assert check(cfg, capsys)[0] == 0
        assert [m["embeds"][0]["description"] for m in fresh.messages] == ["**Recruiting** → **Completed**"]


# ---------------------------------------------------------------------------------- notifier units


def _event(i: int, **extra: Any) -> dict[str, Any]:
    return make_event(kind="status_changed", id=f"ev{i}", watch="w", source="ctgov", subject="NCT09990001",
                      trial="NCT09990001", title=f"Event {i}", url=None, at="2026-11-21T10:00:00Z", field="status",
                      old="RECRUITING", new="COMPLETED", **extra)


def _queue(repo: Repo, events: list[dict[str, Any]], destinations: list[str]) -> None:
    with repo.db.atomic():
        for ev in events:
            repo.insert_event(ev, destinations)


async def test_a_30000_character_post_with_mentions_goes_through_the_outbox_within_limits(standin, tmp_path):
    repo = Repo(connect(tmp_path / "tw.db"))
    text = "@everyone look <@&123> and <@42>\n> a quote\n" + ("word " * 6000)
    post = make_event(kind="new_post", id="post:1", watch="thread", source="xenforo_thread", subject="post-1",
                      trial=None, title="ResetME @here thread", url="https://forum.example.org/threads/1/post-1",
                      at="2026-11-21T10:00:00Z",
                      detail={"author": "<@&123>", "published": "2026-11-21T09:00:00Z", "text": text})
    assert len(text) >= 30_000
    _queue(repo, [post, _event(2)], ["discord_webhook"])
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    reports = await Delivery(repo, {"discord_webhook": notifier}).deliver_pending()
    await notifier.aclose()
    assert reports["discord_webhook"].sent == 2
    [message] = standin.messages  # both events batched into one message
    assert message["allowed_mentions"] == {"parse": []} and not message["content"]
    embed = message["embeds"][0]
    assert len(embed["description"]) <= DISCORD.description
    dumped = json.dumps(message, ensure_ascii=False)
    for raw in ("@everyone", "@here", "<@&123>", "<@42>"):
        assert raw not in dumped
    repo.db.close()


async def test_an_oversize_message_fails_only_its_rows(standin, tmp_path):
    class Oversize(WebhookNotifier):
        def plan(self, events):  # a broken renderer: the first message is far over the 6000 total
            big = {"embeds": [{"title": "x", "description": "y" * 4000}] * 2, "allowed_mentions": {"parse": []}}
            return [Planned([0], big), *[Planned([i], {"embeds": [{"title": e["title"]}],
                                                        "allowed_mentions": {"parse": []}})
                                         for i, e in enumerate(events) if i]]

    repo = Repo(connect(tmp_path / "tw.db"))
    _queue(repo, [_event(1), _event(2)], ["discord_webhook"])
    notifier = Oversize(standin.url, api_base=standin.api_base)
    with pytest.raises(PermanentDeliveryError, match="50035"):
        await notifier.send({"embeds": [{"title": "t" * 300}], "allowed_mentions": {"parse": []}})
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert (report.sent, report.failed) == (1, 1)
    statuses = {r["event_id"]: r["status"] for r in repo.db.query("SELECT * FROM outbox")}
    assert statuses == {"ev1": "failed", "ev2": "sent"}
    assert [r["code"] for r in standin.requests] == [50035, 50035, None]  # refused, never retried
    repo.db.close()


async def test_a_long_retry_after_pauses_the_destination_instead_of_knocking(standin, tmp_path):
    repo = Repo(connect(tmp_path / "tw.db"))
    _queue(repo, [_event(1)], ["discord_webhook"])
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base)
    notifier.sender.max_retry_after = 1.0
    standin.fail_next(429, {"message": "You are being rate limited.", "retry_after": 600.0, "global": True})
    clock = [1000.0]
    delivery = Delivery(repo, {"discord_webhook": notifier}, clock=lambda: clock[0])
    first = (await delivery.deliver_pending())["discord_webhook"]
    assert first.pending == 1 and "rate limited" in (first.error or "")
    again = (await delivery.deliver_pending())["discord_webhook"]
    assert "paused for 600 s more" in (again.error or "")
    assert len(standin.requests) == 1  # the paused destination was not called again
    clock[0] += 601
    assert (await delivery.deliver_pending())["discord_webhook"].sent == 1
    await notifier.aclose()
    repo.db.close()


def test_a_malformed_webhook_url_is_a_config_error_without_the_token():
    cfg = config_from_dict({"discord": {"webhook_url": "https://discord.com/channels/1/secret-token-xyz"}})
    with pytest.raises(ConfigError) as info:
        discord_notifier(cfg, "discord_webhook")
    assert "webhook_url" in str(info.value) and "secret-token-xyz" not in str(info.value)


# --------------------------------------------------------------------------------------- bot channel


@pytest.fixture
def discord_api(standin, monkeypatch):
    """discord.py's REST base pointed at the stand-in for this test only (restored afterwards)."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    return standin


def bot_config(standin: DiscordStandIn, tmp_path: Path, channel: str | None = None):
    return config_from_dict({"database": {"path": str(tmp_path / "tw.db")}, "notify": {"console": False},
                             "discord": {"api_base": standin.api_base, "token": standin.bot_token,
                                         "channel_id": channel or standin.channel_id}})


async def test_bot_channel_retry_after_a_crash_does_not_double_post(discord_api, tmp_path):
    standin = discord_api
    cfg = bot_config(standin, tmp_path)
    assert cfg.destinations() == ["discord_bot"]
    repo = Repo(connect(cfg.db_path))
    _queue(repo, [_event(1), _event(2)], ["discord_bot"])
    notifier = discord_notifier(cfg, "discord_bot")
    assert isinstance(notifier, BotChannelNotifier)

    # The process "crashes" after Discord accepted the message but before the row was marked sent.
    real_mark_sent = repo.mark_sent

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed between send and mark")

    repo.mark_sent = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        await Delivery(repo, {"discord_bot": notifier}).deliver_pending()
    assert len(standin.messages) == 1
    assert {r["status"] for r in repo.db.query("SELECT status FROM outbox")} == {"pending"}

    # The restart sends the same message again, with the same nonce: Discord returns the first one.
    repo.mark_sent = real_mark_sent  # type: ignore[method-assign]
    report = (await Delivery(repo, {"discord_bot": notifier}).deliver_pending())["discord_bot"]
    await notifier.aclose()
    assert report.sent == 2
    [message] = standin.messages
    first_outbox_id = min(r["id"] for r in repo.db.query("SELECT id FROM outbox"))
    assert message["nonce"] == nonce_for(first_outbox_id, "ev1") and message["enforce_nonce"] is True
    assert message["allowed_mentions"] == {"parse": []}
    assert [e["title"] for e in message["embeds"]] == ["Event 1", "Event 2"]
    assert {r["remote_id"] for r in repo.db.query("SELECT remote_id FROM outbox")} == {message["id"]}
    posts = [r for r in standin.requests if r["method"] == "POST"]
    assert len(posts) == 2  # sent twice, posted once
    repo.db.close()


async def test_bot_channel_that_does_not_exist_is_gone(discord_api, tmp_path):
    cfg = bot_config(discord_api, tmp_path, channel="123123123123123123")
    notifier = discord_notifier(cfg, "discord_bot")
    planned = notifier.plan([_event(1)])
    with pytest.raises(DestinationGone, match="channel 123123123123123123 is gone"):
        await notifier.send(planned[0].message, outbox_ids=[1])
    await notifier.aclose()


async def test_bot_token_refused_is_reported_not_raised_as_a_crash(discord_api, tmp_path):
    cfg = bot_config(discord_api, tmp_path)
    cfg.discord.token = "wrong-token"
    notifier = discord_notifier(cfg, "discord_bot")
    with pytest.raises(DestinationGone, match="refused the bot token"):
        await notifier.send(notifier.plan([_event(1)])[0].message, outbox_ids=[1])
    await notifier.aclose()


def test_nonce_is_stable_short_and_distinct():
    assert nonce_for(7, "ev1") == nonce_for(7, "ev1")
    assert nonce_for(7, "ev1") != nonce_for(8, "ev1") != nonce_for(7, "ev2")
    assert all(len(nonce_for(i, "x")) <= 25 for i in range(1000))


def test_transient_error_carries_its_wait():
    assert TransientDeliveryError("x", retry_after=3.5).retry_after == 3.5


def test_enrollment_events_carry_the_trial_chart(server, standin, tmp_path, capsys):
    cfg = write_config(tmp_path, server, standin.url, standin.api_base, console=False)
    serve(server, study("NCT09990001", count=30, count_type="ACTUAL"), [])
    assert check(cfg, capsys)[0] == 0
    serve(server, study("NCT09990001", count=38, count_type="ACTUAL", status="ACTIVE_NOT_RECRUITING"), [])
    assert check(cfg, capsys)[0] == 0
    [message] = standin.messages
    assert [a["filename"] for a in message["attachments"]] == ["chart-0.png"]
    by_kind = {e["author"]["name"].split(" ·")[0]: e for e in message["embeds"]}
    assert by_kind["Enrollment changed"]["image"] == {"url": "attachment://chart-0.png"}
    assert "image" not in by_kind["Status changed"]  # one chart, on the enrollment event only
    # Turned off in the config: no attachment.
    cfg.write_text(cfg.read_text().replace("[discord]\n", "[discord]\ncharts = false\n"))
    serve(server, study("NCT09990001", count=45, count_type="ACTUAL", status="ACTIVE_NOT_RECRUITING"), [])
    assert check(cfg, capsys)[0] == 0
    assert standin.messages[-1]["attachments"] == []
