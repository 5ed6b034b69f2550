"""The kinds of warehouse the integration scenarios run on, each a real database: PostgreSQL (the
COPY path), MariaDB through apache-airflow-providers-mysql (mysql-connector-python) and SQLite
through apache-airflow-providers-sqlite. Each gives the Airflow connection of renewals_warehouse
and an autocommit connection that builds the test's warehouse (tests/world.py)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.demo_data import SCHEMA_SQL, schema_statements

KINDS = ("postgres", "mariadb", "sqlite")
MARIADB = {"host": os.environ.get("RENEWALS_TEST_MARIADB_HOST", "127.0.0.1"), "port": 3306, "user": "root"}


def kind_of(connection: str) -> str:
    """The kind of warehouse an Airflow connection value (a postgres URI, or JSON) names."""
    if not connection.startswith("{"):
        return "postgres"
    return {"mysql": "mariadb", "sqlite": "sqlite"}[json.loads(connection)["conn_type"]]


@dataclass(frozen=True)
class Dialect:
    """How a test writes SQL for one kind of warehouse."""

    kind: str

    def table(self, name: str) -> str:
        return f"warehouse.{name}" if self.kind == "postgres" else name

    def param(self, name: str) -> str:
        return f":{name}" if self.kind == "sqlite" else f"%({name})s"

    def schema_statements(self) -> list[str]:
        if self.kind == "postgres":
            return [SCHEMA_SQL.read_text()]
        return schema_statements({"mariadb": "mysql", "sqlite": "sqlite"}[self.kind])


class DbApiWriter:
    """``execute`` on a DB-API connection (autocommit), like psycopg's Connection.execute."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, query: str, params: Any = None) -> None:
        cursor = self.conn.cursor()
        cursor.execute(query, params or ())
        cursor.close()

    def executemany(self, query: str, rows: list) -> None:
        cursor = self.conn.cursor()
        cursor.executemany(query, rows)
        cursor.close()
        self.conn.commit()


def mariadb_answers() -> str | None:
    """None when the MariaDB server answers, else why not."""
    import mysql.connector

    try:
        mysql.connector.connect(connection_timeout=3, **MARIADB).close()
    except mysql.connector.Error as exc:
        return f"no MariaDB on {MARIADB['host']}:{MARIADB['port']} (user root): {exc}"
    return None


@contextmanager
def mariadb_database(name: str) -> Iterator[str]:
    """A fresh MariaDB database, as the Airflow connection of renewals_warehouse; dropped afterwards."""
    import mysql.connector

    assert re.fullmatch(r"\w+", name), name
    admin = mysql.connector.connect(autocommit=True, **MARIADB)
    try:
        admin.cursor().execute(f"create database {name} character set utf8mb4")
        fields = {"host": MARIADB["host"], "port": MARIADB["port"], "login": MARIADB["user"], "schema": name}
        yield json.dumps({"conn_type": "mysql", **fields, "extra": {"client": "mysql-connector-python"}})
    finally:
        admin.cursor().execute(f"drop database if exists {name}")
        admin.close()


def sqlite_database(path: Path) -> str:
    """A SQLite file (made on first connection), as the Airflow connection of renewals_warehouse."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def open_writer(connection: str) -> DbApiWriter:
    """An autocommit connection to the MariaDB or SQLite warehouse of this Airflow connection (JSON)."""
    fields = json.loads(connection)
    if fields["conn_type"] == "sqlite":
        return DbApiWriter(sqlite3.connect(fields["host"], isolation_level=None))
    import mysql.connector

    return DbApiWriter(
        mysql.connector.connect(database=fields["schema"], autocommit=True, time_zone="+00:00", **MARIADB)
    )
