"""XLSX reports: a summary sheet, a charts sheet with native Excel charts, and a data sheet.

The workbook is written in openpyxl's write-only mode so 100,000 data rows stream to disk
instead of living in memory as cell objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.reports.cells import excel_value
from app.reports.model import Chart, DataSheet, Report, Table

EXCEL_MAX_ROWS = 1_048_576
_CHART_ROWS = 20  # rows of sheet height one chart covers
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", fgColor="DCE6F2")


def write_xlsx(report: Report, path: Path) -> Path:
    """Write the workbook for `report` to `path` and return the path."""
    book = Workbook(write_only=True)
    _summary_sheet(book.create_sheet("Summary"), report)
    if report.charts():
        _charts_sheet(book.create_sheet("Charts"), report.charts())
    if report.data is not None:
        write_data_sheet(book.create_sheet(_sheet_title(report.data.name)), report.data)
    book.save(path)
    return path


def _sheet_title(name: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")
    return (cleaned or "Data")[:31]


def _cell(
    sheet: WriteOnlyWorksheet, value: Any, font: Font | None = None, fill: PatternFill | None = None
) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=excel_value(value))
    if font:
        cell.font = font
    if fill:
        cell.fill = fill
    return cell


def _header(sheet: WriteOnlyWorksheet, columns: list[str]) -> list[WriteOnlyCell]:
    return [_cell(sheet, c, _BOLD, _HEADER_FILL) for c in columns]


def _summary_sheet(sheet: WriteOnlyWorksheet, report: Report) -> None:
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 22
    sheet.append([_cell(sheet, report.title, _TITLE)])
    if report.subtitle:
        sheet.append([report.subtitle])
    sheet.append([f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC"])
    sheet.append([])
    for label, value in report.facts:
        sheet.append([_cell(sheet, label, _BOLD), excel_value(value)])
    if report.data is not None and report.data.row_count > EXCEL_MAX_ROWS - 1:
        sheet.append(
            [
                f"The data sheet holds the first {EXCEL_MAX_ROWS - 1:,} of "
                f"{report.data.row_count:,} rows, the most an Excel sheet can."
            ]
        )
    if report.summary:
        sheet.append([])
        sheet.append(
            [_cell(sheet, f"Executive summary, written by {report.summary.source}", _BOLD)]
        )
        for line in report.summary.text.splitlines():
            sheet.append([excel_value(line)])
    for section in report.sections:
        sheet.append([])
        sheet.append([_cell(sheet, section.title, _TITLE)])
        for paragraph in section.paragraphs:
            sheet.append([excel_value(paragraph)])
        for table in section.tables:
            _table(sheet, table)


def _table(sheet: WriteOnlyWorksheet, table: Table) -> None:
    sheet.append([_cell(sheet, table.title, _BOLD)])
    sheet.append(_header(sheet, table.columns))
    for row in table.rows:
        sheet.append([excel_value(v) for v in row])
    if table.note:
        sheet.append([excel_value(table.note)])
    sheet.append([])


def _charts_sheet(sheet: WriteOnlyWorksheet, charts: list[Chart]) -> None:
    """Each chart's numbers in columns A:B with a native chart drawn beside them."""
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 14
    row = 1
    for chart in charts:
        first = row
        sheet.append([_cell(sheet, chart.title, _BOLD)])
        sheet.append(_header(sheet, [chart.x_label or "Category", chart.y_label or "Value"]))
        for category, value in zip(chart.categories, chart.values):
            sheet.append([excel_value(str(category)), excel_value(value)])
        written = len(chart.categories) + 2
        for _ in range(max(0, _CHART_ROWS + 2 - written)):
            sheet.append([])
        row += max(written, _CHART_ROWS + 2)
        native = _native_chart(sheet, chart, first + 1, first + 1 + len(chart.categories))
        sheet.add_chart(native, f"D{first}")


def _native_chart(sheet: WriteOnlyWorksheet, chart: Chart, header_row: int, last_row: int):
    native = LineChart() if chart.kind == "line" else BarChart()
    if chart.kind != "line":
        native.type = "col"
        native.gapWidth = 0 if chart.kind == "histogram" else 60
    native.title = chart.title[:250]
    native.x_axis.title = chart.x_label or None
    native.y_axis.title = chart.y_label or None
    native.legend = None
    native.width, native.height = 18, 9
    data = Reference(sheet, min_col=2, min_row=header_row, max_row=last_row)
    categories = Reference(sheet, min_col=1, min_row=header_row + 1, max_row=last_row)
    native.add_data(data, titles_from_data=True)
    native.set_categories(categories)
    # openpyxl hides axes by default since 3.1; a chart without them reads as a blank box.
    native.x_axis.delete = False
    native.y_axis.delete = False
    return native


def write_data_sheet(sheet: WriteOnlyWorksheet, data: DataSheet) -> int:
    """Stream every row into `sheet`; returns the number of rows written (Excel caps the count)."""
    sheet.freeze_panes = "A2"
    sheet.append(_header(sheet, data.columns))
    written = 0
    for row in data.rows():
        if written >= EXCEL_MAX_ROWS - 1:
            break
        sheet.append([excel_value(v) for v in row])
        written += 1
    return written
