"""The entry point's one lean-import call keeps numpy, pandas and trio out of ``trialwatch check``.

click is not in the list: httpx's command-line tool (which needs it) is kept out, but sqlite-utils 4 imports
click unconditionally (``sqlite_utils/hookspecs.py``), so it cannot stay unloaded while sqlite-utils is used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from bot.cli import main
code = main(sys.argv[1:])
import json
print(json.dumps({"code": code, "loaded": sorted(m for m in ("numpy", "trio", "pandas", "httpx._main")
                                                  if m in sys.modules)}))
"""


def test_check_with_no_watches_loads_neither_numpy_nor_trio(tmp_path: Path) -> None:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "tw.db"}"\n[notify]\nconsole = false\n')
    proc = subprocess.run([sys.executable, "-c", PROBE, "--config", str(cfg), "check"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(PROJECT),
                                                                             "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}


def test_without_the_call_sqlite_utils_would_bring_numpy(tmp_path: Path) -> None:
    """The control: the probe above can fail (numpy is installed and sqlite-utils imports it when let)."""
    proc = subprocess.run([sys.executable, "-c", "import sys, sqlite_utils; print('numpy' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True"


XENFORO_PROBE = """
import sys
from scrapers.xenforo.source import XenforoThreadSource
from bot.demo.world.xenforo import Thread
thread = Thread("ResetME: daratumumab for ME/CFS")
thread.add(25)
{parse}
result = XenforoThreadSource().parse(page, "https://forum.example/threads/x.1/")
print(len(result.items), "bs4" in sys.modules)
"""


def _xenforo_probe(parse: str) -> str:
    proc = subprocess.run([sys.executable, "-c", XENFORO_PROBE.format(parse=parse)], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_xenforo_page_declaring_utf8_is_read_without_beautifulsoup() -> None:
    """Every XenForo page declares ``<meta charset="utf-8">``: the encoding BeautifulSoup's detector would try
    first is known without importing it (about 60 ms of a fresh ``check``)."""
    assert _xenforo_probe('page = thread.render(2, "https://forum.example/").encode()') == "5 False"


def test_a_page_without_a_declaration_still_asks_beautifulsoups_detector() -> None:
    """The control: without a declared charset the detector decides, as it always did (same records)."""
    undeclared = ('page = thread.render(2, "https://forum.example/").encode()'
                  '.replace(b\'<meta charset="utf-8"\', b\'<meta name="x"\')')
    assert _xenforo_probe(undeclared) == "5 True"
