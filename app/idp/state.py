"""Secrets the embedded provider and Nexus keep between restarts, in 0600 JSON files."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by this user only, never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an older file may have had a wider mode


def load(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when there is none yet."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save(path: Path, data: dict[str, Any]) -> None:
    write_private(path, json.dumps(data, indent=2))


def remembered(path: Path, key: str, make: Any = lambda: secrets.token_urlsafe(32)) -> Any:
    """The value stored under `key` in `path`, made and stored on first use."""
    data = load(path)
    if key not in data:
        data[key] = make()
        save(path, data)
    return data[key]
