"""The extract through a warehouse other than PostgreSQL, beside the COPY path (``make bench``).

The bench's PostgreSQL warehouse (bench/warehouse.py) is copied into a MariaDB database on
127.0.0.1:3306 (or, where none answers, a SQLite file), with the same rows; then ``pipeline.extract``
(stage and validate, as the DAG's extract_and_validate) runs once on each, into the same ops
database: PostgreSQL streamed with COPY, the other read through its Airflow hook (the mysql provider
with mysql-connector-python, or the sqlite provider) in batches and written with COPY.

``compare(...)`` is what the bench calls; the timing runs in ``python -m bench.extract '<json>'``,
a process of its own with Airflow's connection of renewals_warehouse in its environment.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from devenv.demo_data import schema_statements
from renewals.config import PROJECT_ROOT, WAREHOUSE_CONN_ID, Settings
from renewals.storage.db import connect
from renewals.storage.staging import CONTACT_COLUMNS, SUBSCRIPTION_COLUMNS

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}
MARIADB_DATABASE = "renewals_bench_warehouse"
SQLITE_FILE = PROJECT_ROOT / ".demo" / "bench-warehouse.sqlite"
BATCH = 5000


def _mariadb() -> Any | None:
    """A connection to the MariaDB server (no database), or None when none answers."""
    try:
        import mysql.connector

        return mysql.connector.connect(connection_timeout=3, autocommit=True, **MARIADB)
    except Exception:  # no server, refused, no driver: the bench falls back to SQLite
        return None


@contextmanager
def other_warehouse() -> Iterator[tuple[str, Any]]:
    """A fresh empty warehouse that is not PostgreSQL: (Airflow connection JSON, DB-API connection)."""
    admin = _mariadb()
    if admin is not None:
        cursor = admin.cursor()
        cursor.execute(f"drop database if exists {MARIADB_DATABASE}")
        cursor.execute(f"create database {MARIADB_DATABASE} character set utf8mb4")
        import mysql.connector

        conn = mysql.connector.connect(database=MARIADB_DATABASE, time_zone="+00:00", **MARIADB)
        extra = {"client": "mysql-connector-python"}
        fields = {"host": MARIADB["host"], "port": MARIADB["port"], "login": MARIADB["user"]}
        try:
            yield json.dumps({"conn_type": "mysql", **fields, "schema": MARIADB_DATABASE, "extra": extra}), conn
        finally:
            conn.close()
            cursor.execute(f"drop database if exists {MARIADB_DATABASE}")
            admin.close()
        return
    import sqlite3

    SQLITE_FILE.unlink(missing_ok=True)
    conn = sqlite3.connect(SQLITE_FILE)
    try:
        yield json.dumps({"conn_type": "sqlite", "host": str(SQLITE_FILE)}), conn
    finally:
        conn.close()
        SQLITE_FILE.unlink(missing_ok=True)


def load(pg_warehouse: str, kind: str, target: Any) -> None:
    """The PostgreSQL warehouse's rows into ``target`` (MySQL or SQLite), in batches."""
    placeholder = "?" if kind == "sqlite" else "%s"
    cursor = target.cursor()
    for statement in schema_statements(kind):
        cursor.execute(statement)
    with closing(connect(pg_warehouse)) as source:
        for table, columns in (("subscriptions", SUBSCRIPTION_COLUMNS), ("contacts", CONTACT_COLUMNS)):
            insert = f"insert into {table} ({', '.join(columns)}) values ({', '.join([placeholder] * len(columns))})"
            with source.cursor(name=f"bench_{table}") as rows:  # server-side: a million rows stream
                rows.execute(f"select {', '.join(columns)} from warehouse.{table}")
                while batch := rows.fetchmany(BATCH):
                    # sqlite3 takes no Decimal; every driver takes its text
                    cursor.executemany(insert, [[str(v) if isinstance(v, Decimal) else v for v in r] for r in batch])
            target.commit()
    cursor.close()


def compare(uris: dict[str, str], as_of: str, n: int, child: Callable[[str, dict], dict]) -> dict:
    """Load the other warehouse, then time the extract on both in ``child`` (the bench's measured
    process: ``python -m bench.extract``)."""
    with other_warehouse() as (connection, conn):
        kind = "mysql" if json.loads(connection)["conn_type"] == "mysql" else "sqlite"
        mark = time.perf_counter()
        load(uris["warehouse"], kind, conn)
        loaded = time.perf_counter() - mark
        timed = child("bench.extract", {**uris, "as_of": as_of, "n": n, "connection": connection})
    return {"kind": "MariaDB" if kind == "mysql" else "SQLite", "load_s": loaded, **timed}


def describe(result: dict) -> str:
    """One line of the bench's table per N."""
    rows = result["rows"]
    return (
        f"extract (stage + validate) of {rows:,} rows: PostgreSQL COPY {result['copy_s']:.2f}s "
        f"({rows / result['copy_s']:,.0f} rows/s); {result['kind']} through its hook {result['dbapi_s']:.2f}s "
        f"({rows / result['dbapi_s']:,.0f} rows/s) (loading {result['kind']}: {result['load_s']:.1f}s)"
    )


def time_extracts(config: dict) -> dict:
    """prepare, then extract once from the PostgreSQL warehouse and once from the other one."""
    from devenv.inprocess import local_resources
    from renewals.airflow_resources import warehouse_source
    from renewals.pipeline import extract, prepare
    from renewals.storage.runs import RunContext

    settings = Settings.from_env({})
    seconds = {}
    counts = None
    for side, warehouse in (("copy_s", config["warehouse"]), ("dbapi_s", warehouse_source(WAREHOUSE_CONN_ID))):
        resources = local_resources(warehouse, config["ops"], 0, base=settings)
        run = RunContext(run_id=f"bench_extract__{side}__{config['n']}", as_of=date.fromisoformat(config["as_of"]))
        prepare(resources, run)
        mark = time.perf_counter()
        stage = extract(resources, run)
        seconds[side] = time.perf_counter() - mark
        assert stage.balanced(), stage
        assert counts in (None, stage), f"the two extracts differ: {counts} and {stage}"
        counts = stage
    assert counts is not None
    return {**seconds, "rows": counts.subscriptions_in + counts.contacts_in}


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    os.environ["AIRFLOW_CONN_RENEWALS_WAREHOUSE"] = config["connection"]
    os.environ.setdefault("AIRFLOW_HOME", str(PROJECT_ROOT / ".demo" / "bench-airflow"))
    print(json.dumps(time_extracts(config)))
