"""Wiring the application together: the one place that opens the database, brings the config's watches
and declared trials into it, and builds the notifiers. The command line, the service and the demo all
start here, so they cannot drift apart (and nothing needs to import the command line)."""

from __future__ import annotations

import logging
from typing import IO, TYPE_CHECKING, Any

from bot.engine.config import Config

if TYPE_CHECKING:  # pragma: no cover
    import discord

    from storage.repo import Repo

log = logging.getLogger("trialwatch")


def open_repo(cfg: Config) -> Repo:
    """The database of ``cfg`` (created and migrated on first use)."""
    from storage.db import connect
    from storage.repo import Repo

    return Repo(connect(cfg.db_path))


def sync_config_watches(repo: Repo, cfg: Config) -> None:
    """Config watches are upserted at start; config watches no longer in the config are disabled; the
    ``[[trial]]`` tables become known trials with their starting figures."""
    from storage.repo import utcnow

    fingerprint = config_fingerprint(cfg)
    if repo.synced_config() == fingerprint:
        return  # the same config as last time, and no watch changed since (removals and adds clear it)
    ids = {w.id for w in cfg.watches}
    repo.upsert_watches(cfg.watches, origin="config")  # one read, one transaction: configs hold thousands
    origins = repo.watch_origins()
    for w in repo.list_watches():
        if origins.get(w.id) == "config" and w.id not in ids and w.enabled:
            w.enabled = False
            repo.upsert_watches([w], origin="config")
            log.info("watch %s is no longer in the config; disabled (its history is kept)", w.id)
    repo.sync_declared_trials(cfg.trials, utcnow())
    repo.set_synced_config(fingerprint)


def config_fingerprint(cfg: Config) -> str:
    """A hash of what syncing the config writes (its watches and declared trials): equal means nothing to do."""
    import dataclasses
    import hashlib
    import json

    watches = [[w.id, w.kind, w.keys, w.interval_s, w.labels, w.enabled] for w in cfg.watches]
    trials = [dataclasses.asdict(t) for t in cfg.trials]
    text = json.dumps([watches, trials], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_notifiers(cfg: Config, *, repo: Repo | None = None, as_json: bool = False, stream: IO[str] | None = None,
                    client: discord.Client | None = None) -> dict[str, Any]:
    """Destination name → notifier, for every destination the config enables. ``client`` is the running
    bot (the service's), through which the bot channel posts; without it the bot posts over HTTP only."""
    from bot.present.console import ConsoleNotifier

    notifiers: dict[str, Any] = {}
    for name in cfg.destinations():
        if name == "console":
            notifiers[name] = ConsoleNotifier(stream, as_json=as_json)
            continue
        from bot.discord.notifiers import discord_notifier

        notifier = discord_notifier(cfg, name, repo=repo, client=client if name == "discord_bot" else None)
        if notifier is not None:
            notifiers[name] = notifier
    return notifiers
