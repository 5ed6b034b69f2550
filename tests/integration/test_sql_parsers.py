"""The ops schema's text parsers (renewals.try_*, is_email) against real PostgreSQL, and the
migration runner. A bad value must become null, never an exception: validation names it and
quarantines the row instead of stopping the run."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from devenv.postgres import drop_database, ensure_database
from renewals.storage.db import connect
from renewals.storage.migrations import MigrationError, migrate
from renewals.storage.sql_files import SQL_DIR


@pytest.fixture(scope="module")
def ops_db(pg_server: str) -> Iterator[str]:
    """One migrated ops database for the parser tests of this module."""
    name = f"t_parsers_{uuid.uuid4().hex[:10]}"
    uri = ensure_database(pg_server, name)
    with closing(connect(uri, autocommit=True)) as conn:
        migrate(conn)
    yield uri
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def pg(ops_db: str) -> Iterator[psycopg.Connection]:
    with closing(connect(ops_db, autocommit=True)) as conn:
        yield conn


def call(conn: psycopg.Connection, function: str, value: str | None):
    return conn.execute(f"select renewals.{function}(%s::text)", (value,)).fetchone()[0]


# --- try_date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21", date(2026, 11, 21)),
        ("2028-02-29", date(2028, 2, 29)),
        ("2000-02-29", date(2000, 2, 29)),
        ("2026-04-30", date(2026, 4, 30)),
        ("2026-12-31", date(2026, 12, 31)),
        ("  2026-01-05 ", date(2026, 1, 5)),
    ],
)
def test_try_date_accepts_real_dates(pg, text, expected):
    assert call(pg, "try_date", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2027-02-29",
        "1900-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-01-00",
        "2026-1-5",
        "21/11/2026",
        "2026-11-21T10:00:00Z",
        "",
        "   ",
        "tomorrow",
        None,
    ],
)
def test_try_date_turns_a_bad_date_into_null(pg, text):
    assert call(pg, "try_date", text) is None


def test_try_date_turns_year_zero_into_null(pg):
    assert call(pg, "try_date", "0000-01-01") is None


# --- try_timestamptz --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T10:15:00+09:00", datetime(2026, 11, 21, 1, 15, tzinfo=UTC)),
        ("2026-11-21 10:15:00-05:00", datetime(2026, 11, 21, 15, 15, tzinfo=UTC)),
        ("2026-11-21T10:15:30.25Z", datetime(2026, 11, 21, 10, 15, 30, 250000, tzinfo=UTC)),
        ("2026-11-21T10:15+0530", datetime(2026, 11, 21, 4, 45, tzinfo=UTC)),
        ("2028-02-29T23:59:59Z", datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
        # no offset: read in the session's timezone, which the pipeline's connections set to UTC
        ("2026-11-21 10:15", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
    ],
)
def test_try_timestamptz_accepts_iso_timestamps(pg, text, expected):
    assert call(pg, "try_timestamptz", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21T25:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T10:60:00Z",
        "2027-02-29T10:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-11-21T10:00:00 EST5EDT",
        "2026-11-21-00",  # an offset needs a time of day
        "2026-11-21+05:00",
        "yesterday",
        "now",
        "",
        None,
    ],
)
def test_try_timestamptz_turns_a_bad_timestamp_into_null(pg, text):
    assert call(pg, "try_timestamptz", text) is None


@pytest.mark.parametrize("text", ["2026-11-21T10:00:61Z", "2026-11-21T10:00:00+99", "2026-11-21T10:00:00+05:77"])
def test_try_timestamptz_turns_out_of_range_seconds_and_offsets_into_null(pg, text):
    assert call(pg, "try_timestamptz", text) is None


# --- try_int, try_numeric, try_bool -----------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("12", 12), (" 24 ", 24), ("-3", -3), ("+6", 6), ("0", 0)])
def test_try_int_accepts_whole_numbers(pg, text, expected):
    assert call(pg, "try_int", text) == expected


@pytest.mark.parametrize("text", ["12.0", "1e3", "twelve", "", "12 months", "99999999999999", None])
def test_try_int_turns_a_bad_number_into_null(pg, text):
    assert call(pg, "try_int", text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1200.50", Decimal("1200.50")), ("-0.5", Decimal("-0.5")), (".5", Decimal("0.5")), (" 15000 ", Decimal(15000))],
)
def test_try_numeric_accepts_plain_decimals(pg, text, expected):
    assert call(pg, "try_numeric", text) == expected


@pytest.mark.parametrize("text", ["1,200.50", "$1200", "NaN", "Infinity", "1e3", "abc", "", None])
def test_try_numeric_turns_a_bad_amount_into_null(pg, text):
    assert call(pg, "try_numeric", text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" t ", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("F", False),
        ("0", False),
        ("No", False),
    ],
)
def test_try_bool_accepts_common_spellings(pg, text, expected):
    assert call(pg, "try_bool", text) is expected


@pytest.mark.parametrize("text", ["maybe", "2", "", "y n", None])
def test_try_bool_turns_anything_else_into_null(pg, text):
    assert call(pg, "try_bool", text) is None


# --- is_email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "jane.doe@example.com",
        "billing+renewals@members.example.org",
        "a@b.co",
        "o'brien@example.ie",
        "x_y-z@sub-domain.example.co.uk",
    ],
)
def test_is_email_accepts_normal_lower_case_addresses(pg, address):
    assert call(pg, "is_email", address) is True


@pytest.mark.parametrize(
    "address",
    [
        "not-an-email",
        "a@b",
        "a @b.com",
        "a@@b.com",
        "@example.com",
        "jane@",
        "jane@-example.com",
        "jane@example-.com",
        "jane@example..com",
        "jane@example.com.",
        "",
    ],
)
def test_is_email_rejects_malformed_addresses(pg, address):
    assert call(pg, "is_email", address) is False


# --- migrations -------------------------------------------------------------------------------


@pytest.fixture
def ops_conn(databases: dict[str, str]) -> Iterator[psycopg.Connection]:
    with closing(connect(databases["ops"], autocommit=True)) as conn:
        yield conn


def test_migrate_applies_the_schema_once(ops_conn):
    shipped = sorted(path.name for path in (SQL_DIR / "migrations").glob("*.sql"))
    first = migrate(ops_conn)
    assert first == shipped and first[0] == "0001_ops_schema.sql"
    assert migrate(ops_conn) == []
    recorded = ops_conn.execute("select version from renewals.schema_migrations order by version").fetchall()
    assert recorded == [(name,) for name in shipped]
    assert ops_conn.execute("select renewals.try_date('2028-02-29')").fetchone()[0] == date(2028, 2, 29)


def test_migrate_refuses_a_migration_edited_after_it_was_applied(ops_conn, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(SQL_DIR / "migrations", migrations)
    assert migrate(ops_conn, directory=migrations)[0] == "0001_ops_schema.sql"
    edited = migrations / "0001_ops_schema.sql"
    edited.write_text(edited.read_text() + "\n-- edited afterwards\n")
    with pytest.raises(MigrationError, match="0001_ops_schema.sql"):
        migrate(ops_conn, directory=migrations)


def test_migrate_applies_a_new_migration_after_the_existing_ones(ops_conn, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(SQL_DIR / "migrations", migrations)
    migrate(ops_conn, directory=migrations)
    (migrations / "0002_extra.sql").write_text("create table renewals.extra (id int);")
    assert migrate(ops_conn, directory=migrations) == ["0002_extra.sql"]
    assert ops_conn.execute("select count(*) from renewals.extra").fetchone()[0] == 0


def test_a_failing_migration_leaves_nothing_half_applied(ops_conn, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(SQL_DIR / "migrations", migrations)
    (migrations / "0002_broken.sql").write_text("create table renewals.half (id int);\nselect 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(ops_conn, directory=migrations)
    # Everything ran in one transaction: not even 0001 stays applied.
    assert ops_conn.execute("select to_regclass('renewals.half')").fetchone()[0] is None
    assert ops_conn.execute("select to_regclass('renewals.touchpoints')").fetchone()[0] is None
