"""XLSX reports: a summary sheet, a charts sheet with native Excel charts, and a data sheet.

Written with XlsxWriter in constant-memory mode: each row goes to disk as it is written, so
100,000 data rows never live in memory. Every value is written by its type, text as text:
nothing a person uploaded can become a formula.

A data sheet's rows skip XlsxWriter's cell-by-cell API, which costs about 5 µs a cell: the
workbook is closed with the sheet's header only, then the sheet's part is rewritten with the
rows that xlsx_rows builds a block and a column at a time (the same XML, ~8x faster).
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from app.reports import xlsx_rows
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


@dataclass
class _Stream:
    """A data sheet whose rows are written into its part after the workbook is closed."""

    part: str
    data: DataSheet
    limit: int
    styles: xlsx_rows.DateStyles


class StreamingWorkbook(xlsxwriter.Workbook):
    """An XlsxWriter workbook that writes its data sheets' rows when it is closed."""

    def __init__(self, filename: str, options: dict[str, Any]) -> None:
        super().__init__(filename, options)
        self.streams: list[_Stream] = []

    def close(self) -> None:
        """Write the workbook, then every data sheet's rows into its part."""
        closed = self.fileclosed
        super().close()
        if not closed and self.streams:
            _write_streams(Path(self.filename), self.streams)


class Sheet:
    """A worksheet written top to bottom, a row at a time, as constant-memory mode requires."""

    def __init__(self, book: Workbook, name: str, styles: Styles) -> None:
        self.name = name
        self.book = book
        self.worksheet: Worksheet = book.add_worksheet(name)
        self.styles = styles
        self.row = 0
        self.streamed = False

    def append(self, values: Iterable[Any] = (), style: Format | None = None) -> int:
        """Write one row of values; returns the row's index."""
        if self.streamed:
            raise RuntimeError(f"Sheet {self.name} is a data sheet: its rows come at close")
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
            write_text(sheet, row, column, str(value), style)


def write_text(sheet: Worksheet, row: int, column: int, text: str, style: Format | None) -> None:
    """Write `text` as a text cell, whatever it looks like."""
    if text.startswith("<r>") and text.endswith("</r>"):
        # XlsxWriter copies such a string into the sheet unescaped, as rich-text markup, so
        # typed text could break the file; as three plain runs it is escaped and reads the same.
        runs = [text[:1], text[1:-1], text[-1:]]
        if style is not None:  # each run in the cell's font, then the cell's format
            runs = [*(part for run in runs for part in (style, run)), style]
        sheet.write_rich_string(row, column, *runs)
    else:
        sheet.write_string(row, column, text, style)


def workbook(path: Path) -> tuple[StreamingWorkbook, Styles]:
    """A new streaming workbook at `path` and its formats; close the workbook to finish it."""
    book = StreamingWorkbook(str(path), _OPTIONS)
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
    write_text(sheet.worksheet, sheet.row, 0, str(excel_value(label) or ""), sheet.styles.bold)
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
    """Stream every row into `sheet`; returns the number of rows written (Excel caps the count).

    In a StreamingWorkbook the rows are written when the workbook is closed; then `sheet` must
    get no more rows after this.
    """
    if not isinstance(sheet.book, StreamingWorkbook) or sheet.row != 0:
        return append_data_rows(sheet, data)
    sheet.worksheet.freeze_panes(1, 0)
    sheet.append(data.columns, sheet.styles.header)
    limit = EXCEL_MAX_ROWS - sheet.row
    sheet.book.streams.append(
        _Stream(
            part=_part_name(sheet.book, sheet.worksheet),
            data=data,
            limit=limit,
            styles=_date_styles(sheet.styles),
        )
    )
    sheet.streamed = True
    return min(data.row_count, limit)


