"""Slash commands, called the two ways platform.md §2 describes for discord.py 2.7.1.

(a) Callbacks called directly with a fake Interaction: the Interaction is Discord's object, so a
``MagicMock(spec=discord.Interaction)`` with async ``response``/``followup`` stands in for it, and
the assertions read what the command answered. (c) The whole path through discord.py's command
tree (option parsing, checks, the tree's error handler), with a real ``discord.Interaction`` built
from an INTERACTION_CREATE payload, as discord.py's own ``tests/test_app_commands_invoke.py`` does;
only its ``response`` (which would call Discord) is replaced.

Behind the commands runs the real service: SQLite on tmp_path, the scheduler, and ``/check`` runs
the real pipeline against the ReplayServer serving CT.gov JSON, delivering to the Discord stand-in.
"""

from __future__ import annotations

import io
from typing import Any, AsyncIterator, Iterator
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest
from discord import app_commands

from bot.engine.config import config_from_dict
import bot.discord.bot as discord_bot  # new names read at use, so each test fails alone on older code
from bot.discord.bot import CHECK_PER_S, CHECK_RATE, REFUSED_MANAGE, TrialwatchBot
from tests.support.discord_standin import DiscordStandIn
from bot.demo.replay import Reply, ReplayServer
from bot.engine.service import Service
from bot.demo.world.ctgov import study

USER = {"id": "4242", "username": "moderator", "discriminator": "0", "avatar": None, "global_name": None}


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as s:  # one per module: stopping a server takes its 0.5 s poll interval
        yield s


@pytest.fixture
def server(replay: ReplayServer) -> ReplayServer:
    replay.clear()
    replay.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001")))
    return replay


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(rate_limit=50, rate_window=1.0) as s:
        yield s


def make_config(tmp_path, server: ReplayServer, standin: DiscordStandIn, **security: Any):
    return config_from_dict({
        "database": {"path": str(tmp_path / "tw.db")},
        "http": {"per_host_rps": 0, "backoff_s": 0.01, "max_retries": 0, "timeout_s": 2},
        "sources": {"ctgov": {"base_url": f"{server.url}/ctgov"}},
        "discord": {"webhook_url": standin.url, "api_base": standin.api_base},
        "security": security,
        "watch": [{"id": "resetme", "kind": "ctgov", "trial": "NCT09990001", "labels": ["resetme"]}],
    })


