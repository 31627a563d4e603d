"""XLSX reports: a summary sheet, a charts sheet with native Excel charts, and a data sheet.

Written with XlsxWriter in constant-memory mode: each row goes to disk as it is written, so
100,000 data rows never live in memory. Every value is written by its type, text as text:
nothing a person uploaded can become a formula.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from app.reports.cells import excel_value
from app.reports.model import Chart, DataSheet, Report, Table

EXCEL_MAX_ROWS = 1_048_576
_CHART_ROWS = 20  # rows of sheet height one chart covers
_CHART_SIZE = {"width": 680, "height": 340}
_OPTIONS = {
    "constant_memory": True,
    # Typed writes below, and these off besides: a string is never read as anything else.
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


@dataclass
class Styles:
    """The few cell formats a report uses, made once per workbook."""

    bold: Format
    title: Format
    header: Format
    date: Format
    datetime: Format
    time: Format

    @classmethod
    def of(cls, book: Workbook) -> Styles:
        return cls(
            bold=book.add_format({"bold": True}),
            title=book.add_format({"bold": True, "font_size": 14}),
            header=book.add_format({"bold": True, "bg_color": "#DCE6F2"}),
            date=book.add_format({"num_format": "yyyy-mm-dd"}),
            datetime=book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            time=book.add_format({"num_format": "hh:mm:ss"}),
        )


class Sheet:
    """A worksheet written top to bottom, a row at a time, as constant-memory mode requires."""

    def __init__(self, book: Workbook, name: str, styles: Styles) -> None:
        self.name = name
        self.worksheet: Worksheet = book.add_worksheet(name)
        self.styles = styles
        self.row = 0

    def append(self, values: Iterable[Any] = (), style: Format | None = None) -> int:
        """Write one row of values; returns the row's index."""
        for column, value in enumerate(values):
            self._write(column, excel_value(value), style)
        self.row += 1
        return self.row - 1

    def _write(self, column: int, value: Any, style: Format | None) -> None:
        sheet, row = self.worksheet, self.row
        if value is None:
            if style is not None:
                sheet.write_blank(row, column, None, style)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value, style)
        elif isinstance(value, (int, float)):
            sheet.write_number(row, column, value, style)
        elif isinstance(value, dt.datetime):
            sheet.write_datetime(row, column, value, style or self.styles.datetime)
        elif isinstance(value, dt.date):
            sheet.write_datetime(row, column, value, style or self.styles.date)
        elif isinstance(value, dt.time):
            sheet.write_datetime(row, column, value, style or self.styles.time)
        else:
            sheet.write_string(row, column, str(value), style)


def workbook(path: Path) -> tuple[Workbook, Styles]:
    """A new streaming workbook at `path` and its formats; close the workbook to finish it."""
    book = xlsxwriter.Workbook(str(path), _OPTIONS)
    return book, Styles.of(book)


def write_xlsx(report: Report, path: Path) -> Path:
    """Write the workbook for `report` to `path` and return the path."""
    book, styles = workbook(path)
    _summary_sheet(Sheet(book, "Summary", styles), report)
    if report.charts():
        _charts_sheet(book, Sheet(book, "Charts", styles), report.charts())
    if report.data is not None:
        write_data_sheet(Sheet(book, sheet_title(report.data.name), styles), report.data)
    book.close()
    return path


def sheet_title(name: str) -> str:
    """A name Excel accepts for a sheet: no []:*?/\\, no quotes at the ends, 31 characters."""
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")
    return (cleaned or "Data")[:31]


def _summary_sheet(sheet: Sheet, report: Report) -> None:
    sheet.worksheet.set_column(0, 0, 28)
    sheet.worksheet.set_column(1, 1, 22)
    styles = sheet.styles
    sheet.append([report.title], styles.title)
    if report.subtitle:
        sheet.append([report.subtitle])
    sheet.append([f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC"])
    sheet.append()
    for label, value in report.facts:
        _fact(sheet, label, value)
    if report.data is not None and report.data.row_count > EXCEL_MAX_ROWS - 1:
        sheet.append([
            f"The data sheet holds the first {EXCEL_MAX_ROWS - 1:,} of "
            f"{report.data.row_count:,} rows, the most an Excel sheet can."
        ])
    if report.summary:
        sheet.append()
        sheet.append([f"Executive summary, written by {report.summary.source}"], styles.bold)
        for line in report.summary.text.splitlines():
            sheet.append([line])
    for section in report.sections:
        sheet.append()
        sheet.append([section.title], styles.title)
        for paragraph in section.paragraphs:
            sheet.append([paragraph])
        for table in section.tables:
            _table(sheet, table)


def _fact(sheet: Sheet, label: str, value: Any) -> None:
    """A bold label and its value, side by side."""
    sheet.worksheet.write_string(sheet.row, 0, str(excel_value(label) or ""), sheet.styles.bold)
    sheet.append([None, value])


def _table(sheet: Sheet, table: Table) -> None:
    sheet.append([table.title], sheet.styles.bold)
    sheet.append(table.columns, sheet.styles.header)
    for row in table.rows:
        sheet.append(row)
    if table.note:
        sheet.append([table.note])
    sheet.append()


def _charts_sheet(book: Workbook, sheet: Sheet, charts: list[Chart]) -> None:
    """Each chart's numbers in columns A:B with a native chart drawn beside them."""
    sheet.worksheet.set_column(0, 0, 24)
    sheet.worksheet.set_column(1, 1, 14)
    for chart in charts:
        first = sheet.append([chart.title], sheet.styles.bold)
        header = sheet.append(
            [chart.x_label or "Category", chart.y_label or "Value"], sheet.styles.header
        )
        for category, value in zip(chart.categories, chart.values):
            sheet.append([str(category), value])
        if chart.categories:
            last = header + len(chart.categories)
            sheet.worksheet.insert_chart(first, 3, _native_chart(book, sheet.name, chart,
                                                                 header, last))
        while sheet.row < first + _CHART_ROWS + 2:
            sheet.append()


def _native_chart(book: Workbook, sheet_name: str, chart: Chart, header: int, last: int):
    native = book.add_chart({"type": "line" if chart.kind == "line" else "column"})
    series: dict[str, Any] = {
        "name": [sheet_name, header, 1],
        "categories": [sheet_name, header + 1, 0, last, 0],
        "values": [sheet_name, header + 1, 1, last, 1],
    }
    if chart.kind != "line":
        series["gap"] = 0 if chart.kind == "histogram" else 60
    native.add_series(series)
    native.set_title({"name": chart.title[:250]})
    if chart.x_label:
        native.set_x_axis({"name": chart.x_label})
    if chart.y_label:
        native.set_y_axis({"name": chart.y_label})
    native.set_legend({"none": True})
    native.set_size(_CHART_SIZE)
    return native


def write_data_sheet(sheet: Sheet, data: DataSheet) -> int:
    """Stream every row into `sheet`; returns the number of rows written (Excel caps the count)."""
    sheet.worksheet.freeze_panes(1, 0)
    sheet.append(data.columns, sheet.styles.header)
    written = 0
    for row in data.rows():
        if written >= EXCEL_MAX_ROWS - 1:
            break
        sheet.append(row)
        written += 1
    return written
