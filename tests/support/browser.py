"""Debian's Chromium as the browser tests run it; nothing here loads the app or its settings."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("NEXUS_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium calls out at start, and this machine has
# no network but the package registries.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOAD_TIMEOUT_MS = 45_000
