"""A real headless browser for the website's tests: Debian's ``chromium``, driven over the DevTools protocol.

No browser-automation package: chromium is started with ``--remote-debugging-port=0`` (it writes the port
it chose into ``DevToolsActivePort`` in its profile folder) and spoken to over its WebSocket with aiohttp
(already installed with discord.py). :meth:`Browser.visit` opens a page at a given width, waits for its
``load`` event, collects console errors, uncaught exceptions, failed loads and every URL the page
requested, measures elements, and takes a full-page PNG screenshot.

:func:`chromium_path` says where chromium is, or None: tests skip with :data:`NO_CHROMIUM` then.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

NO_CHROMIUM = ("chromium is not installed (.ci/run installs it with `apt-get install -y chromium`; "
               "that failed or was not run here), so the browser tests cannot run")
START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_S = 60.0

#: what a page reports about the elements the test asks for (run in the page after it loaded)
_MEASURE = """(selectors) => {
  const out = {};
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = null; continue; }
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    out[sel] = {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
                visible: st.display !== "none" && st.visibility !== "hidden" && Number(st.opacity) > 0,
                children: el.querySelectorAll("*").length};
  }
  out.__page = {width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
                viewport: innerWidth, lang: document.documentElement.lang};
  return out;
}"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class Visit:
    url: str
    width: int
    screenshot: bytes
    boxes: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """``async with Browser() as b: visit = await b.visit(url, width=390)``."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self._profile = tempfile.TemporaryDirectory(prefix="trialwatch-chromium-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._listeners: list[Any] = []

    async def __aenter__(self) -> "Browser":
        profile = Path(self._profile.name)
        self._proc = subprocess.Popen(
            [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
             "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._proc.returncode} before it listened")
            if loop.time() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port within {START_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self._ws is not None:
                await asyncio.wait_for(self._send("Browser.close"), 10)
        except Exception:  # noqa: BLE001 - it is being stopped anyway
            pass
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._profile.cleanup()

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                future = self._waiting.pop(data["id"])
                if not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                for listener in list(self._listeners):
                    listener(data)

    async def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, PAGE_TIMEOUT_S)

    async def visit(self, url: str, *, width: int, height: int = 900, selectors: tuple[str, ...] = ()) -> Visit:
        """Open ``url`` in a fresh tab ``width`` CSS pixels wide (a phone at 390: mobile emulation)."""
        target = (await self._send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self._send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        errors: list[str] = []
        requests: list[str] = []
        loaded = asyncio.get_running_loop().create_future()

        def listen(data: dict[str, Any]) -> None:
            if data.get("sessionId") != session:
                return
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                     for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')} "
                              f"{params['entry'].get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                requests.append(params.get("request", {}).get("url", ""))
            elif method == "Network.loadingFailed":
                errors.append(f"failed to load: {params.get('errorText')}")
            elif method == "Page.loadEventFired" and not loaded.done():
                loaded.set_result(True)

        self._listeners.append(listen)
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                await self._send(f"{domain}.enable", session=session)
            mobile = width < 600
            await self._send("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=session)
            await self._send("Page.navigate", {"url": url}, session=session)
            await asyncio.wait_for(loaded, PAGE_TIMEOUT_S)
            boxes = await self._evaluate(session, f"({_MEASURE})({json.dumps(list(selectors))})")
            full = max(int(boxes["__page"]["height"]), height)
            await self._send("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": full, "deviceScaleFactor": 1, "mobile": mobile}, session=session)
            boxes = await self._evaluate(session, f"({_MEASURE})({json.dumps(list(selectors))})")
            shot = await self._send("Page.captureScreenshot", {"format": "png"}, session=session)
            return Visit(url, width, base64.b64decode(shot["data"]), boxes, errors, requests)
        finally:
            self._listeners.remove(listen)
            await self._send("Target.closeTarget", {"targetId": target})

    async def _evaluate(self, session: str, expression: str) -> Any:
        result = await self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                  session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"]["value"]
