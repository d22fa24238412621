"""The contract's timestamps: ISO 8601, UTC, whole seconds, ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> str:
    """Now as the contract's timestamp: ISO 8601, UTC, seconds, ``Z``."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
