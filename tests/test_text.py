"""Text normalisation and mojibake repair (scrapers/text.py).

Expected outputs are written from reading the texts and the seed documents, not from the code.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from scrapers.text import clean_multiline, clean_text, repair_text


def _seed(seeds_dir: Path, prefix: str) -> str:
    (path,) = seeds_dir.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


# --- mojibake repair and normalisation ---------------------------------------------------------


def test_seed_001_mac_roman_mojibake_is_repaired(seeds_dir: Path) -> None:
    raw = _seed(seeds_dir, "001")
    assert "√òystein" in raw  # the damage the seed README describes
    fixed = repair_text(raw)
    assert "Øystein Fluge" in fixed and "Kari Sørland" in fixed
    assert "pattern—either" in fixed and "💊" in fixed
    assert "√ò" not in fixed and "‚Äî" not in fixed and "\uf8ff" not in fixed
    assert repair_text(fixed) == fixed


def test_mixed_text_repairs_only_the_damaged_characters() -> None:
    text = "Kari S√∏rland said ‚ÄúOK‚Äù ‚Äî and that’s clean: Øystein, √2 ≥ 1."
    assert repair_text(text) == "Kari Sørland said “OK” — and that’s clean: Øystein, √2 ≥ 1."


def test_double_damage_is_undone_and_stays_undone() -> None:
    damaged = "‚àö√≤ystein Fluge ‚Äö√Ñ√Æ results"  # "Øystein Fluge — results" read as Mac Roman twice
    assert repair_text(damaged) == "Øystein Fluge — results"
    assert repair_text(repair_text(damaged)) == repair_text(damaged)


CLEAN = [
    "Øystein Fluge, Kari Sørland",
    "NK cells ≥ 125 × 10⁶/L; √2 ≈ 1.414",
    "daratumumab 💊 works? 🤞 ⭐",
    "“curly quotes” and ‘single’ — dashes – and …",
    "«Émile» wrote Haus—Äpfel and µg",
    "ｆｕｌｌｗｉｄｔｈ and the ﬁ ligature and AT&amp;T",
    "Zürich, São Paulo, Kraków, Ελλάδα",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_left_alone(text: str) -> None:
    assert repair_text(text) == text
    assert clean_text(text) == text


def test_clean_text_nfc_and_whitespace() -> None:
    assert clean_text("e\u0301") == "é" == unicodedata.normalize("NFC", "e\u0301")
    assert clean_text("  Haukeland\u00a0 University\n\tHospital  ") == "Haukeland University Hospital"
    assert clean_text("plain   ascii\r\n text ") == "plain ascii text"
    assert clean_text(None) == "" and clean_text("") == ""


def test_clean_multiline_keeps_single_line_breaks() -> None:
    text = "  First   line \r\n\r\n\n  second\tline \n \n third\u00a0line\n"
    assert clean_multiline(text) == "First line\nsecond line\nthird line"
    assert clean_multiline("S√∏rland\n\nsaid") == "Sørland\nsaid"
    assert clean_multiline(None) == ""


