"""A local HTTP server that answers like Discord's Execute Webhook endpoint.

Tests (and ``trialwatch`` pointed at it through ``[discord] api_base``) deliver to it over real
HTTP instead of mocking our own sender. It validates every payload the way Discord does — content
length, embed count, per-item and total embed limits, embed URLs (well formed http(s), at most 2048
characters), a non-empty message, a JSON or multipart body — and answers an invalid one with 400 ``{"code": 50035, "message": "Invalid Form Body",
"errors": {...}}`` (50006 for an empty message). Accepted messages are recorded with increasing
snowflake-like ids; ``?wait=true`` returns the message JSON, otherwise 204. Every answer carries
``X-RateLimit-*`` headers from a small fixed window, and going over it yields a real 429.

It can be scripted: :meth:`DiscordStandIn.fail_next` answers the next request(s) with a given
status (429 with ``retry_after``, 500, 404/10015 …), optionally after some successful ones or
after a delay (to provoke client timeouts); :meth:`DiscordStandIn.delete_webhook` makes every later
call 404/10015. All state is guarded by one lock: the server is threaded.

For the bot destination it also answers the few token endpoints discord.py uses to log in and post
(``GET /users/@me``, ``GET /oauth2/applications/@me``, ``POST /channels/{id}/messages``, and listing
and bulk-overwriting slash commands), with Discord's ``nonce`` + ``enforce_nonce`` rule: a repeated
nonce returns the first message, no duplicate.

A created message is answered with Discord's documented message object (DAD ``resources/message.mdx``
"Message Object"): ``id``, ``channel_id``, ``author``, ``content``, ``timestamp``, ``edited_timestamp``,
``tts``, ``mention_everyone``, ``mentions``, ``mention_roles``, ``attachments``, ``embeds``, ``pinned``,
``type``, ``flags``, ``components`` (+ ``webhook_id`` / ``nonce``). Each attachment is a full attachment
object — ``id``, ``filename``, ``size``, ``url``, ``proxy_url``, ``content_type`` and, for images,
``width``/``height`` — because clients parse them: discord.py 2.7 reads ``size``, ``url`` and
``proxy_url`` with ``data[...]`` and raises KeyError when one is missing. Embeds come back with
``type: "rich"`` and ``attachment://`` images resolved to the attachment's URLs, as Discord does.
The uploaded bytes are kept (:attr:`DiscordStandIn.uploads`) so a test can check what arrived.

Run from a shell for another process's test::

    python -m tests.support.discord_standin --port 8765 --record messages.jsonl

prints the webhook URL on stdout and appends each accepted message to the file as a JSON line.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import hashlib
import json
import mimetypes
import re
import signal
import struct
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.discord.limits import DISCORD, DiscordLimits

DISCORD_EPOCH_MS = 1420070400000
DEFAULT_WEBHOOK_ID = "112233445566778899"
DEFAULT_TOKEN = "standin-token-KEEP-SECRET"
DEFAULT_CHANNEL_ID = "998877665544332211"
DEFAULT_BOT_TOKEN = "standin-bot-token-KEEP-SECRET"
DEFAULT_APPLICATION_ID = "445566778899001122"
NONCE_WINDOW_S = 300.0  # Discord: the same nonce within "the past few minutes" returns the first message

_DEFAULT_BODIES: dict[int, dict[str, Any]] = {
    429: {"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
    404: {"code": 10015, "message": "Unknown Webhook"},
    401: {"code": 50027, "message": "Invalid Webhook Token"},
    500: {"code": 0, "message": "500: Internal Server Error"},
    502: {"code": 0, "message": "502: Bad Gateway"},
    503: {"code": 0, "message": "503: Service Unavailable"},
}


#: where Discord serves attachments (``url``) and their resized copies (``proxy_url``)
CDN_BASE = "https://cdn.discordapp.com"
MEDIA_BASE = "https://media.discordapp.net"
#: the fields of a message that echo the request, kept in :attr:`DiscordStandIn.messages` for tests
#: but not part of Discord's message object, so never in an answer
_REQUEST_ECHOES = ("allowed_mentions", "thread_id", "enforce_nonce")


@dataclass(frozen=True)
class Upload:
    """One file part of an accepted multipart message: what the stand-in received, byte for byte."""

    message_id: str
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class _FilePart:
    field: str
    filename: str
    content_type: str
    data: bytes


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or GIF, else None: Discord reports both for images it can read."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def sniff_content_type(filename: str, declared: str, data: bytes) -> str:
    """The ``content_type`` Discord reports: by the bytes for common images, else by the file name,
    else as declared (discord.py declares every file ``application/octet-stream``); text gets a charset."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        kind = "image/png"
    elif data[:3] == b"\xff\xd8\xff":
        kind = "image/jpeg"
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        kind = "image/gif"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    else:
        kind = mimetypes.guess_type(filename)[0] or declared or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") and "charset" not in kind else kind


