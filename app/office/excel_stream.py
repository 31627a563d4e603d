"""Very large sheets, read row by row by openpyxl in read-only mode: memory stays flat.

python-calamine is several times faster but holds a sheet's whole cell grid in native memory
(about 3.6 MB per MB of sheet XML). Above STREAM_ABOVE_BYTES of XML a sheet is read here
instead, so a worker's memory has a ceiling whatever the row count.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.cell import range_boundaries

# About 250 MB of calamine memory; the 200,000 x 10 benchmark sheet stays on the fast path.
STREAM_ABOVE_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024
_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')


def part_sizes(path: Path, parts: dict[str, str]) -> dict[str, int]:
    """Sheet name -> unpacked size in bytes of its XML part."""
    with zipfile.ZipFile(path) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    return {name: sizes.get(part, 0) for name, part in parts.items()}


def merged_ranges(path: Path, part: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Merged ranges from the sheet XML, as calamine reports them (0-based corners)."""
    found: list[tuple[tuple[int, int], tuple[int, int]]] = []
    tail = b""
    with zipfile.ZipFile(path) as archive, archive.open(part) as stream:
        while chunk := stream.read(CHUNK):
            window = tail + chunk
            last_end = 0
            for match in _MERGE_REF.finditer(window):
                min_col, min_row, max_col, max_row = range_boundaries(match.group(1).decode())
                found.append(((min_row - 1, min_col - 1), (max_row - 1, max_col - 1)))
                last_end = match.end()
            tail = window[max(last_end, len(window) - 256) :]
    return found


class StreamedSheet:
    """The sheet-shaped object the row pipeline reads, backed by openpyxl's read-only parser."""

    def __init__(self, path: Path, name: str, part: str) -> None:
        self.merged_cell_ranges = merged_ranges(path, part)
        self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = self._book[name]
        try:
            dimension = sheet.calculate_dimension()
        except ValueError:
            # No <dimension> in the file (common for generated sheets): one extra reading pass.
            dimension = sheet.calculate_dimension(force=True)
        min_col, min_row, max_col, max_row = range_boundaries(dimension)
        self._bounds = (min_row, max_row, min_col, max_col)
        self._sheet = sheet
        self.start = (min_row - 1, min_col - 1)
        self.end = (max_row - 1, max_col - 1)
        self.height = max_row - min_row + 1
        self.width = max_col - min_col + 1

    def iter_rows(self) -> Iterator[list[Any]]:
        """Rows of the used range, padded to its width; the file is closed at the end."""
        min_row, max_row, min_col, max_col = self._bounds
        try:
            for row in self._sheet.iter_rows(
                min_row=min_row,
                max_row=max_row,
                min_col=min_col,
                max_col=max_col,
                values_only=True,
            ):
                yield list(row)
        finally:
            self._book.close()
