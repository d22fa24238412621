"""The Discord notifiers of the outbox: a webhook (HTTP, httpx) and a bot channel (discord.py).

Both plan the same way — events rendered by :func:`bot.discord.render.render_messages` into as few
messages as Discord's limits allow, role pings only for configured labels — and differ in how a
message travels and how failures map onto the delivery worker's three outcomes:

============================  =========================  ============================
failure                       webhook                    bot channel
============================  =========================  ============================
target deleted                404 / 10015, 401 / 50027   404 (10003 unknown channel)
message refused               400 (50035 …), other 4xx   400 and other 4xx
try later                     429 beyond patience, 5xx,  429 beyond discord.py's
                              timeouts                   patience, 5xx, no connection
============================  =========================  ============================

→ :class:`DestinationGone`, :class:`PermanentDeliveryError`, :class:`TransientDeliveryError`.

One refused message must not sink the events batched with it: when Discord answers a message of
several embeds with 400 / 50035 "Invalid Form Body" (one embed it does not like), the notifier raises
:class:`~bot.engine.delivery.MessageRefused` and the delivery worker sends the events again one per
message, so only the faulty event fails.

The bot channel sends each message with ``nonce`` = a value derived from the first outbox row it
carries; discord.py 2.7.1 adds ``enforce_nonce: true`` whenever a nonce is given, so Discord
returns the first message instead of posting a duplicate when a send is retried after a crash
(within Discord's few-minute nonce window). Webhooks have no nonce: at least once.

Every failure's text becomes the outbox row's ``last_error``, a line of ``/check`` and, for a
destination that is gone, an alert posted to the *other* destinations; Discord's part of it (its
error message, which may echo a URL or a token) passes through
:func:`~bot.discord.webhook.redact_secrets` with this destination's own secrets first.
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence

import httpx

from bot.discord.charts import ChartFor, attach_charts, repo_charts
from bot.engine.config import Config, ConfigError
from bot.engine.delivery import DestinationGone, MessageRefused, Planned, TransientDeliveryError
from bot.discord.webhook import (
    DEFAULT_API_BASE,
    PermanentError,
    TransientError,
    WebhookGone,
    WebhookSender,
    normalise_webhook_url,
    redact_secrets,
    secret_values,
)
from bot.discord.render import render_messages
from storage.stores.destinations import fingerprint

if TYPE_CHECKING:  # pragma: no cover
    import discord

    from storage.repo import Repo

log = logging.getLogger("trialwatch.notifiers")

LabelsFor = Callable[[str | None], list[str]]

#: a Forbidden (missing permission) on the bot channel is a setup problem someone has to fix:
#: keep the rows and knock again after this long rather than failing every event
FORBIDDEN_PAUSE_S = 300.0


def plan_payloads(events: Sequence[dict[str, Any]], role_pings: dict[str, list[str]],
                  labels_for: LabelsFor | None) -> list[Planned]:
    """Events → webhook-style payloads, each with the (consecutive) event indexes it carries.

    :func:`render_messages` keeps event order and makes one embed per event, so a payload with
    ``n`` embeds carries the next ``n`` events.
    """
    events = list(events)
    labels_by_event: dict[str, list[str]] = {}
    if role_pings and labels_for is not None:
        for ev in events:
            labels = labels_for(ev.get("watch"))
            if labels:
                labels_by_event[str(ev.get("id"))] = labels
    payloads = render_messages(events, role_pings=role_pings, labels_by_event=labels_by_event)
    planned: list[Planned] = []
    index = 0
    for payload in payloads:
        n = len(payload.get("embeds") or [])
        planned.append(Planned(list(range(index, index + n)), payload))
        index += n
    if index != len(events):  # render_messages promised one embed per event
        raise AssertionError(f"rendered {index} embeds for {len(events)} events")
    return planned


class _DiscordNotifier:
    """What both Discord notifiers share: the plan (batches, role pings, charts) and the send around ``_post``.

    A refused batch is not split here: a :class:`~bot.engine.delivery.MessageRefused` with Discord's
    "Invalid Form Body" code tells the delivery worker to send the batch's events one per message, so
    each outbox row gets its own outcome (and only the faulty event fails).
    """

    role_pings: dict[str, list[str]]
    labels_for: LabelsFor | None
    chart_for: ChartFor | None

    def _decorate(self, planned: Planned, events: Sequence[dict[str, Any]]) -> Planned:
        """Hook: per-notifier keys a message needs (the bot's nonce source)."""
        return planned

    def plan(self, events: Sequence[dict[str, Any]]) -> list[Planned]:
        events = list(events)
        planned = plan_payloads(events, self.role_pings, self.labels_for)
        if self.chart_for is not None:
            attach_charts(planned, events, self.chart_for)
        return [self._decorate(p, events) for p in planned]

    async def _post(self, message: dict[str, Any], outbox_ids: Sequence[int]) -> str | None:
        raise NotImplementedError

    async def send(self, message: dict[str, Any], *, outbox_ids: Sequence[int] = ()) -> str | None:
        return await self._post(message, outbox_ids)


def repo_labels(repo: "Repo") -> LabelsFor:
    """Labels of an event's watch, read from the database (watches change while the service runs)."""

    def labels_for(watch_id: str | None) -> list[str]:
        if not watch_id:
            return []
        watch = repo.get_watch(watch_id)
        return list(watch.labels) if watch else []

    return labels_for


# --------------------------------------------------------------------------------------- webhook


class WebhookNotifier(_DiscordNotifier):
    """Delivers planned payloads through one Discord webhook (``?wait=true``; the message id is returned)."""

    def __init__(self, url: str, *, api_base: str = DEFAULT_API_BASE, name: str = "discord_webhook",
                 role_pings: dict[str, list[str]] | None = None, labels_for: LabelsFor | None = None,
                 backoff_base: float = 1.0, timeout: float = 20.0, client: httpx.AsyncClient | None = None,
                 chart_for: ChartFor | None = None) -> None:
        self.name = name
        self.chart_for = chart_for
        self.url = normalise_webhook_url(url, api_base)  # ValueError (token redacted) for a malformed URL
        self.fingerprint = fingerprint(self.url)
        self.role_pings = dict(role_pings or {})
        self.labels_for = labels_for
        self.sender = WebhookSender(self.url, api_base=api_base, backoff_base=backoff_base, timeout=timeout,
                                    client=client)
        self._secrets = secret_values(url, self.url)

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.sender.name})"

    async def _post(self, message: dict[str, Any], outbox_ids: Sequence[int] = ()) -> str | None:
        payload = {k: v for k, v in message.items() if not k.startswith("_")}
        # The sender redacts Discord's words already; said again here, so no path around it can leak.
        try:
            result = await self.sender.send(payload, files=message.get("_files"))
        except WebhookGone as exc:
            raise DestinationGone(self._say(exc)) from None
        except PermanentError as exc:
            raise MessageRefused(self._say(exc), status=exc.status, code=exc.code) from None
        except TransientError as exc:
            raise TransientDeliveryError(self._say(exc), retry_after=exc.retry_after) from None
        except httpx.HTTPError as exc:  # anything httpx raises that the sender did not classify
            raise TransientDeliveryError(f"{self.sender.name}: {type(exc).__name__}") from None
        return result.message_id

    def _say(self, exc: BaseException) -> str:
        """An exception's text as it may be stored and shown: this webhook's URL and token hidden."""
        return redact_secrets(exc, self._secrets)

    async def aclose(self) -> None:
        await self.sender.aclose()


