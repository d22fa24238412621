"""Makes ``docs/site-trial-phone.png``, the README's picture of the tracker website: the demo world's trial
page at a phone's width (390 px), from its top to the end of the enrollment chart, in Debian's headless
chromium (``apt-get install chromium``). Run from the repository: ``python docs/make_screenshot.py``.
"""

from __future__ import annotations

import asyncio
import functools
import io
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.demo.run import run_demo  # noqa: E402
from tests.support.browser import NO_CHROMIUM, Browser, chromium_path  # noqa: E402

OUT = ROOT / "docs" / "site-trial-phone.png"
PAGE = "trials/2025-599999-99-00.html"
WIDTH = 390


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


async def shoot(url: str) -> tuple[bytes, dict]:
    async with Browser(chromium_path()) as browser:
        visit = await browser.visit(url, width=WIDTH, selectors=("figure.chart-figure",))
    if visit.console_errors:
        raise SystemExit(f"the page logged errors: {visit.console_errors}")
    return visit.screenshot, visit.boxes["figure.chart-figure"]


def main() -> int:
    if chromium_path() is None:
        print(NO_CHROMIUM, file=sys.stderr)
        return 1
    from matplotlib import image as mpimg

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        run_demo(io.StringIO(), env={}, site_dir=site)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            png, chart = asyncio.run(shoot(f"http://127.0.0.1:{httpd.server_address[1]}/{PAGE}"))
        finally:
            httpd.shutdown()
            httpd.server_close()
    img = mpimg.imread(io.BytesIO(png), format="png")
    bottom = int(chart["y"] + chart["height"]) + 16
    mpimg.imsave(OUT, img[:bottom, :, :3])
    print(f"wrote {OUT.relative_to(ROOT)} ({WIDTH}×{bottom} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
