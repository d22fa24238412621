"""Logging to stderr with secrets removed.

httpx logs every request URL at INFO, and a Discord webhook URL *is* its secret; bot tokens can
appear in tracebacks. Every record passes through :class:`RedactingFilter`, which replaces the
configured secret values and anything shaped like a webhook URL or a bot token.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Iterable

_WEBHOOK = re.compile(r"(/webhooks/\d+/)[A-Za-z0-9._-]+")
_BOT_TOKEN = re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}\b")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for s in secrets:
        if s and len(s) >= 6:
            text = text.replace(s, "***")
    text = _WEBHOOK.sub(r"\1***", text)
    return _BOT_TOKEN.sub("***", text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(verbosity: int = 0, secrets: Iterable[str] = ()) -> None:
    """stderr only (stdout carries results); INFO by default, DEBUG with -v, WARNING with -q."""
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # Never at INFO, whatever the verbosity: these log full URLs.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
