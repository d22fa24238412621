"""Send one payload to a Discord webhook, the way Discord asks to be talked to.

:class:`WebhookSender` posts with ``?wait=true`` (so a success means the message exists, and we get
its id), waits out rate limits instead of fighting them, retries what may succeed later and refuses
to retry what never will:

- 429: sleep ``retry_after`` (JSON body, else ``Retry-After`` header) and try again;
- ``X-RateLimit-Remaining: 0`` + ``X-RateLimit-Reset-After``: the *next* send waits first;
- 5xx, timeouts, connection errors: exponential backoff, a bounded number of attempts, then
  :class:`TransientError` (the outbox keeps the row and tries later);
- 404 / code 10015 (webhook deleted) and 401 / code 50027 (token revoked): :class:`WebhookGone` —
  Discord says never to use such a webhook again, so the caller disables the destination;
- any other 4xx (e.g. 400 / 50035 oversize form body): :class:`PermanentError`, never retried.

The webhook URL contains its token, i.e. it *is* the credential. It never appears in our logs or
exception messages (only ``webhook …/ID/***``), and httpx's own request log (which prints full
URLs at INFO) is held at WARNING. Discord's own words (an error's ``message`` and ``errors``) are
passed through :func:`redact_secrets` before they reach an exception: they end up in the outbox's
``last_error``, in ``/check`` answers and in ``destination_stopped`` alerts posted to other channels,
and an error body may echo the URL or the token it was sent to.

Delivery is at least once: a timeout after Discord stored the message leads to a retry and a
duplicate. Webhooks have no ``nonce``/``enforce_nonce``; that is the price of never losing one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot.engine.logs import redact
from scrapers.http.errors import URL_IN_TEXT, redact_url

logger = logging.getLogger(__name__)
# httpx logs "HTTP Request: POST <full url>" at INFO; the URL holds the webhook token.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

DEFAULT_API_BASE = "https://discord.com/api/v10"
PROJECT_URL = "https://example.org/trialwatch"

_DISCORD_HOSTS = {
    "discord.com",
    "discordapp.com",
    "canary.discord.com",
    "ptb.discord.com",
    "canary.discordapp.com",
    "ptb.discordapp.com",
}
_WEBHOOK_PATH = re.compile(r"^(?P<prefix>.*?)/webhooks/(?P<id>\d+)/(?P<token>[^/?#]+)/?$")
_DISCORD_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(?P<id>\d+)/(?P<token>[^/?#]+)/?$")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("trialwatch")
    except Exception:  # not installed (tests from a checkout)
        return "0.1.0"


DEFAULT_USER_AGENT = f"DiscordBot ({PROJECT_URL}, {_version()}) trialwatch"


# ------------------------------------------------------------------------------------------ errors


class WebhookError(Exception):
    """Base of every failure to deliver through a webhook."""


class PermanentError(WebhookError):
    """Discord refused the payload itself (400 and other 4xx): sending it again cannot help."""

    def __init__(self, status: int, code: int | None, message: str, errors: Any = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        detail = f" {json.dumps(errors, ensure_ascii=False)[:500]}" if errors else ""
        super().__init__(f"Discord refused the message: HTTP {status}, code {code}: {message}{detail}")


class WebhookGone(WebhookError):
    """The webhook is deleted (404 / 10015) or its token is invalid (401 / 50027): stop using it."""

    def __init__(self, status: int, code: int | None, message: str, webhook: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{webhook} is gone: HTTP {status}, code {code}: {message}; disable this destination")


class TransientError(WebhookError):
    """Discord kept failing (5xx, timeouts, long rate limits) for all allowed attempts; try later.

    ``retry_after`` is set when Discord asked for a wait longer than we are willing to block.
    """

    def __init__(self, message: str, attempts: int, retry_after: float | None = None) -> None:
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class SendResult:
    """A delivered message: its Discord id (``None`` only if Discord returned no body)."""

    message_id: str | None
    channel_id: str | None = None
    attempts: int = 1
    message: dict[str, Any] = field(default_factory=dict, repr=False)


# -------------------------------------------------------------------------------------------- URLs


def normalise_webhook_url(url: str, api_base: str = DEFAULT_API_BASE) -> str:
    """The webhook URL to POST to, on the configured API version.

    Webhook URLs copied from Discord have no version (``https://discord.com/api/webhooks/ID/TOKEN``)
    and would hit the deprecated default; any Discord host (discordapp.com, canary, ptb) and any
    version are rewritten to ``{api_base}/webhooks/ID/TOKEN`` (so pointing ``api_base`` at a local
    stand-in redirects real URLs to it). A URL on another host (a stand-in) is kept as given. The
    query string (e.g. ``thread_id``) is kept. Raises ``ValueError`` (without the token) when the
    URL is not a webhook URL.
    """
    raw = (url or "").strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a webhook URL (expected https://discord.com/api/webhooks/ID/TOKEN): {_redact_any(raw)}")
    host = (parts.hostname or "").lower()
    if host in _DISCORD_HOSTS:
        m = _DISCORD_PATH.match(parts.path)
        if not m:
            raise ValueError(
                f"not a Discord webhook URL (expected /api/webhooks/ID/TOKEN): {_redact_any(raw)}"
            )
        rebuilt = f"{api_base.rstrip('/')}/webhooks/{m['id']}/{m['token']}"
        return f"{rebuilt}?{parts.query}" if parts.query else rebuilt
    if not _WEBHOOK_PATH.match(parts.path):
        raise ValueError(f"not a webhook URL (expected …/webhooks/ID/TOKEN): {_redact_any(raw)}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), parts.query, ""))


def redact_webhook_url(url: str) -> str:
    """``webhook …/ID/***``: enough to tell destinations apart in logs, nothing that grants access."""
    m = _WEBHOOK_PATH.match(urlsplit(url or "").path)
    return f"webhook …/{m['id']}/***" if m else "webhook …/***"


def _redact_any(url: str) -> str:
    return redact_webhook_url(url)


#: a URL inside free text (an error message); what :func:`redact_url` is applied to


def secret_values(*values: str | None) -> list[str]:
    """The strings to hide for these configured secrets: each value, and a webhook URL's token alone.

    The token alone matters because an error body can quote it without the URL around it.
    """
    out: list[str] = []
    for value in values:
        if not value:
            continue
        out.append(value)
        m = _WEBHOOK_PATH.match(urlsplit(value).path)
        if m:
            out.append(m["token"])
    return out


def redact_secrets(text: Any, secrets: Iterable[str] = ()) -> str:
    """``text`` safe to store and to show in Discord: the given secrets, webhook URLs' tokens and
    bot-token-shaped strings (:func:`bot.engine.logs.redact`, the rule of our logs) replaced by ``***``,
    then every remaining URL through :func:`scrapers.http.errors.redact_url` (long, token-like path
    segments and query values hidden) — Discord's error text is not ours and may echo what it was sent.
    """
    clean = redact(str(text), list(secrets))
    return URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), clean)


def _redact_tree(value: Any, secrets: Iterable[str]) -> Any:
    """Discord's nested ``errors`` object with every key and string redacted (its shape kept)."""
    secrets = list(secrets)
    if isinstance(value, dict):
        return {redact_secrets(k, secrets): _redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, secrets) for v in value]
    if isinstance(value, str):
        return redact_secrets(value, secrets)
    return value


# ------------------------------------------------------------------------------------------ sender


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


class WebhookSender:
    """Delivers payloads to one webhook, in order, over one ``httpx.AsyncClient``.

    Pass ``client`` to share the application's client (it is then not closed here); otherwise the
    sender owns one and :meth:`aclose` (or ``async with``) closes it. Sends are serialised by a lock
    so messages reach the channel in the order ``send`` was awaited. ``backoff_base`` is the first
    retry delay for 5xx/timeouts (doubling each time, capped by ``backoff_max``); tests pass a few
    milliseconds. A 429 asking for more than ``max_retry_after`` seconds raises
    :class:`TransientError` instead of blocking the caller that long.
    """

    def __init__(
        self,
        url: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        client: httpx.AsyncClient | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 20.0,
        max_attempts: int = 5,
        max_rate_limit_retries: int = 10,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = normalise_webhook_url(url, api_base)
        self.name = redact_webhook_url(self.url)
        self._secrets = secret_values(url, self.url)
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._headers = {"User-Agent": user_agent}
        self.max_attempts = max(1, max_attempts)
        self.max_rate_limit_retries = max(0, max_rate_limit_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._not_before = 0.0  # monotonic time before which the bucket is empty

    def __repr__(self) -> str:  # never the URL
        return f"WebhookSender({self.name})"

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client if this sender created it."""
        if self._own_client:
            await self._client.aclose()

    async def send(self, payload: dict[str, Any], files: list[tuple[str, bytes, str]] | None = None) -> SendResult:
        """POST ``payload`` (and ``files`` as ``(filename, bytes, content_type)``) and return the message id.

        With files the request is multipart: ``payload_json`` plus ``files[n]``; an ``attachments``
        list naming each file is added when the payload has none, so embeds can use
        ``attachment://filename``.
        """
        async with self._lock:
            return await self._send_locked(payload, files or [])

    def _request_kwargs(self, payload: dict[str, Any], files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": {"wait": "true"}, "headers": self._headers, "timeout": self._timeout}
        if not files:
            kwargs["json"] = payload
            return kwargs
        body = dict(payload)
        body.setdefault("attachments", [{"id": i, "filename": name} for i, (name, _, _) in enumerate(files)])
        kwargs["data"] = {"payload_json": json.dumps(body, ensure_ascii=False)}
        kwargs["files"] = {f"files[{i}]": (name, data, ctype) for i, (name, data, ctype) in enumerate(files)}
        return kwargs

    async def _wait_for_bucket(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            logger.debug("%s: rate-limit bucket empty, waiting %.2fs before sending", self.name, delay)
            await self._sleep(delay)

    def _note_rate_headers(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_after = _float(response.headers.get("X-RateLimit-Reset-After"))
        if remaining is not None and remaining.strip() == "0" and reset_after is not None:
            self._not_before = max(self._not_before, time.monotonic() + reset_after)

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_max, self.backoff_base * (2 ** (failures - 1)))

    async def _send_locked(self, payload: dict[str, Any], files: list[tuple[str, bytes, str]]) -> SendResult:
        kwargs = self._request_kwargs(payload, files)
        failures = 0  # 5xx / timeouts / connection errors
        rate_limited = 0
        attempts = 0
        while True:
            await self._wait_for_bucket()
            attempts += 1
            try:
                response = await self._client.post(self.url, **kwargs)
            except httpx.TransportError as exc:  # timeouts, refused connections, broken streams
                failures += 1
                problem = f"{type(exc).__name__}"
                if failures >= self.max_attempts:
                    raise TransientError(
                        f"{self.name}: no answer after {attempts} attempts ({problem})", attempts
                    ) from None
                delay = self._backoff(failures)
                logger.warning(
                    "%s: %s, retrying in %.2fs (attempt %d/%d)", self.name, problem, delay, failures, self.max_attempts
                )
                await self._sleep(delay)
                continue

            self._note_rate_headers(response)
            status = response.status_code
            if status < 300:
                body = _json(response)
                message_id = str(body["id"]) if body.get("id") is not None else None
                channel_id = str(body["channel_id"]) if body.get("channel_id") is not None else None
                logger.debug("%s: delivered message %s after %d attempt(s)", self.name, message_id, attempts)
                return SendResult(message_id=message_id, channel_id=channel_id, attempts=attempts, message=body)

            body = _json(response)
            code = body.get("code") if isinstance(body.get("code"), int) else None
            # Discord's words go into exceptions, the outbox and /check answers: never with our secrets.
            message = redact_secrets(body.get("message") or response.reason_phrase or "", self._secrets)

            if status == 429:
                rate_limited += 1
                retry_after = _float(body.get("retry_after"))
                if retry_after is None:
                    retry_after = _float(response.headers.get("Retry-After"))
                if retry_after is None:
                    retry_after = self._backoff(rate_limited)
                if retry_after > self.max_retry_after or rate_limited > self.max_rate_limit_retries:
                    raise TransientError(
                        f"{self.name}: rate limited (retry_after {retry_after:.2f}s, {rate_limited} times); try later",
                        attempts,
                        retry_after=retry_after,
                    )
                scope = response.headers.get("X-RateLimit-Scope") or ("global" if body.get("global") else "webhook")
                logger.info("%s: rate limited (%s), waiting %.2fs", self.name, scope, retry_after)
                await self._sleep(retry_after)
                continue

            if status == 404 or code == 10015 or status == 401 or code == 50027:
                logger.error("%s: HTTP %d code %s (%s): webhook unusable", self.name, status, code, message)
                raise WebhookGone(status, code, message, self.name)

            if status >= 500:
                failures += 1
                if failures >= self.max_attempts:
                    raise TransientError(f"{self.name}: HTTP {status} after {attempts} attempts", attempts)
                delay = self._backoff(failures)
                logger.warning(
                    "%s: HTTP %d, retrying in %.2fs (attempt %d/%d)", self.name, status, delay, failures, self.max_attempts
                )
                await self._sleep(delay)
                continue

            logger.error("%s: HTTP %d code %s: %s", self.name, status, code, message)
            raise PermanentError(status, code, message, _redact_tree(body.get("errors"), self._secrets))
