"""The website in a real browser: Debian's headless chromium opens the demo world's site, served over HTTP on
127.0.0.1, at a phone's width (390 px) and a desktop's (1280 px).

Each page must render without a console error or a failed load, load nothing from another site, fit the
phone's width, and show the enrollment chart and bar — present, visible, not empty. The screenshots are
decoded (matplotlib) and the chart's region must hold a picture, not a blank.
"""

from __future__ import annotations

import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from bot.demo.run import run_demo
from tests.support.browser import NO_CHROMIUM, Browser, chromium_path

TRIAL = "trials/2025-599999-99-00.html"  # the demo's ResetME record (CTIS and CT.gov, one trial)
WIDTHS = (390, 1280)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The demo world's site, served the way the README says (any static server), on 127.0.0.1."""
    site = tmp_path_factory.mktemp("browser") / "site"
    assert run_demo(io.StringIO(), env={}, site_dir=site) == 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def image(png: bytes):
    from matplotlib import image as mpimg

    return mpimg.imread(io.BytesIO(png), format="png")


def region(img, box: dict) -> object:
    x, y = int(box["x"]), int(box["y"])
    return img[y:y + int(box["height"]), x:x + int(box["width"]), :3]


def distinct_colours(pixels) -> int:
    flat = (pixels.reshape(-1, 3) * 255).round().astype(int)
    return len({tuple(p) for p in flat[:: max(1, len(flat) // 20000)]})


def assert_clean(visit, origin: str) -> None:
    assert visit.console_errors == [], visit.console_errors
    assert visit.requests and all(url.startswith(origin) for url in visit.requests), visit.requests
    page = visit.boxes["__page"]
    assert page["lang"] == "en"
    assert page["width"] <= visit.width, f"{visit.url} is wider than the screen at {visit.width} px"


def assert_shown(box: dict | None, what: str) -> None:
    assert box is not None, f"no {what}"
    assert box["visible"] and box["width"] > 0 and box["height"] > 0, (what, box)


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_trial_page_renders_its_chart_and_bar(served, width, tmp_path) -> None:
    origin, _ = served
    async with Browser(chromium_path()) as browser:
        visit = await browser.visit(origin + TRIAL, width=width, selectors=(
            "svg.chart", "svg.chart .mark", "svg.chart .registry-line", "svg.chart .target", "svg.bar",
            "svg.bar .fill.registry", "svg.bar .fill.reported", "table.figures-table"))
    (tmp_path / f"trial-{width}.png").write_bytes(visit.screenshot)
    assert_clean(visit, origin)
    for selector in ("svg.chart", "svg.chart .mark", "svg.bar", "svg.bar .fill.registry", "svg.bar .fill.reported",
                     "table.figures-table"):
        assert_shown(visit.boxes[selector], selector)
    target = visit.boxes["svg.chart .target"]  # a horizontal line: as wide as the plot, no height
    assert target["visible"] and target["width"] > visit.boxes["svg.chart"]["width"] / 2
    chart = visit.boxes["svg.chart"]
    assert chart["children"] > 20  # bands, grid, labels, target, marks
    assert chart["width"] >= (width - 40 if width < 600 else 500)  # the chart uses the screen
    img = image(visit.screenshot)
    assert img.shape[1] == width and img.shape[0] >= visit.boxes["__page"]["height"] - 1
    pixels = region(img, chart)
    assert pixels.std() > 0.05 and distinct_colours(pixels) > 20, "the chart's region is blank"
    assert region(img, visit.boxes["svg.bar"]).std() > 0.05, "the bar's region is blank"


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_index_renders_every_trial_with_its_bar(served, width, tmp_path) -> None:
    origin, site = served
    async with Browser(chromium_path()) as browser:
        visit = await browser.visit(origin + "index.html", width=width, selectors=(
            "li.trial-card", "svg.bar", "svg.bar .fill.registry", "h1"))
    (tmp_path / f"index-{width}.png").write_bytes(visit.screenshot)
    assert_clean(visit, origin)
    for selector in ("li.trial-card", "svg.bar", "svg.bar .fill.registry", "h1"):
        assert_shown(visit.boxes[selector], selector)
    img = image(visit.screenshot)
    assert img.std() > 0.05
    assert region(img, visit.boxes["svg.bar"]).std() > 0.05
