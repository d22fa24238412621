"""Values read from an API answer by their type, never trusted: a web address a person may be sent to, a
language tag. Social platforms' answers carry them in many fields; each source reads them through these
(a number, a list, a ``javascript:`` address or a broken IPv6 bracket is simply no value)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

#: a language tag (ISO 639, maybe with a region or script): ``en``, ``nb``, ``pt-BR``, ``zh-Hant``
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
#: what is never inside a URL as a server sends it: spaces, controls and lone surrogates
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f\ud800-\udfff]")


def web_url(value: Any) -> str | None:
    """``value`` when it is an http(s) address with a host (what a person may be sent to), else None: never a
    ``javascript:`` or relative address, a number, a list, or a string that is no URL."""
    if not isinstance(value, str) or not value or len(value) > 4000 or _NOT_IN_URL.search(value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:  # an unbalanced IPv6 bracket
        return None
    return value if parts.scheme.lower() in ("http", "https") and host else None


def plain_text_id(value: Any) -> bool:
    """Whether ``value`` is text that can stand as an id: not empty, not huge, no spaces, controls or lone
    surrogates (what a URI or a key in the database may hold)."""
    return isinstance(value, str) and 0 < len(value) <= 4000 and not _NOT_IN_URL.search(value)


def language_tag(value: Any) -> str | None:
    """A language tag as the API sends it (``"en"``), else None."""
    return value if isinstance(value, str) and _LANGUAGE.match(value) else None
