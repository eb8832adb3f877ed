"""Open a page in real headless Chromium and watch it through the DevTools protocol (aiohttp websocket):
console errors, uncaught exceptions, every network request, and what the page reports about itself."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--window-size=1300,2000"]


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


async def _visit(ws_url: str, url: str, expressions: dict[str, str], actions: list[str]) -> PageVisit:
    visit = PageVisit()
    ids = itertools.count(1)
    waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
    loaded = asyncio.Event()
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:

        async def reader() -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if "id" in data and data["id"] in waiting:
                    waiting.pop(data["id"]).set_result(data)
                    continue
                method, params = data.get("method"), data.get("params", {})
                if method == "Page.loadEventFired":
                    loaded.set()
                elif method == "Runtime.exceptionThrown":
                    visit.errors.append(json.dumps(params["exceptionDetails"])[:500])
                elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                    visit.errors.append(json.dumps(params.get("args"))[:500])
                elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                    visit.errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
                elif method == "Network.requestWillBeSent":
                    visit.requests.append(params["request"]["url"])

        async def call(method: str, **params: Any) -> dict[str, Any]:
            i = next(ids)
            waiting[i] = asyncio.get_running_loop().create_future()
            await ws.send_json({"id": i, "method": method, "params": params})
            reply = await asyncio.wait_for(waiting[i], 30)
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})

        task = asyncio.create_task(reader())
        for domain in ("Runtime", "Log", "Network", "Page"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 30)
        await asyncio.sleep(0.5)  # late console messages
        for expression in actions:
            await call("Runtime.evaluate", expression=expression, awaitPromise=True)
        await asyncio.sleep(0.5)
        for name, expression in expressions.items():
            result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
            visit.values[name] = result["result"].get("value")
        visit.screenshot = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return visit


def visit(page: Path, profile: Path, expressions: dict[str, str], actions: list[str] = ()) -> PageVisit:  # type: ignore[assignment]
    """Start Chromium with a fresh profile, load `page` (file://), evaluate `actions` then `expressions`."""
    binary = chromium_binary()
    assert binary is not None, "chromium is not installed"
    proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        return asyncio.run(_page_and_visit(port, page.resolve().as_uri(), expressions, list(actions)))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _page_and_visit(port: int, url: str, expressions: dict[str, str], actions: list[str]) -> PageVisit:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = [t for t in await resp.json() if t.get("type") == "page"]
            if targets:
                break
            await asyncio.sleep(0.1)
    return await _visit(targets[0]["webSocketDebuggerUrl"], url, expressions, actions)
