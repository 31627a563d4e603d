"""Where an operation puts what it makes, and the small summary it hands back.

Every operation writes big things (full text, converted files, images) into an output folder
and returns a JSON-able dict small enough for a job record: counts, names of the files it
wrote, and at most PREVIEW_CHARS characters of text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.storage import safe_filename, unique_path

PREVIEW_CHARS = 3000

Progress = Callable[[int, int, str], None]


def no_progress(current: int, total: int, message: str) -> None:
    """The progress callback used when nobody is listening."""


class OutputFolder:
    """A folder that hands out fresh, safe file names and remembers what was written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        """A path that does not exist yet; its name is recorded as an output."""
        target = unique_path(self.folder, safe_filename(name))
        self.written.append(target.name)
        return target

    def write_text(self, name: str, text: str) -> str:
        target = self.path(name)
        target.write_text(text, encoding="utf-8")
        return target.name

    def write_bytes(self, name: str, data: bytes) -> str:
        target = self.path(name)
        target.write_bytes(data)
        return target.name

    def write_json(self, name: str, value: Any) -> str:
        target = self.path(name)
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(value, handle, ensure_ascii=False, indent=2, default=str)
        return target.name


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The start of `text`, cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", max(0, limit - 200), limit)
    return text[: cut if cut > 0 else limit] + " …"


def text_summary(
    out: OutputFolder, name: str, text: str, shown: str | None = None
) -> dict[str, Any]:
    """Write the full text to a file and describe it with a preview (of `shown`, if given)."""
    return {
        "text_file": out.write_text(name, text),
        "characters": len(text),
        "words": len(text.split()),
        "preview": preview(text if shown is None else shown),
        "truncated": len(text) > PREVIEW_CHARS,
    }


def stem_of(path: Path | str) -> str:
    """A file's name without its extension, for naming outputs after their input."""
    return Path(path).stem or "file"


def fit_summary(summary: Any, limit: int) -> Any:
    """The summary, with previews and long lists shortened until its JSON fits in `limit`."""
    for preview_chars, max_items in ((PREVIEW_CHARS, None), (1000, None), (300, 50), (0, 20)):
        trimmed = _trim(summary, preview_chars, max_items)
        if len(json.dumps(trimmed, default=str)) <= limit:
            return trimmed
    return trimmed


def _trim(value: Any, preview_chars: int, max_items: int | None) -> Any:
    if isinstance(value, dict):
        trimmed = {}
        for key, item in value.items():
            if key == "preview" and preview_chars < PREVIEW_CHARS:
                if isinstance(item, str) and preview_chars:
                    trimmed[key] = preview(item, preview_chars)
                continue
            trimmed[key] = _trim(item, preview_chars, max_items)
        return trimmed
    if isinstance(value, list):
        items = value if max_items is None else value[:max_items]
        return [_trim(item, preview_chars, max_items) for item in items]
    return value
