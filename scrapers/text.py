"""Text normalisation before any diff or display. (Grows into signal finding: see issue [5 of 8].)"""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """NFC, collapsed whitespace, trimmed: so a re-encoded or re-indented page is not a change."""
    if not text:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()