# ------------------------------------------------------------------------------------ bot channel


def nonce_for(outbox_id: int, event_id: str = "") -> str:
    """A stable nonce (≤ 25 characters, as Discord requires) for the message whose first row is ``outbox_id``.

    The event id is mixed in so two databases (or a rebuilt one) do not reuse each other's nonces.
    """
    digest = hashlib.sha256(f"{outbox_id}:{event_id}".encode("utf-8")).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)  # 63 bits: ≤ 19 digits


def payload_to_discord(payload: dict[str, Any]) -> dict[str, Any]:
    """A rendered webhook payload → keyword arguments for ``Messageable.send``."""
    import discord

    embeds = [discord.Embed.from_dict(e) for e in payload.get("embeds") or []]
    roles = (payload.get("allowed_mentions") or {}).get("roles") or []
    mentions = (discord.AllowedMentions(everyone=False, users=False, replied_user=False,
                                        roles=[discord.Object(int(r)) for r in roles])
                if roles else discord.AllowedMentions.none())
    return {"content": payload.get("content") or None, "embeds": embeds, "allowed_mentions": mentions}


class BotChannelNotifier(_DiscordNotifier):
    """Posts planned payloads to one channel as the bot, idempotently (``nonce`` + ``enforce_nonce``).

    Give it the running bot (``client``) in the service. Without one (``trialwatch check``), it logs
    a bare HTTP client in with ``token`` on first use — no gateway connection — and closes it in
    :meth:`aclose`.
    """

    wants_outbox_ids = True

    def __init__(self, channel_id: str | int, *, client: "discord.Client | None" = None, token: str | None = None,
                 name: str = "discord_bot", role_pings: dict[str, list[str]] | None = None,
                 labels_for: LabelsFor | None = None, chart_for: ChartFor | None = None) -> None:
        if client is None and not token:
            raise ValueError("a bot channel needs the running bot or a token")
        self.name = name
        self.channel_id = int(channel_id)
        self.fingerprint = fingerprint(f"channel:{self.channel_id}")
        self.role_pings = dict(role_pings or {})
        self.labels_for = labels_for
        self.chart_for = chart_for
        self._client = client
        self._token = token
        self._owns_client = client is None

    def _say(self, text: object) -> str:
        """Discord's text (``HTTPException.text``, ``str(exc)``) as it may be stored and shown: the
        bot token and any URL or token-shaped string in it hidden."""
        running = getattr(getattr(self._client, "http", None), "token", None)  # the service's bot logged in
        return redact_secrets(text, secret_values(self._token, running if isinstance(running, str) else None))

    def _decorate(self, planned: Planned, events: Sequence[dict[str, Any]]) -> Planned:
        """The first event id of each message feeds its nonce."""
        planned.message = {**planned.message, "_first_event": str(events[planned.indexes[0]].get("id"))}
        return planned

    async def _messageable(self) -> "discord.PartialMessageable":
        import discord

        if self._client is None:
            client = discord.Client(intents=discord.Intents.none(), allowed_mentions=discord.AllowedMentions.none())
            try:
                await client.login(self._token or "")
            except discord.LoginFailure:
                await client.close()
                raise DestinationGone("Discord refused the bot token (401); check [discord] token") from None
            except (discord.HTTPException, OSError) as exc:
                await client.close()
                raise TransientDeliveryError(f"could not log the bot in: {self._say(exc)}") from None
            self._client = client
        if self._client.user is None:
            raise TransientDeliveryError("the bot is not connected to Discord yet")
        return self._client.get_partial_messageable(self.channel_id)

    async def _post(self, message: dict[str, Any], outbox_ids: Sequence[int] = ()) -> str | None:
        import discord

        payload = {k: v for k, v in message.items() if not k.startswith("_")}
        # A message split out of a refused batch gets a nonce of its own: a later batch that starts
        # with the same row must not be taken by Discord for this single (and be swallowed).
        first_event = message.get("_first_event", "") + ("/single" if message.get("_single") else "")
        nonce = nonce_for(outbox_ids[0], first_event) if outbox_ids else None
        channel = await self._messageable()
        try:
            files = [discord.File(io.BytesIO(png), filename=name) for name, png, _ in message.get("_files") or []]
            sent = await channel.send(**payload_to_discord(payload), nonce=nonce, **({"files": files} if files else {}))
        except discord.NotFound as exc:
            raise DestinationGone(
                f"channel {self.channel_id} is gone: HTTP 404, code {exc.code}: {self._say(exc.text)}") from None
        except discord.Forbidden as exc:
            raise TransientDeliveryError(
                f"the bot may not post in channel {self.channel_id} "
                f"(HTTP 403, code {exc.code}: {self._say(exc.text)}); "
                "give it View Channel, Send Messages and Embed Links", retry_after=FORBIDDEN_PAUSE_S) from None
        except discord.DiscordServerError as exc:
            raise TransientDeliveryError(f"Discord answered HTTP {exc.status}") from None
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise TransientDeliveryError("rate limited; try later") from None
            raise MessageRefused(f"Discord refused the message: HTTP {exc.status}, code {exc.code}: "
                                 f"{self._say(exc.text)}",
                                 status=exc.status, code=exc.code) from None
        except (OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"no answer from Discord: {type(exc).__name__}") from None
        return str(sent.id)

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None