class FakeClock:
    """A monotonic clock the test moves by hand: cooldowns are tested without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bot(tmp_path, server, standin, clock) -> AsyncIterator[TrialwatchBot]:
    service = Service(make_config(tmp_path, server, standin), stdout=io.StringIO())
    await service.open()
    service.start()
    client = TrialwatchBot(service, sync_commands=False, clock=clock)
    await client.add_cogs()
    yield client
    await service.close()
    await client.close()


def fake_interaction(*, manage_guild: bool = True, guild_id: int | None = 1, user_id: int = 4242) -> MagicMock:
    """A stand-in for Discord's Interaction: async response/followup that remember what was said.

    ``guild_id=None`` is a direct message (Discord sends no guild there)."""
    interaction = MagicMock(spec=discord.Interaction)
    done = {"value": False}

    async def defer(*args: Any, **kwargs: Any) -> None:
        done["value"] = True

    interaction.response = MagicMock(spec=discord.InteractionResponse)
    interaction.response.defer = AsyncMock(side_effect=defer)
    interaction.response.send_message = AsyncMock()
    interaction.response.is_done = MagicMock(side_effect=lambda: done["value"])
    interaction.followup = MagicMock()
    interaction.followup.send = AsyncMock()
    interaction.permissions = discord.Permissions(manage_guild=manage_guild)
    interaction.user = MagicMock(id=user_id)
    interaction.guild_id = guild_id
    return interaction


def said(interaction: MagicMock) -> dict[str, Any]:
    """The keyword arguments of the one answer the command gave (response or follow-up)."""
    calls = interaction.followup.send.await_args_list + interaction.response.send_message.await_args_list
    assert len(calls) == 1, calls
    kwargs = calls[0].kwargs
    assert kwargs["allowed_mentions"].to_dict() == {"parse": []}  # no answer ever pings
    return kwargs


def cog(bot: TrialwatchBot, name: str) -> Any:
    found = bot.get_cog(name)
    assert found is not None
    return found


# --------------------------------------------------------------------------------------- /check


async def test_check_runs_the_real_pipeline_and_answers_with_the_stage_report(bot, server, standin):
    checks = cog(bot, "Check")
    first = fake_interaction()
    await checks.check.callback(checks, first, None)
    first.response.defer.assert_awaited_once()
    content = said(first)["content"]
    assert "Checked 1 watch(es): 0 new event(s)." in content
    assert "resetme (ctgov): ok" in content and "baseline: 1 item(s) recorded silently" in content

    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001", status="TERMINATED")))
    second = fake_interaction()
    await checks.check.callback(checks, second, "resetme")
    content = said(second)["content"]
    assert "1 new event(s)" in content
    assert "fetch    HTTP 200, 1 request(s)" in content
    assert "event    status_changed NCT09990001 → console: sent; discord_webhook: sent" in content
    assert content.count("```") == 2
    [message] = standin.messages  # delivered for real
    assert message["embeds"][0]["description"] == "**Recruiting** → **Terminated**"


async def test_check_of_an_unknown_watch_says_so_privately(bot):
    checks = cog(bot, "Check")
    interaction = fake_interaction()
    await checks.check.callback(checks, interaction, "nope")
    kwargs = said(interaction)
    assert kwargs["ephemeral"] is True and "No watch with id 'nope'" in kwargs["content"]


async def test_check_autocomplete_offers_watch_ids(bot):
    checks = cog(bot, "Check")
    choices = await checks._check_watch_autocomplete(fake_interaction(), "reset")
    assert [c.value for c in choices] == ["resetme"]


# --------------------------------------------------------------------------------------- /watch


async def test_watch_add_stores_a_discord_watch_and_schedules_it(bot):
    watches = cog(bot, "Watch")
    interaction = fake_interaction()
    await watches.add.callback(watches, interaction, "ctgov", "nct09990002", "12h", "ResetME, discovery")
    kwargs = said(interaction)
    assert kwargs["ephemeral"] is True
    assert "Added **ctgov-nct09990002**: ctgov trial=NCT09990002, every 12h; first check <t:" in kwargs["content"]
    repo = bot.backend.repo
    spec = repo.get_watch("ctgov-nct09990002")
    assert (spec.keys, spec.interval_s, spec.labels) == ({"trial": "NCT09990002"}, 43200, ["resetme", "discovery"])
    assert repo.watch_origin("ctgov-nct09990002") == "discord"
    job = bot.backend.scheduler.get_job("check:ctgov-nct09990002")
    assert job is not None and job.trigger.interval.total_seconds() == 43200

    again = fake_interaction()
    await watches.add.callback(watches, again, "ctgov", "NCT09990002", "12h", None)
    assert "exists already" in said(again)["content"]


@pytest.mark.parametrize("kind, target, interval, reason", [
    ("feed", "http://127.0.0.1:8080/feed.xml", "6h", "loopback"),
    ("xenforo_thread", "http://169.254.169.254/latest/meta-data/", "6h", "link-local"),
    ("xenforo_forum", "http://0x7f000001/forums/x/", "6h", "loopback"),
    ("feed", "file:///etc/passwd", "6h", "only http:// and https://"),
    ("ctgov", "NCT09990003", "1m", "at least 5m"),
    ("ctgov", "NCT09990003", "often", "interval must be a number"),
])
async def test_watch_add_refuses_unsafe_or_unreasonable_watches(bot, kind, target, interval, reason):
    watches = cog(bot, "Watch")
    before = [w.id for w in bot.backend.repo.list_watches()]
    interaction = fake_interaction()
    await watches.add.callback(watches, interaction, kind, target, interval, None)
    kwargs = said(interaction)
    assert kwargs["ephemeral"] is True and kwargs["content"].startswith("Not added:")
    assert reason in kwargs["content"]
    assert [w.id for w in bot.backend.repo.list_watches()] == before


async def test_allow_private_urls_lets_a_local_feed_in(tmp_path, server, standin):
    service = Service(make_config(tmp_path, server, standin, allow_private_urls=True), stdout=io.StringIO())
    await service.open()
    client = TrialwatchBot(service, sync_commands=False)
    await client.add_cogs()
    watches = cog(client, "Watch")
    interaction = fake_interaction()
    await watches.add.callback(watches, interaction, "feed", f"{server.url}/feed.xml", "6h", None)
    assert said(interaction)["content"].startswith("Added")
    assert service.repo.get_watch("feed-http-127-0-0-1-" + server.url.rsplit(":", 1)[1] + "-feed-xml") is not None
    await service.close()
    await client.close()


async def test_watch_remove_and_list(bot):
    watches = cog(bot, "Watch")
    listing = fake_interaction()
    await watches.list_.callback(watches, listing)
    content = said(listing)["content"]
    assert "**resetme** — ctgov trial=NCT09990001 · every 6h · resetme · from config" in content

    missing = fake_interaction()
    await watches.remove.callback(watches, missing, "nope")
    assert "No watch with id **nope**" in said(missing)["content"]

    removal = fake_interaction()
    await watches.remove.callback(watches, removal, "resetme")
    kwargs = said(removal)
    assert "Removed **resetme**" in kwargs["content"] and "config file" in kwargs["content"]
    assert bot.backend.repo.get_watch("resetme") is None
    assert bot.backend.scheduler.get_job("check:resetme") is None


async def test_watch_commands_need_manage_server_checked_locally_and_by_discord(bot):
    tree = bot.tree
    group = tree.get_command("watch")
    assert int(group.to_dict(tree)["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert group.guild_only is True
    for name in ("add", "remove"):
        command = group.get_command(name)
        with pytest.raises(app_commands.MissingPermissions):
            await command._check_can_run(fake_interaction(manage_guild=False))
        assert await command._check_can_run(fake_interaction(manage_guild=True))


# ----------------------------------------------------------------------------------- /trial, /status


async def test_trial_dossier_after_a_change(bot, server):
    await bot.backend.check_now()
    server.route("GET", "/ctgov/studies/NCT09990001",
                 Reply(body=study("NCT09990001", status="ACTIVE_NOT_RECRUITING", count=70, count_type="ACTUAL",
                                  secondary=[{"id": "2024-512500-19-00", "type": "CTIS"}])))
    await bot.backend.check_now()
    trials = cog(bot, "Trial")
    interaction = fake_interaction()
    await trials.trial.callback(trials, interaction, "NCT09990001")
    embed = said(interaction)["embed"].to_dict()
    assert embed["title"] == "RESETME"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Status"] == "Active, not recruiting"
    assert fields["Enrollment"] == "70 (actual)"  # as in its history line below: one formatter
    assert "NCT09990001" in fields["Registry ids"]
    assert "status changed: Recruiting → Active, not recruiting" in fields["Recent events (2 of 2)"]
    history = fields["Field history"]
    assert history.startswith("**status**: Recruiting → Active, not recruiting, 1 change(s)")
    assert "**enrollment**: 66 (estimated) → 70 (actual), 1 change(s)" in history
    assert "countries" not in history  # seen, never changed: not part of the story
    # The enrollment chart comes along as an attachment the embed shows.
    assert embed["image"]["url"] == "attachment://chart.png"
    chart = said(interaction)["file"]
    assert chart.filename == "chart.png" and chart.fp.read(8) == b"\x89PNG\r\n\x1a\n"

    unknown = fake_interaction()
    await trials.trial.callback(trials, unknown, "NCT00000000")
    assert said(unknown)["ephemeral"] is True


async def test_status_shows_every_watch_with_health_and_next_run(bot, server):
    await bot.backend.check_now()
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(503, "down", content_type="text/plain"))
    await bot.backend.check_now()
    status = cog(bot, "Status")
    interaction = fake_interaction()
    await status.status.callback(status, interaction)
    embed = said(interaction)["embed"].to_dict()
    assert "**resetme** ctgov trial=NCT09990001 · every 6h · last success <t:" in embed["description"]
    assert "⚠️ 1 failure(s) in a row · next run <t:" in embed["description"]
    assert "last error <t:" in embed["description"] and "503" in embed["description"]
    assert embed["footer"]["text"] == "1 watch(es), 1 failing · delivering to console, discord_webhook"


# ------------------------------------------------------------------------------- through the tree


class CommandInteraction(discord.Interaction):
    """A real Interaction from an INTERACTION_CREATE payload (discord.py's own test approach)."""

    def __init__(self, client: discord.Client, group: str, sub: str, options: dict[str, str], permissions: int) -> None:
        data = {
            "id": "1300000000000000001", "application_id": "1300000000000000002", "token": "tok", "version": 1,
            "type": 2, "guild_id": "1300000000000000003", "attachment_size_limit": 10_485_760,
            "channel": {"id": "1300000000000000004", "type": 0, "guild_id": "1300000000000000003", "name": "news",
                        "position": 0, "permission_overwrites": []},
            "member": {"user": USER, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False,
                       "mute": False, "flags": 0, "permissions": str(permissions)},
            "data": {"id": "1300000000000000005", "type": 1, "name": group, "options": [
                {"type": 1, "name": sub, "options": [{"type": 3, "name": k, "value": v} for k, v in options.items()]}]},
        }
        if client._connection.user is None:  # what login() would have set: the bot's own user
            client._connection.user = discord.ClientUser(state=client._connection, data={**USER, "id": "99", "bot": True})
        super().__init__(data=data, state=client._connection)  # type: ignore[arg-type]
        self.response_mock = MagicMock(spec=discord.InteractionResponse)
        self.response_mock.is_done = MagicMock(return_value=False)
        self.response_mock.send_message = AsyncMock()
        self.response_mock.defer = AsyncMock()
        self._cs_response = self.response_mock  # the only part that would call Discord


async def test_tree_refuses_a_user_without_manage_server_and_changes_nothing(bot):
    repo = bot.backend.repo
    before = [(w.id, w.keys) for w in repo.list_watches()]
    for sub, options in (("add", {"kind": "ctgov", "target": "NCT09990009"}), ("remove", {"id": "resetme"})):
        interaction = CommandInteraction(bot, "watch", sub, options, permissions=0)
        await bot.tree._call(interaction)
        interaction.response_mock.send_message.assert_awaited_once()
        kwargs = interaction.response_mock.send_message.await_args.kwargs
        assert (kwargs["content"], kwargs["ephemeral"]) == (REFUSED_MANAGE, True)
        interaction.response_mock.defer.assert_not_awaited()
    assert [(w.id, w.keys) for w in repo.list_watches()] == before
    assert bot.backend.scheduler.get_job("check:resetme") is not None


async def test_tree_runs_the_command_for_a_moderator(bot):
    manage = discord.Permissions(manage_guild=True).value
    interaction = CommandInteraction(bot, "watch", "remove", {"id": "resetme"}, permissions=manage)
    await bot.tree._call(interaction)
    kwargs = interaction.response_mock.send_message.await_args.kwargs
    assert "Removed **resetme**" in kwargs["content"] and kwargs["ephemeral"] is True
    assert bot.backend.repo.get_watch("resetme") is None


# ------------------------------------------------------------------------------------ setup_hook


@pytest.mark.parametrize("guild_id", [None, "1300000000000000003"])
async def test_login_runs_setup_hook_and_publishes_the_commands_once(tmp_path, server, standin, monkeypatch, guild_id):
    """Logging in (against the stand-in's REST endpoints) loads the cogs and syncs the command tree:
    to the configured server at once, or globally only when Discord's copy differs."""
    monkeypatch.setattr(discord.http.Route, "BASE", standin.api_base)
    cfg = make_config(tmp_path, server, standin)
    cfg.discord.guild_id = guild_id
    service = Service(cfg, stdout=io.StringIO())
    await service.open()
    for round_ in (1, 2):
        client = TrialwatchBot(service)
        await client.login(standin.bot_token)
        assert {c.qualified_name for c in client.tree.walk_commands()} >= {"check", "watch add", "trial", "status"}
        await client.close()
    puts = [r for r in standin.requests if r["method"] == "PUT"]
    published = standin.commands[guild_id]
    assert sorted(c["name"] for c in published) == ["check", "status", "trial", "watch"]
    watch = next(c for c in published if c["name"] == "watch")
    assert int(watch["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    # A server sync is instant and cheap: every start. Global: only the first time (nothing changed after).
    assert len(puts) == (2 if guild_id else 1)
    await service.close()


# ------------------------------------------------------------------------ /check: where and how often


async def test_check_refuses_direct_messages_privately_and_checks_nothing(bot, server):
    """The issue: /check worked in DMs, where each user had an allowance of their own."""
    checks = cog(bot, "Check")
    assert bot.tree.get_command("check").guild_only is True  # Discord offers it in servers only
    server.take_requests()
    for user in range(6):
        interaction = fake_interaction(guild_id=None, user_id=5000 + user)
        await checks.check.callback(checks, interaction, None)
        kwargs = said(interaction)
        assert (kwargs["content"], kwargs["ephemeral"]) == (discord_bot.REFUSED_DM, True)
        interaction.response.defer.assert_not_awaited()  # refused before "thinking…" is shown to the channel
    assert server.take_requests() == []  # no source was asked


async def test_check_allows_three_a_minute_per_server_whoever_asks(bot, server, clock):
    """Six users in one server share three checks a minute; another server has its own three."""
    checks = cog(bot, "Check")
    server.take_requests()
    answers = []
    for user in range(6):
        interaction = fake_interaction(manage_guild=False, guild_id=77, user_id=6000 + user)
        await checks.check.callback(checks, interaction, "resetme")
        answers.append(said(interaction))
        clock.advance(1)
    ran = [a for a in answers if a["content"].startswith("Checked 1 watch(es)")]
    refused = [a for a in answers if a not in ran]
    assert len(ran) == CHECK_RATE == 3
    assert [a["ephemeral"] for a in refused] == [True] * 3
    # The first check was at t=0; at t=3 the next is allowed at t=60: 57 s to go.
    assert "Try again in 57 s" in refused[0]["content"] and "Nothing was checked" in refused[0]["content"]
    assert len(server.take_requests()) == 3  # the sources were asked three times, not six

    elsewhere = fake_interaction(guild_id=78)
    await checks.check.callback(checks, elsewhere, "resetme")
    assert said(elsewhere)["content"].startswith("Checked 1 watch(es)")

    clock.advance(CHECK_PER_S - 6)  # t = 60: the first check has left the window
    again = fake_interaction(guild_id=77)
    await checks.check.callback(checks, again, "resetme")
    assert said(again)["content"].startswith("Checked 1 watch(es)")
    late = fake_interaction(guild_id=77)
    await checks.check.callback(checks, late, "resetme")
    assert "Try again in 1 s" in said(late)["content"]  # the second check (t=1) leaves at t=61


def test_the_rate_limit_counts_only_what_it_allows_and_forgets_quiet_servers():
    clock = FakeClock()
    limit = discord_bot.GuildRateLimit(2, 10.0, clock=clock)
    assert [limit.hit(1), limit.hit(1)] == [None, None]
    assert limit.hit(1) == 10.0
    clock.advance(4)
    assert limit.hit(1) == 6.0  # refusals did not push the window back
    assert limit.hit(2) is None
    clock.advance(6)
    assert limit.hit(1) is None and limit.hit(1) is None and limit.hit(1) == 10.0
    clock.advance(20)
    limit.hit(3)
    assert set(limit._uses) == {3}  # servers quiet for a whole window are forgotten


# ------------------------------------------------------------------------------- /watch list


async def test_watch_list_needs_manage_server_checked_locally(bot):
    """/watch list shows every target and error: like add/remove, not only Discord's hint."""
    command = bot.tree.get_command("watch").get_command("list")
    with pytest.raises(app_commands.MissingPermissions) as refused:
        await command._check_can_run(fake_interaction(manage_guild=False))
    from bot.discord.bot import refusal_text

    assert refusal_text(refused.value) == REFUSED_MANAGE
    assert await command._check_can_run(fake_interaction(manage_guild=True))


async def test_tree_refuses_watch_list_without_manage_server(bot):
    interaction = CommandInteraction(bot, "watch", "list", {}, permissions=0)
    await bot.tree._call(interaction)
    interaction.response_mock.send_message.assert_awaited_once()
    kwargs = interaction.response_mock.send_message.await_args.kwargs
    assert (kwargs["content"], kwargs["ephemeral"]) == (REFUSED_MANAGE, True)
    assert "resetme" not in kwargs["content"]


# ------------------------------------------------------------------------ /check: no secrets shown


async def test_check_report_never_shows_the_webhook_url_or_token_discord_echoes(bot, server, standin):
    """A Discord error body that quotes the webhook URL and token must not reach the channel or the outbox."""
    checks = cog(bot, "Check")
    await checks.check.callback(checks, fake_interaction(), "resetme")  # baseline
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001", status="TERMINATED")))
    echo = {"code": 50035, "message": f"Invalid Form Body for {standin.url}?wait=true",
            "errors": {"embeds": {"0": {"_errors": [{"code": "X", "message": f"token {standin.token} refused"}]}}}}
    standin.fail_next(400, body=echo)
    interaction = fake_interaction(guild_id=2)
    await checks.check.callback(checks, interaction, "resetme")
    content = said(interaction)["content"]
    assert "discord_webhook: failed: Discord refused the message: HTTP 400, code 50035" in content
    assert standin.token not in content and standin.url not in content
    assert "Invalid Form Body for ***" in content and "token *** refused" in content  # the rest still reads
    rows = bot.backend.repo.db.query("SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
    errors = [r["last_error"] for r in rows]
    assert errors and all(standin.token not in e for e in errors)
