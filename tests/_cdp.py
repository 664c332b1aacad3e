"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (standard library only).

Chromium reads commands from fd 3 and writes replies and events to fd 4, each a JSON object
terminated by a NUL byte; no websocket, no port. One browser per ``Browser`` context; pages are
driven through flattened target sessions (``sessionId`` on every message).

Used by tests/test_browser.py. Every wait has a deadline; leaving the context closes the browser and
kills its whole process group, whatever happened inside.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Browser", "CDPError", "Page", "find_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the test may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1280,1024",
    "--remote-debugging-pipe",
)


class CDPError(RuntimeError):
    """The browser answered a command with an error, went away, or did not answer in time."""


def find_chromium() -> str | None:
    """Path of a Chromium binary on PATH (``$CHROMIUM`` wins when set), or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return shutil.which(env) or (env if os.access(env, os.X_OK) else None)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Page:
    """One page target attached through a flattened session; ``events`` collects everything it sent."""

    browser: Browser
    session_id: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0
    ) -> Any:
        return self.browser.send(method, params, session_id=self.session_id, timeout=timeout)

    def wait_for(self, method: str, *, since: int = 0, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the page sends event ``method``; events before index ``since`` do not count."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for ev in self.events[seen:]:
                if ev["method"] == method:
                    return ev
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no {method} event within {timeout:.0f} s")
            self.browser._pump(left)

    def navigate(self, url: str, *, timeout: float = 60.0) -> None:
        """Load ``url`` and wait for its load event; a navigation error raises."""
        since = len(self.events)
        reply = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise CDPError(f"navigating to {url}: {reply['errorText']}")
        self.wait_for("Page.loadEventFired", since=since, timeout=timeout)

    def settle(self, seconds: float) -> None:
        """Keep collecting events for ``seconds`` (late console messages, late requests)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.browser._pump(left)

    def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Evaluate a JavaScript expression in the page and return its JSON value."""
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            raise CDPError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot_full_page(self, *, timeout: float = 60.0) -> bytes:
        """A PNG of the whole document at scale 1 (not only the viewport)."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        reply = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": True,
                "clip": clip,
            },
            timeout=timeout,
        )
        return base64.b64decode(reply["data"])


class Browser:
    """Headless Chromium driven over the DevTools pipe; use as a context manager."""

    def __init__(self, binary: str, *, startup_timeout: float = 30.0) -> None:
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._to_browser = -1  # we write commands here (the child's fd 3)
        self._from_browser = -1  # we read replies here (the child's fd 4)
        self._buf = b""
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._pages: dict[str, Page] = {}
        self.stderr_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(
            prefix="truelift-chromium-", ignore_cleanup_errors=True
        )
        profile = Path(self._profile.name)
        self.stderr_path = profile / "chromium-stderr.log"
        cmd_r, cmd_w = os.pipe()  # parent -> browser
        evt_r, evt_w = os.pipe()  # browser -> parent
        # Copies at fd >= 10 so that dup2 onto 3 and 4 in the child cannot clobber its sources.
        child_in = _dup_high(cmd_r)
        child_out = _dup_high(evt_w)
        os.close(cmd_r)
        os.close(evt_w)

        def _child_fds() -> None:  # runs in the child between fork and exec
            os.dup2(child_in, 3)  # dup2 clears close-on-exec on the new descriptor
            os.dup2(child_out, 4)

        args = [self.binary, *_FLAGS, f"--user-data-dir={profile / 'profile'}", "about:blank"]
        with open(self.stderr_path, "wb") as err:
            try:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    preexec_fn=_child_fds,
                    close_fds=False,  # our descriptors are non-inheritable (PEP 446) except 3 and 4
                    start_new_session=True,  # one process group: cleanup kills renderers too
                )
            finally:
                os.close(child_in)
                os.close(child_out)
        self._to_browser = cmd_w
        self._from_browser = evt_r
        # The first answered command proves the pipe is up.
        self.send("Browser.getVersion", timeout=self.startup_timeout)

    def close(self) -> None:
        """Ask the browser to quit, then kill its process group; always safe to call."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self._write({"id": self._take_id(), "method": "Browser.close"})
                proc.wait(timeout=5)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # renderers and zygotes share the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = -1
        self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def stderr_tail(self, n: int = 20) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    # -- protocol ----------------------------------------------------------------------------
    def new_page(self, *, enable: tuple[str, ...] = ("Page", "Runtime", "Log", "Network")) -> Page:
        """Open a blank tab, attach to it, and enable the given domains before anything loads."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        self._pages[session] = page
        for domain in enable:
            page.send(f"{domain}.enable")
        return page

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 30.0,
    ) -> Any:
        msg_id = self._take_id()
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id is not None:
            msg["sessionId"] = session_id
        self._write(msg)
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"{method}: no reply within {timeout:.0f} s")
            self._pump(left)
        reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _write(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\0"
        while data:
            written = os.write(self._to_browser, data)
            data = data[written:]

    def _pump(self, timeout: float) -> None:
        """Read what the browser has sent within ``timeout`` seconds and dispatch it."""
        ready, _, _ = select.select([self._from_browser], [], [], max(timeout, 0.0))
        if not ready:
            return
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            code = self._proc.poll() if self._proc is not None else None
            raise CDPError(
                f"the browser closed the DevTools pipe (exit code {code}); stderr:\n"
                + self.stderr_tail()
            )
        self._buf += chunk
        *messages, self._buf = self._buf.split(b"\0")
        for raw in messages:
            msg = json.loads(raw)
            if "id" in msg:
                self._replies[msg["id"]] = msg
            elif "method" in msg:
                page = self._pages.get(msg.get("sessionId", ""))
                if page is not None:
                    page.events.append(msg)


def _dup_high(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
