"""The workbook writer: what staff open in Excel or LibreOffice (frozen header, filters, real
dates, widths), written atomically to a local file or an object store; and the playbook
definitions the spreadsheet's SQL computes future touchpoints from."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from renewals.config import Settings
from renewals.decisions.due import audience
from renewals.playbooks import load_playbooks
from renewals.reports.spreadsheet import review_offsets
from renewals.reports.workbook import Column, Sheet, write_workbook

COLUMNS = (
    Column("Account", width=30),
    Column("Renewal date", "date"),
    Column("Days to go", "int"),
    Column("Amount", "money"),
    Column("Audience"),
)


def rows(n: int = 3):
    for i in range(n):
        yield (f"Account {i}", date(2026, 12, 1 + i), 10 + i, Decimal("1200.50") + i, ["primary", "billing"])


def test_a_workbook_staff_can_open_and_filter(tmp_path):
    target = (tmp_path / "reports" / "renewals.xlsx").as_uri()
    written = write_workbook(target, [Sheet("Pipeline", COLUMNS, rows()), Sheet("Paid", COLUMNS, [])], title="T")
    path = tmp_path / "reports" / "renewals.xlsx"
    assert written.rows == {"Pipeline": 3, "Paid": 0}

    frames = pd.read_excel(path, sheet_name=None)
    assert list(frames) == ["Pipeline", "Paid"]
    pipeline = frames["Pipeline"]
    assert list(pipeline.columns) == ["Account", "Renewal date", "Days to go", "Amount", "Audience"]
    assert pipeline["Renewal date"].dtype.kind == "M"  # real dates, not text
    assert pipeline.loc[0, "Renewal date"] == pd.Timestamp(2026, 12, 1)
    assert pipeline.loc[2, "Amount"] == pytest.approx(1202.5)
    assert pipeline.loc[0, "Audience"] == "primary, billing"
    assert frames["Paid"].empty and list(frames["Paid"].columns) == list(pipeline.columns)

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Pipeline"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    assert sheet["A1"].font.b is True
    assert sheet["B2"].number_format == "yyyy-mm-dd" and isinstance(sheet["B2"].value, datetime)
    assert sheet.column_dimensions["A"].width == pytest.approx(30, abs=1)  # Excel adds its cell padding
    assert sheet.column_dimensions["B"].width >= 12
    assert workbook.properties.title == "T"


def test_member_data_is_written_as_text_never_as_a_formula_or_a_link(tmp_path):
    target = tmp_path / "renewals.xlsx"
    hostile = ('=HYPERLINK("https://evil.example/","pay here")', date(2026, 12, 1), 1, Decimal(5), "https://x.example/")
    write_workbook(str(target), [Sheet("Pipeline", COLUMNS, [hostile])])
    sheet = openpyxl.load_workbook(target)["Pipeline"]
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == hostile[0]
    assert sheet["E2"].value == "https://x.example/" and sheet["E2"].hyperlink is None


def test_a_sheet_shows_its_first_rows_then_a_total_and_prints_on_pages_of_the_sheets_width(tmp_path):
    target = tmp_path / "renewals.xlsx"
    sheet = Sheet("Upcoming", COLUMNS, rows(12), limit=5, note="The rest: renewals.touchpoints.")
    written = write_workbook(str(target), [sheet, Sheet("Paid", COLUMNS, rows(5), limit=5)])
    assert written.rows == {"Upcoming": 5, "Paid": 5} and written.truncated == {"Upcoming": 7}

    workbook = openpyxl.load_workbook(target)
    upcoming = workbook["Upcoming"]
    assert [row[0] for row in upcoming.iter_rows(min_row=2, values_only=True)] == [
        *(f"Account {i}" for i in range(5)),
        "Total: 12 rows; the first 5 are shown. The rest: renewals.touchpoints.",
    ]
    assert upcoming.auto_filter.ref == "A1:E6"  # the filter leaves the total row out
    assert workbook["Paid"].max_row == 6  # all five rows, no total row
    for ws in workbook.worksheets:
        assert ws.print_title_rows == "$1:$1"  # the header on every printed page
        assert ws.page_setup.orientation == "landscape"
        # one page wide: fitToWidth absent means 1 (the file format's default)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == 1
        assert ws.page_setup.fitToHeight == 0


def test_rewriting_replaces_the_file_whole_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "renewals.xlsx"
    write_workbook(str(target), [Sheet("Pipeline", COLUMNS, rows(2))])
    before = target.stat().st_ino

    def broken():
        yield from rows(1)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_workbook(str(target), [Sheet("Pipeline", COLUMNS, broken())])
    assert len(pd.read_excel(target)) == 2  # the previous workbook is intact
    assert target.stat().st_ino == before
    assert os.listdir(tmp_path) == ["renewals.xlsx"]

    write_workbook(target.as_uri(), [Sheet("Pipeline", COLUMNS, rows(5))])
    assert len(pd.read_excel(target)) == 5
    assert target.stat().st_ino != before  # a new file moved into place, never written in place
    assert os.listdir(tmp_path) == ["renewals.xlsx"]


def test_the_book_is_readable_as_the_umask_allows_not_only_by_its_writer(tmp_path):
    target = tmp_path / "renewals.xlsx"
    previous = os.umask(0o027)
    try:
        write_workbook(str(target), [Sheet("Pipeline", COLUMNS, rows(1))])
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o640


def test_an_object_store_path_works_the_same_way():
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    target = "memory://bucket/renewals/renewals.xlsx"
    written = write_workbook(target, [Sheet("Pipeline", COLUMNS, rows(4))])
    assert written.rows == {"Pipeline": 4}
    data = ObjectStoragePath(target).read_bytes()
    assert len(pd.read_excel(io.BytesIO(data))) == 4
    assert [p.name for p in ObjectStoragePath("memory://bucket/renewals/").iterdir()] == ["renewals.xlsx"]


def test_the_forecast_says_who_each_touchpoint_goes_to():
    settings = Settings()
    playbooks = load_playbooks(settings.playbook_dir, settings.template_dir)
    assert audience(playbooks["membership"].touchpoint("renewal_notice")) == "primary, billing"
    assert review_offsets(playbooks) == {"membership": -90}
