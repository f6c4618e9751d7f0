"""What the browser tests share: Debian's chromium, found or refused with the reason, and how to launch it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# flags for a headless chromium as root on a machine with no outside network
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def chromium_or_skip(needs_jupyterlab: bool = False) -> str:
    """The browser binary; else skip with what to install, or fail under CI (CI must never skip it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = []
    if not found:
        missing.append("Debian's chromium (as root: apt-get install chromium; `make test` does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright's Python client (in the test extra: pip install -e '.[test,lab]')")
    if needs_jupyterlab and shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        missing.append("JupyterLab in this environment (the lab extra: pip install -e '.[test,lab]')")
    if missing:
        reason = "this browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + " (CI must run it, not skip it)")
        pytest.skip(reason)
    return found
