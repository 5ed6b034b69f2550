"""Write an .xlsx workbook staff open in Excel or LibreOffice, atomically, to an Airflow
object-storage path (``file://``, ``s3://``, ``gs://``, ... or a plain local path).

Each sheet has a bold, frozen header row with filters, real date cells, number formats and
column widths, and prints landscape, fitted to the page width, the header row on every page.
Rows are streamed (openpyxl's write-only mode), so memory stays flat however many rows there
are; a sheet with a ``limit`` shows its first rows only and ends with a total row saying how many
there are in all and where the rest is (the sheet's ``note``). The file is built in a local
temporary file, then:

- local target: moved into place with ``os.replace`` (atomic on one filesystem);
- object store: uploaded whole to a temporary key beside the target, then moved onto it
  (readers see the old workbook or the new one, never a partial one).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

EXCEL_MAX_ROWS = 1_048_576
LOCAL_PROTOCOLS = ("", "file", "local")
FORMATS = {
    "date": "yyyy-mm-dd",
    "int": "0",
    "money": "#,##0.00",
    "text": None,
    "bool": None,
}
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", start_color="DDEBF7", end_color="DDEBF7")
TOTAL_FONT = Font(bold=True, italic=True)


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


def _build(filename: str, sheets: Sequence[Sheet], title: str, properties: dict[str, str]) -> None:
    workbook = Workbook(write_only=True)
    workbook.properties.title = title or None
    workbook.properties.creator = "renewals"
    if properties:
        workbook.properties.description = "\n".join(f"{key}: {value}" for key, value in properties.items())
    try:
        for sheet in sheets:
            _write_sheet(workbook, sheet)
    except BaseException:
        for worksheet in workbook.worksheets:  # finish the streams so nothing writes to them later
            with contextlib.suppress(Exception):
                worksheet.close()
        raise
    workbook.save(filename)


def _write_sheet(workbook: Workbook, sheet: Sheet) -> None:
    ws = workbook.create_sheet(sheet.title[:31])
    columns = list(sheet.columns)
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.resolved_width()
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as it takes
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=column.header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)
    convert = [_converter(ws, column.kind) for column in columns]
    limit = min(sheet.limit if sheet.limit is not None else EXCEL_MAX_ROWS, EXCEL_MAX_ROWS - 2)
    for row in sheet.rows:
        if sheet.written >= limit:
            sheet.truncated += 1  # counted, for the total row
            continue
        ws.append([to_cell(value) for to_cell, value in zip(convert, row, strict=True)])
        sheet.written += 1
    if isinstance(sheet.rows, CountedRows):  # the rows the query left out
        sheet.truncated = max(sheet.truncated, sheet.rows.total - sheet.written)
    last = get_column_letter(max(len(columns), 1))
    ws.auto_filter.ref = f"A1:{last}{sheet.written + 1}"
    if sheet.truncated:
        total = WriteOnlyCell(ws, value=total_row_text(sheet))
        total.font = TOTAL_FONT
        ws.append([total])


def total_row_text(sheet: Sheet) -> str:
    shown, total = sheet.written, sheet.written + sheet.truncated
    return f"Total: {total:,} rows; the first {shown:,} are shown. {sheet.note}".strip()


def _converter(ws, kind: str) -> Callable[[Any], Any]:
    """How a column's values become cells. Dates are written as plain values (openpyxl gives
    them the yyyy-mm-dd format itself: twice as fast as a styled cell each); only money gets a
    styled cell, for its thousands separator."""
    number_format = FORMATS.get(kind)

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, list | tuple):
            return ", ".join(str(part) for part in value)
        return value

    if kind != "money":
        return plain

    def money(value: Any) -> Any:
        value = plain(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return value
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = number_format
        return cell

    return money
