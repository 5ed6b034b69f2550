"""renewals_warehouse may be any connection whose hook is a common.sql DbApiHook; the queries of a
kind other than PostgreSQL come from its dialect's folder, else the ANSI one."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from renewals.config import WAREHOUSE_CONN_ID
from renewals.storage.sql_files import sql_text
from renewals.storage.warehouse import Warehouse, as_text


def test_a_connection_without_a_sql_hook_is_refused_with_its_type(monkeypatch):
    from renewals.airflow_resources import warehouse_source

    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", json.dumps({"conn_type": "smtp", "host": "mail.example"}))
    with pytest.raises(TypeError, match="of type 'smtp', whose hook SmtpHook is not a common.sql DbApiHook"):
        warehouse_source(WAREHOUSE_CONN_ID)


def test_sqlite_and_mysql_connections_get_their_hook_placeholder_and_dialect(monkeypatch, tmp_path):
    from renewals.airflow_resources import warehouse_source

    monkeypatch.setenv(
        "AIRFLOW_CONN_RENEWALS_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w")})
    )
    sqlite = warehouse_source(WAREHOUSE_CONN_ID)
    assert (sqlite.dialects[0], sqlite.placeholder, sqlite.is_postgres) == ("sqlite", "?", False)
    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", "mysql://root@127.0.0.1:3306/renewals")
    mysql = warehouse_source(WAREHOUSE_CONN_ID)
    assert (mysql.dialects[0], mysql.placeholder) == ("mysql", "%s")
    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", "postgresql://reader@warehouse.internal:5432/analytics")
    assert warehouse_source(WAREHOUSE_CONN_ID).is_postgres


def test_a_dialect_folder_overrides_the_ansi_query_only_where_it_has_one():
    mysql = Warehouse(open_dbapi=object, dialects=("mysql",))
    assert mysql.query("subscriptions.sql") == sql_text("extract/ansi/subscriptions.sql")
    assert mysql.session_statements() == ["set time_zone = '+00:00'"]
    assert Warehouse(open_dbapi=object, dialects=("snowflake",)).session_statements() == []
    assert Warehouse(dsn="dbname=w").query("recheck_gates.sql") == sql_text("extract/recheck_gates.sql")


def test_the_optional_columns_a_warehouse_has_are_added_to_its_extract_query():
    sqlite = Warehouse(open_dbapi=object, dialects=("sqlite",), optional_columns=("hubspot_deal_id",))
    assert re.search(
        r"updated_at\s*, hubspot_deal_id\s*/\* optional columns \*/\s*from", sqlite.query("subscriptions.sql")
    )
    postgres = Warehouse(dsn="dbname=w", optional_columns=("salesforce_account_id", "hubspot_company_id"))
    columns = r"updated_at\s*, salesforce_account_id, hubspot_company_id\s*/\*"
    assert re.search(columns, postgres.query("subscriptions.sql"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (date(2026, 12, 16), "2026-12-16"),
        (datetime(2026, 12, 1, 9, 30), "2026-12-01 09:30:00"),  # naive: the ops session reads it as UTC
        (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "2026-12-01 09:30:00+00:00"),
        (True, "true"),
        (0, "0"),  # a 0/1 flag column
        (Decimal("1200.50"), "1200.50"),
        (b"S-1", "S-1"),
        (None, None),
    ],
)
def test_warehouse_values_become_the_text_validation_reads(value, text):
    assert as_text(value) == text


def test_an_adapted_query_that_breaks_the_contract_is_refused_naming_both_column_lists(tmp_path):
    import sqlite3
    from dataclasses import dataclass

    from renewals.storage.staging import CONTACT_COLUMNS, _copy_dbapi_rows

    @dataclass(frozen=True)
    class Adapted(Warehouse):
        def query(self, name: str) -> str:
            return "select contact_id, subscription_id, role, email, name, opted_out from contacts"  # two swapped

    source = sqlite3.connect(tmp_path / "w.sqlite")
    source.execute("create table contacts (contact_id, subscription_id, role, name, email, opted_out)")
    with pytest.raises(ValueError, match=r"contacts.sql \(sqlite\) returns columns .*'email', 'name'.*the contract is"):
        _copy_dbapi_rows(
            Adapted(open_dbapi=object, dialects=("sqlite",)), source, "contacts.sql", None, CONTACT_COLUMNS, None
        )
