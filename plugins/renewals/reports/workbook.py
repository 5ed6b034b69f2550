"""Write an .xlsx workbook staff open in Excel or LibreOffice, atomically, to an Airflow
object-storage path (``file://``, ``s3://``, ``gs://``, ... or a plain local path).

Each sheet has a bold, frozen header row with filters, real date cells, number formats and
column widths, and prints landscape, fitted to the page width, the header row on every page.
Rows are streamed (XlsxWriter's constant-memory mode: each row goes to disk as it is written), so
memory stays flat however many rows there are; a sheet with a ``limit`` shows its first rows only
and ends with a total row saying how many there are in all and where the rest is (the sheet's
``note``). The file is built in a local temporary file, then:

- local target: moved into place with ``os.replace`` (atomic on one filesystem), with the
  permissions a file the process created would have (its umask), not the temporary file's 0600;
- object store: uploaded whole to a temporary key beside the target, then moved onto it
  (readers see the old workbook or the new one, never a partial one).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

EXCEL_MAX_ROWS = 1_048_576
LOCAL_PROTOCOLS = ("", "file", "local")
NUMBER_FORMATS = {"date": "yyyy-mm-dd", "int": "0", "money": "#,##0.00"}
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
HEADER_STYLE = {"bold": True, "bg_color": "#DDEBF7", "valign": "vcenter"}
TOTAL_STYLE = {"bold": True, "italic": True}


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | date | int | money | bool
    width: float | None = None  # characters; default from the header and the kind

    def resolved_width(self) -> float:
        if self.width is not None:
            return self.width
        natural = {"date": 12, "int": 8, "money": 12, "bool": 8}.get(self.kind, 14)
        return max(natural, len(self.header) + 3)


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    limit: int | None = None  # rows shown at most (Excel's own limit in any case)
    note: str = ""  # where the rows not shown are, for the total row
    written: int = field(default=0, init=False)
    truncated: int = field(default=0, init=False)


class CountedRows:
    """Rows of a query that returns the first ones only, each with how many there are in all as its
    last value: iterating yields the rows without it and keeps the count in ``total``."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.total = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.total = row[-1]
            yield row[:-1]


@dataclass(frozen=True)
class WrittenWorkbook:
    location: str
    rows: dict[str, int]
    truncated: dict[str, int]


def write_workbook(
    target: str, sheets: Sequence[Sheet], title: str = "", properties: dict[str, str] | None = None
) -> WrittenWorkbook:
    """Build the workbook and put it at ``target`` atomically; returns the rows per sheet."""
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(target)
    local = path.protocol in LOCAL_PROTOCOLS
    directory = Path(path.path).parent if local else None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        _build(scratch, sheets, title, properties or {})
        if local:
            os.chmod(scratch, 0o666 & ~_umask())  # staff open it from a shared folder
            os.replace(scratch, path.path)
        else:
            staging = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
            with open(scratch, "rb") as source, staging.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
            staging.move(path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return WrittenWorkbook(
        location=str(path),
        rows={sheet.title: sheet.written for sheet in sheets},
        truncated={sheet.title: sheet.truncated for sheet in sheets if sheet.truncated},
    )


def _umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _build(filename: str, sheets: Sequence[Sheet], title: str, properties: dict[str, str]) -> None:
    workbook = xlsxwriter.Workbook(filename, {"constant_memory": True})
    workbook.set_properties(
        {
            "title": title,
            "author": "renewals",
            "comments": "\n".join(f"{key}: {value}" for key, value in properties.items()),
        }
    )
    styles = _Styles(workbook)
    try:
        for sheet in sheets:
            _write_sheet(workbook.add_worksheet(sheet.title[:31]), sheet, styles)
    finally:
        workbook.close()  # also on an error: its temporary row files are removed


class _Styles:
    """The workbook's cell formats, made once (each format is a style record of the file)."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format(HEADER_STYLE)
        self.total = workbook.add_format(TOTAL_STYLE)
        self.numbers = {kind: workbook.add_format({"num_format": code}) for kind, code in NUMBER_FORMATS.items()}
        self.datetime = workbook.add_format({"num_format": DATETIME_FORMAT})


def _write_sheet(ws: Worksheet, sheet: Sheet, styles: _Styles) -> None:
    columns = list(sheet.columns)
    for index, column in enumerate(columns):
        ws.set_column(index, index, column.resolved_width())
    ws.freeze_panes(1, 0)
    ws.repeat_rows(0)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)  # one page wide, as many pages down as it takes
    for index, column in enumerate(columns):
        ws.write_string(0, index, column.header, styles.header)
    write = [_cell_writer(ws, styles, column.kind) for column in columns]
    limit = min(sheet.limit if sheet.limit is not None else EXCEL_MAX_ROWS, EXCEL_MAX_ROWS - 2)
    for row in sheet.rows:
        if sheet.written >= limit:
            sheet.truncated += 1  # counted, for the total row
            continue
        sheet.written += 1
        for index, (write_cell, value) in enumerate(zip(write, row, strict=True)):
            if value is not None:
                write_cell(sheet.written, index, value)
    if isinstance(sheet.rows, CountedRows):  # the rows the query left out
        sheet.truncated = max(sheet.truncated, sheet.rows.total - sheet.written)
    ws.autofilter(0, 0, sheet.written, max(len(columns) - 1, 0))
    if sheet.truncated:
        ws.write_string(sheet.written + 1, 0, total_row_text(sheet), styles.total)


def total_row_text(sheet: Sheet) -> str:
    shown, total = sheet.written, sheet.written + sheet.truncated
    return f"Total: {total:,} rows; the first {shown:,} are shown. {sheet.note}".strip()


def _cell_writer(ws: Worksheet, styles: _Styles, kind: str) -> Callable[[int, int, Any], None]:
    """How a column's values become cells, by the value's type: numbers with the column's number
    format (money, int), dates and times as real date cells, and any other value as text, never
    as a formula (an account named "=..." stays a name)."""
    number_format = styles.numbers.get(kind) if kind in ("int", "money") else None
    date_format = styles.numbers["date"]

    def write(row: int, col: int, value: Any) -> None:
        if isinstance(value, bool):
            ws.write_boolean(row, col, value)
        elif isinstance(value, int | float | Decimal):
            ws.write_number(row, col, float(value) if isinstance(value, Decimal) else value, number_format)
        elif isinstance(value, datetime):
            utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
            ws.write_datetime(row, col, utc, styles.datetime)
        elif isinstance(value, date):
            ws.write_datetime(row, col, value, date_format)
        elif isinstance(value, list | tuple):
            ws.write_string(row, col, ", ".join(str(part) for part in value))
        else:
            ws.write_string(row, col, str(value))

    return write