def append_data_rows(sheet: Sheet, data: DataSheet) -> int:
    """`write_data_sheet` through XlsxWriter's cell-by-cell API: the reference the streamed
    rows are tested (and benchmarked) against, and the way for a plain XlsxWriter workbook."""
    sheet.worksheet.freeze_panes(1, 0)
    sheet.append(data.columns, sheet.styles.header)
    written = 0
    for row in data.rows():
        if written >= EXCEL_MAX_ROWS - 1:
            break
        sheet.append(row)
        written += 1
    return written


def _part_name(book: Workbook, worksheet: Worksheet) -> str:
    """The zip member XlsxWriter writes `worksheet` to: sheetN.xml, counting worksheets only."""
    sheets = [ws for ws in book.worksheets() if not ws.is_chartsheet]
    return f"xl/worksheets/sheet{sheets.index(worksheet) + 1}.xml"


def _date_styles(styles: Styles) -> xlsx_rows.DateStyles:
    # The rows are written after XlsxWriter has written styles.xml, so the date formats need
    # their style indices now; asking for them is what puts them in styles.xml.
    return xlsx_rows.DateStyles(
        date=styles.date._get_xf_index(),
        datetime=styles.datetime._get_xf_index(),
        time=styles.time._get_xf_index(),
    )


_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


def _write_streams(path: Path, streams: list[_Stream]) -> None:
    """Copy the closed workbook at `path`, writing each stream's rows into its sheet part."""
    by_part = {stream.part: stream for stream in streams}
    partial = path.with_name(path.name + ".part")
    try:
        with (
            zipfile.ZipFile(path) as source,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as target,
        ):
            for info in source.infolist():
                stream = by_part.get(info.filename)
                if stream is None:
                    target.writestr(info, source.read(info))
                else:
                    _write_part(target, info, source.read(info).decode("utf-8"), stream)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_part(target: zipfile.ZipFile, info: zipfile.ZipInfo, xml: str, stream: _Stream) -> None:
    xml = xml.replace("<sheetData/>", "<sheetData></sheetData>", 1)
    head, end, tail = xml.partition("</sheetData>")
    if not end or not _DIMENSION.search(head):
        raise ValueError(f"{info.filename} is not a worksheet to stream rows into")
    # <dimension> comes before the rows: it is the table's extent, the header's columns by
    # every row (an empty last row or column would make it a little larger than the cells).
    rows = min(stream.data.row_count, stream.limit)
    head = _DIMENSION.sub(_dimension(len(stream.data.columns), rows), head, count=1)
    member = zipfile.ZipInfo(info.filename, info.date_time)
    member.compress_type = zipfile.ZIP_DEFLATED
    blocks = stream.data.column_blocks(xlsx_rows.block_rows(len(stream.data.columns)))
    with target.open(member, "w", force_zip64=True) as handle:
        handle.write(head.encode("utf-8"))
        with _Deflater(handle) as deflater:
            for text in xlsx_rows.sheet_rows(blocks, 2, stream.styles, rows):
                deflater.write(text.encode("utf-8"))
        handle.write((end + tail).encode("utf-8"))


def _dimension(columns: int, rows: int) -> str:
    """<dimension> for a header of `columns` cells over `rows` data rows."""
    if columns == 0:
        return '<dimension ref="A1"/>'
    first, last = xl_rowcol_to_cell(0, 0), xl_rowcol_to_cell(rows, columns - 1)
    return f'<dimension ref="{first if first == last else f"{first}:{last}"}"/>'


class _Deflater:
    """Writes to a zip member from a second thread: zlib lets go of the GIL while it
    compresses, so the next block is built while this one is compressed (a third of the
    data sheet's time). At most two blocks wait, so memory stays flat."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="xlsx-deflate", daemon=True)

    def __enter__(self) -> _Deflater:
        self.thread.start()
        return self

    def write(self, data: bytes) -> None:
        """Queue `data` for the member; raises what the writing thread raised, if it did."""
        if self.error is not None:
            raise self.error
        self.queue.put(data)

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.handle.write(data)
                except BaseException as error:  # handed to the building thread
                    self.error = error