def attachment_object(channel_id: str, attachment_id: str, part: _FilePart,
                      description: str | None = None) -> dict[str, Any]:
    """Discord's attachment object for an uploaded file (DAD ``message.mdx`` "Attachment Object").

    ``url`` and ``proxy_url`` carry the signed ``ex``/``is``/``hm`` query Discord has added since 2023.
    """
    now = int(time.time())
    digest = hashlib.sha256(part.data).hexdigest()
    query = f"?ex={now + 86400:x}&is={now:x}&hm={digest}&"
    path = f"/attachments/{channel_id}/{attachment_id}/{part.filename}"
    obj: dict[str, Any] = {
        "id": attachment_id,
        "filename": part.filename,
        "size": len(part.data),
        "url": f"{CDN_BASE}{path}{query}",
        "proxy_url": f"{MEDIA_BASE}{path}{query}",
        "content_type": sniff_content_type(part.filename, part.content_type, part.data),
    }
    size = image_size(part.data)
    if size is not None:
        obj["width"], obj["height"] = size
    if description:
        obj["description"] = description
    return obj


def _mention_fields(payload: dict[str, Any], *, webhook: bool) -> dict[str, Any]:
    """``mention_everyone`` and ``mention_roles`` as Discord fills them: mentions in ``content`` that
    ``allowed_mentions`` lets through (its default: users only for webhooks, everything for bots).
    No user is known to the stand-in, so ``mentions`` stays empty."""
    content = str(payload.get("content") or "")
    allowed = payload.get("allowed_mentions")
    if not isinstance(allowed, dict):
        allowed = {"parse": ["users"]} if webhook else {"parse": ["users", "roles", "everyone"]}
    parse = allowed.get("parse") or []
    roles = re.findall(r"<@&(\d+)>", content)
    listed = [str(r) for r in allowed.get("roles") or []]
    return {
        "mention_everyone": "everyone" in parse and bool(re.search(r"@(everyone|here)\b", content)),
        "mentions": [],
        "mention_roles": [r for r in dict.fromkeys(roles) if "roles" in parse or r in listed],
    }


def public_message(message: dict[str, Any]) -> dict[str, Any]:
    """A recorded message as Discord answers it: request echoes left out, embeds typed ``rich`` and
    ``attachment://`` images resolved to the attachment's ``url``/``proxy_url``/size."""
    by_name = {a["filename"]: a for a in message.get("attachments") or []}
    embeds = []
    for embed in message.get("embeds") or []:
        shown = {**embed, "type": embed.get("type") or "rich"}
        for key in ("image", "thumbnail"):
            media = embed.get(key)
            url = media.get("url") if isinstance(media, dict) else None
            if isinstance(url, str) and url.startswith("attachment://") and url[13:] in by_name:
                att = by_name[url[13:]]
                shown[key] = {"url": att["url"], "proxy_url": att["proxy_url"], "content_type": att["content_type"],
                              "flags": 0, **({"width": att["width"], "height": att["height"]}
                                             if "width" in att else {})}
        embeds.append(shown)
    return {**{k: v for k, v in message.items() if k not in _REQUEST_ECHOES}, "embeds": embeds}


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    count: int
    after: int
    delay: float


