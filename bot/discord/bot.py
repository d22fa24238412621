"""The Discord bot (discord.py 2.7): slash commands that let moderators drive trialwatch.

RoboDanny's shape: a :class:`commands.Bot` subclass owns start-up (``setup_hook``: cogs, command
sync) and shutdown (``close``); one cog per feature; what the commands *say* is built by pure
functions in :mod:`bot.discord.answers`. The bot never pings: ``AllowedMentions.none()`` is set on the
client (discord.py merges it into interaction responses and follow-ups) and passed again on every
answer.

Commands:

- ``/check [watch]`` — in a server only, at most :data:`CHECK_RATE` times per :data:`CHECK_PER_S`
  seconds per server (:class:`GuildRateLimit`): defer, run the real pipeline for one or all watches,
  deliver, answer with the ``--explain`` stage report (secrets redacted);
- ``/watch add kind target [interval] [labels]``, ``/watch remove id``, ``/watch list`` — the
  group carries ``default_permissions(manage_guild=True)`` (Discord hides it from others, but a
  server admin can override that), and every subcommand also checks Manage Server locally; a refusal is
  answered ephemerally and changes nothing. URLs added here must be public (:mod:`bot.engine.urlsafety`);
- ``/trial <id>`` — the dossier of a trial known by any registry id;
- ``/status`` — every watch: last success, last error, failures in a row, next run.

The cogs talk to a :class:`Backend` (the running :class:`bot.engine.service.Service`): the config, the
repository, ``check_now``, ``next_runs`` and ``resync_jobs``.
"""

from __future__ import annotations

import io
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.answers import (
    code_block,
    parse_labels,
    status_embed,
    trial_dossier,
    watch_list_text,
    when,
)
from bot.discord.charts import trial_chart
from bot.present.values import fmt_interval
from bot.engine.config import Config, ConfigError, parse_interval, watch_from_table
from bot.engine.explain import explain_text
from bot.discord.render import escape_markdown
from bot.discord.webhook import redact_secrets, secret_values
from bot.engine.urlsafety import UnsafeURL, check_url
from bot.engine.watches import default_watch_id, describe_watch, keys_from_target, watching_the_same
from scrapers.kinds import kind_names, source_class
from storage.repo import Repo

log = logging.getLogger("trialwatch.bot")

#: watches added from Discord are checked at most this often (a chat command must not make
#: trialwatch hammer a registry or a forum); the config file may set anything
MIN_DISCORD_INTERVAL_S = 300
NO_PINGS = discord.AllowedMentions.none()
REFUSED_MANAGE = "You need the **Manage Server** permission to see or change watches. Nothing was changed."
REFUSED_DM = ("/check works in a server channel only: the checks it may run are shared by everyone in a "
              "server. Nothing was checked.")


class Backend(Protocol):
    """What the commands need from the running service."""

    cfg: Config
    repo: Repo

    async def check_now(self, watch_ids: list[str] | None = None) -> Any: ...

    def next_runs(self) -> dict[str, Any]: ...

    def resync_jobs(self) -> None: ...


class UnknownWatch(LookupError):
    """``/check`` or ``/watch remove`` named a watch that does not exist."""


# --------------------------------------------------------------------------------------- answering


async def answer(interaction: discord.Interaction, content: str | None = None, *, embed: discord.Embed | None = None,
                 file: discord.File | None = None, ephemeral: bool = False) -> None:
    """Reply whether or not the interaction was deferred; never pings anyone."""
    kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS, "ephemeral": ephemeral}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


#: /check may run this many times per CHECK_PER_S seconds in one server
CHECK_RATE, CHECK_PER_S = 3, 60.0


def cooldown_text(retry_after: float) -> str:
    """The private answer to a /check over the server's allowance."""
    return (f"Checked just now; the sources are asked at most {CHECK_RATE} times a minute from this server. "
            f"Try again in {max(retry_after, 1.0):.0f} s. Nothing was checked.")


class GuildRateLimit:
    """At most ``rate`` uses per ``per`` seconds per server: a sliding window of the accepted uses.

    Owned by the bot (not discord.py's ``checks.cooldown``, whose buckets are global to the process and
    keyed on whatever the key function returns — a DM fell back to the user's id, so six users in DMs
    got six allowances). The clock is injected so tests never wait; ``time.monotonic`` by default
    (immune to wall-clock jumps).
    """

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.per = per
        self.clock = clock
        self._uses: dict[int, deque[float]] = {}

    def hit(self, guild_id: int) -> float | None:
        """Count one use for ``guild_id`` and return None, or return the seconds until one is allowed
        (and count nothing: a refused use costs the server nothing)."""
        now = self.clock()
        for key in [k for k, uses in self._uses.items() if not uses or uses[-1] <= now - self.per]:
            del self._uses[key]  # servers quiet for a whole window: forget them
        uses = self._uses.setdefault(guild_id, deque())
        while uses and uses[0] <= now - self.per:
            uses.popleft()
        if len(uses) >= self.rate:
            return uses[0] + self.per - now
        uses.append(now)
        return None


