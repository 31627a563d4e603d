"""An OCRmyPDF plugin that hands its page progress to whoever is running OCR in this process.

OCRmyPDF asks its plugins for a progress bar class; this one forwards each step to the
callback `reporting` installed. The bar lives in the process that called ocrmypdf.ocr, so a
module-level callback is enough: one OCR runs per worker process at a time (ocr.py holds a
lock around it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ocrmypdf import hookimpl

PageProgress = Callable[[float, float, str], None]

_current: PageProgress | None = None


@contextmanager
def reporting(callback: PageProgress) -> Iterator[None]:
    """Send the progress of OCR runs inside the block to `callback(done, total, step)`."""
    global _current
    previous, _current = _current, callback
    try:
        yield
    finally:
        _current = previous


class ForwardingProgressBar:
    """OCRmyPDF's ProgressBar protocol, reporting to the installed callback."""

    def __init__(
        self, *, total: float | None = None, desc: str | None = None, unit: str | None = None,
        disable: bool = False, **kwargs: Any,
    ) -> None:
        self.total = total or 0
        self.desc = desc or "OCR"
        self.unit = unit
        self.done = 0.0

    def __enter__(self) -> ForwardingProgressBar:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def update(self, n: float = 1, *, completed: float | None = None) -> None:
        self.done = completed if completed is not None else self.done + n
        if _current is not None and self.unit == "page":
            # Exceptions (a cancelled job) propagate: OCRmyPDF stops its pool and re-raises.
            _current(self.done, self.total, self.desc)


@hookimpl
def get_progressbar_class() -> type[ForwardingProgressBar]:
    return ForwardingProgressBar
