"""Helpers for tests that run real servers on loopback and drive Debian's chromium.

Nothing here downloads a browser: ``scripts/test`` installs Debian's chromium, and a
browser test fails (never skips) when it is missing.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, timeout: float = 120) -> str:
    """Run ``edge-node``/``central-hub`` from this venv; assert success; return stdout."""
    result = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def wait_http(url: str, seconds: float = 20, verify: bool = True) -> None:
    """Wait until ``url`` answers (``verify=False``: a self-signed https server)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1, verify=verify)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def launch_chromium(playwright):
    """Debian's chromium, headless, with no background traffic to the internet."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/test"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)