def refusal_text(error: app_commands.AppCommandError) -> str | None:
    """What to tell a user whose command was refused by a check (None: not a refusal, a failure)."""
    if isinstance(error, app_commands.MissingPermissions):
        if "manage_guild" in error.missing_permissions:
            return REFUSED_MANAGE
        return f"You are missing a permission for this: {', '.join(error.missing_permissions)}. Nothing was changed."
    if isinstance(error, app_commands.CommandOnCooldown):
        return cooldown_text(error.retry_after)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server channel only."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here. Nothing was changed."
    return None


class TrialwatchTree(app_commands.CommandTree):
    """The command tree: refusals answered ephemerally; failures logged and reported without a traceback."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        text = refusal_text(error)
        command = interaction.command.qualified_name if interaction.command else "?"
        if text is None:
            original = getattr(error, "original", error)
            log.error("/%s failed", command, exc_info=(type(original), original, original.__traceback__))
            text = f"Sorry, /{command} failed: {type(original).__name__}. The log has the details."
        else:
            log.info("/%s refused for user %s: %s", command, getattr(interaction.user, "id", "?"), type(error).__name__)
        try:
            await answer(interaction, text, ephemeral=True)
        except discord.HTTPException:  # the interaction expired; nothing more to do
            log.warning("could not tell the user that /%s was refused or failed", command)


# ------------------------------------------------------------------------------------------- the bot


class TrialwatchBot(commands.Bot):
    """trialwatch's Discord client. Needs no privileged intent: slash commands only."""

    def __init__(self, backend: Backend, *, sync_commands: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.default(),
                         allowed_mentions=NO_PINGS, tree_cls=TrialwatchTree, help_command=None)
        self.backend = backend
        self.sync_commands_on_start = sync_commands
        #: /check's allowance per server; ``clock`` is for tests
        self.check_limit = GuildRateLimit(CHECK_RATE, CHECK_PER_S, clock=clock)

    async def setup_hook(self) -> None:
        """Runs once at login, before the gateway connects: load the cogs and publish the commands."""
        await self.add_cogs()
        if self.sync_commands_on_start:
            try:
                await self.sync_commands()
            except discord.HTTPException as exc:  # the bot still delivers; commands stay as Discord has them
                log.error("could not publish the slash commands: HTTP %s %s", exc.status, exc.text)

    async def add_cogs(self) -> None:
        for cog in (CheckCog(self), WatchCog(self), TrialCog(self), StatusCog(self)):
            await self.add_cog(cog)

    async def sync_commands(self) -> None:
        """With ``[discord] guild_id``: copy the commands to that server (they appear at once).

        Without it: publish them globally, but only when they differ from what Discord already has
        (a global sync on every boot wastes Discord's daily command-creation budget).
        """
        guild_id = self.backend.cfg.discord.guild_id
        if guild_id:
            guild = discord.Object(int(guild_id))
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("slash commands synced to server %s: %s", guild_id, ", ".join(c.name for c in synced))
            return
        remote = await self.tree.fetch_commands()
        wanted = {c.name: c.to_dict(self.tree) for c in self.tree.get_commands()}
        if {c.name for c in remote} != set(wanted) or any(
                _option_names(c.to_dict()) != _option_names(wanted.get(c.name, {})) for c in remote):
            synced = await self.tree.sync()
            log.info("slash commands published globally (may take up to an hour to appear): %s",
                     ", ".join(c.name for c in synced))
        else:
            log.info("slash commands already published")

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%d server(s))", self.user, len(self.guilds))

    async def close(self) -> None:
        """Unload the cogs and close the gateway and HTTP session. The service owns the rest
        (scheduler, fetcher, database) and closes it after this."""
        log.info("closing the Discord connection")
        await super().close()


def _option_names(data: dict[str, Any]) -> list[Any]:
    return sorted((o.get("name"), _option_names(o)) for o in data.get("options") or [])


# ---------------------------------------------------------------------------------------- the cogs


