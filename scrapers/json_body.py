"""The one JSON decoder for response bodies: every failure becomes a ParseError that says what arrived.

Every JSON source (ClinicalTrials.gov, CTIS, Europe PMC, PubMed) decodes through :func:`loads_json`, so a
cut-off download, an HTML error page or a byte-order mark reads the same whichever service sent it.
"""

from __future__ import annotations

import codecs
import json as _json
from typing import Any

from scrapers.records import ParseError


def loads_json(body: bytes | str, *, where: str = "the response") -> Any:
    """Parse JSON, turning every failure into a :class:`ParseError` that says where it broke.

    Pure, so parsers of saved responses get the same messages as live fetches. A document that
    ends early says "truncated JSON at byte N" (the usual sign of a cut-off download).
    """
    if isinstance(body, bytes):
        raw = body[len(codecs.BOM_UTF8) :] if body.startswith(codecs.BOM_UTF8) else body
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"{where} is not valid UTF-8 (bad byte at offset {exc.start}), so it is not JSON") from None
    else:
        text = body
    stripped = text.strip()
    if not stripped:
        raise ParseError(f"{where} is empty where JSON was expected")
    if stripped.startswith("<"):
        raise ParseError(f"{where} is HTML/XML where JSON was expected (it starts with {stripped[:40]!r})")
    try:
        return _json.loads(text)
    except RecursionError:
        raise ParseError(f"{where} is JSON nested too deeply to be read") from None
    except _json.JSONDecodeError as exc:
        at_byte = len(text[: exc.pos].encode("utf-8"))
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()):
            size = len(text.encode("utf-8"))
            raise ParseError(
                f"truncated JSON at byte {size} in {where}: the document ends before it is complete "
                f"({exc.msg}, line {exc.lineno} column {exc.colno})"
            ) from None
        near = text[max(0, exc.pos - 20) : exc.pos + 20]
        raise ParseError(
            f"invalid JSON in {where} at byte {at_byte} (line {exc.lineno} column {exc.colno}): {exc.msg}; near {near!r}"
        ) from None
    except ValueError as exc:  # an integer of thousands of digits (Python's int limit): hostile, not JSON we read
        raise ParseError(f"{where} holds a number too long to be read ({str(exc)[:60]}…)") from None


def json_type_name(value: Any) -> str:
    """JSON's own name for ``value``'s type ("object", "array", …), for messages about a document's shape."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