class _ValidationErrors:
    """Collects Discord-shaped nested ``errors`` (``{"embeds": {"0": {"title": {"_errors": [...]}}}}``)."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: list[str], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)


def _length(value: Any) -> int:
    return len(str(value).strip()) if value else 0


#: Discord's limit on every URL in an embed (url, author.url, icon and image URLs)
EMBED_URL_MAX = 2048
_URL_BAD_CHARS = re.compile(r'[\s\x00-\x1f\x7f-\x9f<>"{}|\\^`]')


def url_problem(url: Any, *, attachment_ok: bool = False) -> tuple[str, str] | None:
    """``None`` for a URL Discord takes in an embed; else the ``(code, message)`` of its 50035 answer.

    Like Discord: at most 2048 characters, http or https (``attachment://`` where an image may
    come from the message's files), a host, a valid port, and nothing a URL cannot hold
    (whitespace, control characters, ``<``, ``>``, quotes, braces …).
    """
    if url is None:
        return None
    if not isinstance(url, str):
        return "STRING_TYPE_CONVERT", "Could not interpret value as string."
    if len(url) > EMBED_URL_MAX:
        return "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_URL_MAX} or fewer in length."
    if attachment_ok and url.startswith("attachment://") and len(url) > len("attachment://"):
        return None
    invalid = "URL_TYPE_INVALID_URL", "Not a well formed URL."
    if _URL_BAD_CHARS.search(url):
        return invalid
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return invalid
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return invalid
    return None


def validate_message(
    payload: dict[str, Any], files: list[str], limits: DiscordLimits = DISCORD
) -> tuple[int, dict[str, Any]] | None:
    """``None`` when Discord would accept ``payload``; else ``(code, error body)`` as Discord answers."""
    errors = _ValidationErrors()

    def max_len(path: list[str], value: Any, limit: int) -> None:
        if value is not None and not isinstance(value, str):
            errors.add(path, "STRING_TYPE_CONVERT", "Could not interpret value as string.")
        elif value is not None and len(value.strip()) > limit:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    max_len(["content"], payload.get("content"), limits.content)
    embeds = payload.get("embeds") or []
    if not isinstance(embeds, list):
        errors.add(["embeds"], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        embeds = []
    if len(embeds) > limits.embeds_per_message:
        errors.add(["embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {limits.embeds_per_message} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        at = ["embeds", str(i)]
        if not isinstance(embed, dict):
            errors.add(at, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        max_len([*at, "title"], embed.get("title"), limits.title)
        max_len([*at, "description"], embed.get("description"), limits.description)
        fields = embed.get("fields") or []
        if len(fields) > limits.fields:
            errors.add([*at, "fields"], "BASE_TYPE_MAX_LENGTH", f"Must be {limits.fields} or fewer in length.")
        for j, f in enumerate(fields):
            fat = [*at, "fields", str(j)]
            for key, limit in (("name", limits.field_name), ("value", limits.field_value)):
                if not _length(f.get(key)):
                    errors.add([*fat, key], "BASE_TYPE_REQUIRED", "This field is required")
                else:
                    max_len([*fat, key], f.get(key), limit)
            total += _length(f.get("name")) + _length(f.get("value"))
        footer = embed.get("footer") or {}
        author = embed.get("author") or {}
        max_len([*at, "footer", "text"], footer.get("text"), limits.footer)
        max_len([*at, "author", "name"], author.get("name"), limits.author_name)
        total += _length(embed.get("title")) + _length(embed.get("description"))
        total += _length(footer.get("text")) + _length(author.get("name"))
        color = embed.get("color")
        if color is not None and (not isinstance(color, int) or not 0 <= color <= 0xFFFFFF):
            errors.add([*at, "color"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215.")
        for path, url, attachment_ok in (
            (["url"], embed.get("url"), False),
            (["author", "url"], author.get("url"), False),
            (["author", "icon_url"], author.get("icon_url"), True),
            (["footer", "icon_url"], footer.get("icon_url"), True),
            (["image", "url"], (embed.get("image") or {}).get("url"), True),
            (["thumbnail", "url"], (embed.get("thumbnail") or {}).get("url"), True),
        ):
            problem = url_problem(url, attachment_ok=attachment_ok)
            if problem is not None:
                errors.add([*at, *path], *problem)
        stamp = embed.get("timestamp")
        if stamp is not None:
            try:
                datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError:
                errors.add([*at, "timestamp"], "DATE_TYPE_PARSE", "Could not parse timestamp.")
    if total > limits.total:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {limits.total}")

    mentions = payload.get("allowed_mentions")
    if mentions is not None:
        parse = mentions.get("parse", []) if isinstance(mentions, dict) else None
        if not isinstance(parse, list) or any(p not in ("roles", "users", "everyone") for p in parse):
            errors.add(["allowed_mentions", "parse"], "ENUM_TYPE_COERCE", "Value is not a valid enum value.")
        else:
            for kind in ("roles", "users"):
                ids = mentions.get(kind)
                if ids is None:
                    continue
                if kind in parse:
                    errors.add(["allowed_mentions"], "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                               f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.')
                elif not isinstance(ids, list) or len(ids) > 100:
                    errors.add(["allowed_mentions", kind], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    if errors:
        return 50035, {"code": 50035, "message": "Invalid Form Body", "errors": errors.tree}
    if not (_length(payload.get("content")) or embeds or files or payload.get("components") or payload.get("poll")):
        return 50006, {"code": 50006, "message": "Cannot send an empty message"}
    return None


class DiscordStandIn:
    """A threaded local webhook endpoint; ``start()``/``stop()`` or use it as a context manager.

    ``url`` is the webhook URL (``{api_base}/webhooks/ID/TOKEN``) and ``api_base`` what to put in
    ``[discord] api_base``. ``rate_limit`` requests per ``rate_window`` seconds are allowed (Discord
    is observed at 5 per 2 s; the default window is short so tests stay fast).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_id: str = DEFAULT_WEBHOOK_ID,
        token: str = DEFAULT_TOKEN,
        channel_id: str = DEFAULT_CHANNEL_ID,
        bot_token: str = DEFAULT_BOT_TOKEN,
        application_id: str = DEFAULT_APPLICATION_ID,
        rate_limit: int = 5,
        rate_window: float = 0.25,
        record_path: str | Path | None = None,
        limits: DiscordLimits = DISCORD,
    ) -> None:
        self.host = host
        self.webhook_id = webhook_id
        self.token = token
        self.channel_id = channel_id
        self.bot_token = bot_token
        self.application_id = application_id
        self._nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}  # (channel, nonce) → (time, message)
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None: global) → slash commands
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.limits = limits
        self.record_path = Path(record_path) if record_path else None
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._uploads: list[Upload] = []
        self._requests: list[dict[str, Any]] = []
        self._script: list[_Scripted] = []
        self._deleted = False
        self._refuse_marker: str | None = None
        self._last_id = 0
        self._window_start = 0.0
        self._window_count = 0
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/api/v10"

    @property
    def url(self) -> str:
        return f"{self.api_base}/webhooks/{self.webhook_id}/{self.token}"

    def start(self) -> DiscordStandIn:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="discord-standin", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DiscordStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        count: int = 1,
        *,
        after: int = 0,
        delay: float = 0.0,
    ) -> None:
        """Answer ``count`` requests with ``status`` (and a Discord-like default body for it).

        ``after`` lets that many requests through normally first; ``delay`` sleeps before answering
        (a client with a shorter timeout sees a timeout). A 429 gets ``Retry-After`` from the body's
        ``retry_after`` unless ``headers`` set it. Scripted answers queue up in call order.
        """
        body = dict(_DEFAULT_BODIES.get(status, {"code": 0, "message": f"HTTP {status}"})) if body is None else body
        hdrs = dict(headers or {})
        if status == 429:
            hdrs.setdefault("Retry-After", str(body.get("retry_after", 1)))
            hdrs.setdefault("X-RateLimit-Scope", "shared" if not body.get("global") else "global")
            if body.get("global"):
                hdrs.setdefault("X-RateLimit-Global", "true")
        with self._lock:
            self._script.append(_Scripted(status, body, hdrs, count, after, delay))

    def refuse_embeds(self, marker: str | None) -> None:
        """Refuse (400 / 50035) every message with an embed whose JSON contains ``marker`` (None: stop).

        Discord has rules our renderer does not model (and may add more); this stands for any of
        them, so a test can see what one unacceptable embed does to the events batched with it.
        """
        with self._lock:
            self._refuse_marker = marker

    def delete_webhook(self) -> None:
        """From now on every call answers 404 ``{"code": 10015, "message": "Unknown Webhook"}``."""
        with self._lock:
            self._deleted = True

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Accepted messages, in arrival order (copies): Discord's message object plus what the request
        asked for (``allowed_mentions``, ``thread_id``, ``enforce_nonce``) and embeds exactly as sent
        (``attachment://`` not resolved), so tests can assert on the request. Answers use
        :func:`public_message`."""
        with self._lock:
            return json.loads(json.dumps(self._messages))

    @property
    def uploads(self) -> list[Upload]:
        """Every file of every accepted message, in arrival order, with its bytes."""
        with self._lock:
            return list(self._uploads)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request seen: ``{"method", "path" (token redacted), "user_agent", "status", "code"}``."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._uploads.clear()
            self._requests.clear()
            self._script.clear()
            self._nonces.clear()

    # -- request handling (called from server threads) -------------------------------------------
    def _next_id(self) -> str:
        snowflake = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (len(self._messages) & 0xFFF)
        self._last_id = max(snowflake, self._last_id + 1)
        return str(self._last_id)

    def _take_script(self) -> _Scripted | None:
        if not self._script:
            return None
        rule = self._script[0]
        if rule.after > 0:
            rule.after -= 1
            return None
        rule.count -= 1
        if rule.count <= 0:
            self._script.pop(0)
        return rule

    def _rate_headers(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count this request in the window; (allowed, headers)."""
        if now - self._window_start >= self.rate_window:
            self._window_start, self._window_count = now, 0
        reset_after = max(self._window_start + self.rate_window - now, 0.0)
        allowed = self._window_count < self.rate_limit
        if allowed:
            self._window_count += 1
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - self._window_count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"standin-{self.webhook_id}",
        }
        return allowed, headers

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any, float]:
        """(status, headers, JSON body or None, delay) for one request."""
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        segments = [s for s in parts.path.split("/") if s]
        # /api[/vN]/webhooks/{id}/{token}
        if len(segments) >= 2 and segments[0] == "api" and segments[1].startswith("v"):
            segments = segments[2:]
        elif segments[:1] == ["api"]:
            segments = segments[1:]
        redacted = "/".join(segments[:2] + (["***"] if len(segments) > 2 else []))
        with self._lock:
            entry: dict[str, Any] = {"method": method, "path": "/" + redacted, "user_agent": headers.get("user-agent")}
            self._requests.append(entry)
            status, out_headers, payload, delay = self._decide(method, segments, query, headers, body)
            entry["status"] = status
            entry["code"] = payload.get("code") if isinstance(payload, dict) else None
        return status, out_headers, payload, delay

    def _decide(
        self, method: str, segments: list[str], query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any, float]:
        rule = self._take_script()
        if rule is not None:
            return rule.status, dict(rule.headers), rule.body, rule.delay
        if segments[:1] in (["users"], ["oauth2"], ["channels"], ["applications"]):
            return self._decide_bot(method, segments, headers, body)
        if len(segments) != 3 or segments[0] != "webhooks":
            return 404, {}, {"message": "404: Not Found", "code": 0}, 0.0
        if self._deleted or segments[1] != self.webhook_id:
            return 404, {}, dict(_DEFAULT_BODIES[404]), 0.0
        if segments[2] != self.token:
            return 401, {}, dict(_DEFAULT_BODIES[401]), 0.0
        allowed, rate = self._rate_headers(time.monotonic())
        if not allowed:
            retry_after = float(rate["X-RateLimit-Reset-After"])
            rate.update({"Retry-After": f"{retry_after:.3f}", "X-RateLimit-Scope": "user"})
            return 429, rate, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}, 0.0
        if method == "GET":
            return 200, rate, {"id": self.webhook_id, "type": 1, "channel_id": self.channel_id, "name": "stand-in"}, 0.0
        if method != "POST":
            return 405, rate, {"message": "405: Method Not Allowed", "code": 0}, 0.0

        parsed = self._parse_body(headers.get("content-type", ""), body)
        if isinstance(parsed, tuple) and len(parsed) == 2 and isinstance(parsed[0], str):
            error = {"_errors": [{"code": parsed[0], "message": parsed[1]}]}
            return 400, rate, {"code": 50035, "message": "Invalid Form Body", "errors": error}, 0.0
        payload, parts = parsed
        problem = validate_message(payload, [f.filename for f in parts], self.limits) or self._refused(payload)
        if problem is not None:
            return 400, rate, problem[1], 0.0
        thread_id = (query.get("thread_id") or [None])[0]
        author = {"id": self.webhook_id, "username": payload.get("username") or "stand-in", "avatar": None,
                  "discriminator": "0000", "global_name": None, "bot": True}
        message = self._message(thread_id or self.channel_id, payload, parts, author, webhook=True)
        message["webhook_id"] = self.webhook_id
        message["thread_id"] = thread_id  # a request echo: Discord says so by channel_id alone
        self._record(message)
        wait = (query.get("wait") or ["false"])[0].lower() == "true"
        return (200, rate, public_message(message), 0.0) if wait else (204, rate, None, 0.0)

    def _message(self, channel_id: str, payload: dict[str, Any], parts: list[_FilePart], author: dict[str, Any],
                 *, webhook: bool) -> dict[str, Any]:
        """A new message object, as Discord documents it, for an accepted ``payload`` and its files."""
        message_id = self._next_id()
        described = {str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)}
        attachments = []
        for i, part in enumerate(parts):
            index = part.field[len("files["):-1] if part.field.startswith("files[") else str(i)
            attachment_id = self._next_id()
            attachments.append(attachment_object(channel_id, attachment_id, part,
                                                 (described.get(index) or {}).get("description")))
            self._uploads.append(Upload(message_id, part.field, part.filename,
                                        attachments[-1]["content_type"], part.data))
        flags = payload.get("flags") if isinstance(payload.get("flags"), int) else 0
        return {
            "id": message_id, "type": 0, "channel_id": channel_id, "author": author,
            "content": payload.get("content") or "",
            "timestamp": datetime.now(timezone.utc).isoformat(), "edited_timestamp": None, "tts": bool(payload.get("tts")),
            **_mention_fields(payload, webhook=webhook),
            "attachments": attachments, "embeds": payload.get("embeds") or [], "pinned": False,
            "flags": flags & (4 | 4096), "components": payload.get("components") or [],
            "allowed_mentions": payload.get("allowed_mentions"),
        }

    def _record(self, message: dict[str, Any]) -> None:
        self._messages.append(message)
        if self.record_path is not None:
            with self.record_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message, ensure_ascii=False) + "\n")

    def _refused(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The scripted refusal of :meth:`refuse_embeds`, shaped like Discord's 50035 answer."""
        marker = self._refuse_marker
        if marker is None:
            return None
        for i, embed in enumerate(payload.get("embeds") or []):
            if marker in json.dumps(embed, ensure_ascii=False):
                errors = {"embeds": {str(i): {"_errors": [{"code": "EMBED_INVALID", "message": "Refused."}]}}}
                return 50035, {"code": 50035, "message": "Invalid Form Body", "errors": errors}
        return None

    # -- the few bot (token) endpoints discord.py needs to log in and post to a channel ----------------
    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.application_id, "username": "trialwatch-standin", "discriminator": "0", "avatar": None,
                "global_name": None, "bot": True, "flags": 0, "verified": True, "mfa_enabled": False}

    def _decide_bot(
        self, method: str, segments: list[str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any, float]:
        """``GET /users/@me``, ``GET /oauth2/applications/@me`` and ``POST /channels/{id}/messages``.

        Authorization must be ``Bot <bot_token>`` (else 401 / 0). A channel message with ``nonce`` and
        ``enforce_nonce: true`` that repeats a nonce seen in that channel within :data:`NONCE_WINDOW_S`
        returns the first message and creates nothing, as Discord does.
        """
        if headers.get("authorization") != f"Bot {self.bot_token}":
            return 401, {}, {"code": 0, "message": "401: Unauthorized"}, 0.0
        allowed, rate = self._rate_headers(time.monotonic())
        if not allowed:
            retry_after = float(rate["X-RateLimit-Reset-After"])
            rate.update({"Retry-After": f"{retry_after:.3f}", "X-RateLimit-Scope": "user"})
            return 429, rate, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}, 0.0
        if method == "GET" and segments == ["users", "@me"]:
            return 200, rate, self._bot_user(), 0.0
        if method == "GET" and segments == ["oauth2", "applications", "@me"]:
            return 200, rate, {"id": self.application_id, "name": "trialwatch-standin", "description": "", "icon": None,
                               "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                               "owner": self._bot_user(), "team": None, "flags": 0}, 0.0
        if segments[:1] == ["applications"] and segments[-1:] == ["commands"] and len(segments) in (3, 5):
            return self._commands(method, segments, body, rate)
        if len(segments) != 3 or segments[2] != "messages" or method != "POST":
            return 404, rate, {"message": "404: Not Found", "code": 0}, 0.0
        if self._deleted or segments[1] != self.channel_id:
            return 404, rate, {"code": 10003, "message": "Unknown Channel"}, 0.0
        parsed = self._parse_body(headers.get("content-type", ""), body)
        if isinstance(parsed, tuple) and len(parsed) == 2 and isinstance(parsed[0], str):
            error = {"_errors": [{"code": parsed[0], "message": parsed[1]}]}
            return 400, rate, {"code": 50035, "message": "Invalid Form Body", "errors": error}, 0.0
        payload, parts = parsed
        problem = validate_message(payload, [f.filename for f in parts], self.limits) or self._refused(payload)
        if problem is not None:
            return 400, rate, problem[1], 0.0
        nonce = payload.get("nonce")
        key = (segments[1], str(nonce))
        now = time.monotonic()
        if nonce is not None and payload.get("enforce_nonce") and key in self._nonces:
            seen_at, first = self._nonces[key]
            if now - seen_at <= NONCE_WINDOW_S:
                return 200, rate, public_message(first), 0.0
        message = self._message(segments[1], payload, parts, self._bot_user(), webhook=False)
        message["nonce"] = None if nonce is None else str(nonce)
        message["enforce_nonce"] = bool(payload.get("enforce_nonce"))
        self._record(message)
        if nonce is not None:
            self._nonces[key] = (now, message)
        return 200, rate, public_message(message), 0.0

    def _commands(
        self, method: str, segments: list[str], body: bytes, rate: dict[str, str]
    ) -> tuple[int, dict[str, str], Any, float]:
        """``GET``/``PUT /applications/{app}[/guilds/{guild}]/commands``: list or replace (bulk overwrite)."""
        if segments[1] != self.application_id:
            return 403, rate, {"code": 50001, "message": "Missing Access"}, 0.0
        guild = segments[3] if len(segments) == 5 else None
        if method == "PUT":
            try:
                wanted = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return 400, rate, {"code": 50035, "message": "Invalid Form Body"}, 0.0
            stored = [{**c, "id": self._next_id(), "application_id": self.application_id, "version": "1",
                       **({"guild_id": guild} if guild else {})} for c in wanted]
            self.commands[guild] = stored
            return 200, rate, stored, 0.0
        if method == "GET":
            return 200, rate, self.commands.get(guild, []), 0.0
        return 405, rate, {"message": "405: Method Not Allowed", "code": 0}, 0.0

    @staticmethod
    def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], list[_FilePart]] | tuple[str, str]:
        """(payload, attached files), or (error code, message) for a body Discord would refuse."""
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return "JSON_INVALID", "The request body contains invalid JSON."
            if not isinstance(payload, dict):
                return "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            return payload, []
        if kind == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
            )
            if not msg.is_multipart():
                return "MULTIPART_INVALID", "Could not parse the multipart body."
            payload: dict[str, Any] = {}
            files: list[_FilePart] = []
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                data = part.get_payload(decode=True) or b""
                if name == "payload_json":
                    try:
                        loaded = json.loads(data.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        return "JSON_INVALID", "payload_json is not valid JSON."
                    if not isinstance(loaded, dict):
                        return "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
                    payload.update(loaded)
                elif name == "content" and not filename:
                    payload["content"] = data.decode("utf-8", "replace")
                elif filename:
                    files.append(_FilePart(str(name or ""), filename, part.get_content_type(), data))
            return payload, files
        return "CONTENT_TYPE_INVALID", f"Expected application/json or multipart/form-data, got {kind or 'nothing'}."

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "DiscordStandIn/1.0"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, payload, delay = standin._handle(method, self.path, headers, body)
                if delay:
                    time.sleep(delay)
                data = b"" if payload is None else json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    for key, value in out_headers.items():
                        self.send_header(key, value)
                    if payload is not None:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if data:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                self._serve("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_PATCH(self) -> None:  # noqa: N802
                self._serve("PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the path holds the token
                return

        return Handler


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.discord_standin --port N --record FILE``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.discord_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the URL is printed)")
    parser.add_argument("--record", metavar="FILE", help="append each accepted message to FILE as a JSON line")
    parser.add_argument("--webhook-id", default=DEFAULT_WEBHOOK_ID)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--rate-limit", type=int, default=5, help="requests per window (default 5)")
    parser.add_argument("--rate-window", type=float, default=2.0, help="window in seconds (default 2, as Discord)")
    args = parser.parse_args(argv)
    standin = DiscordStandIn(
        args.host,
        args.port,
        webhook_id=args.webhook_id,
        token=args.token,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        record_path=args.record,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with standin:
        print(standin.url, flush=True)
        while not stopped.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
