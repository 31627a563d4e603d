"""Which cells of a workbook hold formulas, and which of those have no saved (cached) result.

Reading values means reading the results Excel saved next to each formula. A file written by a
program that does not calculate (openpyxl, many exporters) has formulas with no saved result,
and they read as empty: this module finds them so the user is told. A cheap byte scan skips
sheets without any formula; only the others are read, streaming, by openpyxl in read-only mode.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import openpyxl
from defusedxml import ElementTree as SafeET

MAX_EXAMPLES = 5
CHUNK = 1024 * 1024
# A formula is <f>, <f t="shared" .../> or the same with a namespace prefix (<x:f>). Plain
# substring tests run at memchr speed; a false positive only costs the exact count below.
_FORMULA_MARKERS = (b"<f>", b"<f ", b":f>", b":f ")
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@dataclass
class FormulaStats:
    """Formula cells of one sheet and those without a saved result."""

    formulas: int = 0
    without_cached_value: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, sheet: str) -> str | None:
        """A sentence for the user when some formulas have no saved result."""
        if not self.without_cached_value:
            return None
        cells = ", ".join(self.examples)
        more = "…" if self.without_cached_value > len(self.examples) else ""
        return (
            f"{self.without_cached_value:,} formula(s) in sheet '{sheet}' ({cells}{more}) have "
            "no saved result, so they read as empty. Open the file in Excel and save it to "
            "calculate them."
        )


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> path of its XML part inside the xlsx archive."""
    with zipfile.ZipFile(path) as archive:
        workbook_part = _office_document(archive)
        base = PurePosixPath(workbook_part).parent
        rels_name = f"{base}/_rels/{PurePosixPath(workbook_part).name}.rels"
        targets = _relationships(archive, rels_name, base)
        root = SafeET.fromstring(archive.read(workbook_part), forbid_dtd=True)
    parts = {}
    for sheet in root.iter(f"{_MAIN}sheet"):
        target = targets.get(sheet.get(_DOC_REL, ""))
        if target:
            parts[sheet.get("name", "")] = target
    return parts


def _office_document(archive: zipfile.ZipFile) -> str:
    rels = _relationships(archive, "_rels/.rels", PurePosixPath(""))
    for target in rels.values():
        if target.endswith(".xml") and "workbook" in target.lower():
            return target
    return "xl/workbook.xml"


def _relationships(archive: zipfile.ZipFile, name: str, base: PurePosixPath) -> dict[str, str]:
    try:
        root = SafeET.fromstring(archive.read(name), forbid_dtd=True)
    except KeyError:
        return {}
    targets = {}
    for rel in root.iter(_REL):
        target = rel.get("Target", "")
        resolved = target.lstrip("/") if target.startswith("/") else str(base / target)
        targets[rel.get("Id", "")] = _normalise(resolved)
    return targets


def _normalise(path: str) -> str:
    parts: list[str] = []
    for piece in path.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def sheets_with_formulas(path: Path, parts: dict[str, str]) -> list[str]:
    """Names of sheets whose XML contains a formula tag; a streaming byte scan, no parsing."""
    found = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for sheet, part in parts.items():
            if part in names and _has_formula_tag(archive, part):
                found.append(sheet)
    return found


def _has_formula_tag(archive: zipfile.ZipFile, part: str) -> bool:
    tail = b""
    with archive.open(part) as stream:
        while chunk := stream.read(CHUNK):
            window = tail + chunk
            if any(marker in window for marker in _FORMULA_MARKERS):
                return True
            tail = chunk[-8:]
    return False


def formula_report(path: Path, sheets: list[str] | None = None) -> dict[str, FormulaStats]:
    """Formula counts per sheet (only sheets that have any), read in streaming mode."""
    parts = sheet_parts(path)
    if sheets is not None:
        parts = {name: part for name, part in parts.items() if name in sheets}
    flagged = sheets_with_formulas(path, parts)
    if not flagged:
        return {}
    formulas_book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    values_book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return {
            name: _count(formulas_book[name], values_book[name])
            for name in flagged
            if name in formulas_book.sheetnames
        }
    finally:
        formulas_book.close()
        values_book.close()


def _count(formula_sheet, value_sheet) -> FormulaStats:
    """Walk both read-only views of a sheet in step: same XML, so the cells line up."""
    stats = FormulaStats()
    for formula_row, value_row in zip(formula_sheet.iter_rows(), value_sheet.iter_rows()):
        for formula_cell, value_cell in zip(formula_row, value_row):
            if formula_cell.data_type != "f":
                continue
            stats.formulas += 1
            if value_cell.value is None:
                stats.without_cached_value += 1
                if len(stats.examples) < MAX_EXAMPLES:
                    stats.examples.append(formula_cell.coordinate)
    return stats
