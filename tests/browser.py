"""A real browser for tests: headless Chromium driven over the DevTools protocol (CDP).

What a served Textual app shows is drawn on a canvas, so the page's DOM has no text; the
browser's own record of the websocket frames it received has it all (the terminal output, which
the page's xterm.js draws). Keys are typed as the browser's keyboard events."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp

ANSI = re.compile(r"\x1b(\[[0-9;?<>=!]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def terminal_text(frames: list[bytes]) -> str:
    """The text of a served app's output (textual-serve sends the terminal bytes as they are)."""
    return ANSI.sub("", b"".join(frames).decode("utf-8", "replace"))


class Browser:
    """One headless Chromium with one page, for `async with`."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.size = width, height
        self.frames: list[bytes] = []  # binary websocket frames the page received
        self.statuses: dict[str, int] = {}  # url -> HTTP status of each response
        self._id = 0
        self._pending: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> Browser:
        self.profile = tempfile.mkdtemp(prefix="tui-gan-chromium-")
        self.proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
            + [f"--window-size={self.size[0]},{self.size[1]}", "--remote-debugging-port=0"]
            + [f"--user-data-dir={self.profile}", "--no-first-run", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        browser_ws = await asyncio.to_thread(self._devtools_url)
        self.session = aiohttp.ClientSession()
        port = re.search(r":(\d+)/", browser_ws).group(1)
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in await response.json() if t["type"] == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self.reader = asyncio.create_task(self._read())
        await self.call("Network.enable")
        await self.call("Page.enable")
        await self.call("Emulation.setFocusEmulationEnabled", enabled=True)  # a person's focused tab
        return self

    async def __aexit__(self, *exc) -> None:
        self.reader.cancel()
        await self.session.close()
        self.proc.kill()
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _devtools_url(self) -> str:
        deadline = time.monotonic() + 30
        for line in self.proc.stderr:
            if "DevTools listening on " in line:
                return line.split("DevTools listening on ", 1)[1].strip()
            if time.monotonic() > deadline:
                break
        raise RuntimeError("chromium did not start its DevTools server")

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                frame = data["params"]["response"]
                if frame["opcode"] == 2:
                    self.frames.append(base64.b64decode(frame["payloadData"]))
            elif data.get("method") == "Network.responseReceived":
                response = data["params"]["response"]
                self.statuses[response["url"]] = response["status"]

    async def call(self, method: str, **params) -> dict:
        self._id += 1
        future = asyncio.get_running_loop().create_future()
        self._pending[self._id] = future
        await self.ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    def text(self) -> str:
        return terminal_text(self.frames)

    async def wait_for_text(self, needle: str, timeout: float = 60.0, after: int = 0) -> str:
        """The terminal text once `needle` is in it (in the frames from index `after` on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = terminal_text(self.frames[after:])
            if needle in text:
                return text
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} never showed in the browser; it showed: {self.text()[-2000:]!r}")

    async def click(self, x: int = 400, y: int = 300) -> None:
        """A left click (which gives the terminal the keyboard focus)."""
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def press(self, key: str) -> None:
        """A printable key, as a person types it."""
        await self.call("Input.dispatchKeyEvent", type="keyDown", text=key, key=key, unmodifiedText=key)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
