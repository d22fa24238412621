"""Text normalisation before any diff or display: mojibake repair, Unicode NFC and whitespace.

Pure functions (:func:`clean_text`, :func:`clean_multiline`, :func:`repair_text`), so a page that was
re-encoded or re-indented is not a change and names such as "Øystein Fluge" display right. What the
text *says* (enrollment figures, results, trial ids) is :mod:`scrapers.signals`.
"""


from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Callable

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_WS = re.compile(r"\s+")

#: ftfy settings that repair encoding damage but leave legitimate text alone: curly quotes stay
#: curly, full-width letters and ligatures stay as written, HTML entities are the parser's business
#: (a post that discusses "&amp;" keeps it), line breaks are handled by our own whitespace rules.
_FTFY_SETTINGS = dict(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    fix_line_breaks=False,
    normalization="NFC",
    explain=False,
)


@functools.cache
def _ftfy() -> tuple[Callable[..., str], Any]:
    """ftfy's ``fix_text`` and our settings, imported on first use: only non-ASCII text needs them,
    and the import (its character tables) is a fifth of ``trialwatch check``'s start-up."""
    import ftfy

    return ftfy.fix_text, ftfy.TextFixerConfig(**_FTFY_SETTINGS)

# UTF-8 read as Mac Roman, which ftfy does not undo reliably (seed 001: "√òystein" for "Øystein",
# "‚Äî" for "—", U+F8FF + "üíä" for "💊"). Each UTF-8 byte became one Mac Roman character, so a
# damaged character is a lead character followed by the right number of continuation characters.
_MAC_HIGH = bytes(range(0x80, 0x100)).decode("mac_roman")


def _mac_class(lo: int, hi: int) -> str:
    return "[" + "".join(re.escape(_MAC_HIGH[b - 0x80]) for b in range(lo, hi + 1)) + "]"


_CONT = _mac_class(0x80, 0xBF)
_MAC_SEQUENCE = re.compile(
    f"{_mac_class(0xC2, 0xDF)}{_CONT}"
    f"|{_mac_class(0xE0, 0xEF)}{_CONT}{{2}}"
    f"|{_mac_class(0xF0, 0xF4)}{_CONT}{{3}}"
)


def _plausible(char: str) -> bool:
    """Is ``char`` something a damaged sequence in Western text is likely to have been?

    Latin letters and Latin-1 punctuation, Romanian comma letters, Greek (µ, α), general
    punctuation, symbols, arrows, maths, dingbats, emoji. Cyrillic and combining marks are left out on
    purpose: "—Ä" or "“É" in real text would otherwise "decode" into them.
    """
    cp = ord(char)
    return (
        0xA0 <= cp <= 0x17F
        or 0x218 <= cp <= 0x21B
        or 0x370 <= cp <= 0x3FF
        or 0x2000 <= cp <= 0x2BFF
        or cp == 0xFE0F
        or 0x1F000 <= cp <= 0x1FAFF
    )


def _decode_mac(seq: str) -> str | None:
    try:
        return seq.encode("mac_roman").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def _telltales(text: str) -> int:
    """How many Mac-Roman-damaged characters ("√ò", "‚Äî", "√©" ...) the text contains."""
    count = 0
    for m in _MAC_SEQUENCE.finditer(text):
        decoded = _decode_mac(m.group())
        if decoded is not None and len(decoded) == 1 and _plausible(decoded):
            count += 1
    return count


def _fix_mac_roman(text: str) -> str:
    """Undo UTF-8 read as Mac Roman: the whole text when it round-trips, else each damaged character.

    A repair is kept only when it leaves fewer tell-tale sequences than before, so clean text
    (including "√2", "≥" and "Øystein") comes back unchanged.
    """
    before = _telltales(text)
    if not before:
        return text
    whole = _decode_mac(text)
    if whole is not None and _telltales(whole) < before:
        return whole

    def one(m: re.Match[str]) -> str:
        decoded = _decode_mac(m.group())
        return decoded if decoded is not None and len(decoded) == 1 and _plausible(decoded) else m.group()

    fixed = _MAC_SEQUENCE.sub(one, text)
    return fixed if _telltales(fixed) < before else text


def repair_text(text: str) -> str:
    """Repair mojibake (ftfy, plus UTF-8 read as Mac Roman) and normalise to NFC.

    Clean text is returned unchanged; repeating the repair changes nothing (double damage is undone
    in up to three rounds, until the text stops changing).
    """
    if text.isascii():
        return text
    for _ in range(3):
        fix_text, settings = _ftfy()
        fixed = fix_text(_fix_mac_roman(text), settings)
        if fixed == text:
            break
        text = fixed
    return unicodedata.normalize("NFC", text)


#: C0 control characters and DEL, except tab and line breaks; and C1 controls. Scraped text keeps none of
#: them (an ESC sends terminal escapes to the console, a NUL makes the Atom feed invalid XML). C1 goes only
#: after mojibake repair: "â\x80\x9d" is a damaged "”" that the repair needs whole.
_C0 = {c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]}
_C1 = {c: None for c in range(0x80, 0xA0)}
#: a terminal escape sequence (CSI or OSC): dropped whole, not just its ESC
_TERMINAL_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


#: a UTF-16 surrogate alone: JSON may carry one (``"\ud800"``); it is no character, and UTF-8 (lxml, SQLite's
#: text, Discord) cannot encode it
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (what a decoder shows for a broken character)."""
    if text.isascii() or not _LONE_SURROGATE.search(text):
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def strip_controls(text: str, *, c1: bool = True) -> str:
    """``text`` without terminal escapes and control characters (tab and line breaks are kept for the caller)
    and without lone surrogates. ``c1=False`` keeps C1 characters, for text that mojibake repair has yet to see."""
    text = replace_lone_surrogates(text)
    if "\x1b" in text:
        text = _TERMINAL_ESCAPE.sub("", text)
    text = text.translate(_C0)
    return text.translate(_C1) if c1 else text


def clean_text(text: str | None) -> str:
    """Repaired, NFC, collapsed whitespace, trimmed, without control characters: so a re-encoded or
    re-indented page is not a change, and nothing scraped can carry a terminal escape or a NUL."""
    if not text:
        return ""
    text = strip_controls(text, c1=False)
    if not text.isascii():  # ASCII cannot hold mojibake or decomposed accents: skip the slow path
        text = repair_text(text)
    text = strip_controls(text)
    return _WS.sub(" ", text).strip()


def clean_multiline(text: str | None) -> str:
    """Like :func:`clean_text`, but one ``\\n`` is kept between lines (blank-line runs dropped)."""
    if not text:
        return ""
    text = strip_controls(text, c1=False)
    if not text.isascii():
        text = repair_text(text)
    text = strip_controls(text)
    lines = (_WS.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)