# ----------------------------------------------------------------------------------------- factory


def discord_notifier(cfg: Config, name: str, *, repo: "Repo | None" = None,
                     client: "discord.Client | None" = None) -> WebhookNotifier | BotChannelNotifier | None:
    """The notifier for destination ``name`` ("discord_webhook" or "discord_bot") as configured.

    ``repo`` gives the watch labels behind role pings (opened on ``cfg.db_path`` when pings are
    configured and none is given); ``client`` is the running bot, if any.
    """
    d = cfg.discord
    if (d.role_pings or d.charts) and repo is None:
        from storage.db import connect
        from storage.repo import Repo

        repo = Repo(connect(cfg.db_path))
    labels_for = repo_labels(repo) if repo is not None else None
    chart_for = repo_charts(repo, cfg.trials) if repo is not None and d.charts else None
    if name == "discord_webhook" and d.webhook_url:
        try:
            return WebhookNotifier(d.webhook_url, api_base=d.api_base, name=name, role_pings=d.role_pings,
                                   labels_for=labels_for, backoff_base=max(cfg.http.backoff_s, 0.0),
                                   timeout=cfg.http.timeout_s, chart_for=chart_for)
        except ValueError as exc:  # the message never contains the token
            raise ConfigError(f"{cfg.source} [discord].webhook_url: {exc}") from None
    if name == "discord_bot" and d.channel_id and (client is not None or d.token):
        use_api_base(d.api_base)
        return BotChannelNotifier(d.channel_id, client=client, token=d.token, name=name, role_pings=d.role_pings,
                                  labels_for=labels_for, chart_for=chart_for)
    log.warning("destination %s is not fully configured; skipped", name)
    return None


def use_api_base(api_base: str) -> None:
    """Point discord.py's REST calls at ``[discord] api_base`` (a local stand-in in tests and demos).

    discord.py builds every URL from the class attribute ``Route.BASE``; one bot per process, so one
    base per process is enough.
    """
    from discord import http

    base = api_base.rstrip("/")
    if http.Route.BASE != base:
        http.Route.BASE = base