class _Cog(commands.Cog):
    def __init__(self, bot: TrialwatchBot) -> None:
        self.bot = bot

    @property
    def backend(self) -> Backend:
        return self.bot.backend

    async def _watch_choices(self, current: str) -> list[app_commands.Choice[str]]:
        ids = [w.id for w in self.backend.repo.list_watches()]
        current = (current or "").lower()
        return [app_commands.Choice(name=i, value=i) for i in ids if current in i][:25]


class CheckCog(_Cog, name="Check"):
    """/check: the real pipeline, now, with the stage report."""

    @app_commands.command(name="check", description="Check one watch (or all) now and show every stage")
    @app_commands.describe(watch="a watch id; leave empty to check every enabled watch")
    # Discord then offers it in servers only; checked in the callback too, because commands published
    # globally before this change keep their DM permission (sync_commands compares names and options only).
    @app_commands.guild_only()
    async def check(self, interaction: discord.Interaction, watch: str | None = None) -> None:
        # Anyone may ask, but not so often that a server can hammer the sources (and skip the backoff
        # of a failing one): a few checks a minute per server. Both refusals come before the defer, so
        # they stay private, and are checked in the callback itself so no path around the tree skips them.
        if interaction.guild_id is None:
            await answer(interaction, REFUSED_DM, ephemeral=True)
            return
        wait = self.bot.check_limit.hit(interaction.guild_id)
        if wait is not None:
            log.info("/check refused for user %s in server %s: %.0f s left of the cooldown",
                     getattr(interaction.user, "id", "?"), interaction.guild_id, wait)
            await answer(interaction, cooldown_text(wait), ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        try:
            outcome = await self.backend.check_now([watch] if watch else None)
        except UnknownWatch as exc:
            await answer(interaction, escape_markdown(str(exc)), ephemeral=True)
            return
        text = explain_text(outcome.reports, outcome.deliveries) or "No enabled watches to check.\n"
        discord_cfg = self.backend.cfg.discord
        # Delivery failures quote Discord; the report goes to a channel: never with a secret in it.
        text = redact_secrets(text, secret_values(discord_cfg.webhook_url, discord_cfg.token))
        failed = sum(1 for r in outcome.reports if r.failed)
        events = sum(len(r.events) for r in outcome.reports)
        head = (f"Checked {len(outcome.reports)} watch(es): {events} new event(s)"
                + (f", {failed} failed" if failed else "") + ".")
        block = code_block(text, 2000 - len(head) - 1)
        file = None
        if "(cut; the full report is attached)" in block:
            file = discord.File(io.BytesIO(text.encode("utf-8")), filename="check-report.txt")
        await answer(interaction, f"{head}\n{block}", file=file)

    @check.autocomplete("watch")
    async def _check_watch_autocomplete(self, interaction: discord.Interaction,
                                        current: str) -> list[app_commands.Choice[str]]:
        return await self._watch_choices(current)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class WatchCog(_Cog, commands.GroupCog, name="Watch", group_name="watch",
               group_description="Manage what trialwatch watches"):
    """/watch add|remove|list. Every subcommand needs Manage Server, checked here as well as by Discord
    (Discord's ``default_permissions`` is a hint a server admin can override)."""

    @app_commands.command(name="add", description="Watch a trial, a search, a forum thread, a feed or a paper query")
    @app_commands.describe(kind="what kind of source", target="NCT id, EU CT number, URL, query, or key=value&… search",
                           interval="how often, like 6h or 30m (at least 5m)", labels="labels, comma-separated")
    @app_commands.choices(kind=[app_commands.Choice(name=k, value=k) for k in kind_names()])
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(self, interaction: discord.Interaction, kind: str, target: str, interval: str = "6h",
                  labels: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            spec = await self._spec(kind, target, interval, labels)
        except (ValueError, ConfigError, UnsafeURL) as exc:
            await answer(interaction, f"Not added: {escape_markdown(str(exc))}", ephemeral=True)
            return
        repo = self.backend.repo
        if repo.get_watch(spec.id) is not None:
            await answer(interaction, f"Not added: a watch with id **{escape_markdown(spec.id)}** exists already.",
                         ephemeral=True)
            return
        twin = watching_the_same(spec, repo.list_watches(kind=spec.kind))
        if twin is not None:
            await answer(interaction, f"Not added: **{escape_markdown(twin.id)}** already follows "
                         f"{escape_markdown(describe_watch(twin))}.", ephemeral=True)
            return
        repo.upsert_watch(spec, origin="discord")
        self.backend.resync_jobs()
        log.info("watch %s added from Discord by user %s", spec.id, getattr(interaction.user, "id", "?"))
        next_run = self.backend.next_runs().get(spec.id)
        await answer(interaction, f"Added **{escape_markdown(spec.id)}**: {escape_markdown(describe_watch(spec))}, "
                                  f"every {fmt_interval(spec.interval_s)}; first check {when(next_run, never='soon')}.",
                     ephemeral=True)

    async def _spec(self, kind: str, target: str, interval: str, labels: str | None) -> Any:
        """The watch to add, validated exactly like one from the config, plus the Discord-only rules."""
        cfg = self.backend.cfg
        seconds = parse_interval(interval, "interval")
        if seconds < MIN_DISCORD_INTERVAL_S:
            raise ValueError(f"the interval must be at least {fmt_interval(MIN_DISCORD_INTERVAL_S)} "
                             f"for watches added from Discord, got {interval}")
        keys = keys_from_target(kind, target)
        url_key = source_class(kind).url_key
        if url_key and url_key in keys:
            keys[url_key] = await check_url(str(keys[url_key]), allow_private=cfg.security.allow_private_urls)
        table = {"id": default_watch_id(kind, target), "kind": kind, "interval": f"{seconds}s",
                 "labels": parse_labels(labels), **keys}
        return watch_from_table(table, "/watch add")

    @app_commands.command(name="remove", description="Stop watching (events and history are kept)")
    @app_commands.rename(watch_id="id")
    @app_commands.describe(watch_id="the watch id (see /watch list)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction, watch_id: str) -> None:
        repo = self.backend.repo
        origin = repo.watch_origin(watch_id)
        if origin is None:
            await answer(interaction, f"No watch with id **{escape_markdown(watch_id)}**.", ephemeral=True)
            return
        repo.remove_watch(watch_id)
        self.backend.resync_jobs()
        log.info("watch %s removed from Discord by user %s", watch_id, getattr(interaction.user, "id", "?"))
        note = (f"\nIt is defined in the config file ({escape_markdown(self.backend.cfg.source)}) and comes back when "
                "trialwatch restarts; remove it there too.") if origin == "config" else ""
        await answer(interaction, f"Removed **{escape_markdown(watch_id)}**; its events and history are kept.{note}",
                     ephemeral=True)

    @remove.autocomplete("watch_id")
    async def _remove_autocomplete(self, interaction: discord.Interaction,
                                   current: str) -> list[app_commands.Choice[str]]:
        return await self._watch_choices(current)

    @app_commands.command(name="list", description="Every watch with its schedule, labels and health")
    @app_commands.checks.has_permissions(manage_guild=True)  # the list shows targets and errors: moderators only
    async def list_(self, interaction: discord.Interaction) -> None:
        repo = self.backend.repo
        watches = repo.list_watches()
        origins = {w.id: repo.watch_origin(w.id) or "?" for w in watches}
        await answer(interaction, watch_list_text(watches, repo.all_health(), origins))


class TrialCog(_Cog, name="Trial"):
    """/trial: the dossier of one trial."""

    @app_commands.command(name="trial", description="A trial's dossier: ids, status, enrollment, recent events, history")
    @app_commands.describe(trial_id="any registry id: NCT…, EU CT number, EudraCT number, ISRCTN…")
    @app_commands.rename(trial_id="id")
    async def trial(self, interaction: discord.Interaction, trial_id: str) -> None:
        repo = self.backend.repo
        found = repo.identity.trial(trial_id.strip())
        if found is None:
            await answer(interaction, f"No trial known as **{escape_markdown(trial_id)}** yet (it must be seen by a "
                                      "watch first).", ephemeral=True)
            return
        key = found["key"]
        cfg = self.backend.cfg
        from bot.site.paths import public_url, trial_page

        embed = trial_dossier(found, repo.events(trial=key), repo.field_history(trial=key),
                              reported=repo.reports.reported_figures(key, cfg.trials),
                              page_url=public_url(cfg.site.base_url, trial_page(key)))
        png = trial_chart(repo, key, cfg.trials) if cfg.discord.charts else None
        if png is None:
            await answer(interaction, embed=discord.Embed.from_dict(embed))
            return
        embed["image"] = {"url": "attachment://chart.png"}
        await answer(interaction, embed=discord.Embed.from_dict(embed),
                     file=discord.File(io.BytesIO(png), filename="chart.png"))


class StatusCog(_Cog, name="Status"):
    """/status: the health of every watch and when it runs next."""

    @app_commands.command(name="status", description="Every watch: last success, last error, failures, next run")
    async def status(self, interaction: discord.Interaction) -> None:
        repo = self.backend.repo
        embed = status_embed(repo.list_watches(), repo.all_health(), self.backend.next_runs(),
                             destinations=self.backend.cfg.destinations())
        await answer(interaction, embed=discord.Embed.from_dict(embed))
