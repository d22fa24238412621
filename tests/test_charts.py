"""The enrollment chart from a known history: a real PNG, not blank, with the target line drawn."""

from __future__ import annotations

import io

from PIL import Image

from bot.present.charts import DPI, REPORTED_COLOUR, SIZE_INCHES, TARGET_COLOUR, render_enrollment_chart
from bot.present.timeline import build_timeline

HISTORY = [
    {"item_key": "NCT09990001", "field": "status", "old": None, "new": "RECRUITING", "observed_at": "2026-01-05T10:00:00Z"},
    {"item_key": "NCT09990001", "field": "enrollment", "old": None, "new": {"count": 66, "type": "ESTIMATED"},
     "observed_at": "2026-01-05T10:00:00Z"},
    {"item_key": "NCT09990001", "field": "enrollment", "old": {"count": 66, "type": "ESTIMATED"},
     "new": {"count": 41, "type": "ACTUAL"}, "observed_at": "2026-09-01T10:00:00Z"},
    {"item_key": "NCT09990001", "field": "status", "old": "RECRUITING", "new": "ACTIVE_NOT_RECRUITING",
     "observed_at": "2026-10-01T10:00:00Z"},
]
EVENTS = [{"kind": "enrollment_reported", "at": "2026-05-20T12:00:00Z", "subject": "post-1", "url": "https://f/p/1",
           "new": {"enrolled": 38, "target": 66, "completed": 17},
           "detail": {"evidence": "38 of the 66 patients had been enrolled"}}]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def near(pixel, colour, tol=40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel[:3], colour))


def test_timeline_from_history_and_reports():
    tl = build_timeline("NCT09990001", HISTORY, EVENTS)
    assert [(p.value, p.kind) for p in tl.enrollment] == [(41, "ACTUAL")]  # ESTIMATED 66 is the target
    assert [(p.value, p.kind) for p in tl.reported] == [(38, "reported")]
    assert tl.target == 66
    assert [s.status for s in tl.statuses] == ["RECRUITING", "ACTIVE_NOT_RECRUITING"]
    assert tl.lines[0].startswith("2026-01-05T10:00:00Z  NCT09990001 Status: Recruiting (first seen)")
    assert any("reported: 38 enrolled, target 66, 17 completed" in line for line in tl.lines)


def test_chart_png_is_real_and_shows_the_target():
    png = render_enrollment_chart(build_timeline("NCT09990001", HISTORY, EVENTS), title="ResetME")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == (SIZE_INCHES[0] * DPI, SIZE_INCHES[1] * DPI)
    pixels = list(img.get_flattened_data()) if hasattr(img, 'get_flattened_data') else list(img.getdata())
    assert len(set(pixels)) > 50  # not blank: lines, bands, text
    width, height = img.size
    # The target is a long horizontal dashed red line: some row holds many target-coloured pixels.
    target_rows = [y for y in range(height)
                   if sum(near(img.getpixel((x, y)), rgb(TARGET_COLOUR)) for x in range(0, width, 2)) > width // 8]
    assert target_rows, "no target line found"
    # The reported figure is drawn in its own colour (a triangle marker).
    assert sum(near(p, rgb(REPORTED_COLOUR), 30) for p in pixels) > 20


def test_chart_without_target_has_no_target_line():
    history = [h for h in HISTORY if h["field"] == "status"]
    img = Image.open(io.BytesIO(render_enrollment_chart(build_timeline("X", history, [])))).convert("RGB")
    width, height = img.size
    assert not [y for y in range(height)
                if sum(near(img.getpixel((x, y)), rgb(TARGET_COLOUR)) for x in range(0, width, 2)) > width // 8]
