"""A MySQL/MariaDB warehouse connection written the usual way (``mysql://user@host/db``, no extra)
is read with the client `make install` installs, not refused for want of mysqlclient."""

from __future__ import annotations

import json
import uuid
from contextlib import closing

import pytest

from renewals.airflow_resources import warehouse_source
from renewals.config import WAREHOUSE_CONN_ID
from tests.warehouses import mariadb_answers, mariadb_database


def test_a_mysql_uri_without_a_client_extra_reads_the_warehouse(monkeypatch):
    if why := mariadb_answers():
        pytest.skip(why)
    with mariadb_database(f"t_uri_{uuid.uuid4().hex[:10]}") as connection:
        fields = json.loads(connection)
        uri = f"mysql://{fields['login']}@{fields['host']}:{fields['port']}/{fields['schema']}"
        monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", uri)
        warehouse = warehouse_source(WAREHOUSE_CONN_ID)
        with closing(warehouse.open()) as conn:
            cursor = conn.cursor()
            cursor.execute("select database()")
            assert cursor.fetchone()[0] == fields["schema"]
